#!/usr/bin/env bash
# lookupsys.sh BIN [BIN…]: lookups and their system calls, binaries
# alternated (decision 0116).
#
# For each round and binary: a fresh edge on 127.0.0.1:18556, 20,000
# profiles loaded (u0…u19999, /v1/batch of 500 identifies), then wrk
# looks them up at random on CONNS connections (default 50) for DUR
# seconds (default 8); prints req/s, p50 and p99, and — with perf
# installed (apt-get install linux-perf) and PERF=1 — the edge's read and
# write system calls per request over 4 s of the run (perf's tracepoints
# stall the edge: p99 in those rounds is perf's, not the edge's). ROUNDS (default 3)
# rounds. Needs wrk and python3.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/lib.sh
. "$here/lib.sh"
wrk_scratch lookupsys
cat > "$dir/lookup.lua" <<'LUA'
local threads = 0
function setup(thread) threads = threads + 1; thread:set("tid", threads) end
function init(args) math.randomseed(tid * 7919) end
request = function() return wrk.format("GET", "/v1/profiles/user_id:u" .. math.random(0, 19999)) end
LUA
conns=${CONNS:-50} threads=2
[ "$conns" = 1 ] && threads=1
printf '%-28s %10s %9s %9s %12s %12s\n' binary req/s p50 p99 reads/write ""
for _ in $(seq "${ROUNDS:-3}"); do
	for bin in "$@"; do
		fresh_edge "$bin" "$dir" 127.0.0.1:18556
		python3 "$here/loadpeople.py" 127.0.0.1:18556 20000
		pid=$(pgrep -f "edge --data-dir $dir/d")
		wrk -t$threads -c"$conns" -d"${DUR:-8}"s --latency -s "$dir/lookup.lua" http://127.0.0.1:18556 >"$dir/wrk.out" &
		wp=$!
		reads=- writes=-
		if [ "${PERF:-0}" = 1 ] && command -v perf >/dev/null; then
			sleep 2
			perf stat -x, -e syscalls:sys_enter_read,syscalls:sys_enter_write -p "$pid" -- sleep 4 2>"$dir/perf.out" || true
			reads=$(awk -F, '/sys_enter_read/{print $1}' "$dir/perf.out")
			writes=$(awk -F, '/sys_enter_write/{print $1}' "$dir/perf.out")
		fi
		wait $wp
		# a response leaves in one write: reads per write are reads per request
		awk -v b="$bin" -v r="$reads" -v w="$writes" '/Requests\/sec/{rate=$2} / 50%/{p50=$2} / 99%/{p99=$2}
			END{rr="-"; wr="-"; if (w != "-" && w > 0) {rr=sprintf("%.2f", r/w); wr=""}
			printf "%-28s %10.0f %9s %9s %12s %12s\n", b, rate, p50, p99, rr, wr}' "$dir/wrk.out"
	done
done
