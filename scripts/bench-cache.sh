#!/usr/bin/env bash
# bench-cache.sh: the lazy and cached read path of issue 16.
#
#   cold   for each of COLD_DATASETS: load it into a fresh folder through
#          `weft serve --index.codes` and wait for the indexer, then
#          `weft bench cold`: PROCESSES new `weft serve` processes, each
#          with --objstore-latency LATENCY, timed from start to /readyz and
#          to the answer of its first query (cold: three dependent rounds of
#          bucket requests); then one process per 100 queries with a slow
#          bucket (so its load takes long) for the cold path's recall; then
#          PROCESSES new `weft worker`s, one at a time, behind a warm
#          `weft fabric`: the first query of a worker scaled from zero.
#   warm   for each of WARM_DATASETS: the same folder served whole and
#          lazily (--index.disabled --cache.ram-bytes = 1/8 of the vectors'
#          float32 bytes, with a disk tier), alternating ROUNDS times, the
#          same search on codes (EF, REFINE), p50 and recall side by side,
#          and each server's resident memory after its queries.
#
# Environment: COLD_DATASETS [fashion-sift-1000000-128-euclidean],
# WARM_DATASETS [fashion-mnist-784-euclidean gcide-words-100-angular],
# PROCESSES [20], LATENCY [50ms], ROUNDS [3], QUERIES [2000],
# ADDR [127.0.0.1:7613], FABRIC_ADDR [127.0.0.1:7614]. Loading the million-vector set takes ~10 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
COLD_DATASETS=${COLD_DATASETS-fashion-sift-1000000-128-euclidean}
WARM_DATASETS=${WARM_DATASETS-fashion-mnist-784-euclidean gcide-words-100-angular}
PROCESSES=${PROCESSES:-20}
LATENCY=${LATENCY:-50ms}
ROUNDS=${ROUNDS:-3}
QUERIES=${QUERIES:-2000}
ADDR=${ADDR:-127.0.0.1:7613}
FABRIC_ADDR=${FABRIC_ADDR:-127.0.0.1:7614}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
GOEXPERIMENT=simd go build -o "$work/weft" ./cmd/weft

wait_up() { for _ in $(seq 300); do curl -sf "http://$ADDR/readyz" >/dev/null && return; sleep 0.1; done; echo "weft serve did not start" >&2; exit 1; }

# load NAME DIR: DIR holds NAME indexed, with codes.
load() {
	rm -rf "$2"
	"$work/weft" serve --listen "$ADDR" --data "$2" --index.codes --log-level warn &
	wait_up
	"$work/weft" bench query --addr "http://$ADDR" --data "$(scripts/dataset.py "$1")" --load true --queries 1 >/dev/null
	kill %1; wait %1 || true
}

for name in $COLD_DATASETS; do
	D=$(scripts/dataset.py "$name")
	load "$name" "$work/$name"
	"$work/weft" bench cold --data "$D" --bucket "$work/$name" --processes "$PROCESSES" --latency "$LATENCY" | tail -1
	"$work/weft" bench cold --data "$D" --bucket "$work/$name" --processes 3 --queries 100 --latency "$LATENCY" --bandwidth 20000000 | tail -1
	# A worker scaled from zero behind a warm fabric (issue 17).
	"$work/weft" fabric --listen "$FABRIC_ADDR" --data "$work/$name" --workers bucket --workers.poll 100ms --log-level warn &
	for _ in $(seq 300); do curl -sf "http://$FABRIC_ADDR/readyz" >/dev/null && break; sleep 0.1; done
	curl -sf -H 'content-type: application/json' -d "{\"name\":\"bench-$name\"}" "http://$FABRIC_ADDR/weft.v1.NamespaceService/GetNamespace" >/dev/null
	"$work/weft" bench cold --data "$D" --bucket "$work/$name" --fabric "http://$FABRIC_ADDR" --processes "$PROCESSES" --latency "$LATENCY" | tail -1
	kill %1; wait %1 || true
	rm -rf "$work/$name"
done

for name in $WARM_DATASETS; do
	D=$(scripts/dataset.py "$name")
	load "$name" "$work/$name"
	budget=$(python3 -c "import json; m=json.load(open('$D/meta.json')); print(m['n_base']*m['dim']*4//8)")
	ef=32; [ "$name" = gcide-words-100-angular ] && ef=128
	EF=${EF:-$ef}; REFINE=${REFINE:-$EF}
	for round in $(seq "$ROUNDS"); do
		for mode in whole lazy; do
			args=(--index.disabled)
			[ $mode = lazy ] && args+=(--cache.ram-bytes "$budget" --cache.dir "$work/cache" --cache.disk-bytes 1000000000)
			"$work/weft" serve --listen "$ADDR" --data "$work/$name" --log-level warn "${args[@]}" &
			wait_up
			line=$("$work/weft" bench query --addr "http://$ADDR" --data "$D" --ef "$EF" --refine "$REFINE" --queries "$QUERIES" --runs 2)
			rss=$(ps -o rss= -p $!)
			echo "$name round $round $mode (cache $budget bytes): $line rss_mb=$((rss / 1024))"
			kill %1; wait %1 || true
		done
		rm -rf "$work/cache"
	done
	rm -rf "$work/$name"
done
