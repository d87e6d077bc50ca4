#!/usr/bin/env bash
# Feature `tracing` with no subscriber against no feature: the `core`
# benchmark's switch rows (and spawn rows with `spawn`), built both ways
# and run in alternation, ROUNDS times each, so that a noisy neighbour
# slows both builds alike. Prints each run's rows, then the medians.
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
            v=$(grep -F -- "$name" "$out/$side" | cut -c35- | awk '{ print $1 }' | sort -n)
            k=$(echo "$v" | wc -l)
            printf '%-34s %8s ns\n' "$name" "$(echo "$v" | sed -n "$(((k + 1) / 2))p")"
        done
done
rm -rf "$out"
