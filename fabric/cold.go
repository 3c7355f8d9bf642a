package fabric

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/weftdb/weft/objstore"
	storagev1 "github.com/weftdb/weft/proto/gen/weft/storage/v1"
	weftv1 "github.com/weftdb/weft/proto/gen/weft/v1"
	workerv1 "github.com/weftdb/weft/proto/gen/weft/worker/v1"
	"github.com/weftdb/weft/workers"
)

// A cold query is one that arrives while its namespace is not in memory.
// Loading it reads every segment whole; a cold query instead answers from
// the bucket in three dependent rounds of requests while the load runs
// beside it:
//
//  1. the namespace's config and its pointer (the newest manifest, inline);
//  2. each segment's header and clusters section (one ranged read each,
//     nav_bytes long), and beside them the checks that the pointer's
//     manifest is the newest and, for STRONG, a listing of the WAL entries
//     after it;
//  3. the vectors and ids of the clusters nearest the query (ranged reads,
//     nearby ones merged), scored exactly, and beside them the WAL entries
//     listed (up to coldTailEntries: lease renewals, which change nothing;
//     any write makes the query wait for the load).
//
// Whatever it cannot answer this way (a filter, plugins, attributes or
// vectors in the results, explain, a stale pointer, an unindexed WAL tail,
// segments without clusters) waits for the load as before.

// coldTailEntries is how many WAL entries after the manifest's a STRONG
// cold query reads (at once, in round 3); more, and it waits for the load.
const coldTailEntries = 64

// coldRoundTrips is the number of dependent bucket rounds a cold answer
// takes.
const coldRoundTrips = 3

// coldProbes is how many clusters (of about 1,024 rows) a cold query with
// beam width ef scores: ef/2, at least 16. Measured (docs/benchmarks.md):
// 16 clusters gave recall@10 0.99 on a million SIFT-style descriptors but
// 0.92 on gcide-words' 115,000 word vectors, 32 (the default ef's) 0.98.
func coldProbes(ef int) int { return max(16, ef/2) }

// errNotCold says a query cannot be answered cold: it waits for the load.
var errNotCold = errors.New("not answerable cold")

// coldQuery answers m from the bucket when its namespace is still loading
// (and starts the load when nothing did); ok is false when the query must
// wait for the load instead.
func (s *Server) coldQuery(ctx context.Context, m *weftv1.QueryRequest) (resp *weftv1.QueryResponse, ok bool, err error) {
	if !s.answersCold(m) {
		return nil, false, nil
	}
	resp, err = s.answerCold(ctx, m)
	if errors.Is(err, errNotCold) {
		return nil, false, nil
	}
	return resp, true, err
}

// answersCold reports whether query m may be answered cold: this server
// answers cold queries, m asks for nothing but ids and distances of an
// approximate search, and its namespace is still loading (the load is
// started if nothing did).
func (s *Server) answersCold(m *weftv1.QueryRequest) bool {
	if !s.coldQueries || m.GetFilter() != nil || len(m.GetPlugins()) > 0 || m.GetIncludeVectors() ||
		m.GetIncludeAttributes() || m.GetExplain() || m.GetExplainExact() || m.GetSearch().GetRecallTarget() >= 1 {
		return false
	}
	return validNamespaceName(m.GetNamespace()) == nil && s.loading(m.GetNamespace())
}

// loading reports whether namespace name is not yet in memory, and
// starts loading it if nothing has.
func (s *Server) loading(name string) bool {
	ns := s.lookup(name)
	select {
	case <-ns.loaded:
		return false
	default:
		return true
	}
}

// coldRequest is what a cold search answers: a query (its vector, k,
// search knobs, consistency), over the named segments only when shards is
// not nil, of the manifest version the caller routed with when version is
// not 0.
type coldRequest struct {
	query   *weftv1.QueryRequest
	shards  []string
	version uint64
}

// coldAnswer is a cold search's result.
type coldAnswer struct {
	hits    []workers.ColdHit
	metric  weftv1.Metric
	stats   *weftv1.QueryStats
	missing []string // named shards the manifest does not have
	version uint64   // the manifest searched
}

