package fabric

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	weftv1 "github.com/weftdb/weft/proto/gen/weft/v1"
	workerv1 "github.com/weftdb/weft/proto/gen/weft/worker/v1"
	"github.com/weftdb/weft/proto/gen/weft/worker/v1/workerv1connect"
	"github.com/weftdb/weft/workers"
)

// A fabric's query (ClusterConfig) routes to shards with its namespace's
// manifest and fans out to the workers that own them by rendezvous
// hashing, one SearchShards request per worker; it merges their
// candidates. A request that fails, or names shards its worker cannot
// search, goes to the next worker in each shard's order (retry); one that
// has not answered after HedgeAfter goes to the next worker as well
// (hedge), and the first answer wins. Shards no worker could search are
// listed in stats with allow_partial, and make the query Unavailable
// without it: never a silent loss of recall.

// adaptiveFirstLists is how many IVF lists the first wave of a query
// without nprobe searches; the second searches every other list that can
// still hold a row nearer than the k-th candidate of the first.
const adaptiveFirstLists = 2

// fanTally is what a fan-out did, for stats.
type fanTally struct {
	mu              sync.Mutex
	candidates      []*workerv1.Candidate
	failed          map[string]error // shard → why
	workers         map[string]bool
	retries, hedges uint32
	scanned, graph  uint64
	bytes           uint64
	bucketRequests  uint32
	roundTrips      uint32 // the most any worker's answer took
	probed          uint32
	temperature     weftv1.CacheTemperature
	newerManifest   uint64 // a worker serves a newer manifest than the route's
	explains        []*weftv1.ShardExplain
	fatal           error  // a worker's answer that is the query's (bad input)
	walSequence     uint64 // the newest state a worker searched
}

// fail records shards no worker could search, and why.
func (t *fanTally) fail(shards []string, why error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, id := range shards {
		t.failed[id] = why
	}
}

func (t *fanTally) add(w *worker, resp *workerv1.SearchShardsResponse) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.workers[w.url] = true
	t.candidates = append(t.candidates, resp.GetCandidates()...)
	t.scanned += resp.GetDocumentsScanned()
	t.graph += resp.GetGraphDistances()
	t.bytes += resp.GetBytesFetched()
	t.bucketRequests += resp.GetBucketRequests()
	t.roundTrips = max(t.roundTrips, resp.GetBucketRoundTrips())
	t.probed += resp.GetShardsProbed()
	t.temperature = max(t.temperature, resp.GetCacheTemperature()) // HOT < WARM < COLD
	t.explains = append(t.explains, resp.GetShards()...)
	t.walSequence = max(t.walSequence, resp.GetWalSequence())
}

