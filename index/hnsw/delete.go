package hnsw

import (
	"fmt"
	"sync/atomic"

	"github.com/weftdb/weft/index/topk"
)

// Delete tombstones id: searches never return it again, but still route
// through it until Repair. It is safe to call concurrently with searches.
// Deleting a deleted id is a no-op.
func (x *Index) Delete(id uint32) error {
	if int(id) >= x.n {
		return fmt.Errorf("hnsw: delete id %d of %d", id, x.n)
	}
	w, bit := &x.deleted[id>>6], uint64(1)<<(id&63)
	for {
		old := atomic.LoadUint64(w)
		if old&bit != 0 {
			return nil
		}
		if atomic.CompareAndSwapUint64(w, old, old|bit) {
			x.ndeleted.Add(1)
			return nil
		}
	}
}

// Repair reconnects the graph around deleted nodes: every live node that
// links to a deleted one chooses new neighbours (with the HNSW heuristic) from
// its live neighbours and the live neighbours of its deleted ones, deleted
// nodes lose their links, and a deleted entry point is replaced. Afterwards
// searches no longer visit deleted nodes. Repair must not run concurrently
// with searches or other Repair calls; on a decoded index it first copies the
// links, leaving the buffer untouched.
func (x *Index) Repair() {
	if x.deletedCount() == 0 || x.n == 0 {
		return
	}
	if x.borrowed {
		x.links0 = append([]uint32(nil), x.links0...)
		x.upper = append([]uint32(nil), x.upper...)
		x.upperOff = append([]uint32(nil), x.upperOff...)
		x.levels = append([]uint8(nil), x.levels...)
		x.borrowed = false
	}
	s := &searcher{}
	seen := &s.vis
	for u := range uint32(x.n) {
		if x.Deleted(u) {
			continue
		}
		for l := 0; l <= int(x.levels[u]); l++ {
			lst := x.links(u, l)
			cnt := int(lst[0])
			dirty := false
			for _, v := range lst[1 : cnt+1] {
				if x.Deleted(v) {
					dirty = true
					break
				}
			}
			if !dirty {
				continue
			}
			seen.reset(x.n)
			seen.mark[u] = seen.epoch
			uv := x.Vector(u)
			s.dbuf = s.dbuf[:0]
			add := func(c uint32) {
				if seen.mark[c] == seen.epoch || x.Deleted(c) {
					return
				}
				seen.mark[c] = seen.epoch
				s.dbuf = append(s.dbuf, topk.Result{ID: c, Dist: x.dist(uv, c)})
			}
			for _, v := range lst[1 : cnt+1] {
				if !x.Deleted(v) {
					add(v)
					continue
				}
				vl := x.links(v, l)
				for _, w := range vl[1 : int(vl[0])+1] {
					add(w)
				}
			}
			topk.Sort(s.dbuf)
			kept := x.heuristic(s.dbuf, x.maxLinks(l))
			for i, k := range kept {
				lst[i+1] = k.ID
			}
			lst[0] = uint32(len(kept))
		}
	}
	// Unlink deleted nodes and pick a live entry point on the highest layer.
	best, bestLevel := -1, -1
	for u := range uint32(x.n) {
		if !x.Deleted(u) {
			if int(x.levels[u]) > bestLevel {
				best, bestLevel = int(u), int(x.levels[u])
			}
			continue
		}
		for l := 0; l <= int(x.levels[u]); l++ {
			x.links(u, l)[0] = 0
		}
	}
	if best >= 0 && x.Deleted(x.entry) {
		x.entry, x.maxLevel = uint32(best), bestLevel
	}
}
