#!/bin/bash
# Lookups on one connection while single events arrive on 64, on a fresh
# edge and on the same edge restarted (bench/README.md, "After a restart,
# lookups waited for the applier"; decision 0114).
#
#   bench/restart.sh BIN [BIN…]   # each binary: fresh, then restarted
#
# 20,000 profiles are loaded (identify events through /v1/batch), 5 s of
# single events follow (users uniform over 100,000, the same user_id
# identifiers), the edge is kept or stopped and started again on its
# data, then 20 s of single events with, from second 2, 15 s of lookups
# of the loaded profiles on one connection. Prints wrk's lookup
# latencies, the ingest rate and the commits that waiters forced. Needs
# wrk and curl.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d); trap 'pkill -9 -f "edge --data-dir $dir" || true; rm -rf "$dir"' EXIT
addr=127.0.0.1:18557
cat > "$dir/lookup.lua" <<'LUA'
local threads = 0
function setup(thread) threads = threads + 1; thread:set("tid", threads) end
function init(args) math.randomseed(tid * 31337) end
function request() return wrk.format("GET", "/v1/profiles/user_id:u" .. math.random(0, 19999)) end
LUA
start() {
  ("$1" edge --data-dir "$dir/data" --http-addr $addr --write-key wk=bench >>"$dir/edge.log" 2>&1 &)
  for _ in $(seq 50); do curl -sf "http://$addr/metrics" >/dev/null && return; sleep 0.1; done
  echo "edge did not start: $(tail -3 "$dir/edge.log")" >&2; exit 1
}
waiters() { curl -s "http://$addr/metrics" | awk '$1=="ucv_store_applier_commits_total{reason=\"waiter\"}" {print $2}'; }
for bin in "$@"; do
  for restart in 0 1; do
    pkill -9 -f "edge --data-dir $dir" || true; sleep 0.3; rm -rf "$dir/data"
    start "$bin"
    for b in $(seq 0 199); do
      body=$(for i in $(seq 0 99); do u=$((b * 100 + i)); printf '{"type":"identify","userId":"u%d","messageId":"l-%d","traits":{"email":"u%d@example.com","plan":"gold","name":"Customer %d"}},' $u $u $u $u; done)
      curl -sf -o /dev/null -H 'X-Write-Key: wk' -H 'Content-Type: application/json' -d "{\"batch\":[${body%,}]}" "http://$addr/v1/batch"
    done
    MIDP=w- wrk -t2 -c64 -d5s -s "$here/single.lua" "http://$addr" >/dev/null
    if [ $restart = 1 ]; then
      pkill -TERM -f "edge --data-dir $dir" || true
      for _ in $(seq 100); do pgrep -f "edge --data-dir $dir" >/dev/null || break; sleep 0.1; done
      start "$bin"
    fi
    w0=$(waiters)
    MIDP=i- wrk -t2 -c64 -d20s -s "$here/single.lua" "http://$addr" > "$dir/ingest.out" &
    sleep 2
    look=$(wrk -t1 -c1 -d15s --latency -s "$dir/lookup.lua" "http://$addr")
    wait
    echo "== $bin $([ $restart = 1 ] && echo restarted || echo fresh)"
    echo "lookups/s $(awk '/Requests\/sec/ {print $2}' <<<"$look")  p50 $(awk '$1=="50%" {print $2}' <<<"$look")  p90 $(awk '$1=="90%" {print $2}' <<<"$look")  p99 $(awk '$1=="99%" {print $2}' <<<"$look")  ingest events/s $(awk '/Requests\/sec/ {print $2}' "$dir/ingest.out")  waiter commits $(echo "$(waiters) - $w0" | bc)"
  done
done
