#!/bin/bash
# Ingest at an edge that replicates (decision 0097): batches of 100 events
# (wrk, 8 connections) at one edge of two gossiping edges, or at an edge
# syncing with a one-node hub, on loopback. Prints the edge's throughput
# and its commits of the measured phase (count, events, why it committed).
#
#   bench/replicated.sh gossip|hub BIN [BIN…]   # alternates the binaries, ROUNDS times (default 3)
#
# The hub mode loads for WARM (20s) first, with other messageIds, so that
# the measured phase runs past the feed's fresh-hub bootstrap rule
# (edge/hubsync needsBootstrap: head > 2·cursor). Needs wrk.
set -euo pipefail
mode=$1; shift
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d); trap 'pkill -9 -f "edge --data-dir $dir" || true; pkill -9 -f "hub --data-dir $dir" || true; rm -rf "$dir"' EXIT
metrics() { curl -s 127.0.0.1:18555/metrics | grep -E '^ucv_store_applier_commits_total|^ucv_store_commit_events_(sum|count)' | sed 's/ucv_store_//' || true; }
run() {
  local bin=$1 d=$dir/run
  rm -rf "$d"; mkdir -p "$d"
  if [ "$mode" = gossip ]; then
    key=$(head -c 32 /dev/urandom | base64)
    ("$bin" edge --data-dir "$d/a" --node-name ea --http-addr 127.0.0.1:18555 --write-key wk=bench --gossip-addr 127.0.0.1:17946 --gossip-key "$key" >"$d/a.log" 2>&1 &)
    ("$bin" edge --data-dir "$d/b" --node-name eb --http-addr 127.0.0.1:18556 --write-key wk=bench --gossip-addr 127.0.0.1:17947 --join 127.0.0.1:17946 --gossip-key "$key" >"$d/b.log" 2>&1 &)
    sleep 2
  else
    ("$bin" hub --data-dir "$d/hub" --http-addr 127.0.0.1:18300 --raft-addr 127.0.0.1:18301 --node-id h1 --bootstrap >"$d/hub.log" 2>&1 &)
    sleep 3
    ("$bin" edge --data-dir "$d/a" --node-name ea --http-addr 127.0.0.1:18555 --write-key wk=bench --hub http://127.0.0.1:18300 >"$d/a.log" 2>&1 &)
    sleep 2
    MIDP=w wrk -t2 -c8 -d"${WARM:-20s}" -s "$here/batch.lua" http://127.0.0.1:18555 >/dev/null
    sleep 3
  fi
  metrics > "$d/m0"
  rps=$(MIDP=m wrk -t2 -c8 -d"${DUR:-10s}" -s "$here/batch.lua" http://127.0.0.1:18555 | awk '/Requests\/sec/ {print $2}')
  metrics > "$d/m1"
  printf '%s %s: %.0f events/s; ' "$mode" "$bin" "$(echo "$rps*100" | bc)"
  paste "$d/m0" "$d/m1" | awk '{d=$4-$2; if (d) printf "%s %d  ", $1, d} END {print ""}'
  if [ "$mode" = hub ]; then # snapshots the edge took over the whole run (warm-up included; one is its first)
    curl -s 127.0.0.1:18300/metrics | awk '$1=="ucv_hub_snapshot_streams_total" {print "  hub snapshot streams:", $2}'
  fi
  pkill -9 -f "edge --data-dir $dir" || true; pkill -9 -f "hub --data-dir $dir" || true
  sleep 0.5
}
for _ in $(seq "${ROUNDS:-3}"); do
  for bin in "$@"; do run "$bin"; done
done
