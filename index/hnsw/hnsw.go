package hnsw

import (
	"errors"
	"fmt"
	"math/bits"
	"sync"
	"sync/atomic"

	"github.com/weftdb/weft/index/distance"
	"github.com/weftdb/weft/index/topk"
)

// Config holds an index's build parameters.
type Config struct {
	// M is the number of neighbours a node keeps on upper layers; layer 0
	// keeps 2M. 16 is a good default; larger values raise recall per
	// distance evaluation on hard data at the cost of memory and build time.
	M int `yaml:"m"`
	// EfConstruction is the beam width used while inserting (default 200).
	EfConstruction int `yaml:"ef_construction"`
	// Metric compares vectors (default distance.L2).
	Metric distance.Metric `yaml:"metric"`
	// Seed makes the layer assignment, hence the graph shape for a
	// single-threaded build, reproducible.
	Seed uint64 `yaml:"seed"`
}

// DefaultConfig returns M 16, efConstruction 200, L2.
func DefaultConfig() Config { return Config{M: 16, EfConstruction: 200, Metric: distance.L2, Seed: 1} }

// Validate reports every problem with c.
func (c Config) Validate() error {
	var errs []error
	if c.M < 2 || c.M > 256 {
		errs = append(errs, fmt.Errorf("hnsw: M %d out of range [2, 256]", c.M))
	}
	if c.EfConstruction < 1 {
		errs = append(errs, fmt.Errorf("hnsw: efConstruction %d must be at least 1", c.EfConstruction))
	}
	if !c.Metric.Valid() {
		errs = append(errs, fmt.Errorf("hnsw: unknown metric %d", c.Metric))
	}
	return errors.Join(errs...)
}

// Index is an HNSW graph with its vectors. Searches may run concurrently with
// each other and with Delete; Repair must run alone.
type Index struct {
	dim      int
	metric   distance.Metric
	m, m0    int // neighbours per node on upper layers and on layer 0
	efc      int
	n        int
	entry    uint32
	maxLevel int

	vectors  []float32 // n × dim, normalised for distance.Cosine
	levels   []uint8   // top layer of each node
	links0   []uint32  // n × (m0+1): count, then neighbour ids
	upperOff []uint32  // per node, start of its upper-layer blocks in upper
	upper    []uint32  // blocks of m+1 words for layers 1..level

	deleted  []uint64 // tombstone bitset, words accessed atomically
	ndeleted atomic.Int64

	borrowed bool // links and vectors alias a decoded buffer

	kern    distance.Func // raw kernel; distance = kScale·kern + kOffset
	kScale  float32
	kOffset float32
	locks   []sync.Mutex // per node, build only
	pool    sync.Pool    // *searcher
}

// Len returns the number of nodes, deleted ones included.
func (x *Index) Len() int { return x.n }

// Live returns the number of nodes not deleted.
func (x *Index) Live() int { return x.n - x.deletedCount() }

func (x *Index) deletedCount() int { return int(x.ndeleted.Load()) }

// M returns the number of neighbours per node on upper layers (2M on layer 0).
func (x *Index) M() int { return x.m }

// Dim returns the vector dimension.
func (x *Index) Dim() int { return x.dim }

// Metric returns the index's metric.
func (x *Index) Metric() distance.Metric { return x.metric }

// Vector returns node id's stored vector (normalised for distance.Cosine).
// The slice aliases the index: do not modify it.
func (x *Index) Vector(id uint32) []float32 {
	o := int(id) * x.dim
	return x.vectors[o : o+x.dim : o+x.dim]
}

// Vectors returns all stored vectors, row after row. Do not modify them.
func (x *Index) Vectors() []float32 { return x.vectors }

// Deleted reports whether id has been deleted.
func (x *Index) Deleted(id uint32) bool {
	return atomic.LoadUint64(&x.deleted[id>>6])&(1<<(id&63)) != 0
}

// MemoryBytes returns the bytes the index keeps resident: vectors, links and
// tombstones.
func (x *Index) MemoryBytes() int {
	return 4*len(x.vectors) + len(x.levels) + 4*(len(x.links0)+len(x.upperOff)+len(x.upper)) + 8*len(x.deleted)
}

// links returns node id's link block on layer: word 0 is the count.
func (x *Index) links(id uint32, layer int) []uint32 {
	if layer == 0 {
		o := int(id) * (x.m0 + 1)
		return x.links0[o : o+x.m0+1 : o+x.m0+1]
	}
	o := int(x.upperOff[id]) + (layer-1)*(x.m+1)
	return x.upper[o : o+x.m+1 : o+x.m+1]
}

func (x *Index) maxLinks(layer int) int {
	if layer == 0 {
		return x.m0
	}
	return x.m
}

func (x *Index) dist(q []float32, id uint32) float32 {
	o := int(id) * x.dim
	return x.kScale*x.kern(q, x.vectors[o:o+x.dim]) + x.kOffset
}

// setKernel picks the distance kernel for the index's metric.
func (x *Index) setKernel() { x.kern, x.kScale, x.kOffset = x.metric.Kernel() }

func (x *Index) newSearcher() *searcher {
	if s, ok := x.pool.Get().(*searcher); ok {
		return s
	}
	return &searcher{}
}

// searcher is the per-search scratch space, pooled.
type searcher struct {
	vis  visited
	cand minHeap
	res  maxHeap
	q    []float32
	sel  []topk.Result
	nbuf []uint32
	dbuf []topk.Result
	// scored counts the distances a search computed.
	scored int
}

func bitsetWords(n int) int { return (n + 63) / 64 }

func popcount(b []uint64) int {
	c := 0
	for _, w := range b {
		c += bits.OnesCount64(w)
	}
	return c
}