func (s *Server) answerCold(ctx context.Context, m *weftv1.QueryRequest) (*weftv1.QueryResponse, error) {
	a, err := s.searchCold(ctx, coldRequest{query: m})
	if err != nil {
		return nil, err
	}
	results := make([]*weftv1.QueryResult, len(a.hits))
	for i, h := range a.hits {
		d := workers.Finish(a.metric, h.Dist)
		results[i] = &weftv1.QueryResult{Id: h.ID, Distance: d, Score: -d}
	}
	return &weftv1.QueryResponse{Results: results, Stats: a.stats}, nil
}

func (s *Server) searchCold(ctx context.Context, req coldRequest) (*coldAnswer, error) {
	m := req.query
	timer := newStageTimer()
	name := m.GetNamespace()
	stats := &weftv1.QueryStats{CacheTemperature: weftv1.CacheTemperature_CACHE_TEMPERATURE_COLD,
		BucketRoundTrips: coldRoundTrips}

	// Round 1: the config and the pointer.
	var meta *weftv1.Namespace
	var ptr objstore.Pointer
	var cfgErr, ptrErr error
	var wg sync.WaitGroup
	wg.Go(func() { meta, cfgErr = s.readConfig(ctx, name) })
	wg.Go(func() { ptr, ptrErr = objstore.ReadPointer(ctx, s.bucket, name) })
	wg.Wait()
	stats.BucketRequests += 2
	if cfgErr != nil {
		return nil, cfgErr
	}
	if ptrErr != nil || ptr.Generation != meta.GetGeneration() || len(meta.GetDefaultPlugins()) > 0 {
		return nil, errNotCold
	}
	if err := validQuery(m, meta); err != nil {
		return nil, err
	}
	man := &storagev1.Manifest{}
	if err := proto.Unmarshal(ptr.Manifest, man); err != nil || man.GetVersion() != ptr.Version ||
		man.GetNamespace() != name || man.GetGeneration() != ptr.Generation || (req.version != 0 && man.GetVersion() != req.version) {
		return nil, errNotCold
	}
	refs := man.GetSegments()
	var missing []string
	if req.shards != nil {
		byID := make(map[string]*storagev1.SegmentRef, len(refs))
		for _, ref := range refs {
			byID[ref.GetId()] = ref
		}
		refs = nil
		for _, id := range req.shards {
			switch ref := byID[id]; {
			case ref != nil:
				refs = append(refs, ref)
			case id != walTailShard:
				missing = append(missing, id)
			}
		}
	}
	for _, ref := range refs {
		if ref.GetNavBytes() == 0 {
			return nil, errNotCold
		}
	}
	timer.done("cold-pointer")

	// Round 2: the segments' navigation, and that nothing is newer.
	gen := objstore.Generation{Namespace: name, ID: ptr.Generation}
	want := &storagev1.SegmentMeta{Namespace: name, Generation: gen.ID, Dimension: meta.GetDimension(), Metric: meta.GetMetric()}
	segs := make([]*workers.ColdSegment, len(refs))
	segErrs := make([]error, len(segs))
	var newer bool
	var newerErr error
	strong := m.GetConsistency() != weftv1.Consistency_CONSISTENCY_EVENTUAL
	wg.Go(func() { newer, newerErr = s.bucket.Exists(ctx, gen.ManifestKey(ptr.Version+1)) })
	// A STRONG answer must see every acknowledged write: the WAL entries
	// after the manifest's, listed now and read in round 3 beside the
	// clusters (lease renewals gather there while queries come, empty
	// until a fold collects them).
	wal := objstore.NewWAL(s.bucket, gen.WALPrefix())
	var tailSeqs []uint64
	var tailErr error
	if strong {
		wg.Go(func() { tailSeqs, tailErr = wal.List(ctx, man.GetWalSequence()) })
		stats.BucketRequests++
	}
	for i, ref := range refs {
		wg.Go(func() {
			segs[i], segErrs[i] = workers.OpenColdSegment(ctx, s.bucket, gen.SegmentKey(ref.GetId()), int(ref.GetNavBytes()), ref.GetDeleted(), want)
		})
	}
	wg.Wait()
	stats.BucketRequests++ // the newer-manifest check
	if err := errors.Join(newerErr, tailErr); err != nil {
		return nil, fmt.Errorf("cold query of %s: %w", name, err)
	}
	if newer || len(tailSeqs) > coldTailEntries {
		return nil, errNotCold // the load reads what follows the pointer
	}
	walSeq := man.GetWalSequence()
	for _, seq := range tailSeqs {
		if seq != walSeq+1 {
			return nil, errNotCold // a gap: an append in flight; the load waits for it
		}
		walSeq = seq
	}
	if err := errors.Join(segErrs...); err != nil {
		return nil, s.notCold(ctx, name, err)
	}
	timer.done("cold-navigate")

	// Round 3: the nearest clusters' rows, and the WAL entries listed.
	opts, _ := searchPlan(m, meta, int(m.GetTopK()))
	k := int(m.GetTopK())
	changed := make([]bool, len(tailSeqs))
	tailErrs := make([]error, len(tailSeqs))
	for i, seq := range tailSeqs {
		wg.Go(func() {
			payload, err := wal.Read(ctx, seq)
			b := &storagev1.WALBatch{}
			if err == nil {
				err = proto.Unmarshal(payload, b)
			}
			changed[i], tailErrs[i] = batchChanges(b) > 0, err
		})
	}
	stats.BucketRequests += uint32(len(tailSeqs))
	hits, cs, err := workers.ColdSearch(ctx, segs, queryVector(m.GetVector(), meta), meta.GetMetric(), k, coldProbes(opts.Ef), nil)
	wg.Wait()
	stats.BucketRequests += uint32(cs.Requests)
	stats.BytesFetched = cs.Bytes
	if err != nil {
		return nil, s.notCold(ctx, name, err)
	}
	if err := errors.Join(tailErrs...); err != nil {
		return nil, fmt.Errorf("cold query of %s: %w", name, err)
	}
	if slices.Contains(changed, true) {
		return nil, errNotCold // writes the segments lack: the load applies them
	}
	timer.done("cold-search")
	stats.DocumentsScanned, stats.DocumentsMatched = uint64(cs.Scanned), uint64(cs.Scanned)
	stats.ShardsProbed = uint32(len(segs))
	stats.WalSequence = walSeq
	stats.Timings = timer.timings
	return &coldAnswer{hits: hits, metric: meta.GetMetric(), stats: stats, missing: missing, version: man.GetVersion()}, nil
}

