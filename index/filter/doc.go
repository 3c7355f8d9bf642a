// Package filter owns filtered vector search: allow-lists of ids ([Allow],
// with a dense [Bitset] and a roaring-bitmap adapter) and the planner that
// answers "the k nearest among these ids" over an index/hnsw graph.
//
// # Plans
//
// [Search] estimates the filter's selectivity from [Allow.Cardinality] and
// picks the cheapest plan expected to keep recall:
//
//   - [Exact]: score every allowed id (a brute-force scan of the allowed
//     set). Chosen when the allowed set is smaller than the distance
//     evaluations a graph search would need, which covers selective filters
//     (1%, 0.1%, ...).
//   - [Traverse]: an HNSW search that routes through every node but fills
//     its beam only with allowed ones (in-loop filtering), so the beam keeps
//     widening until ef allowed nodes are found.
//   - [PostFilter]: an unfiltered HNSW search with the beam widened by
//     1/selectivity, then filtered; for filters that keep almost everything.
//
// Whatever the plan, if a graph plan returns fewer than min(k, allowed)
// results, Search falls back to Exact: k results come back whenever k ids
// pass the filter (and are not deleted).
//
// Like everything under index/, this package imports nothing of Weft's
// outside index/ and does no I/O, logging or metrics.
package filter
