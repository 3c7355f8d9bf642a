#!/usr/bin/env bash
# bench-cluster.sh: queries through `weft fabric` over 3 `weft worker`s and a
# `weft indexer` on loopback, one folder bucket, workers found by their
# heartbeats. Loads a dataset through the fabric (IVF lists of SHARD_ROWS
# rows), then `weft bench query` at CONCURRENCY (QPS, p50, p99, recall) at
# a few ef and nprobe settings, and the same against one `weft serve` over
# the same bucket, side by side.
#
# Environment: DATASET [fashion-mnist-784-euclidean], SHARD_ROWS [3500],
# CONCURRENCY [8], RUNS [3], QUERIES [2000], PORT [7620] (uses 6 ports from
# it), OUT [a temporary folder] for the JSON lines.
set -euo pipefail
cd "$(dirname "$0")/.."
DATASET=${DATASET:-fashion-mnist-784-euclidean}
SHARD_ROWS=${SHARD_ROWS:-3500}
CONCURRENCY=${CONCURRENCY:-8}
RUNS=${RUNS:-3}
QUERIES=${QUERIES:-2000}
PORT=${PORT:-7620}
work=$(mktemp -d)
OUT=${OUT:-$work/out}
mkdir -p "$OUT"
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null; rm -rf "$work/data"' EXIT
GOEXPERIMENT=simd go build -o "$work/weft" ./cmd/weft
D=$(scripts/dataset.py "$DATASET")

run() { local name=$1; shift; "$work/weft" "$@" --data "$work/data" --log-format json 2>>"$work/$name.log" & }
wait_up() { for _ in $(seq 300); do curl -sf "http://$1/healthz" >/dev/null && return; sleep 0.1; done; echo "$1 did not start" >&2; exit 1; }

for i in 1 2 3; do
	run "worker$i" worker --listen "127.0.0.1:$((PORT + i))" --heartbeat 1s
done
run indexer indexer --listen "127.0.0.1:$((PORT + 4))" --index.shard-rows "$SHARD_ROWS" --index.min-changes 10000000 --poll 500ms
run fabric fabric --listen "127.0.0.1:$PORT" --workers bucket
for p in $PORT $((PORT + 1)) $((PORT + 2)) $((PORT + 3)) $((PORT + 4)); do wait_up "127.0.0.1:$p"; done

q=("$work/weft" bench query --data "$D" --queries "$QUERIES" --runs "$RUNS" --concurrency "$CONCURRENCY")
"${q[@]}" --addr "http://127.0.0.1:$PORT" --load true --ef 16 --queries 10 --runs 1 >/dev/null
for ef in 32 64; do
	"${q[@]}" --addr "http://127.0.0.1:$PORT" --ef "$ef" | tee -a "$OUT/cluster.jsonl"
done
for np in 2 4 5 6 8; do
	"${q[@]}" --addr "http://127.0.0.1:$PORT" --ef 64 --nprobe "$np" | tee -a "$OUT/cluster.jsonl"
done
# One weft serve over the same bucket (it does not index: the indexer does).
run serve serve --listen "127.0.0.1:$((PORT + 5))" --index.disabled
wait_up "127.0.0.1:$((PORT + 5))"
for ef in 32 64; do
	"${q[@]}" --addr "http://127.0.0.1:$((PORT + 5))" --ef "$ef" | tee -a "$OUT/serve.jsonl"
done
for np in 2 4 8; do
	"${q[@]}" --addr "http://127.0.0.1:$((PORT + 5))" --ef 64 --nprobe "$np" | tee -a "$OUT/serve.jsonl"
done
echo "JSON lines in $OUT"
