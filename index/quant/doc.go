// Package quant owns Weft's vector compression: product quantisation
// ([PQ]: M sub-quantisers of 256 centroids, one byte each, trained with
// k-means++ seeded k-means and scored through per-query lookup tables with
// distance.PQAccumulate), with its byte encoding. Search structures that use
// the codes, with exact refine from full vectors, live in index/ivf.
//
// Like everything under index/, this package imports nothing of Weft's
// outside index/ and does no I/O, logging or metrics.
package quant
