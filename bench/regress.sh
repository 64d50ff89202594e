#!/bin/bash
# Regression check: the benchmarks that have regressed unnoticed before
# (bench/README.md, "A benchmark audit", twenty-third session), run at a
# base commit and at the work tree, alternated in the same minutes (this
# VM drifts 10–20 % between hours, so numbers recorded days ago are no
# baseline), with the median of each metric and head/base.
#
#   bench/regress.sh [BASE] [ROUNDS]   # BASE: a commit (default HEAD~1); ROUNDS (default 2)
#
# A metric whose head is worse than base by more than THRESHOLD percent
# (default 15) is marked REGRESSED and the exit status is 1. Lower is
# better for ns/op, allocs/op, ms-*, µs and ns per anything; higher for
# anything per second; B/op is shown, not judged (it moves with batch
# sizes). Takes ~2 minutes a round.
set -euo pipefail
base=${1:-HEAD~1} rounds=${2:-2} threshold=${THRESHOLD:-15}
root=$(git rev-parse --show-toplevel)
work=$(mktemp -d)
trap 'git -C "$root" worktree remove --force "$work/base" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
git -C "$root" worktree add -q --detach "$work/base" "$base"
# package@benchmark regexp@benchtime
benches=(
  'edge/store@IngestCatalog/sync=off/users=100000/catalog=(none|100-audiences)$@20000x'
  'edge/store@IngestCommit/committer/clients=(1|64)$@3000x'
  'edge/store@AppendBatches$@100000x'
  'edge/store@ApplyBySize/events=1000$@2000x'
  'edge/store@IngestOnlineRetail/views=true$@1x'
  'edge/store@LookupIdentifier/serial$@2000000x'
  'edge/api@StreamLatency$@300x'
  'edge/api@Lookup$@2s'
  'edge/forward@ForwardUnderIngest/forward=off$@30000x'
  'profile/catalog@Evaluate$/events=(100|1000)$@2s'
  'profile@ProfileEncode$@2s'
  'profile@ProfileDecode$@2s'
  'profile@ParseBatch$@2s'
)
pkgs=$(printf '%s\n' "${benches[@]}" | cut -d@ -f1 | sort -u)
for side in base head; do
  src=$root; [ "$side" = base ] && src=$work/base
  for p in $pkgs; do
    (cd "$src" && go test -c -o "$work/$side-${p//\//_}.test" "./$p")
  done
done
out=$work/results
for r in $(seq 1 "$rounds"); do
  for b in "${benches[@]}"; do
    IFS=@ read -r p re bt <<<"$b"
    for side in base head; do
      if ! (cd "$root/$p" && "$work/$side-${p//\//_}.test" -test.run '^$' -test.bench "$re" -test.benchtime "$bt" -test.benchmem) > "$work/run.txt" 2>&1; then
        echo "$side $p $re failed:" >&2; tail -20 "$work/run.txt" >&2; exit 2
      fi
      awk -v side="$side" '/^Benchmark/ { for (i = 3; i < NF; i += 2) print side, $1, $(i+1), $i }' "$work/run.txt" >> "$out"
    done
  done
  echo "round $r done" >&2
done
# side name unit value → per name and unit: medians, ratio, verdict
printf "%-70s %-14s %14s %14s %8s\n" benchmark unit base head head/base
status=0
awk -v thr="$threshold" '
  function median(s,   n, a, i, j, t) {
    n = split(s, a, " ")
    for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
    return n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
  }
  { k = $2 " " $3; v[$1, k] = v[$1, k] " " $4; keys[k] = 1 }
  END {
    bad = 0
    for (k in keys) {
      split(k, kk, " "); unit = kk[2]
      b = median(v["base", k]); h = median(v["head", k])
      if (b == 0) continue
      ratio = h / b
      worse = (unit ~ /\/s$/) ? (ratio < 1 - thr/100) : (ratio > 1 + thr/100)
      if (unit == "B/op") worse = 0 # shown, not judged: it moves with batch sizes
      mark = worse ? "  REGRESSED" : ""
      if (worse) bad = 1
      printf "%-70s %-14s %14.4g %14.4g %8.3f%s\n", kk[1], unit, b, h, ratio, mark
    }
    exit bad
  }' "$out" > "$work/table" || status=$?
sort "$work/table"
exit "$status"
