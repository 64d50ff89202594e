#!/usr/bin/env bash
# reopen.sh BIN [PROFILES]: how long a loaded edge takes to serve again
# after it stops, and what it holds in memory.
#
# Starts BIN as a fresh `ucv edge` on 127.0.0.1:18557, loads PROFILES
# people (default 1,000,000: /v1/batch requests of 500 identifies with
# an e-mail, a name and two traits, users u0…), waits until the applier
# has applied them, and prints the data file's size and the process's
# resident memory. Then twice — after kill -9, and after SIGTERM — it
# starts the edge again on the same data and prints the time from start
# to the first answered lookup (GET /v1/profiles/user_id:u0 → 200), the
# resident memory then, and lookups/s of random loaded people on one
# connection for 5 s (the first read of each renders its view from the
# file: decision 0115). Needs wrk, python3 and curl.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:?usage: reopen.sh BIN [PROFILES]}
n=${2:-1000000}
command -v wrk >/dev/null || { echo "reopen: wrk not installed (apt-get install wrk)" >&2; exit 1; }
dir=$(mktemp -d)
trap 'pkill -9 -f "edge --data-dir $dir/d" || true; rm -rf "$dir"' EXIT
addr=127.0.0.1:18557
start() {
	("$bin" edge --data-dir "$dir/d" --http-addr "$addr" --write-key wk=bench >>"$dir/edge.log" 2>&1 &)
}
pid() { pgrep -f "edge --data-dir $dir/d"; }
rss() { awk '/VmRSS/{printf "%.0f MB", $2/1024}' "/proc/$(pid)/status"; }
metric() { curl -s "$addr/metrics" | awk -v m="$1" '$1==m {n+=$2} END {printf "%.0f", n}'; }
cat >"$dir/lookup.lua" <<LUA
request = function() return wrk.format("GET", "/v1/profiles/user_id:u" .. math.random(0, $n - 1)) end
LUA

# an edge of an earlier run may still be letting the port go
for _ in $(seq 50); do curl -s -o /dev/null "$addr/healthz" || break; sleep 0.1; done
start
for _ in $(seq 100); do curl -s -o /dev/null "$addr/healthz" && break; sleep 0.1; done
curl -s -o /dev/null "$addr/healthz" || { echo "reopen: the edge did not start:" >&2; cat "$dir/edge.log" >&2; exit 1; }
t0=$(date +%s.%N)
python3 "$here/loadpeople.py" "$addr" "$n"
while [ "$(metric ucv_store_apply_lag_events)" != 0 ]; do sleep 0.5; done
t1=$(date +%s.%N)
printf 'loaded %d people in %.1f s; data file %s; resident %s\n' "$n" "$(echo "$t1 - $t0" | bc -l)" \
	"$(du -m "$dir/d" | tail -1 | cut -f1) MB" "$(rss)"

for how in KILL TERM; do
	p=$(pid)
	kill -s "$how" "$p"
	while kill -0 "$p" 2>/dev/null; do sleep 0.05; done
	t0=$(date +%s.%N)
	start
	until [ "$(curl -s -o /dev/null -w '%{http_code}' "$addr/v1/profiles/user_id:u0" 2>/dev/null)" = 200 ]; do sleep 0.01; done
	t1=$(date +%s.%N)
	printf 'after %-4s first lookup answered %.2f s after start; resident %s; ' "$how" "$(echo "$t1 - $t0" | bc -l)" "$(rss)"
	wrk -t1 -c1 -d5s --latency -s "$dir/lookup.lua" "http://$addr" |
		awk '/Requests\/sec/{r=$2} / 50%/{p50=$2} / 99%/{p99=$2} END{printf "then %.0f lookups/s (p50 %s, p99 %s); ", r, p50, p99}'
	echo "resident after $(rss)"
done
