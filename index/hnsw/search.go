package hnsw

import (
	"sync/atomic"

	"github.com/weftdb/weft/index/distance"
	"github.com/weftdb/weft/index/topk"
)

// prefetchHead is how many floats of each neighbour's vector a search
// prefetches before scoring any (1 KiB: whole vectors up to 256 dimensions);
// the rest of a longer vector is prefetched one neighbour ahead. It bounds
// the misses in flight, a property of the CPU rather than of the data. On
// the 2-core AVX-512 Xeon: one line per vector was 35% slower at 100
// dimensions (7 lines a vector) than whole vectors; whole vectors were 20%
// slower at 784 (49 lines) than this split, where the prefetches stalled.
const prefetchHead = 256

// Allow restricts a filtered search to the ids it contains. A
// roaring.Bitmap and index/filter's bitsets satisfy it.
type Allow interface {
	Contains(id uint32) bool
}

// greedy walks layer from ep towards q, one best neighbour at a time, and
// returns the closest node it reaches and how many distances it computed.
func (x *Index) greedy(q []float32, ep topk.Result, layer int) (topk.Result, int) {
	scored := 0
	for changed := true; changed; {
		changed = false
		lst := x.links(ep.ID, layer)
		cnt := min(int(atomic.LoadUint32(&lst[0])), len(lst)-1)
		for j := 1; j <= cnt; j++ {
			o := int(atomic.LoadUint32(&lst[j])) * x.dim
			distance.Prefetch(x.vectors[o : o+min(x.dim, prefetchHead)])
		}
		for j := 1; j <= cnt; j++ {
			nb := atomic.LoadUint32(&lst[j])
			if d := x.dist(q, nb); d < ep.Dist {
				ep = topk.Result{ID: nb, Dist: d}
				changed = true
			}
		}
		scored += cnt
	}
	return ep, scored
}

