package fabric

import (
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/weftdb/weft/index/distance"
	"github.com/weftdb/weft/index/filter"
	"github.com/weftdb/weft/index/topk"

	storagev1 "github.com/weftdb/weft/proto/gen/weft/storage/v1"
	weftv1 "github.com/weftdb/weft/proto/gen/weft/v1"
)

// state is a namespace's documents in memory as of a WAL sequence: the
// indexed segments of a manifest, then the unindexed tail built by applying
// WAL batches in sequence order.
//
// Every document has a slot. Slots [segBase[i], segBase[i]+segs[i].rows)
// are segment i's rows, searched through its graph; slots from base on are
// the tail, whose vectors live in one chunked store so an exact scan walks
// memory in order. Freed tail slots are reused; a segment row that is
// deleted or replaced is tombstoned in its graph and never reused.
type state struct {
	dim    int
	metric weftv1.Metric

	mu      sync.RWMutex
	applied uint64 // the last WAL sequence applied
	// The writer and write lease of batch applied, which a manifest of
	// this state records (lease.go).
	writer  string
	leaseMs uint32
	closed  bool // a close entry was applied: the generation is deleted

	segs    []*indexedSegment
	segBase []int // segs[i]'s first slot
	base    int   // the first tail slot: the segments' rows in all

	idx  idIndex     // id → slot
	ids  []string    // slot → id, "" for a free slot or a dead row
	vecs vectorStore // tail slot − base → vector
	// attrs holds each slot's attributes. A map and its values are never
	// mutated once applied (updates build a new map), so queries and
	// responses share them without copying.
	attrs []attrs
	cols  attrColumns // the same attributes as plugin ABI columns
	free  []uint32    // free tail slots
	// invNorm holds 1/‖v‖ per slot for cosine (tail slots only; segment
	// rows are searched through their graphs), so stored vectors stay as
	// written (Get returns them unchanged) while the scan still compares
	// directions.
	invNorm []float32
}

func newState(dim int, metric weftv1.Metric) *state {
	return &state{dim: dim, metric: metric, idx: idIndex{m: make(map[string]uint32)}, vecs: vectorStore{dim: dim}}
}

// segmentPart is one segment of a state being assembled and its rows'
// ids, "" for a dead row.
type segmentPart struct {
	seg *indexedSegment
	ids []string
}

// assemble returns a state holding parts' segments, in order, as of WAL
// sequence applied, with an empty tail. Dead rows are tombstoned in their
// graphs. Should an id repeat, its last row wins. The segments' attribute
// columns are copied in whole; an attribute stored with several types
// keeps the first type met as its column, and filters on it read the rows'
// attributes.
func assemble(dim int, metric weftv1.Metric, parts []segmentPart, applied uint64) *state {
	s := newState(dim, metric)
	s.applied = applied
	n := 0
	for _, p := range parts {
		n += p.seg.rows
	}
	s.base = n
	s.ids = make([]string, n)
	s.attrs = make([]attrs, n) // nil: segment rows' attributes are their segment's
	if metric == weftv1.Metric_METRIC_COSINE {
		s.invNorm = make([]float32, n)
	}
	s.cols.n = n
	base := 0
	for _, p := range parts {
		s.segs = append(s.segs, p.seg)
		s.segBase = append(s.segBase, base)
		for i := range p.seg.cols {
			c := &p.seg.cols[i]
			at, ok := s.cols.index[c.Name]
			if !ok {
				at = s.cols.add(c.Name, c.Type)
			}
			if s.cols.cols[at].Type != c.Type {
				s.cols.markMixed(c.Name)
				continue
			}
			s.cols.copyIn(base, c)
		}
		base += p.seg.rows
	}
	live := 0
	for i, p := range parts {
		base := s.segBase[i]
		for row, id := range p.ids {
			if id == "" {
				s.kill(base + row)
				continue
			}
			s.ids[base+row] = id
			live++
		}
	}
	s.buildIDs(n, live)
	return s
}

// attrsOf returns slot's attributes. A segment row's are built from its
// segment's columns: do not keep them where a per-query cost matters.
func (s *state) attrsOf(slot int) attrs {
	if slot >= s.base || s.ids[slot] == "" {
		return s.attrs[slot]
	}
	g, row := s.segmentOf(slot)
	return g.attrs(row)
}

