#!/usr/bin/env bash
# Feature `tracing` with no subscriber against no feature: the `core`
# benchmark's switch rows (and spawn rows with `spawn`), built both ways
# and run in alternation, ROUNDS times each, so that a noisy neighbour
# slows both builds alike. Prints, per build, the median over the runs of
# each row's corio figure and of its ratio to the row's own baseline (raw
# corosensei, measured in the same run).
#
# With AGAINST=<another checkout> (e.g. main's tree, unpacked with `git
# archive`), that tree's bench is built too, feature off and on, and run
# in the same alternation (A B C D D C B A ...): a change to the switch
# path timed against the code it changes.
#
#   bash bench/tracing_ab.sh            # cede rows, 5 rounds
#   ROUNDS=9 bash bench/tracing_ab.sh cede spawn
#   AGAINST=../main-src ROUNDS=9 bash bench/tracing_ab.sh cede
#
# KEEP=<dir> keeps each build's raw rows there.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${ROUNDS:-5}
workloads=("${@:-cede}")
exe() { # the bench executable cargo builds in directory $1 for these flags
    (cd "$1" && shift && cargo bench -p corio --bench core "$@" --no-run --message-format=json 2>/dev/null) |
        grep -o '"executable":"[^"]*core-[^"]*"' | tail -1 | cut -d'"' -f4
}
declare -A bin
bin[off]=$(exe .)
bin[on]=$(exe . --features tracing)
sides=(off on)
if [ -n "${AGAINST:-}" ]; then
    bin[against-off]=$(exe "$AGAINST")
    bin[against-on]=$(exe "$AGAINST" --features tracing)
    sides+=(against-off against-on)
fi
for s in "${sides[@]}"; do
    [ -n "${bin[$s]}" ] || { echo "build failed: $s" >&2; exit 1; }
done
out=$(mktemp -d)
for r in $(seq "$rounds"); do
    order=("${sides[@]}")
    if [ $((r % 2)) = 0 ]; then # every other round backwards: A B C D D C B A
        order=()
        for ((i = ${#sides[@]} - 1; i >= 0; i--)); do order+=("${sides[$i]}"); done
    fi
    for s in "${order[@]}"; do
        "${bin[$s]}" "${workloads[@]}" | grep -v '^corio core' >>"$out/$s"
    done
done
echo "median over $rounds runs of each build (ns per op, corio side of each row)"
for side in "${sides[@]}"; do
    echo "-- feature tracing $side"
    # Rows are "NAME  NUMBER ns (min ...)  BASELINE NUMBER ns ... ratio R ...".
    sed -E 's/ {2,}[0-9.]+ ns .*//' "$out/$side" | sort -u |
        while IFS= read -r name; do
            rows=$(grep -F -- "$name " "$out/$side")
            v=$(echo "$rows" | perl -ne 'print "$1\n" if / {2,}([0-9.]+) ns /' | sort -n)
            r=$(echo "$rows" | grep ' ratio ' | sed -E 's/.* ratio +([0-9.]+).*/\1/' | sort -n)
            k=$(echo "$v" | wc -l)
            mid() { echo "$1" | sed -n "$(((k + 1) / 2))p"; }
            printf '%-36s %8s ns   ratio to its baseline %s\n' "$name" "$(mid "$v")" "$(mid "$r")"
        done
done
if [ -n "${KEEP:-}" ]; then # the raw rows, one file per build
    mkdir -p "$KEEP" && cp "$out"/* "$KEEP"/
fi
rm -rf "$out"
