package fabric

import (
	"context"
	"slices"

	"connectrpc.com/connect"

	"github.com/weftdb/weft/plugins"
	weftv1 "github.com/weftdb/weft/proto/gen/weft/v1"
	workerv1 "github.com/weftdb/weft/proto/gen/weft/worker/v1"
)

// workerService implements workerv1connect.WorkerServiceHandler: the shard
// search a fabric fans a query out to. It searches the named shards of the
// namespace state this process holds, with the query's filter and its
// plugins' route and filter hooks, and returns the nearest candidates; the
// fabric merges the candidates of its workers and runs rerank hooks on
// them. weft serve's own queries run the same search in-process.
type workerService struct{ s *Server }

func (h workerService) SearchShards(ctx context.Context, req *connect.Request[workerv1.SearchShardsRequest]) (*connect.Response[workerv1.SearchShardsResponse], error) {
	m := req.Msg
	q := shardQuery(m)
	strong := m.GetConsistency() != weftv1.Consistency_CONSISTENCY_EVENTUAL
	if resp, ok, err := h.s.coldShards(ctx, m, q); ok { // a worker scaled from zero
		if err != nil {
			return nil, err
		}
		return connect.NewResponse(resp), nil
	}
	ns, err := h.s.forShards(ctx, m)
	if err != nil {
		return nil, err
	}
	ctx = plugins.WithTenant(ctx, ns.name)
	meta, _ := ns.config()
	if err := validQuery(q, meta); err != nil {
		return nil, err
	}
	chain, err := h.s.resolvePlugins(ctx, m.GetPlugins())
	if err != nil {
		return nil, err
	}
	vec := queryVector(m.GetVector(), meta)
	k := int(m.GetTopK())
	opts, _ := searchPlan(q, meta, k)
	opts.Done, opts.Explain, opts.Ctx = ctx.Done(), m.GetExplain(), ctx

	st := ns.state()
	st.RLock()
	defer st.RUnlock()
	if st.Lazy() {
		lazyPlan(&opts)
	}
	if st.Lazy() && (m.GetIncludeVectors() || m.GetIncludeAttributes()) {
		if err := st.Materialize(ctx); err != nil {
			return nil, lazyUnavailable(ns, err)
		}
	}
	resp := &workerv1.SearchShardsResponse{WalSequence: st.Applied, ManifestVersion: ns.manifest.Load().GetVersion()}
	unreadable := map[string]bool{}
	for _, f := range st.Failed { // failed whether named or not
		id := f.ID()
		if names := m.GetShardIds(); len(names) == 0 || slices.Contains(names, id) {
			resp.FailedShardIds = append(resp.FailedShardIds, id)
			unreadable[id] = true
		}
	}
	if names := m.GetShardIds(); len(names) > 0 {
		held := map[string]bool{}
		for _, g := range st.Segs {
			held[g.ID] = true
		}
		opts.Only, opts.Tail = map[string]bool{}, false
		for _, id := range names {
			switch {
			case id == walTailShard && strong:
				opts.Tail = true
			case held[id]:
				opts.Only[id] = true
			case !unreadable[id]:
				resp.FailedShardIds = append(resp.FailedShardIds, id)
			}
		}
	}
	allow := st.Matching(m.GetFilter())
	allow, _, err = chain.Route(ctx, st, meta, vec, k, allow, nil)
	if err != nil {
		return nil, err
	}
	if allow, err = chain.Filter(ctx, st, meta, allow); err != nil {
		return nil, err
	}
	opts.Bulk = bulkFilter(st, m.GetFilter(), chain)
	found := st.Search(vec, k, allow, opts)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if found.Err != nil {
		return nil, lazyUnavailable(ns, found.Err)
	}
	resp.DocumentsScanned, resp.ShardsProbed, resp.GraphDistances = found.Matched, uint32(found.Segments), found.Graph
	resp.CacheTemperature, resp.BucketRequests, resp.BucketRoundTrips, resp.BytesFetched = fetchStats(found.Fetched)
	if opts.Tail && st.Base < len(st.IDs) {
		resp.ShardsProbed++
	}
	for _, hit := range found.Hits {
		c := &workerv1.Candidate{Id: st.IDs[hit.ID], Distance: st.Finish(hit.Dist), ShardId: st.ShardOf(int(hit.ID))}
		if c.ShardId == "" {
			c.ShardId = walTailShard
		}
		if m.GetIncludeVectors() {
			c.Vector = st.Vector(hit.ID)
		}
		if m.GetIncludeAttributes() {
			c.Attributes = st.Attrs(int(hit.ID))
		}
		resp.Candidates = append(resp.Candidates, c)
	}
	if opts.Explain {
		resp.Shards = shardExplains(found.Shards)
	}
	return connect.NewResponse(resp), nil
}

