#!/usr/bin/env bash
# User-space cost of one HTTP request to a server, without its start-up,
# counted by valgrind (no timing noise): instructions and simulated cache
# misses per request.
#
#   peers/callgrind-http.sh PORT BINARY [ARGS...]
#
# Runs `BINARY 127.0.0.1:PORT ARGS...` under `valgrind --tool=callgrind
# --cache-sim=yes` twice, loaded by `target/release/http-count` with 64
# connections of 100, then of 400 keep-alive requests (CONNS, FEW, MANY
# change that), and prints the difference of the two runs divided by the
# difference in requests. valgrind also reads VALGRIND_OPTS: e.g.
# `VALGRIND_OPTS=--LL=524288,8,64` makes the simulated last-level cache the
# size of one core's L2 here. Run from the workspace root after
# `cargo build --release -p corio-peers --bins`; valgrind comes from Debian
# (`apt-get install valgrind`). The profiles stay in target/callgrind-http/.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 PORT BINARY [ARGS...]" >&2; exit 2; }
port=$1
bin=$2
shift 2
conns=${CONNS:-64}
few=${FEW:-100}
many=${MANY:-400}
dir=target/callgrind-http
mkdir -p "$dir"
name=$(basename "$bin")

profile() { # N [ARGS...] -> "Ir D1mr D1mw I1mr DLmr DLmw" of a run with N requests a connection
  local n=$1 out="$dir/$name-$1.out"
  shift
  valgrind --tool=callgrind --cache-sim=yes --callgrind-out-file="$out" \
    "$bin" "127.0.0.1:$port" "$@" >"$dir/$name-$n.log" 2>&1 &
  local pid=$!
  local up=0
  for _ in $(seq 200); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then up=1; break; fi
    sleep 0.1
  done
  [ $up = 1 ] || { kill "$pid"; echo "$name did not listen on $port" >&2; exit 1; }
  target/release/http-count "127.0.0.1:$port" --conns "$conns" --requests "$n" >&2
  kill -TERM "$pid"
  wait "$pid" || true
  awk '/^events:/ { for (i = 2; i <= NF; i++) ev[i] = $i }
       /^(summary|totals):/ { for (i = 2; i <= NF; i++) v[ev[i]] = $i;
                              print v["Ir"], v["D1mr"], v["D1mw"], v["I1mr"], v["DLmr"], v["DLmw"]; exit }' "$out"
}

a=$(profile "$few" "$@")
b=$(profile "$many" "$@")
reqs=$((conns * (many - few)))
echo "$a $b $reqs" | awk -v name="$name $*" '{
  n = $13
  printf "%s: per request %.0f instructions, %.1f D1 read misses, %.1f D1 write misses, %.1f I1 misses, %.1f LL data misses\n",
    name, ($7 - $1) / n, ($8 - $2) / n, ($9 - $3) / n, ($10 - $4) / n, ($11 + $12 - $5 - $6) / n }'
