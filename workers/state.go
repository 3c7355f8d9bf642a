package workers

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/weftdb/weft/index/distance"
	"github.com/weftdb/weft/index/filter"
	"github.com/weftdb/weft/index/topk"

	storagev1 "github.com/weftdb/weft/proto/gen/weft/storage/v1"
	weftv1 "github.com/weftdb/weft/proto/gen/weft/v1"
)

// State is a namespace's documents in memory as of a WAL sequence: the
// indexed segments of a manifest, then the unindexed tail built by applying
// WAL batches in sequence order.
//
// Every document has a slot. Slots [segBase[i], segBase[i]+Segs[i].Rows)
// are segment i's rows, searched through its graph; slots from Base on are
// the tail, whose vectors live in one chunked store so an exact scan walks
// memory in order. Freed tail slots are reused; a segment row that is
// deleted or replaced is tombstoned in its graph and never reused.
//
// The exported fields are read under the lock and written only by the
// State's methods (and, for Writer and LeaseMs, by whoever assembles it).
type State struct {
	Dim    int // of every vector
	Metric weftv1.Metric

	// The lock guards everything below: writers hold it to apply, readers
	// while they search and copy results out.
	sync.RWMutex
	Applied uint64 // the last WAL sequence applied
	// Changes counts the batches applied that had operations: equal
	// counts mean the same documents (an empty batch, a write lease
	// renewal, changes none).
	Changes uint64
	// The writer and write lease of batch applied, which a manifest of
	// this state records (the fabric's write lease).
	Writer  string
	LeaseMs uint32
	Closed  bool // a close entry was applied: the generation is deleted

	Segs    []*Segment // the manifest's, in its order
	segBase []int      // Segs[i]'s first slot
	// Failed lists the manifest's segments that could not be read: the
	// state holds the others. Such a state answers only queries that
	// allow partial answers, takes no writes and is never folded.
	Failed []FailedSegment
	Base   int // the first tail slot: the segments' rows in all

	idx  idIndex     // id → slot
	IDs  []string    // slot → id, "" for a free slot or a dead row
	vecs vectorStore // tail slot − base → vector
	// attrs holds each slot's attributes. A map and its values are never
	// mutated once applied (updates build a new map), so queries and
	// responses share them without copying.
	attrs []Attrs
	cols  attrColumns // the same attributes as plugin ABI columns
	free  []uint32    // free tail slots
	// invNorm holds 1/‖v‖ per slot for cosine (tail slots only; segment
	// rows are searched through their graphs), so stored vectors stay as
	// written (Get returns them unchanged) while the scan still compares
	// directions.
	invNorm []float32
}

func NewState(dim int, metric weftv1.Metric) *State {
	return &State{Dim: dim, Metric: metric, idx: idIndex{m: make(map[string]uint32)}, vecs: vectorStore{dim: dim}}
}

// FailedSegment is a segment of the manifest a state could not read.
type FailedSegment struct {
	Key string // its object
	Err error
}

// ID is the segment's id: the last element of its object's name.
func (f FailedSegment) ID() string { return f.Key[strings.LastIndexByte(f.Key, '/')+1:] }

// SegmentPart is one segment of a state being assembled and its rows'
// ids, "" for a dead row.
type SegmentPart struct {
	Seg *Segment
	IDs []string
}

