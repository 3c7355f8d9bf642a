package fabric

import (
	"context"
	"fmt"
	"slices"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/weftdb/weft/index/distance"
	"github.com/weftdb/weft/index/filter"
	"github.com/weftdb/weft/plugins"
	weftv1 "github.com/weftdb/weft/proto/gen/weft/v1"
	"github.com/weftdb/weft/workers"
)

// queryService implements weftv1connect.QueryServiceHandler.
type queryService struct{ s *Server }

// stageTimer records how long each stage of a query took, for stats.
type stageTimer struct {
	last    time.Time
	timings []*weftv1.StageTiming
}

func newStageTimer() *stageTimer { return &stageTimer{last: time.Now()} }

// skip leaves the time since the last stage out of every stage (explain's
// own counting).
func (t *stageTimer) skip() { t.last = time.Now() }

func (t *stageTimer) done(stage string) {
	now := time.Now()
	t.timings = append(t.timings, &weftv1.StageTiming{Stage: stage, Duration: durationpb.New(now.Sub(t.last))})
	t.last = now
}

// rerankCandidates is how many nearest documents a rerank hook sees when
// the query asks for fewer: a reranker needs room to promote documents
// from below the top k.
const rerankCandidates = 100

func (h queryService) Query(ctx context.Context, req *connect.Request[weftv1.QueryRequest]) (*connect.Response[weftv1.QueryResponse], error) {
	timer := newStageTimer()
	m := req.Msg
	if resp, ok, err := h.s.coldQuery(ctx, m); ok {
		if err != nil {
			return nil, err
		}
		return connect.NewResponse(resp), nil
	}
	var ns *namespace
	var err error
	if h.s.pool != nil { // a fabric: the fan-out learns the WAL head (fanout.go)
		if ns, err = h.s.namespace(ctx, m.GetNamespace()); err == nil {
			h.s.heal(ctx, ns)
		}
	} else {
		ns, err = h.s.forSearch(ctx, m.GetNamespace(), m.GetConsistency())
	}
	if err != nil {
		return nil, err
	}
	timer.done("refresh")
	// Plugin instances that served this namespace never serve another.
	ctx = plugins.WithTenant(ctx, ns.name)
	meta, _ := ns.config()
	if err := validQuery(m, meta); err != nil {
		return nil, err
	}
	if m.GetConsistency() != weftv1.Consistency_CONSISTENCY_EVENTUAL {
		h.s.renewLeaseSoon(ns)
	}
	calls := append(slices.Clip(meta.GetDefaultPlugins()), m.GetPlugins()...)
	chain, err := h.s.resolvePlugins(ctx, calls)
	if err != nil {
		return nil, err
	}
	if h.s.pool != nil && !chain.Has(plugins.HookRerank) && !m.GetExplainExact() {
		// A fabric of workers (fanout.go). Rerank hooks and explain_exact
		// need every candidate's document at hand: the fabric's own state
		// answers those.
		resp, err := h.s.fanOut(ctx, m, req.Header().Get("Authorization"), ns, meta, calls, timer)
		if err != nil {
			return nil, err
		}
		return connect.NewResponse(resp), nil
	}
	if h.s.pool != nil {
		if ns, err = h.s.forSearch(ctx, m.GetNamespace(), m.GetConsistency()); err != nil {
			return nil, err
		}
	}

	q := queryVector(m.GetVector(), meta)
	k := int(m.GetTopK())
	want := k
	if chain.Has(plugins.HookRerank) {
		want = max(k, rerankCandidates)
	}
	stats := &weftv1.QueryStats{CacheTemperature: weftv1.CacheTemperature_CACHE_TEMPERATURE_HOT}

	opts, efSource := searchPlan(m, meta, want)
	opts.Done, opts.Explain, opts.Ctx = ctx.Done(), m.GetExplain(), ctx
	st := ns.state()
	if st.Lazy() {
		if lazyPlan(&opts) {
			efSource += ", on codes (lazy segments)"
		}
		if m.GetIncludeVectors() || chain.Has(plugins.HookRerank) {
			if err := st.Materialize(ctx); err != nil {
				return nil, lazyUnavailable(ns, err)
			}
		}
	}
	if len(st.Failed) > 0 {
		if !m.GetAllowPartial() {
			return nil, errPartial(ns, st.Failed, "answer in full")
		}
		stats.ShardsFailed = uint32(len(st.Failed))
	}
	st.RLock()
	var rows map[string][2]uint64 // stage → rows in, out (explain)
	var docs uint64
	if opts.Explain {
		docs = uint64(st.Count())
		rows = map[string][2]uint64{"refresh": {docs, docs}}
	}
	allow := st.Matching(m.GetFilter())
	// Plugins run under the read lock, bounded by their deadlines: the
	// slots they judge must not change underneath them.
	var routes *[]workers.RouteDecision
	if opts.Explain {
		routes = new([]workers.RouteDecision)
	}
	allow, probed, err := chain.Route(ctx, st, meta, q, k, allow, routes)
	if err != nil {
		st.RUnlock()
		return nil, err
	}
	stats.ShardsProbed = uint32(probed)
	timer.done("route")
	if opts.Explain {
		rows["route"] = [2]uint64{docs, allowedCount(st, allow, opts.Tail)}
		timer.skip()
	}
	allow, err = chain.Filter(ctx, st, meta, allow)
	if err != nil {
		st.RUnlock()
		return nil, err
	}
	timer.done("filter")
	opts.Bulk = bulkFilter(st, m.GetFilter(), chain)
	found := st.Search(q, want, allow, opts)
	if err := ctx.Err(); err != nil {
		st.RUnlock()
		return nil, err
	}
	if found.Err != nil {
		st.RUnlock()
		return nil, lazyUnavailable(ns, found.Err)
	}
	stats.CacheTemperature, stats.BucketRequests, stats.BucketRoundTrips, stats.BytesFetched = fetchStats(found.Fetched)
	stats.DocumentsScanned, stats.DocumentsMatched, stats.GraphDistances = found.Matched, found.Matched, found.Graph
	if !chain.Has(plugins.HookRoute) { // segments; with route hooks, the partitions they probed
		stats.ShardsProbed = uint32(found.Segments)
		if opts.Tail && st.Base < len(st.IDs) {
			stats.ShardsProbed++ // the WAL tail
		}
	}
	timer.done("search")
	var explain *weftv1.QueryExplain
	if opts.Explain || m.GetExplainExact() {
		explain = &weftv1.QueryExplain{}
	}
	if opts.Explain {
		allowed := uint64(0) // what the filters kept: the shards' allowed rows
		for _, r := range found.Shards {
			allowed += uint64(r.Allowed)
		}
		rows["filter"] = [2]uint64{rows["route"][1], allowed}
		rows["search"] = [2]uint64{allowed, uint64(len(found.Hits))}
	}
	if m.GetExplainExact() {
		exact := st.Search(q, k, allow, workers.SearchOptions{Exact: true, Tail: opts.Tail, Ef: k, Done: opts.Done, Ctx: ctx})
		if exact.Err != nil {
			st.RUnlock()
			return nil, lazyUnavailable(ns, exact.Err)
		}
		explain.Recall = recallOf(found.Hits[:min(k, len(found.Hits))], exact.Hits)
		for _, h := range exact.Hits {
			explain.ExactIds = append(explain.ExactIds, st.IDs[h.ID])
		}
		timer.done("explain")
		if opts.Explain {
			rows["explain"] = [2]uint64{uint64(len(found.Hits)), uint64(len(exact.Hits))}
		}
	} else if !opts.Exact && len(st.Segs) > 0 && !st.Lazy() { // an approximate answer (re-running it exactly would read every vector of a lazy state)
		h.s.sample(recallJob{
			ns: ns, st: st, changes: st.Changes, q: q, k: k, allow: allow, tail: opts.Tail, got: found.Hits,
			shape: [2]string{boolLabel(m.GetFilter() != nil), boolLabel(len(chain) > 0)},
		})
	}
	// Rerank hooks, like the others, run under the read lock: their batch
	// is gathered straight from the state, and only the k results that
	// come back are copied out.
	var order []int // result r is found.hits[order[r]]; nil: distance order
	var scores []float32
	if chain.Has(plugins.HookRerank) && len(found.Hits) > 0 {
		order, scores, err = chain.Rerank(ctx, st.Batch(found.Hits, q, meta, k))
		if err != nil {
			st.RUnlock()
			return nil, err
		}
	}
	results := make([]*weftv1.QueryResult, 0, min(k, len(found.Hits)))
	for r := range min(k, len(found.Hits)) {
		i := r
		if order != nil {
			i = order[r]
		}
		h := found.Hits[i]
		d := st.Finish(h.Dist)
		res := &weftv1.QueryResult{Id: st.IDs[h.ID], Distance: d, Score: -d}
		if scores != nil {
			res.Score = scores[i]
		}
		if m.GetIncludeVectors() {
			res.Vector = st.Vector(h.ID)
		}
		if m.GetIncludeAttributes() {
			res.Attributes = st.Attrs(int(h.ID))
		}
		results = append(results, res)
	}
	stats.WalSequence = st.Applied
	st.RUnlock()
	timer.done("rerank")
	stats.Timings = timer.timings
	if opts.Explain {
		rows["rerank"] = [2]uint64{uint64(len(found.Hits)), uint64(len(results))}
		explain.Ef, explain.EfSource, explain.Exact = uint32(opts.Ef), efSource, opts.Exact
		if opts.Exact {
			explain.Ef = 0
		}
		explain.Shards = shardExplains(found.Shards)
		for _, f := range st.Failed {
			explain.Shards = append(explain.Shards, &weftv1.ShardExplain{Shard: f.Key, Skipped: "unreadable: " + f.Err.Error()})
		}
		if routes != nil {
			for _, d := range *routes {
				explain.Routes = append(explain.Routes, &weftv1.RouteExplain{Plugin: d.Plugin, Partition: d.Partition, Documents: uint64(d.Documents), Weight: d.Weight, Probed: d.Probed})
			}
		}
		for _, t := range timer.timings {
			n := rows[t.GetStage()]
			explain.Stages = append(explain.Stages, &weftv1.StageExplain{Stage: t.GetStage(), Duration: t.GetDuration(), RowsIn: n[0], RowsOut: n[1]})
		}
	}
	return connect.NewResponse(&weftv1.QueryResponse{Results: results, Stats: stats, Explain: explain}), nil
}

