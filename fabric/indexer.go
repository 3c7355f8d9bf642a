package fabric

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"runtime"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/weftdb/weft/objstore"
	storagev1 "github.com/weftdb/weft/proto/gen/weft/storage/v1"
	"github.com/weftdb/weft/workers"
)

// IndexConfig says when and how the indexer folds a namespace's WAL into
// segments. Zero fields take the defaults.
type IndexConfig struct {
	// Disabled turns indexing off in this process: queries search the
	// segments other processes (weft indexer) publish, which it follows,
	// and scan the rest exactly.
	Disabled bool
	// MinChanges starts a fold once this many documents were written,
	// deleted or updated since the last one (default 50,000), or a quarter
	// of the indexed documents, whichever is more.
	MinChanges int
	// Idle starts a fold of whatever is unindexed once no write has come
	// for this long (default 1 s), once the namespace has MinRows
	// documents.
	Idle time.Duration
	// MinRows is the size under which a namespace is left to exact scans
	// on pauses in writes: a few hundred documents scan faster than a
	// graph search (default 1,000). MinChanges still folds it.
	MinRows int
	// Threads build graphs (default GOMAXPROCS).
	Threads int
	// M and EfConstruction are the HNSW build parameters (16, 200).
	M, EfConstruction int
	// Codes makes segments carry RaBitQ codes of their vectors, so queries
	// with SearchParams.refine walk graphs on them (L2 and cosine).
	Codes bool
	// ShardRows is the most rows one segment holds (default 1,000,000): a
	// fold of more is split into IVF lists, one segment each, by k-means
	// centroids trained on a sample; a query searches the lists nearest
	// it (SearchParams.nprobe) or every list that can still hold a nearer
	// row than those found.
	ShardRows int
	// Grace is how long superseded manifests, segments and folded WAL
	// entries stay in the bucket, so that readers that started on them
	// finish and other processes learn of the manifest that superseded
	// them (default 1 min). A process reads the manifest head before a
	// write or a STRONG query when its last read is older than half of
	// Grace minus the bucket timeout (see headFresh).
	Grace time.Duration
	// MaxUnindexed bounds the document changes waiting for the indexer:
	// past it writes get ResourceExhausted until the indexer catches up,
	// so STRONG queries, which scan the unindexed tail, never slow down
	// without bound (default 4,000,000).
	MaxUnindexed int
}

// RegisterFlags registers the settings as flags named prefix + name.
func (c *IndexConfig) RegisterFlags(prefix string, fs *flag.FlagSet) {
	d := IndexConfig{}.withDefaults()
	fs.BoolVar(&c.Disabled, prefix+"disabled", false, "Do not index in this process: queries search what another process (weft indexer) indexed, and scan the rest exactly.")
	fs.IntVar(&c.MinChanges, prefix+"min-changes", d.MinChanges, "Fold the WAL into a new segment once this many documents changed (or a quarter of the indexed ones, if more).")
	fs.DurationVar(&c.Idle, prefix+"idle", d.Idle, "Fold whatever is unindexed once no write has come for this long.")
	fs.IntVar(&c.MinRows, prefix+"min-rows", d.MinRows, "Leave namespaces with fewer documents unindexed on pauses in writes (exact scans are as fast).")
	fs.IntVar(&c.Threads, prefix+"threads", 0, "Goroutines building a segment's graph; 0 means one per core.")
	fs.IntVar(&c.M, prefix+"m", d.M, "HNSW neighbours per node on upper layers (2M on layer 0).")
	fs.IntVar(&c.EfConstruction, prefix+"ef-construction", d.EfConstruction, "HNSW beam width while building.")
	fs.BoolVar(&c.Codes, prefix+"codes", false, "Give segments compressed codes of their vectors (RaBitQ), so queries with search.refine walk graphs on them and read a fraction of the vectors.")
	fs.IntVar(&c.ShardRows, prefix+"shard-rows", d.ShardRows, "Most rows in one segment: larger folds are split into IVF lists (k-means centroids), one segment each.")
	fs.DurationVar(&c.Grace, prefix+"grace", d.Grace, "How long superseded manifests, segments and folded WAL entries stay before they are deleted.")
	fs.IntVar(&c.MaxUnindexed, prefix+"max-unindexed", d.MaxUnindexed, "Refuse writes (ResourceExhausted, retry later) while this many document changes wait for the indexer.")
}

