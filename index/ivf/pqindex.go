package ivf

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/weftdb/weft/index/internal/parallel"
	"github.com/weftdb/weft/index/topk"

	"github.com/weftdb/weft/index/distance"
	"github.com/weftdb/weft/index/quant"
)

// PQIndex is IVF-PQ: an IVF whose lists carry product-quantised codes, with
// exact refine of the best candidates from the full vectors.
type PQIndex struct {
	ivf   *IVF
	pq    *quant.PQ
	codes []byte // M bytes per id, in list order (parallel to ivf.ids)
	pool  sync.Pool
}

// BuildPQ trains the coarse lists and the product quantiser on data (rows of
// dim floats; row i gets id i) and encodes every row. PQ codes the raw
// vectors (not residuals), so one lookup table serves every probed list.
func BuildPQ(ctx context.Context, data []float32, dim int, cfg Config, pqCfg quant.PQConfig) (*PQIndex, error) {
	x, err := Train(ctx, data, dim, cfg)
	if err != nil {
		return nil, err
	}
	if pqCfg.Threads == 0 {
		pqCfg.Threads = cfg.Threads
	}
	pq, err := quant.TrainPQ(ctx, data, dim, pqCfg)
	if err != nil {
		return nil, err
	}
	m := pq.M()
	codes := make([]byte, len(x.ids)*m)
	parallel.For(len(x.ids), cfg.Threads, func(i int) {
		id := int(x.ids[i])
		pq.Encode(data[id*dim:(id+1)*dim], codes[i*m:(i+1)*m])
	})
	return &PQIndex{ivf: x, pq: pq, codes: codes}, nil
}

// IVF returns the coarse index.
func (x *PQIndex) IVF() *IVF { return x.ivf }

// PQ returns the product quantiser.
func (x *PQIndex) PQ() *quant.PQ { return x.pq }

// CodeBytesPerVector is the bytes each vector keeps resident: its PQ code
// and its id in a list (the full vectors are read only to refine).
func (x *PQIndex) CodeBytesPerVector() float64 { return float64(x.pq.M() + 4) }

type pqScratch struct {
	lut   []float32
	probe []int32
	top   topK
}

// Search returns the k nearest ids to q: it scores the codes of the nprobe
// nearest lists with a lookup table, keeps the best max(refine, k), and, when
// refine > 0 and vectors (the rows BuildPQ saw) is not nil, re-ranks those by
// exact distance. q must be normalised for Cosine.
func (x *PQIndex) Search(q []float32, k, nprobe, refine int, vectors []float32) []topk.Result {
	s, _ := x.pool.Get().(*pqScratch)
	if s == nil {
		s = &pqScratch{lut: make([]float32, x.pq.LUTSize())}
	}
	defer x.pool.Put(s)
	metric := x.ivf.metric
	x.pq.LUT(q, metric, s.lut)
	s.probe = x.ivf.Probe(q, nprobe, s.probe[:0])
	r := max(refine, k)
	s.top.reset(r)
	m := x.pq.M()
	for _, c := range s.probe {
		lo, hi := int(x.ivf.offsets[c]), int(x.ivf.offsets[c+1])
		codes := x.codes[lo*m : hi*m]
		for i := range hi - lo {
			d := distance.PQAccumulate(s.lut, codes[i*m:(i+1)*m])
			if !s.top.full() || d < s.top.worst() {
				s.top.push(topk.Result{ID: x.ivf.ids[lo+i], Dist: d})
			}
		}
	}
	cands := s.top.sorted()
	if refine > 0 && vectors != nil {
		dim := x.ivf.dim
		kept := cands[:0]
		for _, c := range cands {
			o := int(c.ID) * dim
			if o+dim > len(vectors) {
				continue
			}
			kept = append(kept, topk.Result{ID: c.ID, Dist: metric.Distance(q, vectors[o:o+dim])})
		}
		cands = kept
		topk.Sort(cands)
	} else if metric == distance.Cosine {
		for i := range cands {
			cands[i].Dist++
		}
	}
	return cands[:min(k, len(cands))]
}

// AppendEncoding appends x's encoding: the IVF's, the PQ's, then the codes.
func (x *PQIndex) AppendEncoding(dst []byte) []byte {
	dst = x.ivf.AppendEncoding(dst)
	dst = x.pq.AppendEncoding(dst)
	return append(dst, x.codes...)
}

// DecodePQIndex decodes an encoding made by PQIndex.AppendEncoding.
func DecodePQIndex(b []byte) (*PQIndex, error) {
	v, rest, err := Decode(b)
	if err != nil {
		return nil, err
	}
	pq, rest, err := quant.DecodePQ(rest)
	if err != nil {
		return nil, err
	}
	if pq.Dim() != v.dim {
		return nil, fmt.Errorf("ivf: PQ dimension %d, lists %d", pq.Dim(), v.dim)
	}
	if len(rest) != len(v.ids)*pq.M() {
		return nil, errors.New("ivf: code section has the wrong length")
	}
	return &PQIndex{ivf: v, pq: pq, codes: slices.Clone(rest)}, nil
}
