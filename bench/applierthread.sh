#!/bin/bash
# applierthread.sh BIN [BIN…]: the applier thread's CPU an event, binaries
# alternated (bench/README, "Plain events applied later").
#
# Under /v1/batch the applier — locked to its OS thread at nice −10
# (decision 0100) — bounds ingest, and the rate is about 0.9 divided by
# that thread's CPU an event: a number far steadier between runs than
# the rate itself on a VM that drifts. For each round and binary: a
# fresh edge on 127.0.0.1:18557, wrk posting bench/batch.lua on 8
# connections (LOAD=single: one event a request on 64 connections) for
# 25 s; from t = 10 s to 20 s the script reads the applier thread's and
# the process's CPU ticks (/proc/PID/task/TID/stat, the thread found by
# its nice value) and the events applied (ucv_events_ingested_total),
# and prints events/s and µs of CPU an event for both. ROUNDS (default
# 2). Needs wrk and curl; Linux only.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/lib.sh
. "$here/lib.sh"
wrk_scratch applierthread
script=$here/batch.lua conns=8
if [ "${LOAD:-batch}" = single ]; then script=$here/single.lua conns=64; fi
ticks() { awk '{print $14+$15}' "$1"; } # utime+stime, in clock ticks
events() { curl -s 127.0.0.1:18557/metrics | awk '$1=="ucv_events_ingested_total{type=\"track\"}"{printf "%.0f", $2}'; }
hz=$(getconf CLK_TCK)
printf '%-28s %10s %18s %14s\n' binary events/s applier-µs/event edge-µs/event
for _ in $(seq "${ROUNDS:-2}"); do
	for bin in "$@"; do
		fresh_edge "$bin" "$dir" 127.0.0.1:18557
		pid=$(pgrep -f "edge --data-dir $dir/d")
		wrk -t2 -c"$conns" -d25s -s "$script" http://127.0.0.1:18557 >"$dir/wrk.out" &
		wp=$!
		sleep 10
		tid=
		for t in /proc/"$pid"/task/*; do
			[ "$(awk '{print $19}' "$t/stat")" = -10 ] && tid=$(basename "$t")
		done
		[ -n "$tid" ] || { echo "applierthread: no thread at nice -10 (the applier's priority was refused?)" >&2; exit 1; }
		a1=$(ticks /proc/"$pid"/task/"$tid"/stat) e1=$(ticks /proc/"$pid"/stat) n1=$(events)
		sleep 10
		a2=$(ticks /proc/"$pid"/task/"$tid"/stat) e2=$(ticks /proc/"$pid"/stat) n2=$(events)
		wait $wp
		awk -v b="$bin" -v n=$((n2 - n1)) -v a=$((a2 - a1)) -v e=$((e2 - e1)) -v hz="$hz" 'BEGIN {
			printf "%-28s %10.0f %18.2f %14.2f\n", b, n / 10, a / hz * 1e6 / n, e / hz * 1e6 / n }'
	done
done
