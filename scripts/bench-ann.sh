#!/usr/bin/env bash
# bench-ann.sh: Weft's HNSW against hnswlib, side by side, in one run.
#
# Builds the C++ peer (scripts/build-peer.sh) and Weft's `bench ann`, fetches
# each dataset (scripts/dataset.py builds it in the cache), runs
# hnswlib and weft-hnsw with the same build and search settings, alternating
# engines per pass so machine load hits both alike, and prints the JSON lines
# and a table of Weft's QPS and build time as ratios of hnswlib's at equal
# recall.
#
# Environment (defaults in brackets):
#   DATASETS       dataset names [fashion-mnist-784-euclidean]
#   M EFC EF       HNSW parameters [16, 200, 10,16,24,32,48,64,96,128,256]
#   BUILD_THREADS  [2]   SEARCH_THREADS [1]   RUNS (passes per setting) [3]
#   QUERIES        queries per pass [all]
#   PASSES         builds per engine, alternating; the table takes medians [1]
#   OUT            folder for the raw JSON lines [a temporary folder]
set -euo pipefail
cd "$(dirname "$0")/.."

DATASETS=${DATASETS:-fashion-mnist-784-euclidean}
M=${M:-16}
EFC=${EFC:-200}
EF=${EF:-10,16,24,32,48,64,96,128,256}
BUILD_THREADS=${BUILD_THREADS:-2}
SEARCH_THREADS=${SEARCH_THREADS:-1}
RUNS=${RUNS:-3}
PASSES=${PASSES:-1}
OUT=${OUT:-$(mktemp -d)}
mkdir -p "$OUT"

P=$(scripts/build-peer.sh)
W="$OUT/weft-annbench"
GOEXPERIMENT=simd go build -o "$OUT/weft" ./cmd/weft
printf '#!/bin/sh\nexec %q bench ann "$@"\n' "$OUT/weft" >"$W"
chmod +x "$W"

common=(--M "$M" --efc "$EFC" --ef "$EF" --build-threads "$BUILD_THREADS"
	--search-threads "$SEARCH_THREADS" --runs "$RUNS")
if [[ -n ${QUERIES:-} ]]; then common+=(--queries "$QUERIES"); fi

for name in $DATASETS; do
	D=$(scripts/dataset.py "$name")
	for pass in $(seq 1 "$PASSES"); do
		echo "bench-ann: $name pass $pass/$PASSES: hnswlib" >&2
		"$P" hnswlib --data "$D" "${common[@]}" | tee -a "$OUT/hnswlib.$name.jsonl"
		echo "bench-ann: $name pass $pass/$PASSES: weft-hnsw" >&2
		"$W" --data "$D" --index hnsw "${common[@]}" | tee -a "$OUT/weft-hnsw.$name.jsonl"
	done
done

echo "bench-ann: raw lines in $OUT" >&2
/usr/bin/env python3 - "$OUT" $DATASETS <<'PY'
import json, statistics, sys, collections
out, names = sys.argv[1], sys.argv[2:]

def load(path):
    by_ef = collections.defaultdict(list)
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            by_ef[r["params"]["ef"]].append(r)
    rows = []
    for ef, rs in sorted(by_ef.items()):
        rows.append(dict(ef=ef, recall=statistics.median(r["recall"] for r in rs),
                         qps=statistics.median(r["qps"] for r in rs),
                         build=statistics.median(r["build_s"] for r in rs)))
    return rows

def qps_at(rows, target):
    """QPS at recall target, interpolated between the settings around it."""
    rows = sorted(rows, key=lambda r: r["recall"])
    for lo, hi in zip(rows, rows[1:]):
        if lo["recall"] <= target <= hi["recall"] and hi["recall"] > lo["recall"]:
            t = (target - lo["recall"]) / (hi["recall"] - lo["recall"])
            return lo["qps"] + t * (hi["qps"] - lo["qps"])
    best = [r for r in rows if r["recall"] >= target]
    return max(r["qps"] for r in best) if best else None

for name in names:
    h = load(f"{out}/hnswlib.{name}.jsonl")
    w = load(f"{out}/weft-hnsw.{name}.jsonl")
    print(f"\n{name}: weft-hnsw / hnswlib (medians; QPS interpolated at equal recall)")
    print(f"{'recall':>8} {'hnswlib QPS':>12} {'weft QPS':>10} {'ratio':>7}")
    lo = max(min(r["recall"] for r in h), min(r["recall"] for r in w))
    for target in (0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.97, 0.99):
        if target < lo:
            continue  # below both curves' first setting: nothing to compare
        a, b = qps_at(h, target), qps_at(w, target)
        if a and b:
            print(f"{target:>8.2f} {a:>12.0f} {b:>10.0f} {b / a:>7.2f}")
    print(f"{'ef':>8} {'hnswlib rec/QPS':>18} {'weft rec/QPS':>18} {'ratio':>7}")
    for x, y in zip(h, w):
        print(f"{x['ef']:>8} {x['recall']:>8.4f}/{x['qps']:<9.0f} {y['recall']:>8.4f}/{y['qps']:<9.0f} {y['qps'] / x['qps']:>7.2f}")
    hb, wb = h[0]["build"], w[0]["build"]
    print(f"build: hnswlib {hb:.1f}s, weft {wb:.1f}s, ratio {wb / hb:.2f}")
PY
