package ivf

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"runtime"

	"github.com/weftdb/weft/index/distance"
	"github.com/weftdb/weft/index/internal/kmeans"
	"github.com/weftdb/weft/index/topk"
)

// Config holds the IVF build parameters.
type Config struct {
	NList      int             `yaml:"nlist"`      // number of lists (centroids)
	Metric     distance.Metric `yaml:"metric"`     // default distance.L2
	Balanced   bool            `yaml:"balanced"`   // cap list sizes at n/nlist·(1+Slack)
	Slack      float64         `yaml:"slack"`      // default 0.1
	Iterations int             `yaml:"iterations"` // k-means iterations, default 10
	MaxSample  int             `yaml:"max_sample"` // k-means training rows, default 32·NList
	Seed       uint64          `yaml:"seed"`
	Threads    int             `yaml:"-"` // default GOMAXPROCS
}

// KMeans clusters the rows of data (squared L2) into k centroids with
// k-means++ seeding and returns them row after row: the indexer's shard
// centroids.
func KMeans(ctx context.Context, data []float32, dim, k int, seed uint64, threads int) ([]float32, error) {
	return kmeans.Train(ctx, data, dim, kmeans.Config{K: k, Seed: seed, Threads: threads})
}

// IVF is a set of coarse centroids with one list of ids per centroid.
type IVF struct {
	dim       int
	metric    distance.Metric
	centroids []float32 // nlist × dim
	offsets   []uint32  // nlist+1: list c is ids[offsets[c]:offsets[c+1]]
	ids       []uint32
}

// Train clusters data (rows of dim floats; row i gets id i) into cfg.NList
// lists. For distance.Cosine the rows must already be normalised.
func Train(ctx context.Context, data []float32, dim int, cfg Config) (*IVF, error) {
	if cfg.NList <= 0 {
		return nil, errors.New("ivf: nlist must be positive")
	}
	if cfg.Metric == 0 {
		cfg.Metric = distance.L2
	}
	if !cfg.Metric.Valid() {
		return nil, fmt.Errorf("ivf: unknown metric %d", cfg.Metric)
	}
	if dim <= 0 || len(data)%dim != 0 || len(data) == 0 {
		return nil, fmt.Errorf("ivf: %d floats are not rows of dimension %d", len(data), dim)
	}
	n := len(data) / dim
	threads := cfg.Threads
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	sample := cfg.MaxSample
	if sample <= 0 {
		sample = 32 * cfg.NList
	}
	cent, err := kmeans.Train(ctx, data, dim, kmeans.Config{
		K: cfg.NList, Iterations: cfg.Iterations, MaxSample: sample, Seed: cfg.Seed, Threads: threads,
	})
	if err != nil {
		return nil, err
	}
	var assign []int32
	if cfg.Balanced {
		slack := cfg.Slack
		if slack <= 0 {
			slack = 0.1
		}
		assign = kmeans.AssignBalanced(data, dim, cent, slack, 8, threads)
	} else {
		assign = make([]int32, n)
		kmeans.Assign(data, dim, cent, assign, nil, threads)
	}
	x := &IVF{dim: dim, metric: cfg.Metric, centroids: cent}
	x.group(assign)
	return x, nil
}

// group lays out the lists from each row's list number.
func (x *IVF) group(assign []int32) {
	nlist := len(x.centroids) / x.dim
	x.offsets = make([]uint32, nlist+1)
	for _, c := range assign {
		x.offsets[c+1]++
	}
	for c := range nlist {
		x.offsets[c+1] += x.offsets[c]
	}
	fill := append([]uint32(nil), x.offsets[:nlist]...)
	x.ids = make([]uint32, len(assign))
	for i, c := range assign {
		x.ids[fill[c]] = uint32(i)
		fill[c]++
	}
}

// NList returns the number of lists.
func (x *IVF) NList() int { return len(x.offsets) - 1 }

// Dim returns the vector dimension.
func (x *IVF) Dim() int { return x.dim }

// Len returns the number of ids in all lists.
func (x *IVF) Len() int { return len(x.ids) }

// Centroids returns the centroids, row after row. Do not modify them.
func (x *IVF) Centroids() []float32 { return x.centroids }

// List returns the ids in list c. Do not modify them.
func (x *IVF) List(c int) []uint32 { return x.ids[x.offsets[c]:x.offsets[c+1]] }

// Probe appends to dst the nprobe lists whose centroids are nearest to q
// under the metric, nearest first. q must be normalised for Cosine.
func (x *IVF) Probe(q []float32, nprobe int, dst []int32) []int32 {
	nlist := x.NList()
	nprobe = min(nprobe, nlist)
	if nprobe <= 0 {
		return dst
	}
	if x.metric == distance.L2 {
		return kmeans.Nearest(q, x.centroids, nprobe, dst)
	}
	var h topK
	h.reset(nprobe)
	for c := range nlist {
		h.push(topk.Result{ID: uint32(c), Dist: x.metric.Distance(q, x.centroids[c*x.dim:(c+1)*x.dim])})
	}
	for _, r := range h.sorted() {
		dst = append(dst, int32(r.ID))
	}
	return dst
}

