package hnsw

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/weftdb/weft/index/distance"
	"github.com/weftdb/weft/index/topk"
)

// maxLevelCap bounds the layer count; with M ≥ 2 a node reaches it with
// probability below 2^-24.
const maxLevelCap = 24

// Build indexes vectors (rows of dim floats; node i is row i) on threads
// goroutines (≤ 0 means GOMAXPROCS). The vectors are copied. The build stops
// early with ctx's error when ctx is cancelled.
func Build(ctx context.Context, vectors []float32, dim int, cfg Config, threads int) (*Index, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if dim <= 0 || len(vectors)%dim != 0 {
		return nil, fmt.Errorf("hnsw: %d floats are not rows of dimension %d", len(vectors), dim)
	}
	n := len(vectors) / dim
	if uint64(n) >= math.MaxUint32 {
		return nil, fmt.Errorf("hnsw: %d vectors exceed the uint32 id space", n)
	}
	x := &Index{
		dim:    dim,
		metric: cfg.Metric,
		m:      cfg.M,
		m0:     2 * cfg.M,
		efc:    cfg.EfConstruction,
		n:      n,
	}
	x.setKernel()
	x.vectors = append([]float32(nil), vectors...)
	if cfg.Metric.NeedsNormalize() {
		for i := range n {
			distance.Normalize(x.vectors[i*dim : (i+1)*dim])
		}
	}
	x.assignLevels(cfg.Seed)
	x.links0 = make([]uint32, n*(x.m0+1))
	x.deleted = make([]uint64, bitsetWords(n))
	if n == 0 {
		return x, nil
	}
	x.locks = make([]sync.Mutex, n)
	defer func() { x.locks = nil }()

	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	b := &builder{x: x}
	x.entry, x.maxLevel = 0, int(x.levels[0])
	b.next.Store(1)
	var wg sync.WaitGroup
	for range threads {
		wg.Go(func() {
			s := &searcher{}
			for {
				id := b.next.Add(1) - 1
				if id >= uint64(n) || b.stop.Load() {
					return
				}
				if id&1023 == 0 && ctx.Err() != nil {
					b.stop.Store(true)
					return
				}
				b.insert(s, uint32(id))
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return x, nil
}

// assignLevels draws each node's top layer from the geometric distribution
// with ratio 1/M and lays out the upper-layer blocks.
func (x *Index) assignLevels(seed uint64) {
	r := rand.New(rand.NewPCG(seed, 0x5eed^seed))
	mult := 1 / math.Log(float64(x.m))
	x.levels = make([]uint8, x.n)
	x.upperOff = make([]uint32, x.n)
	total := 0
	for i := range x.levels {
		l := int(-math.Log(1-r.Float64()) * mult)
		l = min(l, maxLevelCap)
		x.levels[i] = uint8(l)
		x.upperOff[i] = uint32(total)
		total += l * (x.m + 1)
	}
	x.upper = make([]uint32, total)
}

type builder struct {
	x      *Index
	next   atomic.Uint64
	stop   atomic.Bool
	global sync.Mutex // guards entry and maxLevel
}

func (b *builder) insert(s *searcher, id uint32) {
	x := b.x
	q := x.Vector(id)
	level := int(x.levels[id])

	b.global.Lock()
	entry, top := x.entry, x.maxLevel
	if level <= top {
		b.global.Unlock()
	} else {
		defer b.global.Unlock()
	}

	ep := topk.Result{ID: entry, Dist: x.dist(q, entry)}
	for l := top; l > level; l-- {
		ep, _ = x.greedy(q, ep, l)
	}
	for l := min(level, top); l >= 0; l-- {
		s.vis.reset(x.n)
		s.vis.mark[ep.ID] = s.vis.epoch
		s.vis.mark[id] = s.vis.epoch
		s.cand = append(s.cand[:0], ep)
		x.searchLayer(s, q, x.efc, l, nil, false)
		s.sel = s.sel[:0]
		for len(s.res) > 0 {
			s.sel = append(s.sel, s.res.pop())
		}
		// s.sel is farthest first; reverse to nearest first.
		for i, j := 0, len(s.sel)-1; i < j; i, j = i+1, j-1 {
			s.sel[i], s.sel[j] = s.sel[j], s.sel[i]
		}
		if len(s.sel) == 0 {
			continue
		}
		next := s.sel[0]
		chosen := x.heuristic(s.sel, x.m)
		x.connect(s, id, l, chosen)
		ep = next
	}
	if level > top {
		x.entry, x.maxLevel = id, level
	}
}

// heuristic keeps, from cands sorted nearest first, up to m nodes that are
// each closer to the base than to any node kept before them (the HNSW
// neighbour-selection heuristic). It works in place and returns a prefix of
// cands.
func (x *Index) heuristic(cands []topk.Result, m int) []topk.Result {
	if len(cands) <= m {
		return cands
	}
	kept := 0
	for _, c := range cands {
		if kept == m {
			break
		}
		good := true
		cv := x.Vector(c.ID)
		for _, k := range cands[:kept] {
			if x.dist(cv, k.ID) < c.Dist {
				good = false
				break
			}
		}
		if good {
			cands[kept] = c
			kept++
		}
	}
	return cands[:kept]
}

// connect makes chosen id's neighbours on layer and adds id to each of
// theirs, pruning a full list with the heuristic.
func (x *Index) connect(s *searcher, id uint32, layer int, chosen []topk.Result) {
	maxM := x.maxLinks(layer)
	x.locks[id].Lock()
	lst := x.links(id, layer)
	for i, c := range chosen {
		atomic.StoreUint32(&lst[i+1], c.ID)
	}
	atomic.StoreUint32(&lst[0], uint32(len(chosen)))
	x.locks[id].Unlock()

	for _, c := range chosen {
		nb := c.ID
		x.locks[nb].Lock()
		nl := x.links(nb, layer)
		cnt := int(nl[0])
		dup := false
		for _, e := range nl[1 : cnt+1] {
			if e == id {
				dup = true
				break
			}
		}
		switch {
		case dup:
		case cnt < maxM:
			atomic.StoreUint32(&nl[cnt+1], id)
			atomic.StoreUint32(&nl[0], uint32(cnt+1))
		default:
			nv := x.Vector(nb)
			s.dbuf = append(s.dbuf[:0], topk.Result{ID: id, Dist: c.Dist})
			for _, e := range nl[1 : cnt+1] {
				s.dbuf = append(s.dbuf, topk.Result{ID: e, Dist: x.dist(nv, e)})
			}
			topk.Sort(s.dbuf)
			kept := x.heuristic(s.dbuf, maxM)
			for i, k := range kept {
				atomic.StoreUint32(&nl[i+1], k.ID)
			}
			atomic.StoreUint32(&nl[0], uint32(len(kept)))
		}
		x.locks[nb].Unlock()
	}
}
