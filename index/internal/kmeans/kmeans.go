package kmeans

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"

	"github.com/weftdb/weft/index/internal/parallel"

	"github.com/weftdb/weft/index/distance"
)

// Config tunes a clustering run.
type Config struct {
	K          int    // number of centroids
	Iterations int    // Lloyd iterations (default 10)
	MaxSample  int    // train on at most this many rows (default 256·K)
	Seed       uint64 // seeds sampling and k-means++
	Threads    int    // goroutines (default GOMAXPROCS)
}

// Train clusters the rows of data (each dim floats) by squared L2 and returns
// K centroids, row after row.
func Train(ctx context.Context, data []float32, dim int, cfg Config) ([]float32, error) {
	if dim <= 0 || len(data)%dim != 0 {
		return nil, fmt.Errorf("kmeans: %d floats are not rows of dimension %d", len(data), dim)
	}
	n := len(data) / dim
	if cfg.K <= 0 {
		return nil, errors.New("kmeans: K must be positive")
	}
	if n == 0 {
		return nil, errors.New("kmeans: no training rows")
	}
	iters := cfg.Iterations
	if iters <= 0 {
		iters = 10
	}
	maxSample := cfg.MaxSample
	if maxSample <= 0 {
		maxSample = 256 * cfg.K
	}
	threads := cfg.Threads
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	r := rand.New(rand.NewPCG(cfg.Seed, 0xc1a573))
	sample := data
	if n > maxSample {
		perm := r.Perm(n)[:maxSample]
		slices.Sort(perm)
		sample = make([]float32, 0, maxSample*dim)
		for _, i := range perm {
			sample = append(sample, data[i*dim:(i+1)*dim]...)
		}
	}
	ns := len(sample) / dim
	k := cfg.K
	cent := seedPlusPlus(sample, dim, k, r)
	assign := make([]int32, ns)
	for it := 0; it < iters; it++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		Assign(sample, dim, cent, assign, nil, threads)
		// Recompute centroids.
		sums := make([]float64, k*dim)
		counts := make([]int, k)
		for i, c := range assign {
			counts[c]++
			row := sample[i*dim : (i+1)*dim]
			s := sums[int(c)*dim : (int(c)+1)*dim]
			for j, v := range row {
				s[j] += float64(v)
			}
		}
		for c := range k {
			if counts[c] == 0 {
				continue
			}
			inv := 1 / float64(counts[c])
			for j := range dim {
				cent[c*dim+j] = float32(sums[c*dim+j] * inv)
			}
		}
		// Re-seed empty clusters by splitting the largest one.
		for c := range k {
			if counts[c] != 0 {
				continue
			}
			big := 0
			for i := range counts {
				if counts[i] > counts[big] {
					big = i
				}
			}
			for j := range dim {
				e := float32(1e-4) * (1 + float32(math.Abs(float64(cent[big*dim+j]))))
				if r.IntN(2) == 0 {
					e = -e
				}
				cent[c*dim+j] = cent[big*dim+j] + e
				cent[big*dim+j] -= e
			}
			counts[big] /= 2
			counts[c] = counts[big]
		}
	}
	return cent, nil
}

// seedPlusPlus picks k initial centroids with k-means++ (each next centroid
// drawn with probability proportional to its squared distance from the
// nearest one chosen). With fewer rows than k, rows repeat.
func seedPlusPlus(data []float32, dim, k int, r *rand.Rand) []float32 {
	n := len(data) / dim
	cent := make([]float32, 0, k*dim)
	first := r.IntN(n)
	cent = append(cent, data[first*dim:(first+1)*dim]...)
	best := make([]float32, n)
	for i := range n {
		best[i] = distance.L2Sq(data[i*dim:(i+1)*dim], cent[:dim])
	}
	for c := 1; c < k; c++ {
		var total float64
		for _, d := range best {
			total += float64(d)
		}
		pick := r.IntN(n)
		if total > 0 {
			x := r.Float64() * total
			for i, d := range best {
				x -= float64(d)
				if x <= 0 {
					pick = i
					break
				}
			}
		}
		row := data[pick*dim : (pick+1)*dim]
		cent = append(cent, row...)
		last := cent[c*dim:]
		for i := range n {
			if d := distance.L2Sq(data[i*dim:(i+1)*dim], last); d < best[i] {
				best[i] = d
			}
		}
	}
	return cent
}

