#!/usr/bin/env bash
# Instructions per cede (callgrind), feature `tracing` off and on, with no
# subscriber: deterministic where timings on a shared machine are not. A
# small program (two coros ceding N times each; with the argument `spawn`,
# N coros spawned and joined one by one) is built against this tree
# and, with AGAINST=<another checkout> (e.g. main's tree unpacked with `git
# archive`), against that one too; each build runs under callgrind with
# N = 100,000 and 200,000, and the difference over the 200,000 extra cedes
# is the cost of one.
#
#   bash bench/tracing_callgrind.sh
#   AGAINST=../main-src bash bench/tracing_callgrind.sh [cede|spawn]
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-cede}
command -v valgrind >/dev/null || { echo "needs valgrind" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
trees=("this=$PWD")
[ -n "${AGAINST:-}" ] && trees+=("against=$(cd "$AGAINST" && pwd)")
for t in "${trees[@]}"; do
    name=${t%%=*} dir=${t#*=}
    mkdir -p "$work/$name/src"
    cat >"$work/$name/Cargo.toml" <<EOF
[package]
name = "cede-$name"
version = "0.0.0"
edition = "2024"
publish = false

[dependencies]
corio = { path = "$dir/corio", default-features = false }

[features]
tracing = ["corio/tracing"]

[workspace]
EOF
    cp "$dir/Cargo.lock" "$work/$name/"
    cat >"$work/$name/src/main.rs" <<'EOF'
fn main() {
    let n: u64 = std::env::args().nth(1).unwrap().parse().unwrap();
    if std::env::args().nth(2).as_deref() == Some("spawn") {
        for i in 0..n {
            corio::spawn(move || i).join().unwrap();
        }
        return;
    }
    let hs: Vec<_> = (0..2)
        .map(|_| corio::spawn(move || (0..n).for_each(|_| corio::cede())))
        .collect();
    hs.into_iter().for_each(|h| h.join().unwrap());
}
EOF
    for feature in off on; do
        flags=()
        [ "$feature" = on ] && flags=(--features tracing)
        (cd "$work/$name" && cargo build --quiet --release "${flags[@]}")
        exe="${CARGO_TARGET_DIR:-$work/$name/target}/release/cede-$name"
        count() {
            valgrind --tool=callgrind --callgrind-out-file=/dev/null "$exe" "$1" "$what" 2>&1 |
                grep -o 'Collected : [0-9]*' | grep -o '[0-9]*'
        }
        if [ "$what" = spawn ]; then # N more spawns (cedes: 2N)
            a=$(count 50000) b=$(count 100000) per=500
        else
            a=$(count 100000) b=$(count 200000) per=2000
        fi
        echo "$name, feature tracing $feature: $(((b - a) / per)) hundredths of an instruction per $what" |
            sed -E 's/: ([0-9]*)([0-9]{2}) hundredths of an instruction/: \1.\2 instructions/'
    done
done
