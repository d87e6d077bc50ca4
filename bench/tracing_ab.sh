#!/usr/bin/env bash
# Feature `tracing` with no subscriber against no feature: the `core`
# benchmark's switch rows (and spawn rows with `spawn`), built both ways
# and run in alternation, ROUNDS times each, so that a noisy neighbour
# slows both builds alike. Prints, per build, the median over the runs of
# each row's corio figure and of its ratio to the row's own baseline (raw
# corosensei, measured in the same run).
#
#   bash bench/tracing_ab.sh            # cede rows, 5 rounds
#   ROUNDS=9 bash bench/tracing_ab.sh cede spawn
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${ROUNDS:-5}
workloads=("${@:-cede}")
exe() { # the bench executable cargo builds for these flags
    cargo bench -p corio --bench core "$@" --no-run --message-format=json 2>/dev/null |
        grep -o '"executable":"[^"]*core-[^"]*"' | tail -1 | cut -d'"' -f4
}
off=$(exe)
on=$(exe --features tracing)
[ -n "$off" ] && [ -n "$on" ] && [ "$off" != "$on" ] || { echo "build failed" >&2; exit 1; }
out=$(mktemp -d)
for r in $(seq "$rounds"); do
    "$off" "${workloads[@]}" | grep -v '^corio core' >>"$out/off"
    "$on" "${workloads[@]}" | grep -v '^corio core' >>"$out/on"
done
echo "median over $rounds runs of each build (ns per op, corio side of each row)"
for side in off on; do
    echo "-- feature tracing $side"
    # Rows are "NAME (34 columns) NUMBER ns (min ...) BASELINE ...".
    cut -c1-34 "$out/$side" | sed 's/ *$//' | sort -u |
        while IFS= read -r name; do
            rows=$(grep -F -- "$name" "$out/$side")
            v=$(echo "$rows" | cut -c35- | awk '{ print $1 }' | sort -n)
            r=$(echo "$rows" | sed -E 's/.* ratio +([0-9.]+).*/\1/' | sort -n)
            k=$(echo "$v" | wc -l)
            mid() { echo "$1" | sed -n "$(((k + 1) / 2))p"; }
            printf '%-34s %8s ns   ratio to its baseline %s\n' "$name" "$(mid "$v")" "$(mid "$r")"
        done
done
rm -rf "$out"
