#!/usr/bin/env bash
# bench-import.sh: the write-path figure. Starts `weft serve` on a fresh
# folder, imports Fashion-MNIST's 60,000 × 784 training images with
# `weft import` (which waits for every acknowledgement), and prints the wall
# time and rate of each run and their median, plus the time a restarted
# server takes to replay the WAL.
#
# Environment: RUNS [5], ADDR [127.0.0.1:7611].
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/test-deps.sh
RUNS=${RUNS:-5}
ADDR=${ADDR:-127.0.0.1:7611}
FILE=/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
GOEXPERIMENT=simd go build -o "$work/weft" ./cmd/weft

serve() { "$work/weft" serve --listen "$ADDR" --data "$work/data" --log-format json 2>>"$work/serve.log" & }
wait_up() { for _ in $(seq 100); do curl -sf "http://$ADDR/healthz" >/dev/null && return; sleep 0.1; done; echo "weft serve did not start" >&2; exit 1; }

secs=()
for run in $(seq "$RUNS"); do
	rm -rf "$work/data"
	serve; wait_up
	line=$("$work/weft" import --addr "$ADDR" --namespace fashion --create --metric l2 --file "$FILE")
	echo "run $run: $line"
	secs+=("$(sed -E 's/.* in ([0-9.]+) s .*/\1/' <<<"$line")")
	kill %1; wait %1 || true
done
median=$(printf '%s\n' "${secs[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
echo "median: $median s for 60000 rows ($(awk -v s="$median" 'BEGIN {printf "%.0f", 60000/s}') rows/s)"

: >"$work/serve.log"
serve; wait_up
"$work/weft" query --addr "$ADDR" --namespace fashion --vector '['"$(seq -s, 784 | sed 's/[0-9]*/0/g')"']' --top-k 1 >/dev/null
grep -o '"msg":"namespace loaded".*' "$work/serve.log" | sed 's/^/replay after restart: /'