// grow adds an empty slot at the end and returns it.
func (s *state) grow() int {
	s.ids = append(s.ids, "")
	s.attrs = append(s.attrs, nil)
	s.cols.grow()
	if s.metric == weftv1.Metric_METRIC_COSINE {
		s.invNorm = append(s.invNorm, 0)
	}
	return len(s.ids) - 1
}

// segmentOf returns the segment holding slot < s.base and slot's row in it.
func (s *state) segmentOf(slot int) (*indexedSegment, int) {
	i := len(s.segBase) - 1
	for s.segBase[i] > slot {
		i--
	}
	return s.segs[i], slot - s.segBase[i]
}

// vec returns slot's vector as written, aliasing the state.
func (s *state) vec(slot int) []float32 {
	if slot >= s.base {
		return s.vecs.at(slot - s.base)
	}
	g, row := s.segmentOf(slot)
	return g.vector(row)
}

// kill empties slot: a segment row is tombstoned for good, a tail slot
// freed for reuse.
func (s *state) kill(slot int) {
	s.ids[slot] = ""
	s.attrs[slot] = nil
	s.cols.clear(slot)
	if slot < s.base {
		g, row := s.segmentOf(slot)
		_ = g.graph.Delete(uint32(row))
		return
	}
	s.free = append(s.free, uint32(slot))
}

// opResult is what applying one WAL operation did, for the response.
type opResult struct {
	deleted uint64
	missing []string
}

// apply applies batch seq. The caller holds s.mu for writing and applies
// batches in sequence order.
func (s *state) apply(seq uint64, batch *storagev1.WALBatch) []opResult {
	results := make([]opResult, len(batch.GetOps()))
	for i, op := range batch.GetOps() {
		switch o := op.GetOp().(type) {
		case *storagev1.WALOp_Upsert:
			for _, d := range o.Upsert.GetDocuments() {
				s.put(d)
			}
		case *storagev1.WALOp_DeleteIds:
			for _, id := range o.DeleteIds.GetIds() {
				if s.remove(id) {
					results[i].deleted++
				}
			}
		case *storagev1.WALOp_DeleteFilter:
			match := compileFilter(o.DeleteFilter)
			for slot, id := range s.ids {
				if id != "" && match(s.attrsOf(slot)) {
					s.remove(id)
					results[i].deleted++
				}
			}
		case *storagev1.WALOp_UpdateAttributes:
			for _, u := range o.UpdateAttributes.GetUpdates() {
				if !s.update(u) {
					results[i].missing = append(results[i].missing, u.GetId())
				}
			}
		case *storagev1.WALOp_Close:
			s.closed = true
		}
	}
	s.applied = seq
	s.writer, s.leaseMs = batch.GetWriter(), batch.GetLeaseMs()
	return results
}

func (s *state) put(d *weftv1.Document) {
	slots := s.slotsForWrite()
	slot, ok := slots[d.GetId()]
	if ok && int(slot) < s.base {
		// A segment row is immutable: tombstone it, write to the tail.
		s.kill(int(slot))
		ok = false
	}
	if !ok {
		if n := len(s.free); n > 0 {
			slot = s.free[n-1]
			s.free = s.free[:n-1]
		} else {
			s.vecs.add()
			slot = uint32(s.grow())
		}
		slots[d.GetId()] = slot
		s.ids[slot] = d.GetId()
	}
	v := s.vecs.at(int(slot) - s.base)
	copy(v, d.GetVector())
	if s.metric == weftv1.Metric_METRIC_COSINE {
		s.invNorm[slot] = float32(1 / math.Sqrt(float64(distance.DotProduct(v, v))))
	}
	s.attrs[slot] = d.GetAttributes()
	s.cols.set(int(slot), d.GetAttributes())
}

func (s *state) remove(id string) bool {
	slots := s.slotsForWrite()
	slot, ok := slots[id]
	if !ok {
		return false
	}
	delete(slots, id)
	s.kill(int(slot))
	return true
}

