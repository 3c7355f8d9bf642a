// Package ivf owns inverted-file indexes: coarse k-means centroids
// (k-means++ seeding, optional balanced assignment) with one list of ids per
// centroid, searched by probing the nprobe nearest lists.
//
// It serves twice: [IVF] alone routes queries to shards (centroids over
// shards, [IVF.Probe]) and answers IVF-Flat searches over full vectors, and
// inside large shards [PQIndex] (IVF-PQ) and [RaBitQIndex] (IVF-RaBitQ) keep
// compressed codes (index/quant) resident, re-ranking the best candidates
// with exact distances from the full vectors. [Train] and [KMeans] are also the k-means the indexer uses to
// place shard centroids.
//
// Like everything under index/, this package imports nothing of Weft's
// outside index/ and does no I/O, logging or metrics.
package ivf
