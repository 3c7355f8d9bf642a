package indextest

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"io"
	"math/rand/v2"
	"sync"

	"github.com/weftdb/weft/index/distance"
	"github.com/weftdb/weft/index/topk"
)

// Gaussian returns n seeded vectors of dim i.i.d. standard normal values,
// row after row.
func Gaussian(seed uint64, n, dim int) []float32 {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	v := make([]float32, n*dim)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

// Clustered returns n seeded vectors of dim values drawn around k random
// centres (spread 1, centres spread 4): data with structure, like embeddings.
func Clustered(seed uint64, n, dim, k int) []float32 {
	r := rand.New(rand.NewPCG(seed, seed^0x2545f4914f6cdd1d))
	centres := make([]float32, k*dim)
	for i := range centres {
		centres[i] = 4 * float32(r.NormFloat64())
	}
	v := make([]float32, n*dim)
	for i := range n {
		c := centres[r.IntN(k)*dim:]
		for j := range dim {
			v[i*dim+j] = c[j] + float32(r.NormFloat64())
		}
	}
	return v
}

//go:embed testdata/fashion-mnist-2000+100.u8.gz
var fmnistGz []byte

var (
	fmnistOnce  sync.Once
	fmnistBase  []float32
	fmnistQuery []float32
)

// FashionMNIST returns a real subset of the Fashion-MNIST benchmark (784
// dimensions, pixel values 0..255, searched by L2): the first 2000 training
// images as base vectors and the first 100 test images as queries. The
// slices are shared: do not modify them.
func FashionMNIST() (base, queries []float32, dim int) {
	const d, nb, nq = 784, 2000, 100
	fmnistOnce.Do(func() {
		zr, err := gzip.NewReader(bytes.NewReader(fmnistGz))
		if err != nil {
			panic(err)
		}
		raw, err := io.ReadAll(zr)
		if err != nil || len(raw) != (nb+nq)*d {
			panic("indextest: corrupt embedded Fashion-MNIST subset")
		}
		all := make([]float32, len(raw))
		for i, b := range raw {
			all[i] = float32(b)
		}
		fmnistBase, fmnistQuery = all[:nb*d], all[nb*d:]
	})
	return fmnistBase, fmnistQuery, d
}

// BruteForce returns the exact k nearest rows of data (rows of len(q)
// floats) to q under m, nearest first, ties broken by the smaller id. Rows
// for which allow returns false are skipped; allow may be nil. Vectors must
// already be normalised for distance.Cosine.
func BruteForce(data, q []float32, m distance.Metric, k int, allow func(uint32) bool) []topk.Result {
	dim := len(q)
	n := len(data) / dim
	res := make([]topk.Result, 0, n)
	for i := range n {
		if allow != nil && !allow(uint32(i)) {
			continue
		}
		res = append(res, topk.Result{ID: uint32(i), Dist: m.Distance(q, data[i*dim:(i+1)*dim])})
	}
	topk.Sort(res)
	if len(res) > k {
		res = res[:k]
	}
	return res
}

// Recall returns recall@k of got against the exact answer truth (as
// BruteForce returns it): the share of truth's k slots matched by distinct ids
// of got whose distance (recomputed by dist) is at most the k-th true
// distance plus a relative 1e-5, so ties with the k-th neighbour count
// whichever id a search returns. k is len(truth) when truth is shorter.
func Recall(got []uint32, truth []topk.Result, dist func(id uint32) float32) float64 {
	k := len(truth)
	if k == 0 {
		return 1
	}
	limit := truth[k-1].Dist
	limit += abs32(limit) * 1e-5
	hits := 0
	seen := make(map[uint32]bool, len(got))
	for _, id := range got {
		if seen[id] || hits == k {
			continue
		}
		seen[id] = true
		if dist(id) <= limit {
			hits++
		}
	}
	return float64(hits) / float64(k)
}

func abs32(x float32) float32 {
	if x < 0 {
		return -x
	}
	return x
}