// searchLayer runs the beam search of width ef on layer from the entry points
// in s.cand (already marked visited) and leaves the ef best accepted nodes in
// s.res. A node is accepted when it is not deleted (if skipDeleted) and allow
// is nil or contains it; rejected nodes still extend the search.
func (x *Index) searchLayer(s *searcher, q []float32, ef, layer int, allow Allow, skipDeleted bool) {
	mark, epoch := s.vis.mark, s.vis.epoch
	filtered := allow != nil || (skipDeleted && x.deletedCount() > 0)
	s.res = s.res[:0]
	for _, c := range s.cand {
		if !filtered || x.accept(c.ID, allow, skipDeleted) {
			s.res.push(c)
		}
	}
	stride := x.maxLinks(layer) + 1
	kern, kScale, kOffset := x.kern, x.kScale, x.kOffset
	vecs, dim := x.vectors, x.dim
	head := min(dim, prefetchHead)
	for len(s.cand) > 0 {
		c := s.cand[0]
		if len(s.res) >= ef && c.Dist > s.res[0].Dist {
			break
		}
		s.cand.pop()
		if layer == 0 && len(s.cand) > 0 { // the likely next candidate's links
			o := int(s.cand[0].ID) * stride
			distance.Prefetch(x.links0[o : o+stride])
		}
		var lst []uint32
		if layer == 0 {
			o := int(c.ID) * stride
			lst = x.links0[o : o+stride : o+stride]
		} else {
			lst = x.links(c.ID, layer)
		}
		cnt := int(atomic.LoadUint32(&lst[0]))
		if cnt >= len(lst) {
			cnt = len(lst) - 1
		}
		// Collect the unvisited neighbours first, so the next one's vector
		// can be prefetched while the current one is scored.
		nbuf := s.nbuf[:0]
		for j := 1; j <= cnt; j++ {
			nb := atomic.LoadUint32(&lst[j])
			if mark[nb] == epoch {
				continue
			}
			mark[nb] = epoch
			nbuf = append(nbuf, nb)
		}
		s.nbuf = nbuf
		s.scored += len(nbuf)
		// Prefetch the head of every neighbour's vector before the first is
		// scored, so their misses overlap, and the rest of the next one's
		// while the current one is scored; see prefetchHead.
		for _, nb := range nbuf {
			o := int(nb) * dim
			distance.Prefetch(vecs[o : o+head])
		}
		for i, nb := range nbuf {
			if i+1 < len(nbuf) && head < dim {
				o := int(nbuf[i+1])*dim + head
				distance.Prefetch(vecs[o : o+dim-head])
			}
			o := int(nb) * dim
			d := kScale*kern(q, vecs[o:o+dim:o+dim]) + kOffset
			if len(s.res) < ef || d < s.res[0].Dist {
				s.cand.push(topk.Result{ID: nb, Dist: d})
				if !filtered || x.accept(nb, allow, skipDeleted) {
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

func (x *Index) accept(id uint32, allow Allow, skipDeleted bool) bool {
	if skipDeleted && x.Deleted(id) {
		return false
	}
	return allow == nil || allow.Contains(id)
}

// prepare copies q into the searcher, normalised if the metric needs it.
func (x *Index) prepare(s *searcher, q []float32) []float32 {
	s.q = append(s.q[:0], q[:x.dim]...)
	if x.metric == distance.Cosine {
		distance.Normalize(s.q)
	}
	return s.q
}

// descend finds layer 0's entry point for q by greedy search from the top,
// counting the distances it computes in s.
func (x *Index) descend(s *searcher, q []float32) topk.Result {
	ep := topk.Result{ID: x.entry, Dist: x.dist(q, x.entry)}
	s.scored++
	for l := x.maxLevel; l > 0; l-- {
		var n int
		ep, n = x.greedy(q, ep, l)
		s.scored += n
	}
	return ep
}

// Search returns the k nearest live nodes to q, nearest first, exploring with
// a beam of width ef (raised to k if smaller). q has Dim values; it is not
// modified.
func (x *Index) Search(q []float32, k, ef int) []topk.Result {
	return x.SearchFiltered(q, k, ef, nil)
}

// SearchFiltered is Search restricted to the ids allow contains (nil allows
// every id). The graph is traversed through every node but only allowed ones
// fill the beam, so the beam keeps widening until ef allowed nodes are seen:
// this suits filters that keep a sizeable share of the index. For very
// selective filters, index/filter plans an exact scan instead.
func (x *Index) SearchFiltered(q []float32, k, ef int, allow Allow) []topk.Result {
	res, _ := x.SearchCounted(q, k, ef, allow)
	return res
}

// SearchCounted is SearchFiltered that also returns how many distances
// the search computed (the nodes it scored on every layer): the work of an
// approximate search, for query stats.
func (x *Index) SearchCounted(q []float32, k, ef int, allow Allow) ([]topk.Result, int) {
	if x.n == 0 || k <= 0 {
		return nil, 0
	}
	ef = max(ef, k)
	s := x.newSearcher()
	defer x.pool.Put(s)
	s.scored = 0
	qq := x.prepare(s, q)
	ep := x.descend(s, qq)
	s.vis.reset(x.n)
	s.vis.mark[ep.ID] = s.vis.epoch
	s.cand = append(s.cand[:0], ep)
	x.searchLayer(s, qq, ef, 0, allow, true)
	for len(s.res) > k {
		s.res.pop()
	}
	out := make([]topk.Result, len(s.res))
	for i := len(out) - 1; i >= 0; i-- {
		out[i] = s.res.pop()
	}
	return out, s.scored
}

// ExactSearch scans every allowed live node (allow nil allows all) and
// returns the k nearest exactly, nearest first.
func (x *Index) ExactSearch(q []float32, k int, ids []uint32, allow Allow) []topk.Result {
	if k <= 0 {
		return nil
	}
	s := x.newSearcher()
	defer x.pool.Put(s)
	qq := x.prepare(s, q)
	s.res = s.res[:0]
	try := func(id uint32) {
		if x.Deleted(id) {
			return
		}
		d := x.dist(qq, id)
		if len(s.res) < k || d < s.res[0].Dist {
			s.res.push(topk.Result{ID: id, Dist: d})
			if len(s.res) > k {
				s.res.pop()
			}
		}
	}
	if ids != nil {
		// A listed id's vector is rarely in cache: fetch the vectors a few
		// ids ahead while this one is scored.
		const ahead = 4
		for i := range min(ahead, len(ids)) {
			x.prefetchVector(ids[i])
		}
		for i, id := range ids {
			if i+ahead < len(ids) {
				x.prefetchVector(ids[i+ahead])
			}
			if int(id) < x.n {
				try(id)
			}
		}
	} else {
		for id := range uint32(x.n) {
			if allow == nil || allow.Contains(id) {
				try(id)
			}
		}
	}
	out := make([]topk.Result, len(s.res))
	for i := len(out) - 1; i >= 0; i-- {
		out[i] = s.res.pop()
	}
	return out
}

// prefetchVector asks the CPU for id's whole vector, when id is a node.
func (x *Index) prefetchVector(id uint32) {
	if int(id) < x.n {
		o := int(id) * x.dim
		distance.Prefetch(x.vectors[o : o+x.dim])
	}
}