func (c IndexConfig) withDefaults() IndexConfig {
	if c.MinChanges <= 0 {
		c.MinChanges = 50_000
	}
	if c.Idle <= 0 {
		c.Idle = time.Second
	}
	if c.MinRows <= 0 {
		c.MinRows = 1000
	}
	if c.Threads <= 0 {
		c.Threads = runtime.GOMAXPROCS(0)
	}
	if c.M <= 0 {
		c.M = 16
	}
	if c.EfConstruction <= 0 {
		c.EfConstruction = 200
	}
	if c.ShardRows <= 0 {
		c.ShardRows = 1_000_000
	}
	if c.Grace <= 0 {
		c.Grace = time.Minute
	}
	if c.MaxUnindexed <= 0 {
		c.MaxUnindexed = 4_000_000
	}
	return c
}

// startIndexer starts the namespace's indexer goroutine; with indexing
// disabled, one that serves the manifests other processes (weft indexer)
// publish as soon as they appear.
func (s *Server) startIndexer(ns *namespace) {
	ctx, cancel := context.WithCancel(s.ctx)
	ns.stopIndex, ns.indexerEnd = cancel, make(chan struct{})
	go func() {
		defer close(ns.indexerEnd)
		if s.index.Disabled {
			s.followManifests(ctx, ns)
			return
		}
		s.runIndexer(ctx, ns)
	}()
}

// followManifests reads the namespace's manifest head every Idle and
// adopts a newer manifest, until ctx ends: a process that does not index
// searches what an indexer folded without waiting for its next write to
// read the head (one small read per namespace per Idle).
func (s *Server) followManifests(ctx context.Context, ns *namespace) {
	tick := time.NewTicker(s.index.Idle)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		rctx, cancel := context.WithTimeout(ctx, s.bucketTimeout)
		v, err := ns.manifests.Head(rctx)
		cancel()
		if err == nil && v > ns.manifest.Load().GetVersion() {
			wctx, cancel := context.WithTimeout(ctx, 10*s.bucketTimeout)
			s.prewarm(wctx, ns)
			err = s.adopt(wctx, ns, v)
			cancel()
		}
		if err != nil && ctx.Err() == nil && !generationClosed(err) {
			s.log.Warn("following the manifests of another process's indexer failed; retrying", "namespace", ns.name, "err", err)
		}
	}
}

// prewarm reads into the cache the vector blocks of the segments that the
// newest manifest names and the served state lacks (a lazy process only),
// so that adopting it never makes warm queries cold: a compaction's
// segments are new objects, whose blocks no query has fetched yet. A
// segment it cannot warm is only logged: the queries fetch its blocks.
func (s *Server) prewarm(ctx context.Context, ns *namespace) {
	if s.cache == nil || !s.index.Disabled {
		return
	}
	v, payload, err := ns.manifests.Latest(ctx)
	if err != nil || v <= ns.manifest.Load().GetVersion() {
		return
	}
	man := &storagev1.Manifest{}
	if err := proto.Unmarshal(payload, man); err != nil {
		return
	}
	st := ns.state()
	st.RLock()
	have := make(map[string]bool, len(st.Segs))
	for _, g := range st.Segs {
		have[g.ID] = true
	}
	st.RUnlock()
	want := ns.segmentMeta()
	for _, ref := range man.GetSegments() {
		if have[ref.GetId()] {
			continue
		}
		key := ns.gen.SegmentKey(ref.GetId())
		start := time.Now()
		n, err := workers.WarmSegment(ctx, s.bucket, key, ref.GetId(), int(ref.GetNavBytes()), want, s.cache)
		if err != nil {
			if !errors.Is(err, workers.ErrNotLazy) {
				s.log.Warn("warming a new segment failed; its first queries fetch its vectors", "namespace", ns.name, "segment", key, "err", err)
			}
			continue
		}
		s.log.Info("warmed a new segment before serving it", "namespace", ns.name, "segment", key, "bytes", n, "seconds", time.Since(start).Seconds())
	}
}

