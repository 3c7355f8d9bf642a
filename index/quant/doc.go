// Package quant owns Weft's vector compression codecs and their byte
// encodings:
//
//   - [PQ]: product quantisation, M sub-quantisers of 256 centroids (one byte
//     each) trained with k-means++-seeded k-means, scored through a per-query
//     lookup table with distance.PQAccumulate.
//   - [RaBitQ]: 1-bit RaBitQ of residuals from a centre after a fast random
//     rotation, with an unbiased squared-L2 estimator scored through a
//     per-query lookup table over the code bytes (also
//     distance.PQAccumulate), plus three floats per vector.
//
// Search structures that use the codes, with exact refine from full
// vectors, live in index/ivf.
//
// Like everything under index/, this package imports nothing of Weft's
// outside index/ and does no I/O, logging or metrics.
package quant