// forSearch returns namespace name ready for a search at consistency c:
// caught up with every acknowledged write for STRONG, as it is for
// EVENTUAL; a partial one tries its unreadable segments again either way.
func (s *Server) forSearch(ctx context.Context, name string, c weftv1.Consistency) (*namespace, error) {
	if c != weftv1.Consistency_CONSISTENCY_EVENTUAL {
		return s.refreshed(ctx, name)
	}
	ns, err := s.namespace(ctx, name)
	if err == nil {
		s.heal(ctx, ns)
	}
	return ns, err
}

// queryVector is v as the graphs search it: a copy, normalised for
// cosine.
func queryVector(v []float32, meta *weftv1.Namespace) []float32 {
	q := slices.Clone(v)
	if meta.GetMetric() == weftv1.Metric_METRIC_COSINE {
		distance.Normalize(q)
	}
	return q
}

// bulkFilter is the fast marking of a filter's segment rows when the
// filter alone decides (no route or filter hook narrowed it); nil
// otherwise.
func bulkFilter(st *workers.State, f *weftv1.Filter, chain workers.PluginChain) func(base, n int, bits *filter.Bitset) {
	if f == nil || chain.Has(plugins.HookRoute) || chain.Has(plugins.HookFilter) {
		return nil
	}
	return st.BulkFilter(f)
}

