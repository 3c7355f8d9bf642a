package workers

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/weftdb/weft/index/distance"
	"github.com/weftdb/weft/index/ivf"
	weftv1 "github.com/weftdb/weft/proto/gen/weft/v1"
)

// Len is the number of rows.
func (r *SegmentRows) Len() int { return len(r.IDs) }

// trainRowsPerList is how many rows per list k-means trains on: enough
// for stable centroids, few enough that training is a small part of a
// fold.
const trainRowsPerList = 256

// Partition splits rows into k IVF lists of at most maxRows rows each: it
// trains k centroids by k-means on a sample (in the space the graphs
// search: normalised for cosine) and gives each row to the nearest
// centroid that has room. k·maxRows must cover the rows. Lists come back
// in centroid order; none is empty unless there are fewer rows than lists.
func Partition(ctx context.Context, rows *SegmentRows, dim int, metric weftv1.Metric, k, maxRows, threads int) ([]*SegmentRows, error) {
	n := rows.Len()
	if k < 1 || k*maxRows < n {
		return nil, fmt.Errorf("partition %d rows into %d lists of at most %d", n, k, maxRows)
	}
	cosine := metric == weftv1.Metric_METRIC_COSINE
	vec := func(i int, buf []float32) []float32 {
		v := rows.vectors[i*dim : (i+1)*dim]
		if !cosine {
			return v
		}
		copy(buf, v)
		distance.Normalize(buf)
		return buf
	}
	sample := min(n, trainRowsPerList*k)
	train := make([]float32, 0, sample*dim)
	rng := rand.New(rand.NewPCG(uint64(n), uint64(k)))
	buf := make([]float32, dim)
	for _, i := range rng.Perm(n)[:sample] {
		train = append(train, vec(i, buf)...)
	}
	centroids, err := ivf.KMeans(ctx, train, dim, min(k, sample), 1, threads)
	if err != nil {
		return nil, fmt.Errorf("train %d list centroids: %w", k, err)
	}
	k = len(centroids) / dim
	lists := make([]*SegmentRows, k)
	for c := range lists {
		lists[c] = &SegmentRows{}
	}
	dist := make([]float32, k)
	for i := range n {
		if i%4096 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		v := vec(i, buf)
		for c := range k {
			dist[c] = distance.L2Sq(v, centroids[c*dim:(c+1)*dim])
		}
		best := -1
		for c := range k {
			if lists[c].Len() < maxRows && (best < 0 || dist[c] < dist[best]) {
				best = c
			}
		}
		lists[best].add(rows.IDs[i], rows.attrs[i], rows.vectors[i*dim:(i+1)*dim])
	}
	return lists, nil
}

// ListCount is how many IVF lists n rows take so that none holds more
// than maxRows, with room for k-means' imbalance: the lists are capped at
// maxRows, and 1.2·n/maxRows of them leave a fifth of slack.
func ListCount(n, maxRows int) int {
	return max(1, int(math.Ceil(1.2*float64(n)/float64(maxRows))))
}
