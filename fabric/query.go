package fabric

import (
	"context"
	"slices"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/weftdb/weft/index/distance"
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
	var ns *namespace
	var err error
	if m.GetConsistency() == weftv1.Consistency_CONSISTENCY_EVENTUAL {
		ns, err = h.s.namespace(ctx, m.GetNamespace())
	} else {
		ns, err = h.s.refreshed(ctx, m.GetNamespace())
	}
	if err != nil {
		return nil, err
	}
	timer.done("refresh")
	meta, _ := ns.config()
	if err := validQuery(m, meta); err != nil {
		return nil, err
	}
	if m.GetConsistency() != weftv1.Consistency_CONSISTENCY_EVENTUAL {
		h.s.renewLeaseSoon(ns)
	}
	chain, err := h.s.resolvePlugins(ctx, append(slices.Clip(meta.GetDefaultPlugins()), m.GetPlugins()...))
	if err != nil {
		return nil, err
	}

	q := slices.Clone(m.GetVector())
	if meta.GetMetric() == weftv1.Metric_METRIC_COSINE {
		distance.Normalize(q)
	}
	k := int(m.GetTopK())
	want := k
	if chain.Has(plugins.HookRerank) {
		want = max(k, rerankCandidates)
	}
	stats := &weftv1.QueryStats{CacheTemperature: weftv1.CacheTemperature_CACHE_TEMPERATURE_HOT}

	opts := searchPlan(m, meta, want)
	opts.Done = ctx.Done()
	st := ns.state()
	st.RLock()
	allow := st.Matching(m.GetFilter())
	// Plugins run under the read lock, bounded by their deadlines: the
	// slots they judge must not change underneath them.
	allow, probed, err := chain.Route(ctx, st, meta, q, k, allow)
	if err != nil {
		st.RUnlock()
		return nil, err
	}
	stats.ShardsProbed = uint32(probed)
	timer.done("route")
	allow, err = chain.Filter(ctx, st, meta, allow)
	if err != nil {
		st.RUnlock()
		return nil, err
	}
	timer.done("filter")
	if m.GetFilter() != nil && !chain.Has(plugins.HookRoute) && !chain.Has(plugins.HookFilter) {
		opts.Bulk = st.BulkFilter(m.GetFilter()) // allow is the filter alone
	}
	found := st.Search(q, want, allow, opts)
	if err := ctx.Err(); err != nil {
		st.RUnlock()
		return nil, err
	}
	stats.DocumentsScanned, stats.DocumentsMatched = found.Matched, found.Matched
	if meta.GetShardKey() == "" && !chain.Has(plugins.HookRoute) {
		stats.ShardsProbed = uint32(found.Segments)
		if opts.Tail && st.Base < len(st.IDs) {
			stats.ShardsProbed++ // the WAL tail
		}
	}
	timer.done("search")
	var explain *weftv1.QueryExplain
	if m.GetExplainExact() {
		exact := st.Search(q, k, allow, workers.SearchOptions{Exact: true, Tail: opts.Tail, Ef: k, Done: opts.Done})
		explain = &weftv1.QueryExplain{Recall: recallOf(found.Hits[:min(k, len(found.Hits))], exact.Hits)}
		for _, h := range exact.Hits {
			explain.ExactIds = append(explain.ExactIds, st.IDs[h.ID])
		}
		timer.done("explain")
	} else if !opts.Exact && len(st.Segs) > 0 { // an approximate answer
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
	return connect.NewResponse(&weftv1.QueryResponse{Results: results, Stats: stats, Explain: explain}), nil
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
func searchPlan(m *weftv1.QueryRequest, meta *weftv1.Namespace, want int) workers.SearchOptions {
	p, d := m.GetSearch(), meta.GetDefaultSearch()
	ef, r := p.GetEf(), p.GetRecallTarget()
	if ef == 0 && r == 0 {
		ef, r = d.GetEf(), d.GetRecallTarget()
	}
	o := workers.SearchOptions{Tail: m.GetConsistency() != weftv1.Consistency_CONSISTENCY_EVENTUAL}
	switch {
	case ef > 0:
		o.Ef = int(ef)
	case r >= 1:
		o.Exact = true
	case r > 0:
		o.Ef = efForRecall(r)
	default:
		o.Ef = defaultEf
	}
	o.Ef = max(o.Ef, want)
	return o
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
	switch m.GetConsistency() {
	case weftv1.Consistency_CONSISTENCY_UNSPECIFIED, weftv1.Consistency_CONSISTENCY_STRONG, weftv1.Consistency_CONSISTENCY_EVENTUAL:
		return nil
	}
	return invalid("consistency", "consistency %d is unknown: use CONSISTENCY_STRONG or CONSISTENCY_EVENTUAL", m.GetConsistency())
}