// walTailShard names the unindexed WAL tail where shards are named.
const walTailShard = "wal-tail"

// shardExplains turns a search's shard reports into explain's.
func shardExplains(reports []workers.ShardReport) []*weftv1.ShardExplain {
	out := make([]*weftv1.ShardExplain, 0, len(reports))
	for _, r := range reports {
		shard := r.Shard
		if shard == "" {
			shard = walTailShard
		}
		out = append(out, &weftv1.ShardExplain{Shard: shard, Rows: uint64(r.Rows), LiveRows: uint64(r.Live),
			Strategy: r.Strategy, Allowed: uint64(r.Allowed), ScoredExactly: r.Scored, Candidates: uint32(r.Candidates),
			CentroidDistance: r.CentroidDistance, Bound: r.Bound, Probed: r.Skipped == "", Skipped: r.Skipped, GraphDistances: r.Graph})
	}
	return out
}

// defaultEf is the graph beam width of a query that sets neither ef nor
// a recall target, nor has namespace defaults for them.
const defaultEf = 64

// efForRecall maps a recall target to a graph beam width. The steps were
// measured on Fashion-MNIST and gcide-words-100 (docs/benchmarks.md):
// each beam reaches at least its recall there at k = 10.
func efForRecall(r float32) int {
	switch {
	case r <= 0.90:
		return 32
	case r <= 0.95:
		return 64
	case r <= 0.98:
		return 128
	case r <= 0.99:
		return 200
	}
	return 400
}

