#!/usr/bin/env bash
# bench-query.sh: queries through the API of `weft serve`, after indexing,
# with `weft bench query` (JSON lines in the schema of `weft bench ann`).
# For each dataset: start a server on a fresh folder, load the dataset
# (id = row, bucket = row % 100) and wait for the indexer, then measure
# plain queries over a range of ef and recall targets and queries filtered
# to 1 % of the rows; then a restart: the time a new process takes to
# answer its first query.
#
# Environment: DATASETS [fashion-mnist-784-euclidean], RUNS [3] passes per
# setting (the median pass by QPS is printed), QUERIES [2000],
# ADDR [127.0.0.1:7612], OUT [a temporary folder] for the JSON lines.
set -euo pipefail
cd "$(dirname "$0")/.."
DATASETS=${DATASETS:-fashion-mnist-784-euclidean}
RUNS=${RUNS:-3}
QUERIES=${QUERIES:-2000}
ADDR=${ADDR:-127.0.0.1:7612}
work=$(mktemp -d)
OUT=${OUT:-$work/out}
mkdir -p "$OUT"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work/data"' EXIT
GOEXPERIMENT=simd go build -o "$work/weft" ./cmd/weft

serve() { "$work/weft" serve --listen "$ADDR" --data "$work/data" --log-format json 2>>"$work/serve.log" & }
wait_up() { for _ in $(seq 300); do curl -sf "http://$ADDR/healthz" >/dev/null && return; sleep 0.1; done; echo "weft serve did not start" >&2; exit 1; }

for name in $DATASETS; do
	D=$(scripts/dataset.py "$name")
	rm -rf "$work/data"; : >"$work/serve.log"
	serve; wait_up
	q=("$work/weft" bench query --addr "http://$ADDR" --data "$D" --queries "$QUERIES" --runs "$RUNS")
	"${q[@]}" --load true --ef 10,16,24,32,48,64,128 | tee "$OUT/$name.plain.jsonl"
	"${q[@]}" --recall-target 0.9,0.95,0.98,0.99 | tee "$OUT/$name.target.jsonl"
	"${q[@]}" --ef 16,64 --filter-percent 1 | tee "$OUT/$name.filter1.jsonl"
	kill %1; wait %1 || true
	start=$(date +%s.%N)
	serve; wait_up
	"${q[@]}" --ef 16 --queries 1 --runs 1 >/dev/null
	echo "$name: a restarted server answered its first query $(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN {printf "%.2f", e-s}') s after it started"
	grep -o '"msg":"namespace loaded".*' "$work/serve.log" | tail -1
	kill %1; wait %1 || true
done
echo "JSON lines in $OUT"