// shardQuery is the query a shard request is part of, for validation, the
// search plan and the cold path.
func shardQuery(m *workerv1.SearchShardsRequest) *weftv1.QueryRequest {
	return &weftv1.QueryRequest{Namespace: m.GetNamespace(), Vector: m.GetVector(), TopK: m.GetTopK(), Filter: m.GetFilter(),
		Search: m.GetSearch(), Consistency: m.GetConsistency(), Plugins: m.GetPlugins(), IncludeVectors: m.GetIncludeVectors(),
		IncludeAttributes: m.GetIncludeAttributes(), Explain: m.GetExplain()}
}

// forShards returns the namespace ready for a shard search: for a STRONG
// one that names the fabric's WAL head, without a bucket request once this
// worker has applied it, else caught up to it; for one that names a newer
// manifest than this worker serves, with that manifest adopted. Anything
// else is a query's usual refresh (forSearch).
func (s *Server) forShards(ctx context.Context, m *workerv1.SearchShardsRequest) (*namespace, error) {
	strong := m.GetConsistency() != weftv1.Consistency_CONSISTENCY_EVENTUAL
	minSeq, minVersion := m.GetMinWalSequence(), m.GetManifestVersion()
	if strong && minSeq == 0 {
		return s.forSearch(ctx, m.GetNamespace(), m.GetConsistency())
	}
	ns, err := s.namespace(ctx, m.GetNamespace())
	if err != nil {
		return nil, err
	}
	s.heal(ctx, ns)
	behind := func() (seq, version bool) {
		return strong && ns.applied() < minSeq, ns.manifest.Load().GetVersion() < minVersion
	}
	if seq, version := behind(); !seq && !version {
		return ns, nil
	}
	ns.walMu.Lock()
	defer ns.walMu.Unlock()
	if ns.deleted.Load() {
		return nil, errNamespaceNotFound(ns.name)
	}
	if _, version := behind(); version {
		if err := s.adoptAndCatchUpLocked(ctx, ns); err != nil {
			return nil, err
		}
	}
	if seq, _ := behind(); seq {
		if _, err := s.catchUpLocked(ctx, ns); err != nil {
			return nil, err
		}
	}
	if seq, _ := behind(); seq {
		return nil, unavailable("wal-behind", "namespace %q: this worker cannot read WAL entry %d yet; retry", ns.name, minSeq)
	}
	return ns, nil
}

// Warm loads the namespace (its newest manifest's segments and the WAL
// after it) and reports the bytes of the named segments it holds (all
// with none named).
func (h workerService) Warm(ctx context.Context, req *connect.Request[workerv1.WarmRequest]) (*connect.Response[workerv1.WarmResponse], error) {
	ns, err := h.s.refreshed(ctx, req.Msg.GetNamespace())
	if err != nil {
		return nil, err
	}
	names := req.Msg.GetShardIds()
	st := ns.state()
	st.RLock()
	defer st.RUnlock()
	var n uint64
	for _, g := range st.Segs {
		if len(names) == 0 || slices.Contains(names, g.ID) {
			n += uint64(g.Bytes)
		}
	}
	return connect.NewResponse(&workerv1.WarmResponse{BytesLoaded: n}), nil
}

// WalHead tells another fabric the namespace's last WAL entry when this
// process holds its write lease (and so knows every entry), else only
// what it applied.
func (h workerService) WalHead(ctx context.Context, req *connect.Request[workerv1.WalHeadRequest]) (*connect.Response[workerv1.WalHeadResponse], error) {
	ns, err := h.s.namespace(ctx, req.Msg.GetNamespace())
	if err != nil {
		return nil, err
	}
	holds := ns.holdsLease()
	seq := ns.applied()
	// Checked again after reading applied: the lease must have held
	// throughout (a lapse between the two would let another append).
	return connect.NewResponse(&workerv1.WalHeadResponse{HoldsLease: holds && ns.holdsLease(), WalSequence: seq}), nil
}
