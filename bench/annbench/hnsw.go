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
	case "weft-hnsw-filtered":
		return newFiltered(o)
	case "weft-ivfpq":
		return newIVFPQ(o)
	case "weft-rabitq":
		return newRaBitQ(o)
	}
	return nil, fmt.Errorf("unknown engine %s (weft-hnsw, weft-hnsw-filtered, weft-ivfpq, weft-rabitq)", name)
}
