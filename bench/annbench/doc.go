// Package annbench implements `weft bench ann`: it builds one of Weft's
// in-shard indexes from a benchmark dataset folder (made by
// scripts/dataset.py), runs every query one at a time for each search
// setting, and prints one JSON line per setting in the schema of the C++
// reference peer (bench/annpeer, built by scripts/build-peer.sh), so the two
// are compared line by line at equal recall.
//
// Engines: weft-hnsw (index/hnsw), weft-hnsw-filtered (index/filter over
// index/hnsw, with random allow-lists of the given selectivities), weft-ivfpq
// (index/ivf with index/quant PQ codes and exact refine) and weft-rabitq
// (index/ivf with RaBitQ codes and exact refine). Quantised engines add
// code_bytes_per_vector to each line: the bytes per vector that stay
// resident, apart from the full vectors read only to refine.
//
// Unlike index/, this package does I/O: it reads the dataset files.
package annbench