// Assign writes to assign[i] the nearest centroid of row i (squared L2),
// and the distance to dist[i] when dist is not nil, on threads goroutines.
func Assign(data []float32, dim int, cent []float32, assign []int32, dist []float32, threads int) {
	n := len(data) / dim
	k := len(cent) / dim
	parallel.For(n, threads, func(i int) {
		row := data[i*dim : (i+1)*dim]
		bi, bd := 0, float32(math.Inf(1))
		for c := range k {
			if d := distance.L2Sq(row, cent[c*dim:(c+1)*dim]); d < bd {
				bi, bd = c, d
			}
		}
		assign[i] = int32(bi)
		if dist != nil {
			dist[i] = bd
		}
	})
}

// Nearest returns the indexes of the p centroids nearest to v, nearest
// first, appended to dst.
func Nearest(v, cent []float32, p int, dst []int32) []int32 {
	dim := len(v)
	k := len(cent) / dim
	p = min(p, k)
	type cd struct {
		c int32
		d float32
	}
	best := make([]cd, 0, p+1)
	for c := range k {
		d := distance.L2Sq(v, cent[c*dim:(c+1)*dim])
		if len(best) == p && d >= best[p-1].d {
			continue
		}
		i := len(best)
		if i < p {
			best = append(best, cd{})
		} else {
			i = p - 1
		}
		for i > 0 && best[i-1].d > d {
			best[i] = best[i-1]
			i--
		}
		best[i] = cd{int32(c), d}
	}
	for _, b := range best {
		dst = append(dst, b.c)
	}
	return dst
}

// AssignBalanced assigns rows to centroids like Assign, but no centroid
// takes more than ceil(n/k·(1+slack)) rows: rows are placed in order of how
// much they would lose by moving (largest first), each on the nearest of its
// `candidates` nearest centroids with room, else on the nearest with room.
func AssignBalanced(data []float32, dim int, cent []float32, slack float64, candidates int, threads int) []int32 {
	n := len(data) / dim
	k := len(cent) / dim
	capacity := int(math.Ceil(float64(n)/float64(k)*(1+slack) - 1e-9))
	cands := make([][]int32, n)
	parallel.For(n, threads, func(i int) {
		cands[i] = Nearest(data[i*dim:(i+1)*dim], cent, candidates, nil)
	})
	regret := make([]float32, n)
	order := make([]int, n)
	for i := range n {
		order[i] = i
		c := cands[i]
		if len(c) > 1 {
			row := data[i*dim : (i+1)*dim]
			regret[i] = distance.L2Sq(row, cent[int(c[1])*dim:int(c[1]+1)*dim]) - distance.L2Sq(row, cent[int(c[0])*dim:int(c[0]+1)*dim])
		}
	}
	slices.SortStableFunc(order, func(a, b int) int {
		switch {
		case regret[a] > regret[b]:
			return -1
		case regret[a] < regret[b]:
			return 1
		}
		return 0
	})
	sizes := make([]int, k)
	assign := make([]int32, n)
	for _, i := range order {
		placed := false
		for _, c := range cands[i] {
			if sizes[c] < capacity {
				assign[i], placed = c, true
				sizes[c]++
				break
			}
		}
		if placed {
			continue
		}
		row := data[i*dim : (i+1)*dim]
		bi, bd := -1, float32(math.Inf(1))
		for c := range k {
			if sizes[c] >= capacity {
				continue
			}
			if d := distance.L2Sq(row, cent[c*dim:(c+1)*dim]); d < bd {
				bi, bd = c, d
			}
		}
		assign[i] = int32(bi)
		sizes[bi]++
	}
	return assign
}
