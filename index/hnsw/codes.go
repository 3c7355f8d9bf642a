package hnsw

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync/atomic"

	"github.com/weftdb/weft/index/distance"
	"github.com/weftdb/weft/index/internal/parallel"
	"github.com/weftdb/weft/index/quant"
	"github.com/weftdb/weft/index/topk"
)

// Codes are 1-bit RaBitQ codes of an index's vectors, relative to their
// mean, so that a search can walk the graph on estimated distances and
// read full vectors only for the candidates it refines (SearchCodes): what
// must stay in memory is the graph and the codes (D/8 + 12 bytes a vector,
// D the dimension padded to a power of two: 28 bytes for 100 dimensions
// against 400, 140 for 784 against 3,136), and the vectors can be read on
// demand. L2 and cosine indexes only: RaBitQ estimates squared L2, which
// for the unit vectors of a cosine index is twice the cosine distance. The
// estimate's error grows with the vectors' spread around the one centre:
// it suits data whose neighbours are not much nearer each other than to
// the centre; tight clusters want a centre per cluster (IVF lists).
type Codes struct {
	rq      *quant.RaBitQ
	centre  []float32
	rcentre []float32
	size    int
	codes   []byte
	factors []quant.RaBitQFactors
}

// ErrCodesMetric is BuildCodes' error for a dot-product index.
var ErrCodesMetric = errors.New("hnsw: codes estimate L2 and cosine distances only")

// BuildCodes encodes every vector of x relative to centre (nil: the mean
// of the vectors; a segment passes its centroid) on threads goroutines.
func (x *Index) BuildCodes(ctx context.Context, centre []float32, seed uint64, threads int) (*Codes, error) {
	if x.metric == distance.Dot {
		return nil, ErrCodesMetric
	}
	if centre == nil {
		centre = x.Mean()
	}
	if len(centre) != x.dim {
		return nil, fmt.Errorf("hnsw: a centre of %d values for vectors of %d", len(centre), x.dim)
	}
	c := &Codes{rq: quant.NewRaBitQ(x.dim, seed), centre: slices.Clone(centre)}
	c.rcentre = make([]float32, c.rq.RotatedDim())
	c.rq.Rotate(c.centre, c.rcentre)
	c.size = c.rq.CodeSize()
	c.codes = make([]byte, x.n*c.size)
	c.factors = make([]quant.RaBitQFactors, x.n)
	threads = max(threads, 1)
	chunk := (x.n + threads - 1) / threads
	parallel.For(threads, threads, func(t int) {
		tmp := make([]float32, c.rq.RotatedDim())
		for i := t * chunk; i < min(x.n, (t+1)*chunk); i++ {
			if i%4096 == 0 && ctx.Err() != nil {
				return
			}
			c.factors[i] = c.rq.Encode(x.Vector(uint32(i)), c.centre, c.rcentre, c.codes[i*c.size:(i+1)*c.size], tmp)
		}
	})
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return c, nil
}

// Mean is the mean of x's vectors (as the graph holds them: normalised for
// cosine).
func (x *Index) Mean() []float32 {
	sum := make([]float64, x.dim)
	for i := range x.n {
		for j, v := range x.Vector(uint32(i)) {
			sum[j] += float64(v)
		}
	}
	m := make([]float32, x.dim)
	for j := range m {
		m[j] = float32(sum[j] / float64(max(x.n, 1)))
	}
	return m
}

// Bytes is the memory the codes take.
func (c *Codes) Bytes() int { return len(c.codes) + len(c.factors)*12 + 8*len(c.centre) }

// SearchCodes is Search on estimated distances: it walks the graph scoring
// nodes by their codes with a beam of ef, then reads the vectors of the
// refine best (at least k) through vector, scores them exactly and returns
// the k nearest with exact distances (Search's units), and how many
// distances it estimated. vector may read from anywhere (a mapped file, a
// cache of ranged reads); it is called refine times at most. Deleted nodes
// are skipped; there is no filter.
func (x *Index) SearchCodes(q []float32, k, ef, refine int, c *Codes, vector func(id uint32) []float32) ([]topk.Result, int) {
	res, n, _ := x.SearchCodesBatch(q, k, ef, refine, c, func(ids []uint32, dst [][]float32) error {
		for i, id := range ids {
			dst[i] = vector(id)
		}
		return nil
	})
	return res, n
}

// SearchCodesBatch is SearchCodes with the refine vectors fetched in one
// call: vectors fills dst[i] with node ids[i]'s vector (as the index
// holds it), so a caller whose vectors are not in memory fetches them
// together, concurrently. Its error is returned.
func (x *Index) SearchCodesBatch(q []float32, k, ef, refine int, c *Codes, vectors func(ids []uint32, dst [][]float32) error) ([]topk.Result, int, error) {
	if x.n == 0 || k <= 0 {
		return nil, 0, nil
	}
	ef = max(ef, k)
	refine = min(max(refine, k), ef)
	s := x.newSearcher()
	defer x.pool.Put(s)
	s.scored = 0
	qq := x.prepare(s, q)
	var pq quant.RaBitQQuery
	tmp := make([]float32, c.rq.RotatedDim())
	c.rq.PrepareQuery(qq, &pq, tmp)
	qcSq := distance.L2Sq(qq, c.centre)
	ct := pq.CentreTerm(c.rcentre)
	est := func(id uint32) float32 {
		return pq.Distance(c.codes[int(id)*c.size:(int(id)+1)*c.size], c.factors[id], qcSq, ct)
	}
	ep := topk.Result{ID: x.entry, Dist: est(x.entry)}
	for l := x.maxLevel; l > 0; l-- {
		ep = x.greedyEst(s, est, ep, l)
	}
	s.vis.reset(x.n)
	s.vis.mark[ep.ID] = s.vis.epoch
	s.cand = append(s.cand[:0], ep)
	x.searchLayerEst(s, est, ef, 0)
	for len(s.res) > refine {
		s.res.pop()
	}
	ids := make([]uint32, len(s.res))
	for i, r := range s.res {
		ids[i] = r.ID
	}
	vecs := make([][]float32, len(ids))
	if err := vectors(ids, vecs); err != nil {
		return nil, s.scored, err
	}
	keep := topk.NewKeeper(k, nil)
	for i, id := range ids {
		keep.Offer(topk.Result{ID: id, Dist: x.kScale*x.kern(qq, vecs[i]) + x.kOffset})
	}
	return keep.Sorted(), s.scored, nil
}