// searchPlan turns a query's search knobs, or the namespace's defaults,
// into search options: an explicit ef wins, then a recall target (1 means
// exact), then defaultEf. The beam is never narrower than the candidates
// wanted.
//
// It also says where the beam came from, for explain.
func searchPlan(m *weftv1.QueryRequest, meta *weftv1.Namespace, want int) (workers.SearchOptions, string) {
	p, d := m.GetSearch(), meta.GetDefaultSearch()
	ef, r := p.GetEf(), p.GetRecallTarget()
	from := "search."
	if ef == 0 && r == 0 {
		ef, r = d.GetEf(), d.GetRecallTarget()
		from = "namespace default "
	}
	o := workers.SearchOptions{Tail: m.GetConsistency() != weftv1.Consistency_CONSISTENCY_EVENTUAL}
	var source string
	switch {
	case ef > 0:
		o.Ef, source = int(ef), from+"ef"
	case r >= 1:
		o.Exact, source = true, from+"recall_target 1"
	case r > 0:
		o.Ef, source = efForRecall(r), fmt.Sprintf("%srecall_target %g", from, r)
	default:
		o.Ef, source = defaultEf, "default"
	}
	if o.Ef < want && !o.Exact {
		source += fmt.Sprintf(", widened to the %d candidates wanted", want)
	}
	o.Ef = max(o.Ef, want)
	o.NProbe = int(p.GetNprobe())
	if o.NProbe == 0 && r == 0 {
		o.NProbe = int(d.GetNprobe())
	}
	if vs, ok := workers.PinnedValues(m.GetFilter(), meta.GetShardKey()); ok {
		o.Tenants = vs
	}
	o.Refine = int(p.GetRefine())
	if o.Refine == 0 {
		o.Refine = int(d.GetRefine())
	}
	return o, source
}

func validQuery(m *weftv1.QueryRequest, meta *weftv1.Namespace) error {
	if err := validTopK(m.GetTopK()); err != nil {
		return err
	}
	if err := validVector("vector", m.GetVector(), meta.GetDimension(), meta.GetMetric()); err != nil {
		return err
	}
	if m.GetFilter() != nil {
		if err := validFilter("filter", m.GetFilter()); err != nil {
			return err
		}
	}
	if err := validSearchParams("search", m.GetSearch()); err != nil {
		return err
	}
	if err := validPluginCalls("plugins", m.GetPlugins()); err != nil {
		return err
	}
	if k := meta.GetShardKey(); meta.GetShardKeyRequired() {
		if _, ok := workers.PinnedValues(m.GetFilter(), k); !ok {
			return invalid("shard-key-required", "namespace %q requires every query to filter on its shard key %q: add an eq or in filter on %q (under and, if there are other conditions)", meta.GetName(), k, k)
		}
	}
	switch m.GetConsistency() {
	case weftv1.Consistency_CONSISTENCY_UNSPECIFIED, weftv1.Consistency_CONSISTENCY_STRONG, weftv1.Consistency_CONSISTENCY_EVENTUAL:
		return nil
	}
	return invalid("consistency", "consistency %d is unknown: use CONSISTENCY_STRONG or CONSISTENCY_EVENTUAL", m.GetConsistency())
}

// allowedCount counts the live documents allow passes, in segments and,
// with tail, in the WAL tail (explain only: it reads every slot). The
// caller holds st's read lock.
func allowedCount(st *workers.State, allow workers.AllowFunc, tail bool) uint64 {
	ids := st.IDs
	if !tail {
		ids = ids[:st.Base]
	}
	n := uint64(0)
	for slot, id := range ids {
		if id != "" && allow.OK(slot) {
			n++
		}
	}
	return n
}

// lazyUnavailable is the error of a query whose lazy segment's vectors
// could not be read.
func lazyUnavailable(ns *namespace, err error) *Error {
	return unavailable("segment-unreadable", "namespace %q: %v; retry shortly", ns.name, err)
}

// lazyPlan makes a search of a state with lazy segments walk their codes
// and refine the ef best when it set no refine: they hold codes, not
// vectors, in memory. It reports whether it changed opts.
func lazyPlan(opts *workers.SearchOptions) bool {
	if opts.Refine > 0 || opts.Exact {
		return false
	}
	opts.Refine = opts.Ef
	return true
}

// fetchStats says where a search's data came from (HOT without fetches,
// WARM from the disk tier, COLD from the bucket) and what the bucket
// reads cost: a lazy search reads its blocks at once, one round trip.
func fetchStats(f *workers.FetchStats) (temp weftv1.CacheTemperature, requests, roundTrips uint32, bytes uint64) {
	temp = weftv1.CacheTemperature_CACHE_TEMPERATURE_HOT
	if f == nil {
		return temp, 0, 0, 0
	}
	switch {
	case f.Bucket() > 0:
		temp, roundTrips = weftv1.CacheTemperature_CACHE_TEMPERATURE_COLD, 1
	case f.Disk() > 0:
		temp = weftv1.CacheTemperature_CACHE_TEMPERATURE_WARM
	}
	return temp, uint32(f.Bucket()), roundTrips, f.Bytes()
}
