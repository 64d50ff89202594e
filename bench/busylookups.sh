#!/usr/bin/env bash
# busylookups.sh [-m edge|dev] [-c CONNS] [-o] [-p PORT] [-r PATH] BIN
#
# Lookups on one connection while the store ingests (decision 0063):
# starts BIN as `ucv edge` (or `ucv dev`, which syncs to its in-process
# hub) on 127.0.0.1:PORT, loads 20,000 profiles (u0…u19999), measures
# lookups of them with wrk on one connection idle, then again while wrk
# sends single /v1/track events on CONNS connections (default 32) for
# users u100000… (with -o: u0…u99999, so some events touch the profiles
# looked up), and prints both latency distributions, the ingest rate and
# ucv_store_read_waits_total and ucv_store_read_overlays_total. -r sets
# the read, a path with %d for the user's number (default
# /v1/profiles/user_id:u%d; e.g. /v1/decide/user_id:u%d?placement=home,
# /v1/profiles/user_id:u%d/traits). Needs wrk (apt-get install wrk).
set -euo pipefail
mode=edge conns=32 overlap=0 port=18099 path='/v1/profiles/user_id:u%d'
while getopts "m:c:op:r:" o; do
	case $o in
	m) mode=$OPTARG ;;
	c) conns=$OPTARG ;;
	o) overlap=1 ;;
	p) port=$OPTARG ;;
	r) path=$OPTARG ;;
	*) exit 2 ;;
	esac
done
shift $((OPTIND - 1))
bin=${1:?usage: busylookups.sh [-m edge|dev] [-c CONNS] [-o] [-p PORT] [-r PATH] BIN}
command -v wrk >/dev/null || { echo "busylookups: wrk not installed (apt-get install wrk)" >&2; exit 1; }
dir=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
base=100000
[ "$overlap" = 1 ] && base=0
cat > "$dir/load.lua" <<'EOF'
local counter = 0
function request()
  local parts = {}
  for k = 1, 100 do
    if counter >= 20000 then counter = 0 end
    parts[k] = string.format('{"type":"identify","userId":"u%d","messageId":"l%d","traits":{"email":"user%d@example.com","plan":"gold"}}', counter, counter, counter)
    counter = counter + 1
  end
  return wrk.format("POST", "/v1/batch", {["Content-Type"]="application/json", ["X-Write-Key"]="bench-key"}, '{"batch":[' .. table.concat(parts, ",") .. ']}')
end
EOF
cat > "$dir/track.lua" <<EOF
local counter = 0
function init(args) math.randomseed(os.time()) end
function request()
  counter = counter + 1
  local u = $base + math.random(0, 99999)
  local body = string.format('{"userId":"u%d","messageId":"t%d-%d","event":"Product Viewed","properties":{"sku":"sku-%d","price":19.99}}', u, os.time(), counter, counter % 500)
  return wrk.format("POST", "/v1/track", {["Content-Type"]="application/json", ["X-Write-Key"]="bench-key"}, body)
end
EOF
cat > "$dir/lookup.lua" <<EOF
function request()
  return wrk.format("GET", string.format("$path", math.random(0, 19999)))
end
EOF
"$bin" "$mode" --data-dir "$dir/data" --http-addr "127.0.0.1:$port" --write-key bench-key=bench >"$dir/log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$port/metrics" && break; sleep 0.1; done
url=http://127.0.0.1:$port
wrk -t1 -c1 -d3s -s "$dir/load.lua" "$url" >/dev/null
sleep 2
code=$(curl -s -o "$dir/first" -w '%{http_code}' "$url$(printf "$path" 1)")
[ "$code" = 200 ] || { echo "busylookups: GET $(printf "$path" 1) = $code: $(cat "$dir/first")" >&2; exit 1; }
echo "lookups ($path), one connection, idle:"
wrk -t1 -c1 -d4s --latency -s "$dir/lookup.lua" "$url" | grep -E '^ +(50|99)%|Requests/sec'
wrk -t1 -c"$conns" -d8s -s "$dir/track.lua" "$url" >"$dir/track.out" &
tp=$!
sleep 1
echo "lookups, one connection, while $conns connections ingest (users from u$base):"
wrk -t1 -c1 -d5s --latency -s "$dir/lookup.lua" "$url" >"$dir/lookup.out"
grep -E '^ +(50|99)%|Requests/sec' "$dir/lookup.out"
grep -E "Non-2xx|Socket errors" "$dir/lookup.out" && { echo "busylookups: reads failed" >&2; exit 1; }
wait "$tp"
echo "ingest $(grep Requests/sec "$dir/track.out")"
grep -E "Non-2xx|Socket errors" "$dir/track.out" && { echo "busylookups: ingest requests failed" >&2; exit 1; }
curl -s "$url/metrics" | grep -E '^ucv_store_read_(waits|overlays)_total' || echo "(no ucv_store_read_waits_total: a binary before decision 0063)"
