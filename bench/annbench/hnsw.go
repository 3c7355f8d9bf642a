package annbench

import (
	"bytes"
	"context"
	"fmt"

	"github.com/weftdb/weft/index/hnsw"
)

type hnswEngine struct {
	cfg   hnsw.Config
	efs   []int
	idx   *hnsw.Index
	ef    int
	bytes int64
}

func newHNSW(o *options) (*hnswEngine, error) {
	e := &hnswEngine{cfg: hnsw.DefaultConfig()}
	var err error
	if e.cfg.M, err = o.num("M", 16); err != nil {
		return nil, err
	}
	if e.cfg.EfConstruction, err = o.num("efc", 200); err != nil {
		return nil, err
	}
	if e.efs, err = o.list("ef", "10,16,24,32,48,64,96,128,256"); err != nil {
		return nil, err
	}
	return e, nil
}

func (e *hnswEngine) buildParams() []param {
	return []param{{"M", e.cfg.M}, {"efc", e.cfg.EfConstruction}}
}

func (e *hnswEngine) settings() [][]param {
	var out [][]param
	for _, ef := range e.efs {
		out = append(out, []param{{"ef", ef}})
	}
	return out
}

func (e *hnswEngine) build(ctx context.Context, ds *dataset, threads int) error {
	e.cfg.Metric = ds.metricW
	idx, err := hnsw.Build(ctx, ds.base, ds.dim, e.cfg, threads)
	if err != nil {
		return err
	}
	e.idx = idx
	var buf bytes.Buffer
	n, err := idx.WriteTo(&buf)
	if err != nil {
		return fmt.Errorf("encode: %w", err)
	}
	e.bytes = n
	return nil
}

func (e *hnswEngine) indexBytes() int64              { return e.bytes }
func (e *hnswEngine) codeBytesPerVector() float64    { return 0 }
func (e *hnswEngine) configure(s []param, k int)     { e.ef = s[0].v }
func (e *hnswEngine) truth() func(qi, k int) float64 { return nil }

func (e *hnswEngine) search(_ int, q []float32, k int, out []int64) {
	for i, r := range e.idx.Search(q, k, e.ef) {
		out[i] = int64(r.ID)
	}
}

func newEngine(name string, o *options) (engine, error) {
	switch name {
	case "weft-hnsw":
		return newHNSW(o)
	case "weft-hnsw-codes":
		return newHNSWCodes(o)
	case "weft-hnsw-filtered":
		return newFiltered(o)
	case "weft-ivfpq":
		return newIVFPQ(o)
	case "weft-rabitq":
		return newRaBitQ(o)
	}
	return nil, fmt.Errorf("unknown engine %s (weft-hnsw, weft-hnsw-codes, weft-hnsw-filtered, weft-ivfpq, weft-rabitq)", name)
}

// hnswCodesEngine is weft-hnsw-codes: the same graph searched on RaBitQ
// codes (hnsw.SearchCodes), refining the best candidates exactly.
type hnswCodesEngine struct {
	hnswEngine
	refines []int
	refine  int
	codes   *hnsw.Codes
}

func newHNSWCodes(o *options) (*hnswCodesEngine, error) {
	h, err := newHNSW(o)
	if err != nil {
		return nil, err
	}
	e := &hnswCodesEngine{hnswEngine: *h}
	if e.refines, err = o.list("refine", "32,64,128"); err != nil {
		return nil, err
	}
	return e, nil
}

func (e *hnswCodesEngine) settings() [][]param {
	var out [][]param
	for _, ef := range e.efs {
		for _, r := range e.refines {
			if r <= ef {
				out = append(out, []param{{"ef", ef}, {"refine", r}})
			}
		}
	}
	return out
}

func (e *hnswCodesEngine) build(ctx context.Context, ds *dataset, threads int) error {
	if err := e.hnswEngine.build(ctx, ds, threads); err != nil {
		return err
	}
	codes, err := e.idx.BuildCodes(ctx, nil, 1, threads)
	if err != nil {
		return err
	}
	e.codes = codes
	return nil
}

func (e *hnswCodesEngine) codeBytesPerVector() float64 {
	return float64(e.codes.Bytes()) / float64(max(e.idx.Len(), 1))
}

func (e *hnswCodesEngine) configure(s []param, k int) { e.ef, e.refine = s[0].v, s[1].v }

func (e *hnswCodesEngine) search(_ int, q []float32, k int, out []int64) {
	got, _ := e.idx.SearchCodes(q, k, e.ef, e.refine, e.codes, e.idx.Vector)
	for i, r := range got {
		out[i] = int64(r.ID)
	}
}
