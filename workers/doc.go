// Package workers is Weft's shard search layer: a namespace's documents in
// memory as of a WAL sequence ([State]) and their search.
//
// A State holds the indexed segments of a manifest, opened from the bucket
// ([OpenSegment], written by [BuildSegment]), and the unindexed tail, built
// by applying WAL batches in sequence order ([State.Apply]). Every document
// has a slot: segment rows first, searched through their HNSW graphs (with
// index/filter's planner when a filter narrows them), then the tail,
// scanned exactly. A deleted or replaced segment row is tombstoned in its
// graph, so searches skip it rather than drop it after the top k; an
// attribute update moves the row to the tail, so a segment never changes.
//
// Attributes are kept twice: as typed columns over all slots, which
// filters ([State.Matching]) and plugin batches read, and per document as
// the API returns them (built from the segment's columns on demand for
// segment rows). The plugin hooks that narrow a search before it runs
// (route and filter) run here, over the columns ([PluginChain]).
//
// Segments carry a centroid and radius; a search visits them nearest
// centroid first, caps IVF lists at [SearchOptions.NProbe], and skips a
// segment whose nearest possible row is beyond the k-th candidate found.
// [State.FoldInput] gathers what the indexer folds into a new segment;
// [Partition] splits a large fold into IVF lists by k-means centroids. A
// State that could not read some of its manifest's segments lists them in
// [State.Failed].
//
// A State is guarded by its embedded lock: writers hold it to apply,
// queries hold the read lock while they search and copy results out.
//
// workers imports index, objstore/segment, plugins and proto/gen; the
// fabric imports it, never the reverse.
package workers
