// Package distance owns Weft's vector distance kernels: squared L2, dot product
// and cosine over float32 slices, batch kernels that score one query against
// many stored vectors, and the kernels that score compressed codes (product
// quantisation lookup tables and scalar-quantised bytes).
//
// # Implementations
//
// With GOEXPERIMENT=simd on amd64 the kernels use simd/archsimd, choosing the
// AVX-512 or AVX2+FMA path once at start-up from the CPU's features. Every
// other build, and any build with the purego tag, uses the portable Go
// kernels in generic.go. The portable kernels are also the reference the SIMD
// paths are tested against. [Impl] reports which path is in use.
//
// Every SIMD kernel calls archsimd.ClearAVXUpperBits before it returns, so
// callers that run SSE code afterwards pay no transition penalty.
//
// # Conventions
//
// Distances follow "smaller is closer": [Metric.Distance] returns squared L2
// for [L2], the negated inner product for [Dot] and 1 − cosine similarity for
// [Cosine] (callers normalise vectors once with [Normalize] and the kernel is
// then 1 − dot).
//
// Like everything under index/, this package imports nothing of Weft's outside
// index/ and does no I/O, logging or metrics.
package distance
