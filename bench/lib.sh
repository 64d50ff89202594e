# Sourced by the bench scripts: shared shell helpers.

# fresh_edge BIN DIR ADDR: stops any edge on data directory DIR/d, starts
# BIN on a fresh DIR/d listening on ADDR (write key wk=bench, its log in
# DIR/edge.log) and waits up to 5 s for its /healthz.
fresh_edge() {
	local bin=$1 dir=$2 addr=$3
	pkill -9 -f "edge --data-dir $dir/d" || true
	sleep 0.3
	rm -rf "$dir/d"
	("$bin" edge --data-dir "$dir/d" --http-addr "$addr" --write-key wk=bench >"$dir/edge.log" 2>&1 &)
	for _ in $(seq 50); do curl -s -o /dev/null "$addr/healthz" && break; sleep 0.1; done
}

# wrk_scratch NAME: exits, naming NAME, unless wrk is installed; sets dir
# to a fresh temporary directory, removed — with any edge running on it —
# when the script exits.
wrk_scratch() {
	command -v wrk >/dev/null || { echo "$1: wrk not installed (apt-get install wrk)" >&2; exit 1; }
	dir=$(mktemp -d)
	trap 'pkill -9 -f "edge --data-dir $dir/d" || true; rm -rf "$dir"' EXIT
}
