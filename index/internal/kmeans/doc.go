// Package kmeans is the k-means clustering shared by index/ivf (coarse
// centroids, shard routing) and index/quant (PQ codebooks): k-means++
// seeding on a sample, Lloyd iterations with parallel assignment, empty
// clusters re-seeded by splitting the largest, and an optional balanced final
// assignment. It does no I/O, logging or metrics.
package kmeans