// greedyEst is greedy on estimated distances.
func (x *Index) greedyEst(s *searcher, est func(uint32) float32, ep topk.Result, layer int) topk.Result {
	for changed := true; changed; {
		changed = false
		lst := x.links(ep.ID, layer)
		cnt := min(int(atomic.LoadUint32(&lst[0])), len(lst)-1)
		for j := 1; j <= cnt; j++ {
			nb := atomic.LoadUint32(&lst[j])
			s.scored++
			if d := est(nb); d < ep.Dist {
				ep, changed = topk.Result{ID: nb, Dist: d}, true
			}
		}
	}
	return ep
}

// searchLayerEst is searchLayer on estimated distances, skipping deleted
// nodes, with no filter.
func (x *Index) searchLayerEst(s *searcher, est func(uint32) float32, ef, layer int) {
	mark, epoch := s.vis.mark, s.vis.epoch
	filtered := x.deletedCount() > 0
	s.res = s.res[:0]
	for _, c := range s.cand {
		if !filtered || !x.Deleted(c.ID) {
			s.res.push(c)
		}
	}
	stride := x.maxLinks(layer) + 1
	for len(s.cand) > 0 {
		c := s.cand[0]
		if len(s.res) >= ef && c.Dist > s.res[0].Dist {
			break
		}
		s.cand.pop()
		var lst []uint32
		if layer == 0 {
			o := int(c.ID) * stride
			lst = x.links0[o : o+stride : o+stride]
		} else {
			lst = x.links(c.ID, layer)
		}
		cnt := min(int(atomic.LoadUint32(&lst[0])), len(lst)-1)
		for j := 1; j <= cnt; j++ {
			nb := atomic.LoadUint32(&lst[j])
			if mark[nb] == epoch {
				continue
			}
			mark[nb] = epoch
			s.scored++
			d := est(nb)
			if len(s.res) < ef || d < s.res[0].Dist {
				s.cand.push(topk.Result{ID: nb, Dist: d})
				if !filtered || !x.Deleted(nb) {
					if len(s.res) < ef {
						s.res.push(topk.Result{ID: nb, Dist: d})
					} else {
						s.res.replaceTop(topk.Result{ID: nb, Dist: d})
					}
				}
			}
		}
	}
}

// Codes encoding, little-endian: the RaBitQ quantiser's encoding (its
// rotation), the centre (dim float32), then per vector its code (CodeSize
// bytes) and factors (3 float32), vectors in id order.

// AppendEncoding appends c's encoding to dst.
func (c *Codes) AppendEncoding(dst []byte) []byte {
	dst = c.rq.AppendEncoding(dst)
	for _, v := range c.centre {
		dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(v))
	}
	for i, f := range c.factors {
		dst = append(dst, c.codes[i*c.size:(i+1)*c.size]...)
		dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(f.NormSq))
		dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(f.Scale))
		dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(f.Centre))
	}
	return dst
}

// DecodeCodes decodes the codes of x's vectors from b, as AppendEncoding
// wrote them for x.
func DecodeCodes(b []byte, x *Index) (*Codes, error) {
	rq, rest, err := quant.DecodeRaBitQ(b)
	if err != nil {
		return nil, corrupt("codes: %v", err)
	}
	if rq.Dim() != x.dim {
		return nil, corrupt("codes of dimension %d for an index of dimension %d", rq.Dim(), x.dim)
	}
	c := &Codes{rq: rq, size: rq.CodeSize(), centre: make([]float32, x.dim)}
	per := c.size + 12
	if len(rest) != 4*x.dim+x.n*per {
		return nil, corrupt("codes: %d bytes for %d vectors of %d bytes and a centre of %d values", len(rest), x.n, per, x.dim)
	}
	for j := range c.centre {
		c.centre[j] = math.Float32frombits(binary.LittleEndian.Uint32(rest[4*j:]))
	}
	rest = rest[4*x.dim:]
	c.rcentre = make([]float32, rq.RotatedDim())
	rq.Rotate(c.centre, c.rcentre)
	c.codes = make([]byte, x.n*c.size)
	c.factors = make([]quant.RaBitQFactors, x.n)
	for i := range x.n {
		r := rest[i*per : (i+1)*per]
		copy(c.codes[i*c.size:], r[:c.size])
		f := r[c.size:]
		c.factors[i] = quant.RaBitQFactors{
			NormSq: math.Float32frombits(binary.LittleEndian.Uint32(f)),
			Scale:  math.Float32frombits(binary.LittleEndian.Uint32(f[4:])),
			Centre: math.Float32frombits(binary.LittleEndian.Uint32(f[8:])),
		}
	}
	return c, nil
}
