package ivf

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"

	"github.com/weftdb/weft/index/internal/parallel"
	"github.com/weftdb/weft/index/topk"

	"github.com/weftdb/weft/index/distance"
	"github.com/weftdb/weft/index/quant"
)

// RaBitQIndex is IVF with 1-bit RaBitQ codes of each vector's residual from
// its list's centroid, with exact refine of the best candidates from the
// full vectors. It serves distance.L2 and distance.Cosine (over normalised
// vectors, where squared L2 ranks like cosine).
type RaBitQIndex struct {
	ivf     *IVF
	rq      *quant.RaBitQ
	rotCent []float32 // nlist × D: rotated centroids
	codes   []byte    // CodeSize bytes per id, in list order
	factors []quant.RaBitQFactors
	pool    sync.Pool
}

// BuildRaBitQ trains the coarse lists on data (rows of dim floats; row i
// gets id i) and encodes every row against its list's centroid.
func BuildRaBitQ(ctx context.Context, data []float32, dim int, cfg Config, seed uint64) (*RaBitQIndex, error) {
	if cfg.Metric == distance.Dot {
		return nil, errors.New("ivf: RaBitQ serves l2 and cosine, not dot")
	}
	x, err := Train(ctx, data, dim, cfg)
	if err != nil {
		return nil, err
	}
	r := &RaBitQIndex{ivf: x, rq: quant.NewRaBitQ(dim, seed)}
	r.rotateCentroids()
	cs := r.rq.CodeSize()
	r.codes = make([]byte, len(x.ids)*cs)
	r.factors = make([]quant.RaBitQFactors, len(x.ids))
	D := r.rq.RotatedDim()
	parallel.For(x.NList(), cfg.Threads, func(c int) {
		if ctx.Err() != nil {
			return
		}
		tmp := make([]float32, D)
		cent := x.centroids[c*dim : (c+1)*dim]
		rc := r.rotCent[c*D : (c+1)*D]
		for p := int(x.offsets[c]); p < int(x.offsets[c+1]); p++ {
			id := int(x.ids[p])
			r.factors[p] = r.rq.Encode(data[id*dim:(id+1)*dim], cent, rc, r.codes[p*cs:(p+1)*cs], tmp)
		}
	})
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *RaBitQIndex) rotateCentroids() {
	x, D := r.ivf, r.rq.RotatedDim()
	r.rotCent = make([]float32, x.NList()*D)
	for c := range x.NList() {
		r.rq.Rotate(x.centroids[c*x.dim:(c+1)*x.dim], r.rotCent[c*D:(c+1)*D])
	}
}

// IVF returns the coarse index.
func (r *RaBitQIndex) IVF() *IVF { return r.ivf }

// CodeBytesPerVector is the bytes each vector keeps resident: its code, its
// three factors and its id in a list.
func (r *RaBitQIndex) CodeBytesPerVector() float64 { return float64(r.rq.CodeSize() + 12 + 4) }

type rabitqScratch struct {
	query quant.RaBitQQuery
	tmp   []float32
	probe []int32
	top   topK
}

// Search returns the k nearest ids to q: it estimates distances to the codes
// of the nprobe nearest lists, keeps the best max(refine, k), and, when
// refine > 0 and vectors (the rows BuildRaBitQ saw) is not nil, re-ranks
// them by exact distance. q must be normalised for Cosine.
func (r *RaBitQIndex) Search(q []float32, k, nprobe, refine int, vectors []float32) []topk.Result {
	s, _ := r.pool.Get().(*rabitqScratch)
	if s == nil {
		s = &rabitqScratch{tmp: make([]float32, r.rq.RotatedDim())}
	}
	defer r.pool.Put(s)
	x := r.ivf
	r.rq.PrepareQuery(q, &s.query, s.tmp)
	s.probe = x.Probe(q, nprobe, s.probe[:0])
	s.top.reset(max(refine, k))
	cs, D := r.rq.CodeSize(), r.rq.RotatedDim()
	for _, c := range s.probe {
		qc := distance.L2Sq(q, x.centroids[int(c)*x.dim:int(c+1)*x.dim])
		ct := s.query.CentreTerm(r.rotCent[int(c)*D : int(c+1)*D])
		lo, hi := int(x.offsets[c]), int(x.offsets[c+1])
		for p := lo; p < hi; p++ {
			d := s.query.Distance(r.codes[p*cs:(p+1)*cs], r.factors[p], qc, ct)
			if !s.top.full() || d < s.top.worst() {
				s.top.push(topk.Result{ID: x.ids[p], Dist: d})
			}
		}
	}
	cands := s.top.sorted()
	if refine > 0 && vectors != nil {
		kept := cands[:0]
		for _, c := range cands {
			o := int(c.ID) * x.dim
			if o+x.dim > len(vectors) {
				continue
			}
			kept = append(kept, topk.Result{ID: c.ID, Dist: x.metric.Distance(q, vectors[o:o+x.dim])})
		}
		cands = kept
		topk.Sort(cands)
	} else if x.metric == distance.Cosine {
		for i := range cands {
			cands[i].Dist /= 2 // ‖a − b‖² = 2 − 2cos for unit vectors
		}
	}
	return cands[:min(k, len(cands))]
}

// AppendEncoding appends r's encoding: the IVF's, the quantiser's, the codes,
// then three little-endian float32 factors per id.
func (r *RaBitQIndex) AppendEncoding(dst []byte) []byte {
	dst = r.ivf.AppendEncoding(dst)
	dst = r.rq.AppendEncoding(dst)
	dst = append(dst, r.codes...)
	le := binary.LittleEndian
	for _, f := range r.factors {
		dst = le.AppendUint32(dst, math.Float32bits(f.NormSq))
		dst = le.AppendUint32(dst, math.Float32bits(f.Scale))
		dst = le.AppendUint32(dst, math.Float32bits(f.Centre))
	}
	return dst
}

// DecodeRaBitQIndex decodes an encoding made by RaBitQIndex.AppendEncoding.
func DecodeRaBitQIndex(b []byte) (*RaBitQIndex, error) {
	v, rest, err := Decode(b)
	if err != nil {
		return nil, err
	}
	if v.metric == distance.Dot {
		return nil, errors.New("ivf: RaBitQ index with metric dot")
	}
	rq, rest, err := quant.DecodeRaBitQ(rest)
	if err != nil {
		return nil, err
	}
	if rq.Dim() != v.dim {
		return nil, fmt.Errorf("ivf: RaBitQ dimension %d, lists %d", rq.Dim(), v.dim)
	}
	n, cs := len(v.ids), rq.CodeSize()
	if len(rest) != n*(cs+12) {
		return nil, errors.New("ivf: RaBitQ code section has the wrong length")
	}
	r := &RaBitQIndex{ivf: v, rq: rq, codes: slices.Clone(rest[:n*cs]), factors: make([]quant.RaBitQFactors, n)}
	le := binary.LittleEndian
	fb := rest[n*cs:]
	for i := range r.factors {
		r.factors[i] = quant.RaBitQFactors{
			NormSq: math.Float32frombits(le.Uint32(fb[12*i:])),
			Scale:  math.Float32frombits(le.Uint32(fb[12*i+4:])),
			Centre: math.Float32frombits(le.Uint32(fb[12*i+8:])),
		}
	}
	r.rotateCentroids()
	return r, nil
}