// Assemble returns a state holding parts' segments, in order, as of WAL
// sequence applied, with an empty tail. Dead rows are tombstoned in their
// graphs. Should an id repeat, its last row wins. The segments' attribute
// columns are copied in whole; an attribute stored with several types
// keeps the first type met as its column, and filters on it read the rows'
// attributes.
func Assemble(dim int, metric weftv1.Metric, parts []SegmentPart, applied uint64) *State {
	s := NewState(dim, metric)
	s.Applied = applied
	n := 0
	for _, p := range parts {
		n += p.Seg.Rows
	}
	s.Base = n
	s.IDs = make([]string, n)
	s.attrs = make([]Attrs, n) // nil: segment rows' attributes are their segment's
	if metric == weftv1.Metric_METRIC_COSINE {
		s.invNorm = make([]float32, n)
	}
	s.cols.n = n
	base := 0
	for _, p := range parts {
		s.Segs = append(s.Segs, p.Seg)
		s.segBase = append(s.segBase, base)
		for i := range p.Seg.cols {
			c := &p.Seg.cols[i]
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
		base += p.Seg.Rows
	}
	live := 0
	for i, p := range parts {
		base := s.segBase[i]
		for row, id := range p.IDs {
			if id == "" {
				s.kill(base + row)
				continue
			}
			s.IDs[base+row] = id
			live++
		}
	}
	s.buildIDs(n, live)
	return s
}

// Attrs returns slot's attributes. A segment row's are built from its
// segment's columns: do not keep them where a per-query cost matters.
func (s *State) Attrs(slot int) Attrs {
	if slot >= s.Base || s.IDs[slot] == "" {
		return s.attrs[slot]
	}
	g, row := s.segmentOf(slot)
	return g.attrs(row)
}

// grow adds an empty slot at the end and returns it.
func (s *State) grow() int {
	s.IDs = append(s.IDs, "")
	s.attrs = append(s.attrs, nil)
	s.cols.grow()
	if s.Metric == weftv1.Metric_METRIC_COSINE {
		s.invNorm = append(s.invNorm, 0)
	}
	return len(s.IDs) - 1
}

// ShardOf returns the id of the segment holding slot, "" for the tail.
func (s *State) ShardOf(slot int) string {
	if slot >= s.Base {
		return ""
	}
	g, _ := s.segmentOf(slot)
	return g.ID
}

// segmentOf returns the segment holding slot < s.base and slot's row in it.
func (s *State) segmentOf(slot int) (*Segment, int) {
	i := len(s.segBase) - 1
	for s.segBase[i] > slot {
		i--
	}
	return s.Segs[i], slot - s.segBase[i]
}

// vec returns slot's vector as written, aliasing the state.
func (s *State) vec(slot int) []float32 {
	if slot >= s.Base {
		return s.vecs.at(slot - s.Base)
	}
	g, row := s.segmentOf(slot)
	return g.vector(row)
}

// kill empties slot: a segment row is tombstoned for good, a tail slot
// freed for reuse.
func (s *State) kill(slot int) {
	s.IDs[slot] = ""
	s.attrs[slot] = nil
	s.cols.clear(slot)
	if slot < s.Base {
		g, row := s.segmentOf(slot)
		_ = g.Graph.Delete(uint32(row))
		return
	}
	s.free = append(s.free, uint32(slot))
}

// OpResult is what applying one WAL operation did, for the response.
type OpResult struct {
	Deleted uint64
	Missing []string
}

// Apply applies batch seq. The caller holds the write lock and applies
// batches in sequence order.
func (s *State) Apply(seq uint64, batch *storagev1.WALBatch) []OpResult {
	results := make([]OpResult, len(batch.GetOps()))
	for i, op := range batch.GetOps() {
		switch o := op.GetOp().(type) {
		case *storagev1.WALOp_Upsert:
			for _, d := range o.Upsert.GetDocuments() {
				s.put(d)
			}
		case *storagev1.WALOp_DeleteIds:
			for _, id := range o.DeleteIds.GetIds() {
				if s.remove(id) {
					results[i].Deleted++
				}
			}
		case *storagev1.WALOp_DeleteFilter:
			// The column filters: segment rows have no attribute maps to
			// test (building them would cost a map per row).
			match := s.compileColumns(o.DeleteFilter)
			for slot, id := range s.IDs {
				if id != "" && match(slot) {
					s.remove(id)
					results[i].Deleted++
				}
			}
		case *storagev1.WALOp_UpdateAttributes:
			for _, u := range o.UpdateAttributes.GetUpdates() {
				if !s.update(u) {
					results[i].Missing = append(results[i].Missing, u.GetId())
				}
			}
		case *storagev1.WALOp_Close:
			s.Closed = true
		}
	}
	s.Applied = seq
	if len(batch.GetOps()) > 0 {
		s.Changes++
	}
	s.Writer, s.LeaseMs = batch.GetWriter(), batch.GetLeaseMs()
	return results
}

func (s *State) put(d *weftv1.Document) {
	slots := s.slotsForWrite()
	slot, ok := slots[d.GetId()]
	if ok && int(slot) < s.Base {
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
		s.IDs[slot] = d.GetId()
	}
	v := s.vecs.at(int(slot) - s.Base)
	copy(v, d.GetVector())
	if s.Metric == weftv1.Metric_METRIC_COSINE {
		s.invNorm[slot] = float32(1 / math.Sqrt(float64(distance.DotProduct(v, v))))
	}
	s.attrs[slot] = d.GetAttributes()
	s.cols.set(int(slot), d.GetAttributes())
}

func (s *State) remove(id string) bool {
	slots := s.slotsForWrite()
	slot, ok := slots[id]
	if !ok {
		return false
	}
	delete(slots, id)
	s.kill(int(slot))
	return true
}

func (s *State) update(u *weftv1.AttributeUpdate) bool {
	slot, ok := s.slotsForWrite()[u.GetId()]
	if !ok {
		return false
	}
	// Copy on write: a query may hold the old map.
	cur := s.Attrs(int(slot))
	next := make(Attrs, len(cur)+len(u.GetSet()))
	for k, v := range cur {
		next[k] = v
	}
	for k, v := range u.GetSet() {
		next[k] = v
	}
	for _, k := range u.GetRemove() {
		delete(next, k)
	}
	if int(slot) < s.Base {
		// A segment row is immutable, and a fold that keeps its segment
		// does not rewrite it: the row moves to the tail with its vector,
		// so the next fold writes the new attributes.
		s.put(&weftv1.Document{Id: u.GetId(), Vector: s.Vector(slot), Attributes: next})
		return true
	}
	s.attrs[slot] = next
	s.cols.set(int(slot), next)
	return true
}

// Get returns a document by id. The caller holds the read lock.
func (s *State) Get(id string, withVector, withAttrs bool) (*weftv1.Document, bool) {
	slot, ok := s.slotsForRead()[id]
	if !ok {
		return nil, false
	}
	d := &weftv1.Document{Id: id}
	if withVector {
		d.Vector = s.Vector(slot)
	}
	if withAttrs {
		d.Attributes = s.Attrs(int(slot))
	}
	return d, true
}

// Vector returns a copy of a slot's vector.
func (s *State) Vector(slot uint32) []float32 {
	return append([]float32(nil), s.vec(int(slot))...)
}

// SearchResult is what a search found.
type SearchResult struct {
	Hits     []topk.Result // slots, nearest first
	Matched  uint64        // documents that passed the filter and were scored exactly
	Graph    uint64        // distances computed walking segment graphs
	Segments int           // segments searched
	Plans    []filter.Plan
	// Shards says what each shard did; only with SearchOptions.Explain.
	Shards []ShardReport
	// Err is a lazy segment's failed read: the search stopped.
	Err error
	// Fetched says where lazy segments' vector blocks came from; nil
	// when no lazy segment was searched.
	Fetched *FetchStats
}

// ShardReport is what a search did in one shard: a segment, or the WAL
// tail (Shard "").
type ShardReport struct {
	Shard      string
	Rows, Live int
	Strategy   string // graph, traverse, postfilter, exact, exact scan
	Allowed    int    // rows the filter allows; Live without one
	Scored     uint64 // rows scored exactly
	Graph      uint64 // distances computed walking the graph
	Candidates int    // results offered to the merge
	// CentroidDistance is the L2 distance from the query to the shard's
	// centroid, Bound the least any of its rows can have (0 without a
	// centroid).
	CentroidDistance, Bound float32
	// Skipped says why the shard was not searched: "tenant", "nprobe" or
	// "bound"; "" when it was.
	Skipped string
}

// SearchOptions say how a query searches.
type SearchOptions struct {
	Ef int // beam width in segment graphs
	// Only, when not nil, names the segments to search; the others are
	// left out (Tail still says whether the tail is scanned).
	Only map[string]bool
	// Refine, when positive, walks the graphs of segments that have codes
	// on them and scores only the Refine best exactly (unfiltered
	// searches).
	Refine int
	// NProbe caps the IVF lists searched, nearest centroids first; 0
	// searches every list that can still hold a row nearer than the k-th
	// candidate. Segments that are not lists are always searched.
	NProbe int
	// Tenants, when not nil, are the shard-key values the query's filter
	// pins (PinnedValues): segments of other tenant groups are skipped.
	Tenants []string
	Exact   bool // score segment rows exactly too (recall_target 1)
	Tail    bool // scan the unindexed tail (STRONG); else segments only
	// Done stops a long tail scan early when the request ends (nil: never);
	// the caller then fails the query with the context's error.
	Done <-chan struct{}
	// Explain fills SearchResult.Shards.
	Explain bool
	// Ctx bounds the bucket reads of lazy segments (nil: background):
	// their refine vectors on the codes path, all their vectors on the
	// others (materialised first).
	Ctx context.Context
	// Bulk, when set, marks the segment rows allow passes faster than
	// calling allow per row (see bulkFilter); it must agree with allow.
	Bulk func(base, n int, bits *filter.Bitset)
}

// minParallelWork is the number of float operations below which a scan
// stays on one goroutine: under it, starting goroutines costs more than it
// saves.
const minParallelWork = 1 << 20

// AllowFunc reports whether a live slot may be returned; nil allows all.
type AllowFunc func(slot int) bool

// OK reports whether a allows slot.
func (a AllowFunc) OK(slot int) bool { return a == nil || a(slot) }

// Matching adapts a query's filter to slots; nil for no filter.
func (s *State) Matching(f *weftv1.Filter) AllowFunc {
	if f == nil {
		return nil
	}
	return s.compileColumns(f)
}

// Search returns the k nearest documents to q (already normalised for
// cosine) that allow passes: through each segment's graph, with the
// filter planner when there is a filter, and by an exact scan of the tail.
// Deleted and replaced rows are tombstoned in the graphs, so they are
// skipped during the search, never dropped after it. The caller holds the read
// lock.
func (s *State) Search(q []float32, k int, allow AllowFunc, o SearchOptions) SearchResult {
	var res SearchResult
	top := topk.NewKeeper(k, s.IDs)
	lists := 0
	for _, r := range s.route(q) {
		i, g := r.seg, s.Segs[r.seg]
		if g.Graph.Live() == 0 || o.Only != nil && !o.Only[g.ID] {
			continue
		}
		report := ShardReport{Shard: g.ID, Rows: g.Rows, Live: g.Graph.Live(), Strategy: "graph", Allowed: g.Graph.Live(),
			CentroidDistance: r.dist, Bound: r.bound}
		switch {
		case o.Tenants != nil && !g.HoldsAny(o.Tenants):
			report.Skipped = "tenant"
		case g.List && o.NProbe > 0 && lists >= o.NProbe:
			report.Skipped = "nprobe"
		case r.bound > 0 && s.boundDist(r.bound) > top.TightBound():
			report.Skipped = "bound"
		}
		if report.Skipped != "" {
			if o.Explain {
				report.Strategy, report.Allowed = "", 0
				res.Shards = append(res.Shards, report)
			}
			continue
		}
		if g.List {
			lists++
		}
		res.Segments++
		base := s.segBase[i]
		var found []topk.Result
		codes := allow == nil && !o.Exact && o.Refine > 0 && g.Codes != nil
		ctx := o.Ctx
		if ctx == nil {
			ctx = context.Background()
		}
		if !codes && g.Lazy() {
			if res.Err = g.materialize(ctx); res.Err != nil {
				return res
			}
		}
		switch {
		case codes && g.Lazy():
			var n int
			var reads int
			found, n, res.Err = g.Graph.SearchCodesBatch(q, k, o.Ef, o.Refine, g.Codes, func(ids []uint32, dst [][]float32) error {
				reads = len(ids)
				if res.Fetched == nil {
					res.Fetched = &FetchStats{}
				}
				return g.lazy.vectors(ctx, ids, dst, res.Fetched)
			})
			if res.Err != nil {
				return res
			}
			report.Graph, report.Strategy, report.Scored = uint64(n), "codes, vectors by block", uint64(reads)
			res.Matched += report.Scored
		case codes:
			// The graph walk estimates; the refine best are scored exactly.
			reads, n := 0, 0
			found, n = g.Graph.SearchCodes(q, k, o.Ef, o.Refine, g.Codes, func(id uint32) []float32 {
				reads++
				return g.Graph.Vector(id)
			})
			report.Graph, report.Strategy, report.Scored = uint64(n), "codes", uint64(reads)
			res.Matched += report.Scored
		case allow == nil && !o.Exact:
			var n int
			found, n = g.Graph.SearchCounted(q, k, o.Ef, nil)
			report.Graph = uint64(n)
		default:
			bits := filter.NewBitset(g.Rows)
			if o.Bulk != nil {
				o.Bulk(base, g.Rows, bits)
			} else {
				for row := range g.Rows {
					if slot := base + row; s.IDs[slot] != "" && allow.OK(slot) {
						bits.Set(uint32(row))
					}
				}
			}
			report.Allowed = int(bits.Cardinality())
			if o.Exact {
				found = g.Graph.ExactSearch(q, k, nil, bits)
				res.Matched += bits.Cardinality()
				report.Strategy, report.Scored = "exact", bits.Cardinality()
				break
			}
			var plan filter.Plan
			found, plan = filter.Search(g.Graph, q, k, o.Ef, bits)
			res.Plans = append(res.Plans, plan)
			report.Graph = uint64(plan.Distances)
			report.Strategy = plan.Strategy.String()
			if plan.Strategy == filter.Exact || plan.Fallback {
				res.Matched += uint64(plan.Allowed)
				report.Scored = uint64(plan.Allowed)
			}
			if plan.Fallback {
				report.Strategy = "exact (graph came back short)"
			}
		}
		for _, r := range found {
			top.Offer(topk.Result{ID: uint32(base + int(r.ID)), Dist: r.Dist})
		}
		res.Graph += report.Graph
		if o.Explain {
			report.Candidates = len(found)
			res.Shards = append(res.Shards, report)
		}
	}
	if o.Tail && s.Base < len(s.IDs) {
		t := s.searchTail(q, k, allow, o.Done)
		res.Matched += t.Matched
		for _, h := range t.Hits {
			top.Offer(h)
		}
		if o.Explain {
			live := len(s.IDs) - s.Base - len(s.free)
			res.Shards = append(res.Shards, ShardReport{Rows: len(s.IDs) - s.Base, Live: live, Strategy: "exact scan",
				Allowed: int(t.Matched), Scored: t.Matched, Candidates: len(t.Hits)})
		}
	}
	res.Hits = top.Sorted()
	return res
}

// routed is a segment in the order a query searches them.
type routed struct {
	seg         int
	dist, bound float32 // L2 to the centroid; the least a row can have
}

// route orders the segments for q by centroid distance (those without a
// centroid first), so the nearest lists are searched first and the k-th
// candidate's distance bounds the rest early, and gives each the least
// distance a row of it can have: centroid distance minus radius.
func (s *State) route(q []float32) []routed {
	r := make([]routed, len(s.Segs))
	for i, g := range s.Segs {
		r[i].seg = i
		if g.Centroid == nil || s.Metric == weftv1.Metric_METRIC_DOT {
			continue
		}
		d := float32(math.Sqrt(float64(distance.L2Sq(q, g.Centroid))))
		// Float rounding in the two distances: keep the bound below the
		// true one.
		r[i].dist, r[i].bound = d, max(0, (d-g.Radius)*(1-1e-5)-1e-6*g.Radius)
	}
	slices.SortStableFunc(r, func(a, b routed) int { return cmp.Compare(a.dist, b.dist) })
	return r
}

// ShardRoute is a segment as a query routes to it (Routes).
type ShardRoute struct {
	ID   string
	List bool // an IVF list (SearchOptions.NProbe counts these)
	Live int  // rows not deleted
	// Bound is the least distance, as answers carry it, that a row of the
	// segment can have from the query; Bounded is false when there is none
	// (no centroid, or a dot-product namespace).
	Bound   float32
	Bounded bool
}

// Routes returns the segments in the order a search of q visits them
// (only those that may hold tenants' rows, with tenants not nil),
// nearest centroid first, each with the least distance a row of it can
// have: a fabric routes its fan-out with them as Search routes itself. q
// is normalised for cosine. The caller holds the read lock.
func (s *State) Routes(q []float32, tenants []string) []ShardRoute {
	out := make([]ShardRoute, 0, len(s.Segs))
	for _, r := range s.route(q) {
		g := s.Segs[r.seg]
		if tenants != nil && !g.HoldsAny(tenants) {
			continue
		}
		sr := ShardRoute{ID: g.ID, List: g.List, Live: g.Graph.Live()}
		if r.bound > 0 {
			sr.Bound, sr.Bounded = s.Finish(s.boundDist(r.bound)), true
		}
		out = append(out, sr)
	}
	return out
}

// boundDist turns an L2 lower bound into the graphs' distance: squared L2
// for l2, 1 − cos = L2²/2 between unit vectors for cosine; dot products
// have no such bound.
func (s *State) boundDist(b float32) float32 {
	switch s.Metric {
	case weftv1.Metric_METRIC_COSINE:
		return b * b / 2
	case weftv1.Metric_METRIC_DOT:
		return float32(math.Inf(-1))
	}
	return b * b
}

// searchTail scores every live tail slot that allow passes, on several
// goroutines when the tail is large.
func (s *State) searchTail(q []float32, k int, allow AllowFunc, done <-chan struct{}) SearchResult {
	lo, n := s.Base, len(s.IDs)
	workers := runtime.GOMAXPROCS(0)
	if (n-lo)*s.Dim < minParallelWork || workers < 2 {
		workers = 1
	}
	if workers == 1 {
		return s.scan(q, k, allow, lo, n, done)
	}
	parts := make([]SearchResult, workers)
	var wg sync.WaitGroup
	chunk := (n - lo + workers - 1) / workers
	for w := range workers {
		a, b := lo+w*chunk, min(lo+(w+1)*chunk, n)
		wg.Go(func() { parts[w] = s.scan(q, k, allow, a, b, done) })
	}
	wg.Wait()
	var all SearchResult
	top := topk.NewKeeper(k, s.IDs)
	for _, p := range parts {
		all.Matched += p.Matched
		for _, h := range p.Hits {
			top.Offer(h)
		}
	}
	all.Hits = top.Sorted()
	return all
}

// scan is an exact search of tail slots [lo, hi). It calls the metric's kernel
// directly and compares with the farthest hit kept before offering, since
// the scan's inner loop is most of an exact query's time.
func (s *State) scan(q []float32, k int, allow AllowFunc, lo, hi int, done <-chan struct{}) SearchResult {
	var r SearchResult
	top := topk.NewKeeper(k, s.IDs)
	kernel, scale, offset := s.kernel()
	cosine := s.Metric == weftv1.Metric_METRIC_COSINE
	for slot := lo; slot < hi; slot++ {
		if (slot-lo)%8192 == 8191 && done != nil {
			select {
			case <-done:
				return r
			default:
			}
		}
		if s.IDs[slot] == "" || !allow.OK(slot) {
			continue
		}
		r.Matched++
		x := kernel(q, s.vecs.at(slot-s.Base))
		if cosine {
			x *= s.invNorm[slot]
		}
		d := scale*x + offset
		if d > top.Bound() { // most documents stop here
			continue
		}
		top.Offer(topk.Result{ID: uint32(slot), Dist: d})
	}
	r.Hits = top.Sorted()
	return r
}

// kernel is the metric's raw kernel and the affine map to the scan's
// distance: squared L2 for l2, 1 − dot·invNorm for cosine (the caller
// applies invNorm), −dot for dot.
func (s *State) kernel() (distance.Func, float32, float32) {
	return indexMetric(s.Metric).Kernel()
}

// Finish turns a scan distance into the distance the API reports.
func (s *State) Finish(d float32) float32 { return Finish(s.Metric, d) }

// Finish turns a search distance of metric m into the one answers carry:
// squared L2 becomes L2; the others are as searched.
func Finish(m weftv1.Metric, d float32) float32 {
	if m == weftv1.Metric_METRIC_L2 {
		return float32(math.Sqrt(float64(d)))
	}
	return d
}

// CheckBatch verifies that a batch read back from the WAL fits this state,
// so a foreign or damaged entry is reported instead of corrupting memory.
func (s *State) CheckBatch(batch *storagev1.WALBatch) error {
	for i, op := range batch.GetOps() {
		switch o := op.GetOp().(type) {
		case *storagev1.WALOp_Upsert:
			for _, d := range o.Upsert.GetDocuments() {
				if len(d.GetVector()) != s.Dim || d.GetId() == "" {
					return fmt.Errorf("op %d: document %q has %d values, the namespace has dimension %d", i, d.GetId(), len(d.GetVector()), s.Dim)
				}
			}
		case *storagev1.WALOp_DeleteIds, *storagev1.WALOp_DeleteFilter, *storagev1.WALOp_UpdateAttributes, *storagev1.WALOp_Close:
		default:
			return fmt.Errorf("op %d: unknown operation %T", i, o)
		}
	}
	return nil
}

// Lazy reports whether some segment fetches its vectors on demand.
func (s *State) Lazy() bool {
	for _, g := range s.Segs {
		if g.Lazy() {
			return true
		}
	}
	return false
}

// Materialize reads every lazy segment's vectors into memory, for the
// paths that use any row's vector (Get, rerank batches, folds, returning
// vectors). The caller may hold the read lock.
func (s *State) Materialize(ctx context.Context) error {
	for _, g := range s.Segs {
		if err := g.materialize(ctx); err != nil {
			return err
		}
	}
	return nil
}