// coldShards answers a shard request from the bucket when its namespace
// is still loading in this worker (a worker scaled from zero), as
// coldQuery does a query; ok is false when it must wait for the load.
// q is the shard request's query (shardQuery).
func (s *Server) coldShards(ctx context.Context, m *workerv1.SearchShardsRequest, q *weftv1.QueryRequest) (resp *workerv1.SearchShardsResponse, ok bool, err error) {
	if !s.answersCold(q) {
		return nil, false, nil
	}
	a, err := s.searchCold(ctx, coldRequest{query: q, shards: m.GetShardIds(), version: m.GetManifestVersion()})
	if errors.Is(err, errNotCold) || (err == nil && a.stats.GetWalSequence() < m.GetMinWalSequence()) {
		return nil, false, nil
	}
	if err != nil {
		return nil, true, err
	}
	resp = &workerv1.SearchShardsResponse{FailedShardIds: a.missing, DocumentsScanned: a.stats.GetDocumentsScanned(),
		BytesFetched: a.stats.GetBytesFetched(), WalSequence: a.stats.GetWalSequence(), ManifestVersion: a.version,
		ShardsProbed: a.stats.GetShardsProbed(), CacheTemperature: weftv1.CacheTemperature_CACHE_TEMPERATURE_COLD,
		BucketRequests: a.stats.GetBucketRequests(), BucketRoundTrips: a.stats.GetBucketRoundTrips()}
	for _, h := range a.hits {
		resp.Candidates = append(resp.Candidates, &workerv1.Candidate{Id: h.ID, Distance: workers.Finish(a.metric, h.Dist)})
	}
	return resp, true, nil
}

// notCold hands a query whose segments could not be read cold (missing,
// damaged, the bucket failing) to the load, which reports them the way
// every query sees them (a partial namespace naming the objects); a
// query that ended is its context's error.
func (s *Server) notCold(ctx context.Context, name string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	s.log.Warn("cold query fell back to the load", "namespace", name, "err", err)
	return errNotCold
}