// Search is an IVF-Flat search: the k nearest ids among the nprobe nearest
// lists, by exact distance to rows of vectors (the rows Train saw).
func (x *IVF) Search(q, vectors []float32, k, nprobe int) []topk.Result {
	var h topK
	h.reset(k)
	for _, c := range x.Probe(q, nprobe, nil) {
		for _, id := range x.List(int(c)) {
			o := int(id) * x.dim
			if o+x.dim > len(vectors) {
				continue
			}
			h.push(topk.Result{ID: id, Dist: x.metric.Distance(q, vectors[o:o+x.dim])})
		}
	}
	return h.sorted()
}

const ivfMagic = "WEFTIVF1"

// AppendEncoding appends x's encoding: magic; dim, metric, nlist and id
// count as uint32; centroids (float32), list offsets and ids (uint32), all
// little-endian.
func (x *IVF) AppendEncoding(dst []byte) []byte {
	le := binary.LittleEndian
	dst = append(dst, ivfMagic...)
	for _, v := range []int{x.dim, int(x.metric), x.NList(), len(x.ids)} {
		dst = le.AppendUint32(dst, uint32(v))
	}
	for _, v := range x.centroids {
		dst = le.AppendUint32(dst, math.Float32bits(v))
	}
	for _, v := range x.offsets {
		dst = le.AppendUint32(dst, v)
	}
	for _, v := range x.ids {
		dst = le.AppendUint32(dst, v)
	}
	return dst
}

// Decode decodes an encoding made by AppendEncoding and returns the bytes
// after it.
func Decode(b []byte) (*IVF, []byte, error) {
	le := binary.LittleEndian
	if len(b) < 24 || string(b[:8]) != ivfMagic {
		return nil, nil, errors.New("ivf: not an IVF encoding")
	}
	dim, metric := int(le.Uint32(b[8:])), distance.Metric(le.Uint32(b[12:]))
	nlist, n := int(le.Uint32(b[16:])), int(le.Uint32(b[20:]))
	if dim <= 0 || dim > 1<<16 || !metric.Valid() || nlist <= 0 {
		return nil, nil, fmt.Errorf("ivf: encoding with dimension %d, metric %d, nlist %d", dim, metric, nlist)
	}
	need := uint64(nlist)*uint64(dim)*4 + uint64(nlist+1)*4 + uint64(n)*4
	if uint64(len(b)-24) < need {
		return nil, nil, errors.New("ivf: truncated encoding")
	}
	b = b[24:]
	x := &IVF{dim: dim, metric: metric, centroids: make([]float32, nlist*dim),
		offsets: make([]uint32, nlist+1), ids: make([]uint32, n)}
	for i := range x.centroids {
		x.centroids[i] = math.Float32frombits(le.Uint32(b[4*i:]))
	}
	b = b[4*len(x.centroids):]
	for i := range x.offsets {
		x.offsets[i] = le.Uint32(b[4*i:])
		if i > 0 && x.offsets[i] < x.offsets[i-1] {
			return nil, nil, errors.New("ivf: list offsets decrease")
		}
	}
	if x.offsets[0] != 0 || int(x.offsets[nlist]) != n {
		return nil, nil, errors.New("ivf: list offsets do not cover the ids")
	}
	b = b[4*len(x.offsets):]
	for i := range x.ids {
		x.ids[i] = le.Uint32(b[4*i:])
	}
	return x, b[4*n:], nil
}

// topK keeps the k smallest Results in a max-heap.
type topK struct {
	k int
	h []topk.Result
}

func (t *topK) reset(k int) { t.k, t.h = k, t.h[:0] }

func (t *topK) full() bool { return len(t.h) >= t.k }

// worst is the largest kept distance; valid when full.
func (t *topK) worst() float32 { return t.h[0].Dist }

func (t *topK) push(r topk.Result) {
	if t.k <= 0 {
		return
	}
	if len(t.h) < t.k {
		t.h = append(t.h, r)
		i := len(t.h) - 1
		for i > 0 {
			p := (i - 1) / 2
			if t.h[p].Dist >= r.Dist {
				break
			}
			t.h[i] = t.h[p]
			i = p
		}
		t.h[i] = r
		return
	}
	if r.Dist >= t.h[0].Dist {
		return
	}
	i, n := 0, len(t.h)
	for {
		c := 2*i + 1
		if c >= n {
			break
		}
		if c+1 < n && t.h[c+1].Dist > t.h[c].Dist {
			c++
		}
		if r.Dist >= t.h[c].Dist {
			break
		}
		t.h[i] = t.h[c]
		i = c
	}
	t.h[i] = r
}

// sorted returns the kept Results nearest first (and empties the heap).
func (t *topK) sorted() []topk.Result {
	out := make([]topk.Result, len(t.h))
	copy(out, t.h)
	topk.Sort(out)
	t.h = t.h[:0]
	return out
}
