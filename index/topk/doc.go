// Package topk holds the search result type every index and the fabric
// share, and the keeper of the k nearest results that scans and merges
// use.
//
// A Result names a row by a uint32 (a node of a graph, a row of a shard,
// a slot of a namespace's state) and carries the metric's distance,
// smaller being nearer. Ties rank by a caller-given name when there is
// one (document ids, so answers are deterministic whatever the row order)
// and by the row number otherwise.
package topk
