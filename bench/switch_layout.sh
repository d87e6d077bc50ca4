#!/usr/bin/env bash
# The switch of one or more commits, each built under several code
# layouts, timed on the thread's CPU clock in interleaved processes
# (bench/switch-probe). Answers "is this build's switch slower, or was it
# the layout, or the machine?" without hardware counters.
#
#   bash bench/switch_layout.sh                  # HEAD
#   bash bench/switch_layout.sh main HEAD        # A/B, every layout each
#   SHAPE=two ROUNDS=10 LAYOUTS="default cgu1" bash bench/switch_layout.sh main HEAD
#
# SHAPE: `main` (the main coro and one coro, the peer suite's `cede`) or
# `two` (two coros, the core benchmark's row). ROUNDS: processes per
# binary (3 rounds each). LAYOUTS, from: default; cgu1 / cgu4 (corio in
# 1 or 4 codegen units); fn64 (every function aligned to 64 bytes); blk64
# (every branch target aligned to 64 bytes). Prints, per binary, the
# minimum, lower quartile and median ns per switch over all its rounds.
# KEEP=DIR keeps the binaries there (to look at a slow one again: under
# callgrind, objdump, or more rounds).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
revs=("${@:-HEAD}")
shape=${SHAPE:-main}
rounds=${ROUNDS:-6}
layouts=(${LAYOUTS:-default cgu1 cgu4 fn64 blk64})
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}/switch-layout
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bins=()
for i in "${!revs[@]}"; do
    rev=${revs[$i]}
    src=$tmp/src$i
    mkdir -p "$src"
    git archive "$rev" corio | tar -x -C "$src"
    # Outside the workspace: the inherited fields spelled out.
    sed -i -e 's/^edition.workspace = true/edition = "2024"/' \
        -e 's/^rust-version.workspace = true//' -e 's/^license.workspace = true//' \
        -e 's/^repository.workspace = true//' "$src/corio/Cargo.toml"
    probe=$tmp/probe$i
    cp -r bench/switch-probe "$probe"
    cp Cargo.lock "$probe/"
    sed -i "s#CORIO_PATH#$src/corio#" "$probe/Cargo.toml"
    for l in "${layouts[@]}"; do
        flags=() rustflags=""
        case $l in
        default) ;;
        cgu1) flags=(--config 'profile.release.package.corio.codegen-units=1') ;;
        cgu4) flags=(--config 'profile.release.package.corio.codegen-units=4') ;;
        fn64) rustflags="-C llvm-args=-align-all-functions=6" ;;
        blk64) rustflags="-C llvm-args=-align-all-nofallthru-blocks=6" ;;
        *) echo "unknown layout $l" >&2; exit 2 ;;
        esac
        (cd "$probe" && RUSTFLAGS=$rustflags cargo build -q --release "${flags[@]}")
        name="$(echo "$rev" | tr -c 'A-Za-z0-9\n' '_')-$l"
        cp "$CARGO_TARGET_DIR/release/switch-probe" "$tmp/$name"
        bins+=("$name")
    done
done
if [[ -n ${KEEP:-} ]]; then
    mkdir -p "$KEEP"
    for b in "${bins[@]}"; do cp "$tmp/$b" "$KEEP/"; done
fi
for r in $(seq "$rounds"); do
    order=("${bins[@]}")
    if ((r % 2 == 0)); then
        for ((j = ${#bins[@]} - 1, k = 0; j >= 0; j--, k++)); do order[k]=${bins[j]}; done
    fi
    for b in "${order[@]}"; do
        "$tmp/$b" "$shape" 3 | tr ' ' '\n' >>"$tmp/$b.out"
    done
done
echo "ns per switch ($shape), thread CPU clock, $rounds processes x 3 rounds per binary"
printf '%-28s %7s %7s %7s\n' binary min p25 median
for b in "${bins[@]}"; do
    sort -n "$tmp/$b.out" | awk -v b="$b" '{ v[NR] = $1 }
        END { printf "%-28s %7.2f %7.2f %7.2f\n", b, v[1], v[int((NR + 3) / 4)], v[int((NR + 1) / 2)] }'
done