// IndexBucket keeps every namespace in the bucket loaded and caught up
// with its WAL, looking every poll, so that this process's indexers fold
// what other processes write: `weft indexer`. New namespaces are found by
// one folder listing per poll; each loaded one costs one existence check
// of its next WAL entry. It returns when ctx ends.
func (s *Server) IndexBucket(ctx context.Context, poll time.Duration) {
	tick := time.NewTicker(poll)
	defer tick.Stop()
	for {
		if err := s.followBucket(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("listing the bucket's namespaces failed; retrying", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (s *Server) followBucket(ctx context.Context) error {
	lctx, cancel := context.WithTimeout(ctx, s.bucketTimeout)
	names, err := s.namespaceNames(lctx)
	cancel()
	if err != nil {
		return err
	}
	for _, name := range names {
		rctx, cancel := context.WithTimeout(ctx, 10*s.bucketTimeout)
		err := s.follow(rctx, name)
		cancel()
		if err != nil && ctx.Err() == nil && !namespaceMissing(err) && !generationClosed(err) {
			s.log.Warn("catching up with a namespace's WAL failed; retrying", "namespace", name, "err", err)
		}
	}
	return nil
}

// follow catches a loaded namespace up with its WAL, marking it used when
// there was something new (so it stays loaded while it is written), and
// loads one that is not loaded only when its WAL holds entries past its
// newest manifest: an indexed namespace nobody writes costs the indexer a
// few small reads per poll, not its segments in memory (with UnloadIdle).
func (s *Server) follow(ctx context.Context, name string) error {
	s.mu.Lock()
	ns, loaded := s.namespaces[name]
	s.mu.Unlock()
	if loaded {
		select {
		case <-ns.loaded:
		default:
			return nil // loading
		}
		if ns.loadErr != nil {
			return nil // forgotten; the next poll loads it again
		}
		s.heal(ctx, ns)
		before := ns.state().Applied
		if err := s.refresh(ctx, ns); err != nil {
			return err
		}
		if ns.state().Applied != before {
			ns.lastUsed.Store(time.Now().UnixNano())
		}
		return nil
	}
	if s.unloadIdle > 0 {
		pending, err := s.hasUnindexed(ctx, name)
		if err != nil || !pending {
			return err
		}
	}
	_, err := s.refreshed(ctx, name)
	return err
}

// hasUnindexed reports whether namespace name's WAL holds an entry past
// its newest manifest, without loading it.
func (s *Server) hasUnindexed(ctx context.Context, name string) (bool, error) {
	meta, err := s.readConfig(ctx, name)
	if err != nil || meta.GetGeneration() == "" {
		return err == nil, err // a namespace to migrate: load it
	}
	gen := objstore.Generation{Namespace: name, ID: meta.GetGeneration()}
	v, payload, err := objstore.NewManifests(s.bucket, gen).Latest(ctx)
	if err != nil {
		return false, err
	}
	covered := uint64(0)
	if v > 0 {
		man := &storagev1.Manifest{}
		if err := proto.Unmarshal(payload, man); err != nil {
			return false, err
		}
		covered = man.GetWalSequence()
	}
	return objstore.NewWAL(s.bucket, gen.WALPrefix()).Exists(ctx, covered+1)
}

// stopIndexer stops the indexer and waits for it.
func (ns *namespace) stopIndexer() {
	if ns.stopIndex != nil {
		ns.stopIndex()
		<-ns.indexerEnd
	}
}

// runIndexer folds the namespace's WAL whenever enough changed, or when
// writes paused, until ctx ends.
func (s *Server) runIndexer(ctx context.Context, ns *namespace) {
	tick := time.NewTicker(min(max(s.index.Idle/4, 5*time.Millisecond), time.Second))
	defer tick.Stop()
	backoff := time.Duration(0)
	for {
		select {
		case <-ctx.Done():
			return
		case <-ns.kick:
		case <-tick.C:
		}
		fold, all := s.wantFold(ns)
		if !fold {
			continue
		}
		if err := s.fold(ctx, ns, all); err != nil {
			if ctx.Err() != nil {
				return
			}
			backoff = min(max(2*backoff, time.Second), time.Minute)
			s.log.Error("indexing failed; retrying", "namespace", ns.name, "err", err, "retry_in", backoff)
			s.metrics.indexFailures.Inc()
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			continue
		}
		backoff = 0
	}
}

// wantFold reports whether the namespace has enough unindexed changes, or
// has been idle with some; and whether it should merge all its segments
// into one: after a longer pause in writes, when the segments besides the
// largest hold at least a tenth as many rows as it (a bulk load leaves
// several segments; a trickle of small ones is not worth a rebuild).
func (s *Server) wantFold(ns *namespace) (fold, all bool) {
	changes := ns.unindexed.Load()
	idle := time.Since(time.Unix(0, ns.lastWrite.Load()))
	st := ns.state()
	if len(st.Failed) > 0 {
		return false, false // a fold would drop the unreadable rows for good
	}
	if changes == 0 {
		if ns.entries.Load() >= maxEmptyEntries {
			return true, false // lease renewals: a manifest moves past them
		}
		if len(st.Segs) < 2 || idle < compactAfterIdle*s.index.Idle {
			return false, false
		}
		// IVF lists count as one: merging is worth it when the other
		// segments hold a tenth as many rows as the lists (or the largest),
		// or when deletes emptied a quarter of the lists' rows (their
		// centroids no longer fit the data): the merge trains them again.
		// A partition's own imbalance (k-means clusters differ in size) is
		// no reason: merging again would give the same lists.
		largest, rest, lists, listRows := 0, 0, 0, 0
		for _, g := range st.Segs {
			live := g.Graph.Live()
			if g.Partitioned() { // IVF lists and tenant groups
				lists += live
				listRows += g.Rows
				continue
			}
			rest += live
			largest = max(largest, live)
		}
		if listRows > 0 && 4*(listRows-lists) > listRows {
			return true, true
		}
		if lists == 0 {
			rest -= largest
			lists = largest
		}
		return 10*rest >= lists, true
	}
	if changes >= max(int64(s.index.MinChanges), int64(st.Base)/4) {
		return true, false
	}
	if len(st.Segs) == 0 {
		st.RLock()
		small := st.Count() < s.index.MinRows
		st.RUnlock()
		if small {
			return false, false
		}
	}
	return idle >= s.index.Idle, false
}

// maxEmptyEntries is how many WAL entries without changes (write lease
// renewals) a namespace gathers before a fold publishes a manifest past
// them, so a restart does not read them one by one.
const maxEmptyEntries = 256

// compactAfterIdle is how many Idle periods without writes pass before the
// segments are merged into one.
const compactAfterIdle = 5

// fold indexes the namespace's unindexed documents into a new segment
// (merging all segments, or those foldInput picks), publishes a manifest that names
// it and the segments kept, and serves the new state. Writes and queries go
// on meanwhile: the fold works from a copy taken under a read lock, and
// the writes that come while it builds are applied to the new state before
// it is served. When another process published a manifest first, the
// fold is dropped and that manifest is served instead.
func (s *Server) fold(ctx context.Context, ns *namespace, all bool) error {
	if err := s.checkWritable(ctx); err != nil {
		return err
	}
	ns.indexing.Store(true)
	defer ns.indexing.Store(false)
	start := time.Now()
	cur := ns.manifest.Load()
	if v, err := ns.manifests.Head(ctx); err != nil {
		return err
	} else if v > cur.GetVersion() {
		return s.adopt(ctx, ns, v)
	}
	st := ns.state()
	st.RLock()
	in := st.FoldInput(all)
	st.RUnlock()

	var refs []*storagev1.SegmentRef
	parts := in.Kept
	for _, p := range in.Kept {
		ref := segmentRef(p.Seg)
		dead := roaring.New()
		for row, id := range p.IDs {
			if id == "" {
				dead.Add(uint32(row))
			}
		}
		if !dead.IsEmpty() {
			dead.RunOptimize()
			b, err := dead.ToBytes()
			if err != nil {
				return err
			}
			ref.Deleted = b
		}
		refs = append(refs, ref)
	}
	if n := in.Rows.Len(); n > 0 {
		conf, _ := ns.config()
		split, err := workers.SplitFold(ctx, &in.Rows, conf.GetShardKey(), int(st.Dim), st.Metric, s.index.ShardRows, s.index.Threads)
		if err != nil {
			return err
		}
		for _, fp := range split {
			meta := ns.segmentMeta()
			meta.WalSequence, meta.IvfList, meta.TenantGroup, meta.TenantGroups = in.Applied, fp.List, fp.Group, fp.Groups
			part, err := s.buildSegment(ctx, ns, meta, fp.Rows)
			if err != nil {
				return err
			}
			parts = append(parts, part)
			refs = append(refs, segmentRef(part.Seg))
		}
	}
	man := &storagev1.Manifest{
		Version:     cur.GetVersion() + 1,
		Namespace:   ns.name,
		Generation:  ns.gen.ID,
		WalSequence: in.Applied,
		Segments:    refs,
		CreateTime:  timestamppb.Now(),
		LeaseWriter: in.Writer,
		LeaseMs:     in.LeaseMs,
	}
	payload, err := proto.Marshal(man)
	if err != nil {
		return err
	}
	next := workers.Assemble(st.Dim, st.Metric, parts, in.Applied)
	next.Writer, next.LeaseMs = in.Writer, in.LeaseMs
	// Publish and serve under walMu, and only if the state this fold
	// copied is still the one served: a refresh or a write that found its
	// WAL entries folded elsewhere may have adopted a newer manifest
	// meanwhile, and a manifest built from the older state would then
	// leave out what that one holds.
	ns.walMu.Lock()
	if ns.deleted.Load() || ns.manifest.Load() != cur || ns.state() != st {
		ns.walMu.Unlock()
		return nil // the next tick folds the current state
	}
	if err := ns.manifests.Publish(ctx, man.GetVersion(), payload); err != nil {
		if errors.Is(err, objstore.ErrExists) {
			err = s.adoptAndCatchUpLocked(ctx, ns)
		}
		ns.walMu.Unlock()
		return err
	}
	err = s.swapLocked(ctx, ns, next, man)
	ns.walMu.Unlock()
	if err != nil {
		return err
	}
	s.metrics.indexDuration.Observe(time.Since(start).Seconds())
	s.metrics.indexedRows.Add(float64(len(in.Rows.IDs)))
	s.log.Info("indexed", "namespace", ns.name, "manifest", man.GetVersion(), "wal_sequence", in.Applied,
		"rows", len(in.Rows.IDs), "merged_segments", len(in.Merged), "segments", len(refs), "seconds", time.Since(start).Seconds())
	s.collectLater(ns, man)
	return nil
}

// buildSegment indexes rows into a new segment, uploads it and opens it.
func (s *Server) buildSegment(ctx context.Context, ns *namespace, meta *storagev1.SegmentMeta, rows *workers.SegmentRows) (workers.SegmentPart, error) {
	data, err := workers.BuildSegment(ctx, meta, rows, workers.BuildConfig{M: s.index.M, EfConstruction: s.index.EfConstruction, Threads: s.index.Threads, Codes: s.index.Codes})
	if err != nil {
		return workers.SegmentPart{}, err
	}
	// Named after the build: collect spares segments whose UUIDv7 time
	// is within the grace period, which must cover upload to publish.
	id, err := uuid.NewV7()
	if err != nil {
		return workers.SegmentPart{}, err
	}
	key := ns.gen.SegmentKey(id.String())
	if err := s.bucket.Upload(ctx, key, data); err != nil {
		return workers.SegmentPart{}, fmt.Errorf("write segment %s: %w", key, err)
	}
	seg, ids, err := workers.OpenSegment(id.String(), data, meta)
	if err != nil {
		return workers.SegmentPart{}, fmt.Errorf("reopen segment %s: %w", key, err)
	}
	return workers.SegmentPart{Seg: seg, IDs: ids}, nil
}

// segmentRef is g as a manifest names it, without deleted rows.
func segmentRef(g *workers.Segment) *storagev1.SegmentRef {
	return &storagev1.SegmentRef{Id: g.ID, Rows: uint64(g.Rows), Bytes: uint64(g.Bytes),
		Centroid: g.Centroid, Radius: g.Radius, IvfList: g.List, NavBytes: uint64(g.NavBytes), TenantGroup: g.Group, TenantGroups: g.Groups}
}

// adopt serves the newest manifest in the bucket, published elsewhere,
// unless the one served is version v or newer already (another caller
// adopted it meanwhile).
func (s *Server) adopt(ctx context.Context, ns *namespace, v uint64) error {
	ns.walMu.Lock()
	defer ns.walMu.Unlock()
	if ns.deleted.Load() || ns.manifest.Load().GetVersion() >= v {
		return nil
	}
	return s.adoptAndCatchUpLocked(ctx, ns)
}

// adoptAndCatchUpLocked is adopt for a caller that holds walMu.
func (s *Server) adoptAndCatchUpLocked(ctx context.Context, ns *namespace) error {
	if err := s.adoptLocked(ctx, ns); err != nil {
		return err
	}
	_, err := s.catchUpLocked(ctx, ns)
	return err
}

// collectLater deletes, after the grace period, what manifest man made
// garbage: older manifests, segments it does not name and WAL entries it
// covers. Running queries that started on older state finish within the
// grace period; a process that loads an older manifest meanwhile finds the
// WAL entries gone and adopts a newer one (catchUpLocked).
func (s *Server) collectLater(ns *namespace, man *storagev1.Manifest) {
	time.AfterFunc(s.index.Grace, func() {
		if s.ctx.Err() != nil {
			return
		}
		ctx, cancel := context.WithTimeout(s.ctx, 10*s.bucketTimeout)
		defer cancel()
		if err := s.collect(ctx, ns, man); err != nil {
			s.log.Warn("garbage collection failed; the next fold retries", "namespace", ns.name, "err", err)
		}
	})
}

func (s *Server) collect(ctx context.Context, ns *namespace, man *storagev1.Manifest) error {
	if ns.deleted.Load() {
		return nil
	}
	// Only what the newest manifest no longer needs goes: read it again,
	// since another process may have published since.
	v, payload, err := ns.manifests.Latest(ctx)
	if err != nil || v == 0 {
		return err
	}
	newest := &storagev1.Manifest{}
	if err := proto.Unmarshal(payload, newest); err != nil {
		return err
	}
	if newest.GetVersion() < man.GetVersion() {
		return nil
	}
	live := map[string]bool{}
	for _, r := range newest.GetSegments() {
		live[r.GetId()] = true
	}
	names, err := s.bucket.List(ctx, ns.gen.SegmentPrefix())
	if err != nil {
		return err
	}
	for _, n := range names {
		id := n[len(ns.gen.SegmentPrefix()):]
		// Segments are named by UUIDv7: one younger than the grace period
		// may belong to a fold that has not published yet.
		u, err := uuid.Parse(id)
		young := err == nil && u.Version() == 7 && time.Since(time.Unix(u.Time().UnixTime())) < s.index.Grace
		if live[id] || young {
			continue
		}
		if err := s.bucket.Delete(ctx, n); err != nil {
			return err
		}
	}
	// Only entries covered by a manifest published at least Grace ago go:
	// a process that has not read the head since may still append after
	// them or miss them (headFresh). Readers load the newest manifest and
	// replay the WAL after it, so nothing newest does not cover may go.
	if err := ns.wal.DeleteThrough(ctx, min(man.GetWalSequence(), newest.GetWalSequence())); err != nil {
		return err
	}
	return ns.manifests.DeleteBelow(ctx, newest.GetVersion())
}