func (s *state) update(u *weftv1.AttributeUpdate) bool {
	slot, ok := s.slotsForWrite()[u.GetId()]
	if !ok {
		return false
	}
	// Copy on write: a query may hold the old map.
	cur := s.attrsOf(int(slot))
	next := make(attrs, len(cur)+len(u.GetSet()))
	for k, v := range cur {
		next[k] = v
	}
	for k, v := range u.GetSet() {
		next[k] = v
	}
	for _, k := range u.GetRemove() {
		delete(next, k)
	}
	if int(slot) < s.base {
		// A segment row is immutable, and a fold that keeps its segment
		// does not rewrite it: the row moves to the tail with its vector,
		// so the next fold writes the new attributes.
		s.put(&weftv1.Document{Id: u.GetId(), Vector: s.vector(slot), Attributes: next})
		return true
	}
	s.attrs[slot] = next
	s.cols.set(int(slot), next)
	return true
}

// get returns a document by id. The caller holds s.mu for reading.
func (s *state) get(id string, withVector, withAttrs bool) (*weftv1.Document, bool) {
	slot, ok := s.slotsForRead()[id]
	if !ok {
		return nil, false
	}
	d := &weftv1.Document{Id: id}
	if withVector {
		d.Vector = s.vector(slot)
	}
	if withAttrs {
		d.Attributes = s.attrsOf(int(slot))
	}
	return d, true
}

// vector returns a copy of a slot's vector.
func (s *state) vector(slot uint32) []float32 {
	return append([]float32(nil), s.vec(int(slot))...)
}

// searchResult is what a search found.
type searchResult struct {
	hits     []topk.Result // slots, nearest first
	matched  uint64        // documents that passed the filter and were scored exactly
	segments int           // segments searched
	plans    []filter.Plan
}

// searchOptions say how a query searches.
type searchOptions struct {
	ef    int  // beam width in segment graphs
	exact bool // score segment rows exactly too (recall_target 1)
	tail  bool // scan the unindexed tail (STRONG); else segments only
	// done stops a long tail scan early when the request ends (nil: never);
	// the caller then fails the query with the context's error.
	done <-chan struct{}
	// bulk, when set, marks the segment rows allow passes faster than
	// calling allow per row (see bulkFilter); it must agree with allow.
	bulk func(base, n int, bits *filter.Bitset)
}

// minParallelWork is the number of float operations below which a scan
// stays on one goroutine: under it, starting goroutines costs more than it
// saves.
const minParallelWork = 1 << 20

// allowFunc reports whether a live slot may be returned; nil allows all.
type allowFunc func(slot int) bool

// ok reports whether a allows slot.
func (a allowFunc) ok(slot int) bool { return a == nil || a(slot) }

// matching adapts a query's filter to slots; nil for no filter.
func (s *state) matching(f *weftv1.Filter) allowFunc {
	if f == nil {
		return nil
	}
	return s.compileColumns(f)
}

// search returns the k nearest documents to q (already normalised for
// cosine) that allow passes: through each segment's graph, with the
// filter planner when there is a filter, and by an exact scan of the tail.
// Deleted and replaced rows are tombstoned in the graphs, so they are
// skipped during the search, never dropped after it. The caller holds s.mu
// for reading.
func (s *state) search(q []float32, k int, allow allowFunc, o searchOptions) searchResult {
	var res searchResult
	top := topk.NewKeeper(k, s.ids)
	for i, g := range s.segs {
		if g.graph.Live() == 0 {
			continue
		}
		res.segments++
		base := s.segBase[i]
		var found []topk.Result
		switch {
		case allow == nil && !o.exact:
			found = g.graph.Search(q, k, o.ef)
		default:
			bits := filter.NewBitset(g.rows)
			if o.bulk != nil {
				o.bulk(base, g.rows, bits)
			} else {
				for row := range g.rows {
					if slot := base + row; s.ids[slot] != "" && allow.ok(slot) {
						bits.Set(uint32(row))
					}
				}
			}
			if o.exact {
				found = g.graph.ExactSearch(q, k, nil, bits)
				res.matched += bits.Cardinality()
				break
			}
			var plan filter.Plan
			found, plan = filter.Search(g.graph, q, k, o.ef, bits)
			res.plans = append(res.plans, plan)
			if plan.Strategy == filter.Exact || plan.Fallback {
				res.matched += uint64(plan.Allowed)
			}
		}
		for _, r := range found {
			top.Offer(topk.Result{ID: uint32(base + int(r.ID)), Dist: r.Dist})
		}
	}
	if o.tail && s.base < len(s.ids) {
		t := s.searchTail(q, k, allow, o.done)
		res.matched += t.matched
		for _, h := range t.hits {
			top.Offer(h)
		}
	}
	res.hits = top.Sorted()
	return res
}

