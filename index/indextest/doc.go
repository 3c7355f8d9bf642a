// Package indextest holds the test oracles shared by the index packages:
// seeded synthetic vectors, a small real subset of Fashion-MNIST (embedded,
// so tests read no files), an exact brute-force search and recall@k.
//
// It is imported only by tests and benchmarks. Like everything under index/,
// it imports nothing of Weft's outside index/ and does no I/O, logging or
// metrics.
package indextest
