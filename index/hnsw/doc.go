// Package hnsw owns Weft's in-shard graph index: a Hierarchical Navigable
// Small World graph (Malkov and Yashunin) over float32 vectors with dense
// uint32 ids.
//
// # Entry points
//
//   - [Build] builds an index from vectors in memory on several goroutines.
//   - [Index.Search] and [Index.SearchFiltered] answer k-nearest-neighbour
//     queries with a beam of width ef; a filtered search keeps only ids an
//     [Allow] accepts, traversing the rest of the graph to reach them.
//   - [Index.Delete] tombstones ids: they are never returned but still route
//     searches until [Index.Repair] reconnects their neighbours around them.
//   - [Index.WriteTo] and [Decode] move an index to and from a flat byte
//     encoding that a worker uses in place: Decode validates the buffer and
//     slices it, with no per-node allocation.
//
// # Layout
//
// Nodes are dense ids 0..n-1. Layer 0 links live in one flat []uint32 with a
// fixed stride of 2M+1 words per node (a count, then up to 2M neighbour ids);
// nodes on upper layers have their M+1-word blocks in a second flat array,
// found through a per-node offset. Vectors are one flat []float32. Searches
// use an epoch-reset visited array and slice-backed heaps: no maps and no
// per-node pointers on the hot path. During a parallel build, writers hold a
// per-node lock and readers load link words atomically.
//
// Like everything under index/, this package imports nothing of Weft's
// outside index/ and does no I/O (encodings go through io.Writer and byte
// slices), logging or metrics.
package hnsw
