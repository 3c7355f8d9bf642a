package annbench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/weftdb/weft/index/filter"
	"github.com/weftdb/weft/index/hnsw"
)

// filteredEngine runs index/filter's planner over an HNSW index with random
// allow-lists keeping the given percentages of the base (seeded, so every run
// uses the same sets). Recall is against the exact filtered ground truth,
// computed on demand.
type filteredEngine struct {
	hnswEngine
	percents []float64
	ds       *dataset

	allow  *filter.Bitset
	curPPM int
	k      int
	gt     []float64 // k-th exact filtered distance per query, NaN until computed
	gtMu   sync.Mutex
	short  atomic.Int64 // queries answered with fewer than min(k, allowed) ids
	plans  [4]atomic.Int64
}

func newFiltered(o *options) (*filteredEngine, error) {
	h, err := newHNSW(o)
	if err != nil {
		return nil, err
	}
	e := &filteredEngine{hnswEngine: *h}
	if e.percents, err = o.floats("filter-percent", "50,10,1,0.1"); err != nil {
		return nil, err
	}
	return e, nil
}

func ppm(p float64) int { return int(p*1e4 + 0.5) }

func (e *filteredEngine) settings() [][]param {
	var out [][]param
	for _, p := range e.percents {
		for _, ef := range e.efs {
			out = append(out, []param{{"filter_ppm", ppm(p)}, {"ef", ef}})
		}
	}
	return out
}

func (e *filteredEngine) build(ctx context.Context, ds *dataset, threads int) error {
	e.ds = ds
	return e.hnswEngine.build(ctx, ds, threads)
}

func (e *filteredEngine) configure(s []param, k int) {
	e.ef = s[1].v
	if s[0].v != e.curPPM || e.k != k {
		e.curPPM, e.k = s[0].v, k
		r := rand.New(rand.NewPCG(uint64(s[0].v), 7))
		share := float64(s[0].v) / 1e6
		b := filter.NewBitset(e.ds.nb)
		for i := range e.ds.nb {
			if r.Float64() < share {
				b.Set(uint32(i))
			}
		}
		e.allow = b
		e.gt = make([]float64, e.ds.nq)
		for i := range e.gt {
			e.gt[i] = -1
		}
	}
	for i := range e.plans {
		e.plans[i].Store(0)
	}
	e.short.Store(0)
}

func (e *filteredEngine) search(_ int, q []float32, k int, out []int64) {
	res, plan := filter.Search(e.idx, q, k, e.ef, e.allow)
	e.plans[plan.Strategy].Add(1)
	if len(res) < min(k, int(e.allow.Cardinality())) {
		e.short.Add(1)
	}
	for i, r := range res {
		out[i] = int64(r.ID)
	}
}

func (e *filteredEngine) truth() func(qi, k int) float64 {
	return func(qi, k int) float64 {
		e.gtMu.Lock()
		defer e.gtMu.Unlock()
		if e.gt[qi] < 0 {
			e.gt[qi] = e.exactKth(qi, k)
		}
		return e.gt[qi]
	}
}

// exactKth returns the k-th smallest exact distance from query qi to an
// allowed base vector: float32 kernels shortlist k+32 ids, then float64
// distances rank them.
func (e *filteredEngine) exactKth(qi, k int) float64 {
	ds := e.ds
	q := ds.query[qi*ds.dim : (qi+1)*ds.dim]
	ids := e.allow.AppendIDs(nil)
	if len(ids) < k {
		return 1e300 // every allowed id is a hit
	}
	res := e.idx.ExactSearch(q, min(len(ids), k+32), ids, nil)
	d := make([]float64, len(res))
	for i, r := range res {
		d[i] = ds.exactDist(q, int(r.ID))
	}
	slices.Sort(d)
	return d[k-1]
}

func (e *filteredEngine) note() string {
	return fmt.Sprintf("plans exact %d, traverse %d, postfilter %d; short answers %d",
		e.plans[filter.Exact].Load(), e.plans[filter.Traverse].Load(), e.plans[filter.PostFilter].Load(), e.short.Load())
}

var _ hnsw.Allow = (*filter.Bitset)(nil)