// searchTail scores every live tail slot that allow passes, on several
// goroutines when the tail is large.
func (s *state) searchTail(q []float32, k int, allow allowFunc, done <-chan struct{}) searchResult {
	lo, n := s.base, len(s.ids)
	workers := runtime.GOMAXPROCS(0)
	if (n-lo)*s.dim < minParallelWork || workers < 2 {
		workers = 1
	}
	if workers == 1 {
		return s.scan(q, k, allow, lo, n, done)
	}
	parts := make([]searchResult, workers)
	var wg sync.WaitGroup
	chunk := (n - lo + workers - 1) / workers
	for w := range workers {
		a, b := lo+w*chunk, min(lo+(w+1)*chunk, n)
		wg.Go(func() { parts[w] = s.scan(q, k, allow, a, b, done) })
	}
	wg.Wait()
	var all searchResult
	top := topk.NewKeeper(k, s.ids)
	for _, p := range parts {
		all.matched += p.matched
		for _, h := range p.hits {
			top.Offer(h)
		}
	}
	all.hits = top.Sorted()
	return all
}

// scan is an exact search of tail slots [lo, hi). It calls the metric's kernel
// directly and compares with the farthest hit kept before offering, since
// the scan's inner loop is most of an exact query's time.
func (s *state) scan(q []float32, k int, allow allowFunc, lo, hi int, done <-chan struct{}) searchResult {
	var r searchResult
	top := topk.NewKeeper(k, s.ids)
	kernel, scale, offset := s.kernel()
	cosine := s.metric == weftv1.Metric_METRIC_COSINE
	for slot := lo; slot < hi; slot++ {
		if (slot-lo)%8192 == 8191 && done != nil {
			select {
			case <-done:
				return r
			default:
			}
		}
		if s.ids[slot] == "" || !allow.ok(slot) {
			continue
		}
		r.matched++
		x := kernel(q, s.vecs.at(slot-s.base))
		if cosine {
			x *= s.invNorm[slot]
		}
		d := scale*x + offset
		if d > top.Bound() { // most documents stop here
			continue
		}
		top.Offer(topk.Result{ID: uint32(slot), Dist: d})
	}
	r.hits = top.Sorted()
	return r
}

// kernel is the metric's raw kernel and the affine map to the scan's
// distance: squared L2 for l2, 1 − dot·invNorm for cosine (the caller
// applies invNorm), −dot for dot.
func (s *state) kernel() (distance.Func, float32, float32) {
	return indexMetric(s.metric).Kernel()
}

// finish turns a scan distance into the distance the API reports.
func (s *state) finish(d float32) float32 {
	if s.metric == weftv1.Metric_METRIC_L2 {
		return float32(math.Sqrt(float64(d)))
	}
	return d
}

// checkBatch verifies that a batch read back from the WAL fits this state,
// so a foreign or damaged entry is reported instead of corrupting memory.
func (s *state) checkBatch(batch *storagev1.WALBatch) error {
	for i, op := range batch.GetOps() {
		switch o := op.GetOp().(type) {
		case *storagev1.WALOp_Upsert:
			for _, d := range o.Upsert.GetDocuments() {
				if len(d.GetVector()) != s.dim || d.GetId() == "" {
					return fmt.Errorf("op %d: document %q has %d values, the namespace has dimension %d", i, d.GetId(), len(d.GetVector()), s.dim)
				}
			}
		case *storagev1.WALOp_DeleteIds, *storagev1.WALOp_DeleteFilter, *storagev1.WALOp_UpdateAttributes, *storagev1.WALOp_Close:
		default:
			return fmt.Errorf("op %d: unknown operation %T", i, o)
		}
	}
	return nil
}
