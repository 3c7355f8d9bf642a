package fabric

import (
	"container/heap"
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/weftdb/weft/index/distance"

	storagev1 "github.com/weftdb/weft/proto/gen/weft/storage/v1"
	weftv1 "github.com/weftdb/weft/proto/gen/weft/v1"
	"google.golang.org/protobuf/proto"
)

// state is a namespace's documents in memory, built by applying WAL
// batches in sequence order. Vectors live in one flat slice indexed by slot,
// so a scan walks memory in order; freed slots are reused.
type state struct {
	dim    int
	metric weftv1.Metric

	mu      sync.RWMutex
	applied uint64            // the last WAL sequence applied
	slots   map[string]uint32 // id → slot
	ids     []string          // slot → id, "" for a free slot
	vecs    vectorStore       // slot → vector
	attrs   []attrs           // slot → attributes (never mutated in place)
	free    []uint32
	// invNorm holds 1/‖v‖ per slot for cosine, so stored vectors stay as
	// written (Get returns them unchanged) while the scan still compares
	// directions.
	invNorm []float32
}

func newState(dim int, metric weftv1.Metric) *state {
	return &state{dim: dim, metric: metric, slots: make(map[string]uint32), vecs: vectorStore{dim: dim}}
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
				if id != "" && match(s.attrs[slot]) {
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
		}
	}
	s.applied = seq
	return results
}

func (s *state) put(d *weftv1.Document) {
	slot, ok := s.slots[d.GetId()]
	if !ok {
		if n := len(s.free); n > 0 {
			slot = s.free[n-1]
			s.free = s.free[:n-1]
		} else {
			slot = uint32(len(s.ids))
			s.ids = append(s.ids, "")
			s.attrs = append(s.attrs, nil)
			s.vecs.add()
			if s.metric == weftv1.Metric_METRIC_COSINE {
				s.invNorm = append(s.invNorm, 0)
			}
		}
		s.slots[d.GetId()] = slot
		s.ids[slot] = d.GetId()
	}
	v := s.vecs.at(int(slot))
	copy(v, d.GetVector())
	if s.metric == weftv1.Metric_METRIC_COSINE {
		s.invNorm[slot] = float32(1 / math.Sqrt(float64(distance.DotProduct(v, v))))
	}
	s.attrs[slot] = d.GetAttributes()
}

func (s *state) remove(id string) bool {
	slot, ok := s.slots[id]
	if !ok {
		return false
	}
	delete(s.slots, id)
	s.ids[slot] = ""
	s.attrs[slot] = nil
	s.free = append(s.free, slot)
	return true
}

func (s *state) update(u *weftv1.AttributeUpdate) bool {
	slot, ok := s.slots[u.GetId()]
	if !ok {
		return false
	}
	// Copy on write: a query may hold the old map.
	next := make(attrs, len(s.attrs[slot])+len(u.GetSet()))
	for k, v := range s.attrs[slot] {
		next[k] = v
	}
	for k, v := range u.GetSet() {
		next[k] = v
	}
	for _, k := range u.GetRemove() {
		delete(next, k)
	}
	s.attrs[slot] = next
	return true
}

// get returns a document by id. The caller holds s.mu for reading.
func (s *state) get(id string, withVector, withAttrs bool) (*weftv1.Document, bool) {
	slot, ok := s.slots[id]
	if !ok {
		return nil, false
	}
	d := &weftv1.Document{Id: id}
	if withVector {
		d.Vector = s.vector(slot)
	}
	if withAttrs {
		d.Attributes = cloneAttrs(s.attrs[slot])
	}
	return d, true
}

// vector returns a copy of a slot's vector.
func (s *state) vector(slot uint32) []float32 {
	return append([]float32(nil), s.vecs.at(int(slot))...)
}

func cloneAttrs(a attrs) attrs {
	if len(a) == 0 {
		return nil
	}
	out := make(attrs, len(a))
	for k, v := range a {
		out[k] = proto.CloneOf(v)
	}
	return out
}

// hit is a scored slot.
type hit struct {
	slot uint32
	dist float32
}

// searchResult is what an exact search found.
type searchResult struct {
	hits    []hit // nearest first
	scanned uint64
	matched uint64
}

// minParallelWork is the number of float operations below which a scan
// stays on one goroutine: under it, starting goroutines costs more than it
// saves.
const minParallelWork = 1 << 20

// allowFunc reports whether a live slot may be returned.
type allowFunc func(slot int) bool

// matching adapts an attribute predicate to slots.
func (s *state) matching(match predicate) allowFunc {
	return func(slot int) bool { return match(s.attrs[slot]) }
}

