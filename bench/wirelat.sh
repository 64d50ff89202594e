#!/usr/bin/env bash
# wirelat.sh PORT -- COMMAND...
#
# Runs COMMAND (a load generator against a server on 127.0.0.1:PORT)
# while tcpdump records the loopback packets that carry data to and from
# PORT, then prints the server's latency as the wire saw it — from each
# request packet to the response packet that follows — and the client's
# gap from a response to its next request. It measures one connection
# at a time (run the generator with one connection): the kernel's packet
# timestamps are the same ruler for every server and every client, so a
# generator's own delays (decision 0054) do not count.
#
# Needs root and tcpdump (apt-get install tcpdump).
set -euo pipefail
port=$1; shift
[ "${1:-}" = "--" ] && shift
command -v tcpdump >/dev/null || { echo "wirelat: tcpdump not installed (apt-get install tcpdump)" >&2; exit 1; }
dir=$(mktemp -d); trap 'rm -rf "$dir"' EXIT
: > "$dir/srv"; : > "$dir/cli"
tcpdump -i lo -nn -tt -q -w "$dir/cap" "tcp port $port and tcp[tcpflags] & tcp-push != 0" 2>/dev/null &
dump=$!
sleep 1
"$@"
sleep 0.3
kill "$dump"; wait "$dump" 2>/dev/null || true
tcpdump -r "$dir/cap" -nn -tt -q 2>/dev/null | awk -v port="$port" -v srvf="$dir/srv" -v clif="$dir/cli" '
  {
    split($3, s, "."); split($5, d, "."); sub(":", "", d[5])
    n = $NF; t = $1
    if (n == 0) next
    if (d[5] == port) { if (resp != "") print (t - resp) * 1e6 > clif; req = t }
    else if (s[5] == port && req != "") { print (t - req) * 1e6 > srvf; resp = t; req = "" }
  }'
for side in srv cli; do
  sort -n "$dir/$side" > "$dir/$side.sorted"
  awk -v name="$side" '{a[NR]=$1} END {
    if (NR == 0) { print name ": no packets"; exit }
    label = (name == "srv") ? "server (request -> response)" : "client (response -> next request)"
    printf "%s: n=%d p50=%.0fus p99=%.0fus p99.9=%.0fus max=%.0fus\n", label, NR,
      a[int(0.5*(NR-1))+1], a[int(0.99*(NR-1))+1], a[int(0.999*(NR-1))+1], a[NR]
  }' "$dir/$side.sorted"
done