// fanOut answers query m, whose namespace is ns, from the workers.
// calls are the plugins resolved for it (defaults first); authorization
// is the caller's, passed on to workers that check keys.
func (s *Server) fanOut(ctx context.Context, m *weftv1.QueryRequest, authorization string, ns *namespace, meta *weftv1.Namespace, calls []*weftv1.PluginCall, timer *stageTimer) (*weftv1.QueryResponse, error) {
	q := queryVector(m.GetVector(), meta)
	k := int(m.GetTopK())
	strong := m.GetConsistency() != weftv1.Consistency_CONSISTENCY_EVENTUAL
	opts, _ := searchPlan(m, meta, k)
	var head uint64
	if strong {
		var err error
		if head, err = s.walHead(ctx, ns, authorization); err != nil {
			return nil, err
		}
		timer.done("wal-head")
	}
	for attempt := 0; ; attempt++ {
		st := ns.state()
		st.RLock()
		routes := st.Routes(q, opts.Tenants)
		failedHere := slices.Clone(st.Failed)
		st.RUnlock()
		version := ns.manifest.Load().GetVersion()

		req := &workerv1.SearchShardsRequest{Namespace: ns.name, ManifestVersion: version, Vector: m.GetVector(), TopK: m.GetTopK(),
			Filter: m.GetFilter(), Search: m.GetSearch(), IncludeVectors: m.GetIncludeVectors(), IncludeAttributes: m.GetIncludeAttributes(),
			Plugins: calls, Consistency: m.GetConsistency(), Explain: m.GetExplain()}
		if strong {
			req.MinWalSequence = head
		}
		tally := &fanTally{failed: map[string]error{}, workers: map[string]bool{}}
		for _, f := range failedHere { // segments the fabric itself could not read: no route knows them
			tally.failed[f.ID()] = f.Err
		}
		first, later := wave(routes, opts.NProbe)
		if strong {
			first = append(first, walTailShard)
		}
		timer.done("route")
		s.searchWave(ctx, ns.name, req, first, authorization, tally)
		if tally.fatal == nil && len(later) > 0 {
			kth, full := kthDistance(tally.candidates, k)
			var next []string
			for _, r := range later {
				if !full || !r.Bounded || r.Bound <= kth {
					next = append(next, r.ID)
				}
			}
			s.searchWave(ctx, ns.name, req, next, authorization, tally)
		}
		timer.done("search")
		if tally.fatal != nil {
			return nil, tally.fatal
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if tally.newerManifest > version && attempt == 0 {
			// Some worker serves a newer manifest (a compaction): route
			// again on it rather than call its shards failed.
			if err := s.adopt(ctx, ns, tally.newerManifest); err != nil {
				return nil, err
			}
			continue
		}
		return s.fanAnswer(m, ns, tally, k, timer)
	}
}

// wave splits routes into the shards searched at once and those searched
// after, if the first wave's k-th candidate does not rule them out: with
// nprobe, the nprobe nearest lists and every segment that is not a list
// go first and the other lists never; without, the adaptiveFirstLists
// nearest lists and the others go first, and the rest may follow.
func wave(routes []workers.ShardRoute, nprobe int) (first []string, later []workers.ShardRoute) {
	lists := 0
	for _, r := range routes {
		if r.Live == 0 {
			continue
		}
		switch {
		case !r.List:
			first = append(first, r.ID)
		case nprobe > 0 && lists < nprobe, nprobe == 0 && lists < adaptiveFirstLists:
			first = append(first, r.ID)
			lists++
		case nprobe == 0:
			later = append(later, r)
		}
	}
	return first, later
}

// kthDistance is the k-th smallest distance among cs, and whether there
// are k of them.
func kthDistance(cs []*workerv1.Candidate, k int) (float32, bool) {
	if len(cs) < k {
		return 0, false
	}
	d := make([]float32, len(cs))
	for i, c := range cs {
		d[i] = c.GetDistance()
	}
	slices.Sort(d)
	return d[k-1], true
}

// searchWave searches shards on the workers that own them, retrying and
// hedging, until each is searched or no worker is left to try.
func (s *Server) searchWave(ctx context.Context, name string, req *workerv1.SearchShardsRequest, shards []string, authorization string, tally *fanTally) {
	if len(shards) == 0 {
		return
	}
	members := s.pool.current()
	groups, left := s.assign(name, members, shards, nil)
	tally.fail(left, errNoWorkers)
	var wg sync.WaitGroup
	for w, ids := range groups {
		wg.Go(func() { s.searchOn(ctx, name, req, w, ids, members, nil, authorization, tally) })
	}
	wg.Wait()
}

// errNoWorkers is why shards fail when the membership lists no worker.
var errNoWorkers = errors.New("no workers are known (check the fabric's --workers)")

// shardKey is the rendezvous key of a shard: segment ids are unique, the
// WAL tail is one per namespace.
func shardKey(name, shard string) string {
	if shard == walTailShard {
		return name + "/" + walTailShard
	}
	return shard
}

// assign groups shards by the first worker of each one's rendezvous order
// that tried does not hold, and returns the shards left with no such
// worker; a hot shard's first assignments alternate between its first two
// workers (ClusterConfig.HotShardRate).
func (s *Server) assign(name string, members []*worker, shards []string, tried map[*worker]bool) (groups map[*worker][]string, left []string) {
	now := time.Now()
	groups = map[*worker][]string{}
	for _, id := range shards {
		key := shardKey(name, id)
		order := rank(members, key, now)
		if len(tried) == 0 { // a first assignment, not a retry
			if n, hot := s.pool.heat.hit(key, now, s.pool.cfg.HotShardRate); hot && len(order) > 1 && !order[1].isOpen(now) {
				order = order[n%2:] // a hot shard: its first two workers in turn
			}
		}
		i := slices.IndexFunc(order, func(w *worker) bool { return !tried[w] })
		if i < 0 {
			left = append(left, id)
			continue
		}
		groups[order[i]] = append(groups[order[i]], id)
	}
	return groups, left
}

// searchOn searches ids on w, hedged on the next worker when w is slow;
// what neither searched goes to the workers after them (tried holds
// those asked already, for this branch of the retry).
func (s *Server) searchOn(ctx context.Context, name string, base *workerv1.SearchShardsRequest, w *worker, ids []string, members []*worker, tried map[*worker]bool, authorization string, tally *fanTally) {
	tried = maps.Clone(tried) // this branch's own: its retries must not see a sibling's
	if tried == nil {
		tried = map[*worker]bool{}
	}
	tried[w] = true
	type answer struct {
		w    *worker
		resp *workerv1.SearchShardsResponse
		err  error
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	answers := make(chan answer, 2)
	send := func(w *worker) {
		req := shardRequest(base, ids)
		resp, err := s.callWorker(ctx, w, req, authorization)
		answers <- answer{w, resp, err}
	}
	go send(w)
	pending := 1
	var hedge <-chan time.Time
	if s.pool.cfg.HedgeAfter > 0 {
		t := time.NewTimer(s.pool.cfg.HedgeAfter)
		defer t.Stop()
		hedge = t.C
	}
	var got *answer
	var lastErr error
	for pending > 0 && got == nil {
		select {
		case <-hedge:
			hedge = nil
			if alt := s.next(name, members, ids, tried); alt != nil {
				tried[alt] = true
				tally.mu.Lock()
				tally.hedges++
				tally.mu.Unlock()
				go send(alt)
				pending++
			}
		case a := <-answers:
			pending--
			if a.err == nil {
				a.w.ok()
				got = &a
				break
			}
			if ctx.Err() != nil {
				return // the query ended
			}
			if terminal(a.err) {
				tally.mu.Lock()
				if tally.fatal == nil {
					tally.fatal = a.err
				}
				tally.mu.Unlock()
				return
			}
			a.w.failed(s.pool, time.Now())
			lastErr = fmt.Errorf("worker %s: %w", a.w.url, a.err)
		}
	}
	retry := ids
	if got != nil {
		tally.add(got.w, got.resp)
		retry = got.resp.GetFailedShardIds()
		if v := got.resp.GetManifestVersion(); v > base.GetManifestVersion() && len(retry) > 0 {
			tally.mu.Lock()
			tally.newerManifest = max(tally.newerManifest, v)
			tally.mu.Unlock()
		}
		lastErr = fmt.Errorf("worker %s could not search it", got.w.url)
	}
	if len(retry) == 0 {
		return
	}
	groups, left := s.assign(name, members, retry, tried)
	tally.fail(left, lastErr)
	tally.mu.Lock()
	tally.retries += uint32(len(groups))
	tally.mu.Unlock()
	var wg sync.WaitGroup
	for w2, ids2 := range groups {
		wg.Go(func() { s.searchOn(ctx, name, base, w2, ids2, members, tried, authorization, tally) })
	}
	wg.Wait()
}

// next is the worker a hedge of ids goes to: the first of their first
// shard's rendezvous order not tried yet.
func (s *Server) next(name string, members []*worker, ids []string, tried map[*worker]bool) *worker {
	for _, w := range rank(members, shardKey(name, ids[0]), time.Now()) {
		if !tried[w] {
			return w
		}
	}
	return nil
}

// shardRequest is base for shards ids: a message of its own per request,
// since the transport may still read one when a hedge's twin answers.
func shardRequest(base *workerv1.SearchShardsRequest, ids []string) *workerv1.SearchShardsRequest {
	req := proto.CloneOf(base)
	req.ShardIds = ids
	return req
}

// callWorker sends one shard request, bounded by the shard timeout.
func (s *Server) callWorker(ctx context.Context, w *worker, req *workerv1.SearchShardsRequest, authorization string) (*workerv1.SearchShardsResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, s.pool.cfg.ShardTimeout)
	defer cancel()
	r := connect.NewRequest(req)
	if authorization != "" {
		r.Header().Set("Authorization", authorization)
	}
	resp, err := w.client.SearchShards(ctx, r)
	if err != nil {
		return nil, err
	}
	return resp.Msg, nil
}

// terminal reports whether a worker's error is the query's own (bad
// input, a missing namespace, a refused key), which every worker would
// answer alike, rather than the worker's.
func terminal(err error) bool {
	switch connect.CodeOf(err) {
	case connect.CodeInvalidArgument, connect.CodeNotFound, connect.CodeFailedPrecondition,
		connect.CodePermissionDenied, connect.CodeUnauthenticated, connect.CodeOutOfRange:
		return true
	}
	return false
}

// fanAnswer merges a fan-out's candidates into the query's answer.
func (s *Server) fanAnswer(m *weftv1.QueryRequest, ns *namespace, tally *fanTally, k int, timer *stageTimer) (*weftv1.QueryResponse, error) {
	stats := &weftv1.QueryStats{CacheTemperature: max(tally.temperature, weftv1.CacheTemperature_CACHE_TEMPERATURE_HOT),
		DocumentsScanned: tally.scanned, DocumentsMatched: tally.scanned, GraphDistances: tally.graph, BytesFetched: tally.bytes,
		BucketRequests: tally.bucketRequests, BucketRoundTrips: tally.roundTrips, ShardsProbed: tally.probed, Workers: uint32(len(tally.workers)),
		Retries: tally.retries, Hedges: tally.hedges}
	if len(tally.failed) > 0 {
		ids := make([]string, 0, len(tally.failed))
		for id := range tally.failed {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		if !m.GetAllowPartial() {
			return nil, unavailable("shards-unavailable", "namespace %q cannot answer in full: no worker could search shard %s (%v); retry shortly, or set allow_partial to answer from the other shards",
				ns.name, strings.Join(ids, ", "), tally.failed[ids[0]])
		}
		stats.ShardsFailed, stats.FailedShardIds = uint32(len(ids)), ids
	}
	// Nearest first; an id found in two shards counts once (a worker that
	// applied fewer WAL entries than another may still hold a row the
	// other's tail replaced).
	cs := tally.candidates
	slices.SortStableFunc(cs, func(a, b *workerv1.Candidate) int { return cmp.Compare(a.GetDistance(), b.GetDistance()) })
	seen := make(map[string]bool, len(cs))
	results := make([]*weftv1.QueryResult, 0, min(k, len(cs)))
	for _, c := range cs {
		if len(results) == k {
			break
		}
		if seen[c.GetId()] {
			continue
		}
		seen[c.GetId()] = true
		results = append(results, &weftv1.QueryResult{Id: c.GetId(), Distance: c.GetDistance(), Score: -c.GetDistance(),
			Vector: c.GetVector(), Attributes: c.GetAttributes()})
	}
	stats.WalSequence = tally.walSequence
	timer.done("merge")
	stats.Timings = timer.timings
	var explain *weftv1.QueryExplain
	if m.GetExplain() {
		explain = &weftv1.QueryExplain{Shards: tally.explains}
		for _, id := range stats.GetFailedShardIds() {
			explain.Shards = append(explain.Shards, &weftv1.ShardExplain{Shard: id, Skipped: "unavailable: " + tally.failed[id].Error()})
		}
		for _, t := range timer.timings {
			explain.Stages = append(explain.Stages, &weftv1.StageExplain{Stage: t.GetStage(), Duration: t.GetDuration()})
		}
	}
	return &weftv1.QueryResponse{Results: results, Stats: stats, Explain: explain}, nil
}

// walHead is the namespace's last WAL entry for a STRONG query: known here
// while this process holds the write lease; else asked of the process that
// does (WalHead: one call inside the cluster instead of a bucket request);
// else learned from the bucket (refresh).
func (s *Server) walHead(ctx context.Context, ns *namespace, authorization string) (uint64, error) {
	if ns.holdsLease() {
		return ns.applied(), nil
	}
	if lh := ns.holder.Load(); lh != nil && time.Now().Before(lh.until) && lh.url != s.advertise {
		r := connect.NewRequest(&workerv1.WalHeadRequest{Namespace: ns.name})
		if authorization != "" {
			r.Header().Set("Authorization", authorization)
		}
		hctx, cancel := context.WithTimeout(ctx, s.pool.cfg.ShardTimeout)
		resp, err := workerv1connect.NewWorkerServiceClient(s.peers, lh.url, s.clientOpts...).WalHead(hctx, r)
		cancel()
		if err == nil && resp.Msg.GetHoldsLease() {
			return max(resp.Msg.GetWalSequence(), ns.applied()), nil
		}
	}
	if err := s.refresh(ctx, ns); err != nil {
		return 0, err
	}
	return ns.applied(), nil
}
