#!/bin/bash
# Single events held at steady state (bench/README.md, "Single events at
# steady state"): wrk posts one new event a request (64 connections, users
# uniform over 100,000, a new messageId each) to a fresh edge for DUR
# (default 60s), and every 10 s the script prints the events applied, the
# apply lag, the data file's size and the bytes the edge wrote per event
# applied in that window (sectors written by the block device holding
# the data directory; /proc/PID/io's write_bytes, used before, counts
# far more than reaches the device for small writes into a zero-filled
# file — bench/README, "write_bytes overstates"), the share of the window
# the applier was busy, and of it the share in writer.flush and in
# bbolt's Tx.Commit; then wrk's totals and the commits by reason.
#
#   bench/steady.sh BIN [BIN…]   # alternates the binaries, ROUNDS times (default 1)
#
# MID=uuid sends random UUID-shaped messageIds, as client libraries do,
# instead of numbered ones (decision 0111).
#
# LOAD=one posts the single events on one connection (a till posting
# event after event: decisions 0107 and 0113).
#
# LOAD=batch posts /v1/batch requests of 100 events on 8 connections
# instead (the tail of a batch's acknowledgement, decision 0102); the
# table then adds the appender's pacing share and the applier's measured
# rate. Extra edge flags go in EDGE_FLAGS. Needs wrk.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d); trap 'pkill -9 -f "edge --data-dir $dir" || true; rm -rf "$dir"' EXIT
script=$here/single.lua conns=64 threads=2
if [ "${LOAD:-single}" = batch ]; then script=$here/batch.lua conns=8; fi
if [ "${LOAD:-single}" = one ]; then conns=1 threads=1; fi
# metric NAME: the sum of NAME's series in the scrape in $scrape
metric() { awk -v m="$1" '$1==m || index($1, m "{")==1 {n+=$2} END {printf "%.3f", n}' <<<"$scrape"; }
run() {
  local bin=$1 d=$dir/run
  rm -rf "$d"; mkdir -p "$d"
  # shellcheck disable=SC2086
  ("$bin" edge --data-dir "$d/data" --http-addr 127.0.0.1:18555 --write-key wk=bench ${EDGE_FLAGS:-} >"$d/edge.log" 2>&1 &)
  sleep 1.5
  local pid; pid=$(pgrep -f "edge --data-dir $d/data")
  # the block device (or partition) holding the data directory
  local devstat; devstat=/sys/class/block/$(basename "$(df --output=source "$d" | tail -1)")/stat
  local dur=${DUR:-60}
  wrk -t"$threads" -c"$conns" -d"${dur}s" --latency -s "$script" http://127.0.0.1:18555 > "$d/wrk.out" &
  local wp=$! ev0=0 wb0 a0=0 f0=0 c0=0 p0=0 t0 t
  wb0=$(awk '{printf "%.0f", $7 * 512}' "$devstat")
  t0=$(date +%s.%N); t=$t0
  echo "== $bin ${EDGE_FLAGS:-}"
  printf '%6s %10s %7s %8s %9s %8s %8s %8s %8s %10s\n' t applied/s lag file_MB KB/event applier flush commit paced rate
  while kill -0 $wp 2>/dev/null; do
    sleep 10
    local ev wb lag db a f c p rate now dt scrape
    now=$(date +%s.%N)
    scrape=$(curl -s 127.0.0.1:18555/metrics)
    ev=$(metric ucv_events_ingested_total); lag=$(metric ucv_store_apply_lag_events); db=$(metric ucv_store_db_bytes)
    a=$(metric ucv_store_apply_seconds_total); f=$(metric ucv_store_flush_seconds_total); c=$(metric ucv_store_tx_commit_seconds_total)
    p=$(metric ucv_store_pace_seconds_total); rate=$(metric ucv_store_apply_rate_events)
    wb=$(awk '{printf "%.0f", $7 * 512}' "$devstat")
    dt=$(echo "$now - $t" | bc -l)
    # applier, flush, commit: the share of the window's wall time each took
    # paced: the share of the window the log's appender waited for the applier's rate
    printf '%6.1f %10.0f %7.0f %8.0f %9.1f %8.2f %8.2f %8.2f %8.2f %10.0f\n' "$(echo "$now - $t0" | bc -l)" "$(echo "($ev-$ev0)/$dt" | bc -l)" "$lag" "$(echo "$db/1048576" | bc -l)" \
      "$(echo "($wb-$wb0)/1024/($ev-$ev0+1)" | bc -l)" "$(echo "(${a:-0}-$a0)/$dt" | bc -l)" "$(echo "(${f:-0}-$f0)/$dt" | bc -l)" "$(echo "(${c:-0}-$c0)/$dt" | bc -l)" \
      "$(echo "(${p:-0}-$p0)/$dt" | bc -l)" "${rate:-0}"
    ev0=$ev; wb0=$wb; a0=${a:-0}; f0=${f:-0}; c0=${c:-0}; p0=${p:-0}; t=$now
  done
  wait $wp
  awk '/Requests\/sec|^ +(50|90|99)%/' "$d/wrk.out"
  curl -s 127.0.0.1:18555/metrics | grep -E '^ucv_store_applier_commits_total' | sed 's/ucv_store_//' | tr '\n' ' '; echo
  pkill -9 -f "edge --data-dir $d/data" || true
  sleep 0.5
}
for _ in $(seq "${ROUNDS:-1}"); do
  for bin in "$@"; do run "$bin"; done
done