// search scores every live slot that allow passes against q (already
// normalised for cosine) and returns the k nearest. The caller holds s.mu
// for reading.
func (s *state) search(q []float32, k int, allow allowFunc) searchResult {
	n := len(s.ids)
	workers := runtime.GOMAXPROCS(0)
	if n*s.dim < minParallelWork || workers < 2 {
		workers = 1
	}
	parts := make([]searchResult, workers)
	var wg sync.WaitGroup
	chunk := (n + workers - 1) / workers
	for w := range workers {
		lo, hi := w*chunk, min((w+1)*chunk, n)
		wg.Go(func() { parts[w] = s.scan(q, k, allow, lo, hi) })
	}
	wg.Wait()
	if workers == 1 {
		return parts[0]
	}
	var all searchResult
	top := newTopK(k, s.ids)
	for _, p := range parts {
		all.scanned += p.scanned
		all.matched += p.matched
		for _, h := range p.hits {
			top.offer(h)
		}
	}
	all.hits = top.sorted()
	return all
}

func (s *state) scan(q []float32, k int, allow allowFunc, lo, hi int) searchResult {
	var r searchResult
	top := newTopK(k, s.ids)
	for slot := lo; slot < hi; slot++ {
		if s.ids[slot] == "" || !allow(slot) {
			continue
		}
		r.matched++
		r.scanned++
		v := s.vecs.at(slot)
		top.offer(hit{slot: uint32(slot), dist: s.distance(q, v, slot)})
	}
	r.hits = top.sorted()
	return r
}

// distance is the metric's distance from q to slot's vector v, smaller is
// closer. For l2 it is the squared distance during the scan; finish converts
// it. For cosine q is already unit length.
func (s *state) distance(q, v []float32, slot int) float32 {
	switch s.metric {
	case weftv1.Metric_METRIC_L2:
		return distance.L2Sq(q, v)
	case weftv1.Metric_METRIC_COSINE:
		return 1 - distance.DotProduct(q, v)*s.invNorm[slot]
	default:
		return -distance.DotProduct(q, v)
	}
}

// finish turns a scan distance into the distance the API reports.
func (s *state) finish(d float32) float32 {
	if s.metric == weftv1.Metric_METRIC_L2 {
		return float32(math.Sqrt(float64(d)))
	}
	return d
}

// topK keeps the k nearest hits seen, ties broken by id so results are
// deterministic.
type topK struct {
	k   int
	ids []string
	h   hitHeap
}

func newTopK(k int, ids []string) *topK {
	t := &topK{k: k, ids: ids}
	t.h.ids = ids
	return t
}

func (t *topK) offer(x hit) {
	if len(t.h.hits) < t.k {
		heap.Push(&t.h, x)
		return
	}
	if t.h.less(x, t.h.hits[0]) { // x is farther than the farthest kept
		return
	}
	t.h.hits[0] = x
	heap.Fix(&t.h, 0)
}

// sorted returns the hits nearest first.
func (t *topK) sorted() []hit {
	out := make([]hit, len(t.h.hits))
	for i := len(out) - 1; i >= 0; i-- {
		out[i] = heap.Pop(&t.h).(hit)
	}
	return out
}

// hitHeap is a max-heap: the root is the farthest hit kept.
type hitHeap struct {
	hits []hit
	ids  []string
}

// less orders hits from far to near (so the heap's root is the farthest).
func (h *hitHeap) less(a, b hit) bool {
	if a.dist != b.dist {
		return a.dist > b.dist
	}
	return h.ids[a.slot] > h.ids[b.slot]
}

func (h *hitHeap) Len() int           { return len(h.hits) }
func (h *hitHeap) Less(i, j int) bool { return h.less(h.hits[i], h.hits[j]) }
func (h *hitHeap) Swap(i, j int)      { h.hits[i], h.hits[j] = h.hits[j], h.hits[i] }
func (h *hitHeap) Push(x any)         { h.hits = append(h.hits, x.(hit)) }
func (h *hitHeap) Pop() any {
	x := h.hits[len(h.hits)-1]
	h.hits = h.hits[:len(h.hits)-1]
	return x
}

// count is the number of live documents. The caller holds s.mu.
func (s *state) count() int { return len(s.slots) }

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
		case *storagev1.WALOp_DeleteIds, *storagev1.WALOp_DeleteFilter, *storagev1.WALOp_UpdateAttributes:
		default:
			return fmt.Errorf("op %d: unknown operation %T", i, o)
		}
	}
	return nil
}
