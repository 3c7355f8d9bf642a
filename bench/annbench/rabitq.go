package annbench

import (
	"context"

	"github.com/weftdb/weft/index/ivf"
)

// rabitqEngine is weft-rabitq: index/ivf's RaBitQIndex (1-bit codes of
// residuals from the list centroids) with exact refine.
type rabitqEngine struct {
	nlist            int
	nprobes, refines []int
	idx              *ivf.RaBitQIndex
	ds               *dataset
	bytes            int64
	nprobe, refine   int
}

func newRaBitQ(o *options) (*rabitqEngine, error) {
	e := &rabitqEngine{}
	var err error
	if e.nlist, err = o.num("nlist", 1024); err != nil {
		return nil, err
	}
	if e.nprobes, err = o.list("nprobe", "1,2,4,8,16,32,64"); err != nil {
		return nil, err
	}
	if e.refines, err = o.list("refine", "100"); err != nil {
		return nil, err
	}
	return e, nil
}

func (e *rabitqEngine) buildParams() []param { return []param{{"nlist", e.nlist}} }

func (e *rabitqEngine) settings() [][]param {
	var out [][]param
	for _, np := range e.nprobes {
		for _, r := range e.refines {
			out = append(out, []param{{"nprobe", np}, {"refine", r}})
		}
	}
	return out
}

func (e *rabitqEngine) build(ctx context.Context, ds *dataset, threads int) error {
	e.ds = ds
	idx, err := ivf.BuildRaBitQ(ctx, ds.base, ds.dim,
		ivf.Config{NList: e.nlist, Metric: ds.metricW, Seed: 1, Threads: threads}, 1)
	if err != nil {
		return err
	}
	e.idx = idx
	e.bytes = int64(len(idx.AppendEncoding(nil))) + int64(4*len(ds.base))
	return nil
}

func (e *rabitqEngine) indexBytes() int64              { return e.bytes }
func (e *rabitqEngine) codeBytesPerVector() float64    { return e.idx.CodeBytesPerVector() }
func (e *rabitqEngine) truth() func(qi, k int) float64 { return nil }
func (e *rabitqEngine) configure(s []param, k int)     { e.nprobe, e.refine = s[0].v, s[1].v }

func (e *rabitqEngine) search(_ int, q []float32, k int, out []int64) {
	for i, r := range e.idx.Search(q, k, e.nprobe, e.refine, e.ds.base) {
		out[i] = int64(r.ID)
	}
}
