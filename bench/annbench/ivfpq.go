package annbench

import (
	"context"
	"fmt"

	"github.com/weftdb/weft/index/ivf"
	"github.com/weftdb/weft/index/quant"
)

// ivfpqEngine is weft-ivfpq: index/ivf's PQIndex with exact refine from the
// full vectors, compared with annpeer's faiss-ivfpq.
type ivfpqEngine struct {
	nlist, m, nbits  int
	nprobes, refines []int
	idx              *ivf.PQIndex
	ds               *dataset
	bytes            int64
	nprobe, refine   int
}

func newIVFPQ(o *options) (*ivfpqEngine, error) {
	e := &ivfpqEngine{}
	var err error
	if e.nlist, err = o.num("nlist", 1024); err != nil {
		return nil, err
	}
	if e.m, err = o.num("m", 0); err != nil {
		return nil, err
	}
	if e.nbits, err = o.num("nbits", 8); err != nil {
		return nil, err
	}
	if e.nbits != 8 {
		return nil, fmt.Errorf("--nbits %d: weft-ivfpq codes use 8 bits", e.nbits)
	}
	if e.nprobes, err = o.list("nprobe", "1,2,4,8,16,32,64"); err != nil {
		return nil, err
	}
	if e.refines, err = o.list("refine", "100"); err != nil {
		return nil, err
	}
	return e, nil
}

func (e *ivfpqEngine) buildParams() []param {
	return []param{{"nlist", e.nlist}, {"m", e.m}, {"nbits", e.nbits}}
}

func (e *ivfpqEngine) settings() [][]param {
	var out [][]param
	for _, np := range e.nprobes {
		for _, r := range e.refines {
			out = append(out, []param{{"nprobe", np}, {"refine", r}})
		}
	}
	return out
}

func (e *ivfpqEngine) build(ctx context.Context, ds *dataset, threads int) error {
	e.ds = ds
	if e.m == 0 {
		e.m = max(1, ds.dim/8)
	}
	idx, err := ivf.BuildPQ(ctx, ds.base, ds.dim,
		ivf.Config{NList: e.nlist, Metric: ds.metricW, Seed: 1, Threads: threads},
		quant.PQConfig{M: e.m, Seed: 1, Threads: threads})
	if err != nil {
		return err
	}
	e.idx = idx
	// The serialized index plus the full vectors kept for refine, as
	// FAISS's IndexRefineFlat counts them.
	e.bytes = int64(len(idx.AppendEncoding(nil))) + int64(4*len(ds.base))
	return nil
}

func (e *ivfpqEngine) indexBytes() int64              { return e.bytes }
func (e *ivfpqEngine) codeBytesPerVector() float64    { return e.idx.CodeBytesPerVector() }
func (e *ivfpqEngine) truth() func(qi, k int) float64 { return nil }
func (e *ivfpqEngine) configure(s []param, k int)     { e.nprobe, e.refine = s[0].v, s[1].v }

func (e *ivfpqEngine) search(_ int, q []float32, k int, out []int64) {
	for i, r := range e.idx.Search(q, k, e.nprobe, e.refine, e.ds.base) {
		out[i] = int64(r.ID)
	}
}
