#!/usr/bin/env bash
# fuzz.sh: runs every fuzz target for FUZZTIME (default 5s).
#
# A target fails when the fuzzer writes a reproducer to
# testdata/fuzz/<target>/. Go's fuzzer can also exit nonzero without one
# when -fuzztime runs out while a worker is mid-input (a shutdown race of
# the coordinator, seen on slow targets of a busy machine); such a run is
# retried, up to twice, and fails only if every attempt does.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZTIME=${FUZZTIME:-5s}
targets=(
	"FuzzDecode ./index/hnsw"
	"FuzzDecodeCodes ./index/hnsw"
	"FuzzDecodePQ ./index/quant"
	"FuzzDecodeRaBitQ ./index/quant"
	"FuzzDecodePQIndex ./index/ivf"
	"FuzzDecodeRaBitQIndex ./index/ivf"
	"FuzzDecodeWALEntry ./objstore"
	"FuzzDecodeHeader ./objstore/segment"
	"FuzzDecode ./objstore/segment"
	"FuzzDecodeColumns ./objstore/segment"
	"FuzzDecodeClusters ./objstore/segment"
	"FuzzDecodePieces ./objstore/segment"
	"FuzzInstrument ./plugins/meter"
	"FuzzNPYReader ./internal/dataset"
)
for t in "${targets[@]}"; do
	read -r name pkg <<<"$t"
	corpus="$pkg/testdata/fuzz/$name"
	for attempt in 1 2 3; do
		before=$(ls "$corpus" 2>/dev/null | sort || true)
		if go test -run '^$' -fuzz "^$name\$" -fuzztime "$FUZZTIME" "$pkg"; then
			break
		fi
		after=$(ls "$corpus" 2>/dev/null | sort || true)
		if [[ "$after" != "$before" ]]; then
			echo "$name found a failing input: see $corpus (go test -run '$name' $pkg reproduces it)" >&2
			exit 1
		fi
		if [[ $attempt == 3 ]]; then
			echo "$name failed three times without writing a reproducer" >&2
			exit 1
		fi
		echo "$name stopped nonzero without a reproducer: retrying (attempt $((attempt + 1)) of 3)" >&2
	done
done
