package fabric

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/google/uuid"

	"github.com/weftdb/weft/objstore"
	storagev1 "github.com/weftdb/weft/proto/gen/weft/storage/v1"
	weftv1 "github.com/weftdb/weft/proto/gen/weft/v1"
	"github.com/weftdb/weft/workers"
)

// namespace is one namespace served from memory: its config, its WAL, its
// manifests and the state they load into.
type namespace struct {
	name      string
	gen       objstore.Generation
	wal       *objstore.WAL
	manifests *objstore.Manifests
	// st is the state queries read. It is replaced only under walMu (a
	// fold or an adopted manifest), so a writer holding walMu applies to
	// the current one; a query keeps the state it loaded until it ends.
	st atomic.Pointer[workers.State]

	metaMu sync.RWMutex
	meta   *weftv1.Namespace
	schema map[string]weftv1.AttributeType

	// walMu serialises appending to and catching up with the WAL, so
	// batches apply in sequence order, and replacing st. It is held across
	// bucket calls.
	walMu   sync.Mutex
	deleted atomic.Bool // set under walMu by DeleteNamespace; no append follows
	// recent holds, under walMu, the batches applied since manifest's
	// wal_sequence, so a fold can replay onto its new state the writes
	// that came while it built. A process that does not index keeps none
	// (they would double its memory): when it adopts a manifest from an
	// indexer, it reads the entries after it from the bucket again.
	recent     []appliedBatch
	keepRecent bool
	// manifest is the served manifest, nil before the first; stored under
	// walMu.
	manifest atomic.Pointer[storagev1.Manifest]
	// headChecked is when (Unix ns) the last read of the manifest head
	// began that found no manifest newer than the served one (see
	// headFresh).
	headChecked atomic.Int64

	// Group commit (commit.go).
	commitMu   sync.Mutex
	pending    []*pendingWrite
	committing bool

	// The write lease (lease.go): the newest applied batch's writer and
	// lease, when this process learned of it, when it last applied another
	// writer's batch (under walMu); until when it holds the lease.
	leaseWriter string
	leaseFor    time.Duration
	leaseFrom   time.Time
	lastForeign time.Time
	trustUntil  atomic.Int64 // Unix ns
	// holder is the process whose write lease the newest batch took, when
	// another one that takes forwarded writes; nil: none.
	holder   atomic.Pointer[leaseHolder]
	renewing atomic.Bool

	recall recallSamples // sampled recall (recall.go)

	// The indexer (indexer.go).
	entries    atomic.Int64 // batches in recent
	unindexed  atomic.Int64 // document changes in recent
	lastWrite  atomic.Int64 // when the last batch was applied, Unix ns
	lastUsed   atomic.Int64 // when a request last asked for it, Unix ns
	healed     atomic.Int64 // when a partial state last tried its segments, Unix ns
	indexing   atomic.Bool
	kick       chan struct{}
	stopIndex  context.CancelFunc
	indexerEnd chan struct{}

	loaded  chan struct{} // closed when loading ended
	loadErr error
}

// appliedBatch is a WAL batch applied to the state, kept until a
// manifest covers it.
type appliedBatch struct {
	seq   uint64
	batch *storagev1.WALBatch
}

func (ns *namespace) state() *workers.State { return ns.st.Load() }

// applied is the last WAL entry the served state applied. A writer,
// holding walMu, may be applying: it is read under the state's lock.
func (ns *namespace) applied() uint64 {
	st := ns.state()
	st.RLock()
	defer st.RUnlock()
	return st.Applied
}

func (ns *namespace) config() (*weftv1.Namespace, map[string]weftv1.AttributeType) {
	ns.metaMu.RLock()
	defer ns.metaMu.RUnlock()
	return ns.meta, ns.schema
}

func schemaMap(n *weftv1.Namespace) map[string]weftv1.AttributeType {
	m := make(map[string]weftv1.AttributeType, len(n.GetSchema()))
	for _, a := range n.GetSchema() {
		m[a.GetName()] = a.GetType()
	}
	return m
}

// applyLocked applies batch seq to the current state and remembers it for
// the next fold. The caller holds walMu.
func (ns *namespace) applyLocked(seq uint64, batch *storagev1.WALBatch) []workers.OpResult {
	st := ns.state()
	st.Lock()
	results := st.Apply(seq, batch)
	st.Unlock()
	if ns.keepRecent {
		ns.recent = append(ns.recent, appliedBatch{seq: seq, batch: batch})
	}
	ns.entries.Add(1)
	if n := batchChanges(batch); n > 0 { // not a lease renewal
		ns.unindexed.Add(int64(n))
		ns.lastWrite.Store(time.Now().UnixNano())
		select {
		case ns.kick <- struct{}{}:
		default:
		}
	}
	return results
}

// batchChanges counts the documents a batch writes, deletes or updates (a
// delete by filter counts one).
func batchChanges(b *storagev1.WALBatch) int {
	n := 0
	for _, op := range b.GetOps() {
		switch o := op.GetOp().(type) {
		case *storagev1.WALOp_Upsert:
			n += len(o.Upsert.GetDocuments())
		case *storagev1.WALOp_DeleteIds:
			n += len(o.DeleteIds.GetIds())
		case *storagev1.WALOp_UpdateAttributes:
			n += len(o.UpdateAttributes.GetUpdates())
		default:
			n++
		}
	}
	return n
}

// swapLocked makes next, loaded from manifest man, the served state: the
// batches this process applied since next's WAL sequence are applied to it
// first, from its copies of them or, in a process that keeps none, read
// again from the bucket, so a STRONG read never sees a state behind what
// the process acknowledged. The caller holds walMu and has not published
// next; on an error nothing changed.
func (s *Server) swapLocked(ctx context.Context, ns *namespace, next *workers.State, man *storagev1.Manifest) error {
	if !ns.keepRecent {
		if err := s.replayLocked(ctx, ns, next, ns.state().Applied); err != nil {
			return err
		}
	}
	ns.swapStateLocked(next, man)
	return nil
}

// swapStateLocked is swapLocked's swap, with ns.recent's copies.
func (ns *namespace) swapStateLocked(next *workers.State, man *storagev1.Manifest) {
	keep := ns.recent[:0:0]
	changes := 0
	for _, b := range ns.recent {
		if b.seq == next.Applied+1 {
			next.Apply(b.seq, b.batch)
		}
		if b.seq > man.GetWalSequence() {
			keep = append(keep, b)
			changes += batchChanges(b.batch)
		}
	}
	ns.recent = keep
	ns.entries.Store(int64(len(keep)))
	ns.unindexed.Store(int64(changes))
	ns.manifest.Store(man)
	ns.st.Store(next)
}

// namespace returns the loaded namespace name, loading it from the bucket
// (config, newest manifest and the WAL after it) on first use. Concurrent
// callers share one load.
func (s *Server) namespace(ctx context.Context, name string) (*namespace, error) {
	if err := validNamespaceName(name); err != nil {
		return nil, err
	}
	ns := s.lookup(name)
	select {
	case <-ns.loaded:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if ns.loadErr != nil {
		return nil, ns.loadErr
	}
	return ns, nil
}

// lookup returns namespace name, loaded or loading: it starts the load
// when nothing has.
func (s *Server) lookup(name string) *namespace {
	s.mu.Lock()
	defer s.mu.Unlock()
	ns, ok := s.namespaces[name]
	if !ok {
		ns = &namespace{name: name, loaded: make(chan struct{}), kick: make(chan struct{}, 1), keepRecent: !s.index.Disabled}
		s.namespaces[name] = ns
		go s.load(ns)
	}
	ns.lastUsed.Store(time.Now().UnixNano())
	return ns
}

// load reads a namespace's config, newest manifest and WAL tail. A failed
// load is forgotten so the next request retries it.
func (s *Server) load(ns *namespace) {
	defer close(ns.loaded)
	ctx, cancel := context.WithTimeout(context.Background(), 10*s.bucketTimeout)
	defer cancel()
	ns.loadErr = s.loadNamespace(ctx, ns)
	if ns.loadErr != nil {
		s.mu.Lock()
		if s.namespaces[ns.name] == ns {
			delete(s.namespaces, ns.name)
		}
		s.mu.Unlock()
		return
	}
	s.startIndexer(ns)
	if man := ns.manifest.Load(); man != nil {
		s.collectLater(ns, man) // what a crashed process left
	}
}

func (s *Server) loadNamespace(ctx context.Context, ns *namespace) error {
	meta, err := s.readConfig(ctx, ns.name)
	if err != nil {
		return err
	}
	if meta.GetGeneration() == "" {
		if meta, err = s.migrate(ctx, meta); err != nil {
			return err
		}
	}
	ns.meta, ns.schema = meta, schemaMap(meta)
	ns.gen = objstore.Generation{Namespace: ns.name, ID: meta.GetGeneration()}
	ns.wal = objstore.NewWAL(s.bucket, ns.gen.WALPrefix())
	ns.manifests = objstore.NewManifests(s.bucket, ns.gen)
	start := time.Now()
	st, man, err := s.openManifest(ctx, ns)
	if err != nil {
		return err
	}
	ns.walMu.Lock()
	defer ns.walMu.Unlock()
	ns.st.Store(st)
	ns.manifest.Store(man)
	ns.headChecked.Store(start.UnixNano())
	s.noteBatchLocked(ns, man.GetLeaseWriter(), "", man.GetLeaseMs(), time.Now())
	n, err := s.catchUpLocked(ctx, ns)
	if generationClosed(err) {
		// A delete stopped after closing the generation: finish it.
		if err := s.dropConfig(ctx, ns); err != nil {
			return err
		}
		return errNamespaceNotFound(ns.name)
	}
	if err != nil {
		return err
	}
	st = ns.state()
	s.log.Info("namespace loaded", "namespace", ns.name, "generation", ns.gen.ID, "manifest", man.GetVersion(),
		"segments", len(st.Segs), "wal_entries", n, "documents", st.Count(), "seconds", time.Since(start).Seconds())
	return nil
}

func (s *Server) readConfig(ctx context.Context, name string) (*weftv1.Namespace, error) {
	data, err := s.bucket.Get(ctx, objstore.NamespaceKey(name))
	if errors.Is(err, objstore.ErrNotFound) {
		return nil, errNamespaceNotFound(name)
	}
	if err != nil {
		return nil, fmt.Errorf("read namespace %s config: %w", name, err)
	}
	meta := &weftv1.Namespace{}
	if err := protojson.Unmarshal(data, meta); err != nil {
		return nil, fmt.Errorf("decode namespace %s config: %w", name, err)
	}
	return meta, nil
}

// openManifest returns the state of the namespace's newest manifest, with
// its segments read from the bucket, and the manifest; an empty state and
// nil before the first manifest.
func (s *Server) openManifest(ctx context.Context, ns *namespace) (*workers.State, *storagev1.Manifest, error) {
	meta, _ := ns.config()
	dim, metric := int(meta.GetDimension()), meta.GetMetric()
	v, payload, err := ns.manifests.Latest(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("read newest manifest of %s: %w", ns.name, err)
	}
	if v == 0 {
		return workers.NewState(dim, metric), nil, nil
	}
	man := &storagev1.Manifest{}
	if err := proto.Unmarshal(payload, man); err != nil {
		return nil, nil, fmt.Errorf("decode manifest %s: %w", ns.gen.ManifestKey(v), err)
	}
	if man.GetVersion() != v || man.GetNamespace() != ns.name || man.GetGeneration() != ns.gen.ID {
		return nil, nil, fmt.Errorf("manifest %s names version %d of %q generation %s", ns.gen.ManifestKey(v), man.GetVersion(), man.GetNamespace(), man.GetGeneration())
	}
	want := ns.segmentMeta()
	parts := make([]workers.SegmentPart, len(man.GetSegments()))
	failed := make([]error, len(man.GetSegments()))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i, ref := range man.GetSegments() {
		g.Go(func() error {
			// A segment that cannot be read (missing, damaged, the bucket
			// erring) leaves the state without it, marked partial; the
			// caller's context ending fails the load.
			parts[i], failed[i] = s.openSegment(gctx, ns, v, ref, want)
			if failed[i] != nil && gctx.Err() != nil {
				return gctx.Err()
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, nil, err
	}
	var good []workers.SegmentPart
	var bad []workers.FailedSegment
	for i, ref := range man.GetSegments() {
		if failed[i] != nil {
			bad = append(bad, workers.FailedSegment{Key: ns.gen.SegmentKey(ref.GetId()), Err: failed[i]})
			s.log.Error("segment unreadable: the namespace answers only partial queries and takes no writes until it is", "namespace", ns.name, "segment", ns.gen.SegmentKey(ref.GetId()), "err", failed[i])
			continue
		}
		good = append(good, parts[i])
	}
	st := workers.Assemble(dim, metric, good, man.GetWalSequence())
	st.Writer, st.LeaseMs = man.GetLeaseWriter(), man.GetLeaseMs()
	st.Failed = bad
	return st, man, nil
}

// openSegment opens segment ref of manifest v: lazily in a process with a
// cache that does not index (vectors through the cache); else mapped where
// the bucket is a folder (the segment's sections are used where they land, and the
// mapping goes when the segment is garbage: nothing else keeps its bytes),
// read otherwise.
func (s *Server) openSegment(ctx context.Context, ns *namespace, v uint64, ref *storagev1.SegmentRef, want *storagev1.SegmentMeta) (workers.SegmentPart, error) {
	key := ns.gen.SegmentKey(ref.GetId())
	if s.cache != nil && s.index.Disabled {
		seg, ids, err := workers.OpenLazySegment(ctx, s.bucket, key, ref.GetId(), int(ref.GetNavBytes()), want, s.cache)
		switch {
		case errors.Is(err, workers.ErrNotLazy):
		case err != nil:
			return workers.SegmentPart{}, fmt.Errorf("segment %s of manifest %d: %w", key, v, err)
		default:
			if err := markDeleted(ids, ref.GetDeleted()); err != nil {
				return workers.SegmentPart{}, fmt.Errorf("manifest %d, segment %s: %w", v, ref.GetId(), err)
			}
			return workers.SegmentPart{Seg: seg, IDs: ids}, nil
		}
	}
	data, unmap, err := objstore.Map(ctx, s.bucket, key)
	if err != nil {
		return workers.SegmentPart{}, fmt.Errorf("read segment %s of manifest %d: %w", key, v, err)
	}
	seg, ids, err := workers.OpenSegment(ref.GetId(), data, want)
	if err != nil {
		_ = unmap()
		return workers.SegmentPart{}, fmt.Errorf("segment %s of manifest %d: %w", key, v, err)
	}
	runtime.AddCleanup(seg, func(unmap func() error) { _ = unmap() }, unmap)
	if err := markDeleted(ids, ref.GetDeleted()); err != nil {
		return workers.SegmentPart{}, fmt.Errorf("manifest %d, segment %s: %w", v, ref.GetId(), err)
	}
	return workers.SegmentPart{Seg: seg, IDs: ids}, nil
}

// segmentMeta is what every segment of the namespace's generation says of
// itself.
func (ns *namespace) segmentMeta() *storagev1.SegmentMeta {
	meta, _ := ns.config()
	return &storagev1.SegmentMeta{
		Namespace: ns.name, Generation: ns.gen.ID,
		Dimension: meta.GetDimension(), Metric: meta.GetMetric(),
	}
}

// markDeleted empties the ids of the rows a manifest lists as deleted.
func markDeleted(ids []string, deleted []byte) error {
	if len(deleted) == 0 {
		return nil
	}
	bm := roaring.New()
	if _, err := bm.FromUnsafeBytes(deleted); err != nil {
		return fmt.Errorf("deleted rows: %w", err)
	}
	it := bm.Iterator()
	for it.HasNext() {
		row := it.Next()
		if int(row) >= len(ids) {
			return fmt.Errorf("deleted row %d of a segment with %d rows", row, len(ids))
		}
		ids[row] = ""
	}
	return nil
}

// migrate moves a namespace written before generations (its WAL at
// namespaces/<ns>/wal/) into a generation. The generation is derived from
// the namespace's name and creation time, so processes that migrate at
// once copy the same entries to the same keys (WAL.Append accepts equal
// bytes) and write the same config; the old entries are deleted last.
func (s *Server) migrate(ctx context.Context, meta *weftv1.Namespace) (*weftv1.Namespace, error) {
	name := meta.GetName()
	seed := fmt.Sprintf("weft legacy namespace %s created %d.%09d", name, meta.GetCreateTime().GetSeconds(), meta.GetCreateTime().GetNanos())
	gen := objstore.Generation{Namespace: name, ID: uuid.NewSHA1(uuid.NameSpaceOID, []byte(seed)).String()}
	legacy := objstore.NewWAL(s.bucket, objstore.LegacyWALPrefix(name))
	seqs, err := legacy.List(ctx, 0)
	if err != nil {
		return nil, fmt.Errorf("migrate %s: list the old WAL: %w", name, err)
	}
	next := objstore.NewWAL(s.bucket, gen.WALPrefix())
	for _, seq := range seqs {
		payload, err := legacy.Read(ctx, seq)
		if errors.Is(err, objstore.ErrNotFound) {
			// Another process finished the migration meanwhile.
			return s.readConfig(ctx, name)
		}
		if err != nil {
			return nil, fmt.Errorf("migrate %s: %w", name, err)
		}
		if err := next.Append(ctx, seq, payload); err != nil {
			return nil, fmt.Errorf("migrate %s: copy WAL entry %d: %w", name, seq, err)
		}
	}
	meta = proto.CloneOf(meta)
	meta.Generation = gen.ID
	data, err := protojson.Marshal(meta)
	if err != nil {
		return nil, err
	}
	if err := s.bucket.Upload(ctx, objstore.NamespaceKey(name), data); err != nil {
		return nil, fmt.Errorf("migrate %s: write config: %w", name, err)
	}
	if err := legacy.DeleteThrough(ctx, ^uint64(0)); err != nil {
		return nil, fmt.Errorf("migrate %s: delete the old WAL: %w", name, err)
	}
	s.log.Info("namespace migrated to generations", "namespace", name, "generation", gen.ID, "wal_entries", len(seqs))
	return meta, nil
}

// catchUpLocked applies every WAL entry after the last applied one. The
// caller holds ns.walMu. Entries are read in parallel and applied in order.
// When the entries right after the state's sequence are gone, another
// process folded them into a newer manifest and deleted them: the state
// is replaced by that manifest's first.
func (s *Server) catchUpLocked(ctx context.Context, ns *namespace) (int, error) {
	seqs, err := ns.wal.List(ctx, ns.state().Applied)
	if err != nil {
		return 0, fmt.Errorf("list WAL of %s: %w", ns.name, err)
	}
	if len(seqs) > 0 && seqs[0] != ns.state().Applied+1 {
		if err := s.adoptLocked(ctx, ns); err != nil {
			return 0, err
		}
		if seqs, err = ns.wal.List(ctx, ns.state().Applied); err != nil {
			return 0, fmt.Errorf("list WAL of %s: %w", ns.name, err)
		}
	}
	total := len(seqs)
	for len(seqs) > 0 {
		chunk := seqs[:min(readWindow, len(seqs))]
		seqs = seqs[len(chunk):]
		st := ns.state()
		batches, err := s.readBatches(ctx, ns, st, chunk)
		if err != nil {
			return 0, err
		}
		for i, seq := range chunk {
			if seq != st.Applied+1 {
				return 0, fmt.Errorf("WAL of %s jumps from entry %d to %d", ns.name, st.Applied, seq)
			}
			ns.applyLocked(seq, batches[i])
			s.noteBatchLocked(ns, batches[i].GetWriter(), batches[i].GetWriterUrl(), batches[i].GetLeaseMs(), time.Now())
			if st.Closed {
				s.closedLocked(ns)
				return 0, errGenerationClosed(ns.name)
			}
		}
	}
	return total, nil
}

// readWindow is how many WAL entries a catch-up reads at once.
const readWindow = 16

// readBatches reads and decodes WAL entries seqs in parallel, each checked
// against st.
func (s *Server) readBatches(ctx context.Context, ns *namespace, st *workers.State, seqs []uint64) ([]*storagev1.WALBatch, error) {
	batches := make([]*storagev1.WALBatch, len(seqs))
	g, gctx := errgroup.WithContext(ctx)
	for i, seq := range seqs {
		g.Go(func() error {
			payload, err := ns.wal.Read(gctx, seq)
			if err != nil {
				return fmt.Errorf("read WAL entry %d of %s: %w", seq, ns.name, err)
			}
			b := &storagev1.WALBatch{}
			if err := proto.Unmarshal(payload, b); err != nil {
				return fmt.Errorf("decode WAL entry %d of %s: %w", seq, ns.name, err)
			}
			if err := st.CheckBatch(b); err != nil {
				return fmt.Errorf("WAL entry %d of %s: %w", seq, ns.name, err)
			}
			batches[i] = b
			return nil
		})
	}
	return batches, g.Wait()
}

// replayLocked applies to next, loaded from a manifest, the WAL entries
// after its sequence through through, read again from the bucket (for
// swapLocked in a process that keeps no copies). The caller holds walMu.
func (s *Server) replayLocked(ctx context.Context, ns *namespace, next *workers.State, through uint64) error {
	for next.Applied < through {
		n := min(uint64(readWindow), through-next.Applied)
		chunk := make([]uint64, n)
		for i := range chunk {
			chunk[i] = next.Applied + 1 + uint64(i)
		}
		batches, err := s.readBatches(ctx, ns, next, chunk)
		if err != nil {
			return err
		}
		next.Lock()
		for i, seq := range chunk {
			next.Apply(seq, batches[i])
		}
		next.Unlock()
	}
	return nil
}

// closedLocked stops serving a namespace whose generation another process
// closed: the next request loads the namespace's config again. The caller
// holds walMu.
func (s *Server) closedLocked(ns *namespace) {
	ns.deleted.Store(true)
	if ns.stopIndex != nil {
		ns.stopIndex() // not waited for: the indexer may be waiting for walMu
	}
	s.mu.Lock()
	if s.namespaces[ns.name] == ns {
		delete(s.namespaces, ns.name)
	}
	s.mu.Unlock()
	s.log.Info("namespace generation closed by another process", "namespace", ns.name, "generation", ns.gen.ID)
}

// refreshed returns namespace name caught up with its WAL (see refresh).
// When its generation turns out to be closed by another process, the
// namespace is loaded again from its config: a query never answers from a
// deleted generation.
func (s *Server) refreshed(ctx context.Context, name string) (*namespace, error) {
	for attempt := 0; ; attempt++ {
		ns, err := s.namespace(ctx, name)
		if err != nil {
			return nil, err
		}
		s.heal(ctx, ns)
		err = s.refresh(ctx, ns)
		if generationClosed(err) && attempt < 3 {
			continue
		}
		return ns, err
	}
}

// adoptLocked serves the newest manifest in the bucket, published by
// another process. The caller holds walMu.
func (s *Server) adoptLocked(ctx context.Context, ns *namespace) error {
	start := time.Now()
	next, man, err := s.openManifest(ctx, ns)
	if err != nil {
		return err
	}
	if man.GetVersion() <= ns.manifest.Load().GetVersion() {
		return fmt.Errorf("WAL of %s has no entry %d and no newer manifest than %d covers it", ns.name, ns.state().Applied+1, ns.manifest.Load().GetVersion())
	}
	covers := man.GetWalSequence() > ns.state().Applied
	if err := s.swapLocked(ctx, ns, next, man); err != nil {
		return err
	}
	if covers { // entries this process never read: honour their lease
		s.noteBatchLocked(ns, man.GetLeaseWriter(), "", man.GetLeaseMs(), time.Now())
	}
	ns.headChecked.Store(start.UnixNano())
	s.log.Info("adopted a manifest published elsewhere", "namespace", ns.name, "manifest", man.GetVersion(), "wal_sequence", man.GetWalSequence())
	return nil
}

// refresh makes a STRONG read see every write acknowledged before it
// started, including other processes' writes: one existence check of the
// next entry, and a catch-up when it is there. The check runs without
// walMu, so concurrent queries do not queue behind each other. A missing
// entry means no new write only while the manifest head was read recently
// (headFresh); otherwise the head is read too.
func (s *Server) refresh(ctx context.Context, ns *namespace) error {
	if ns.holdsLease() { // no one else can have appended
		if ns.deleted.Load() {
			return errNamespaceNotFound(ns.name)
		}
		return nil
	}
	next := ns.applied() + 1
	ok, err := ns.wal.Exists(ctx, next)
	if err != nil {
		return fmt.Errorf("check WAL of %s: %w", ns.name, err)
	}
	if !ok {
		if ns.deleted.Load() {
			return errNamespaceNotFound(ns.name)
		}
		if s.headFresh(ns) {
			return nil
		}
	}
	ns.walMu.Lock()
	defer ns.walMu.Unlock()
	if ns.deleted.Load() {
		return errNamespaceNotFound(ns.name)
	}
	if err := s.checkHeadLocked(ctx, ns); err != nil { // adopts and catches up if a manifest covers more
		return err
	}
	if !ok || ns.state().Applied >= next {
		return nil // nothing appended, or caught up meanwhile
	}
	_, err = s.catchUpLocked(ctx, ns)
	return err
}

// headFresh reports whether the manifest head was read recently enough
// that no WAL entry the served state lacks can have been collected: the
// garbage collector deletes an entry only Grace after a manifest covering
// it was published, so a head read that began less than Grace ago saw
// that manifest. The window leaves room for the request that relies on it
// (an append lands within the bucket timeout after waiting out another
// process's write lease) and for late timers; with a Grace shorter than
// that the head is read every time.
func (s *Server) headFresh(ns *namespace) bool {
	window := (s.index.Grace - s.bucketTimeout - 2*s.writeLease) / 2
	return time.Since(time.Unix(0, ns.headChecked.Load())) < window
}

// checkHeadLocked reads the manifest head unless headFresh, and serves a
// newer manifest when there is one, so a missing WAL entry after the
// served state means that no one wrote it (yet), not that it was folded
// and collected. The caller holds walMu.
func (s *Server) checkHeadLocked(ctx context.Context, ns *namespace) error {
	if s.headFresh(ns) {
		return nil
	}
	start := time.Now()
	v, err := ns.manifests.Head(ctx)
	if err != nil {
		return fmt.Errorf("read manifest head of %s: %w", ns.name, err)
	}
	if v > ns.manifest.Load().GetVersion() {
		if err := s.adoptAndCatchUpLocked(ctx, ns); err != nil {
			return err
		}
	}
	ns.headChecked.Store(start.UnixNano())
	return nil
}

// createNamespace validates and stores a new namespace's config with a new
// generation. Objects of older generations left by an interrupted delete
// are removed first; they could not mix with the new generation anyway.
func (s *Server) createNamespace(ctx context.Context, n *weftv1.Namespace) (*weftv1.Namespace, error) {
	if err := validNewNamespace(n); err != nil {
		return nil, err
	}
	if err := s.checkWritable(ctx); err != nil {
		return nil, err
	}
	n = proto.CloneOf(n)
	n.CreateTime = timestamppb.Now()
	gen, err := uuid.NewV7()
	if err != nil {
		return nil, err
	}
	n.Generation = gen.String()
	data, err := protojson.Marshal(n)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if ns, ok := s.namespaces[n.GetName()]; ok {
		select {
		case <-ns.loaded:
			if ns.loadErr == nil {
				return nil, namespaceExists(n.GetName())
			}
		default:
		}
	}
	key := objstore.NamespaceKey(n.GetName())
	exists, err := s.bucket.Exists(ctx, key)
	if err != nil {
		return nil, err
	}
	if exists {
		return nil, namespaceExists(n.GetName())
	}
	if err := s.collectDeadGenerations(ctx, n.GetName(), ""); err != nil {
		return nil, err
	}
	if err := s.bucket.Create(ctx, key, data); err != nil {
		if errors.Is(err, objstore.ErrExists) {
			return nil, namespaceExists(n.GetName())
		}
		return nil, err
	}
	delete(s.namespaces, n.GetName()) // a failed load's leftover
	return n, nil
}

func namespaceExists(name string) *Error {
	return alreadyExists("namespace-exists", "namespace %q already exists: pick another name, or delete it first", name)
}

// deadGenerationGrace is how long the close entry of a deleted generation
// stays in the bucket: a process that served the generation finds it
// there when it next writes or refreshes.
const deadGenerationGrace = time.Hour

// collectDeadGenerations deletes the objects of the namespace's generations
// other than keep, except their close entries until deadGenerationGrace
// has passed.
func (s *Server) collectDeadGenerations(ctx context.Context, name, keep string) error {
	prefix := objstore.NamespacePrefix(name)
	names, err := s.bucket.List(ctx, prefix)
	if err != nil {
		return err
	}
	byGen := map[string][]string{}
	for _, n := range names {
		gen, _, ok := strings.Cut(strings.TrimPrefix(n, prefix), "/")
		if ok && gen != keep {
			byGen[gen] = append(byGen[gen], n)
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for gen, objs := range byGen {
		marker := ""
		if gen != "wal" { // the legacy layout's WAL folder holds no marker
			marker = s.freshCloseEntry(ctx, objstore.Generation{Namespace: name, ID: gen})
		}
		for _, o := range objs {
			if o != marker {
				g.Go(func() error { return s.bucket.Delete(gctx, o) })
			}
		}
	}
	return g.Wait()
}

// freshCloseEntry returns the key of gen's close entry when it is younger
// than deadGenerationGrace, else "".
func (s *Server) freshCloseEntry(ctx context.Context, gen objstore.Generation) string {
	wal := objstore.NewWAL(s.bucket, gen.WALPrefix())
	last, err := wal.Last(ctx)
	if err != nil || last == 0 {
		return ""
	}
	payload, err := wal.Read(ctx, last)
	if err != nil {
		return ""
	}
	b := &storagev1.WALBatch{}
	if proto.Unmarshal(payload, b) != nil || len(b.GetOps()) != 1 {
		return ""
	}
	c := b.GetOps()[0].GetClose()
	if c == nil || time.Since(c.GetTime().AsTime()) > deadGenerationGrace {
		return ""
	}
	return wal.Key(last)
}

// deleteNamespace closes the namespace's generation with a last WAL entry
// (any process still serving it stops at that entry), removes the config
// (from then on the namespace does not exist), then the generation's
// other objects.
func (s *Server) deleteNamespace(ctx context.Context, name string) error {
	ns, err := s.namespace(ctx, name)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ns.walMu.Lock()
	err = s.closeGenerationLocked(ctx, ns)
	ns.walMu.Unlock()
	if err != nil {
		if generationClosed(err) {
			delete(s.namespaces, name)
		}
		return err
	}
	ns.stopIndexer()
	delete(s.namespaces, name)
	if err := s.dropConfig(ctx, ns); err != nil {
		return err
	}
	return s.collectDeadGenerations(ctx, name, "")
}

// closeGenerationLocked appends the close entry at the next free sequence.
// The caller holds walMu.
func (s *Server) closeGenerationLocked(ctx context.Context, ns *namespace) error {
	if ns.deleted.Load() {
		return errNamespaceNotFound(ns.name)
	}
	op := &storagev1.WALOp{Op: &storagev1.WALOp_Close{Close: &storagev1.CloseOp{Time: timestamppb.Now()}}}
	wire, err := encodeOp(op)
	if err != nil {
		return err
	}
	if _, _, err := s.appendLocked(ctx, ns, &storagev1.WALBatch{Ops: []*storagev1.WALOp{op}}, [][]byte{wire}); err != nil {
		return err
	}
	ns.deleted.Store(true)
	return nil
}

// dropConfig deletes the namespace's config if it still names ns's
// generation.
func (s *Server) dropConfig(ctx context.Context, ns *namespace) error {
	meta, err := s.readConfig(ctx, ns.name)
	if err != nil {
		if ue, ok := userError(err); ok && ue.Code == errNamespaceNotFound(ns.name).Code {
			return nil
		}
		return err
	}
	if meta.GetGeneration() != ns.gen.ID {
		return nil
	}
	return s.bucket.Delete(ctx, objstore.NamespaceKey(ns.name))
}

// namespaceNames lists the bucket's namespace folders, in name order, in
// one listing call (a folder may belong to a namespace being deleted: its
// config says).
func (s *Server) namespaceNames(ctx context.Context) ([]string, error) {
	folders, err := s.bucket.ListFolders(ctx, objstore.NamespacesPrefix())
	if err != nil {
		return nil, err
	}
	names := folders[:0]
	for _, f := range folders {
		if name := strings.TrimSuffix(strings.TrimPrefix(f, objstore.NamespacesPrefix()), "/"); validNamespaceName(name) == nil {
			names = append(names, name)
		}
	}
	return names, nil
}

// listNamespaces returns namespace configs in name order, a page at a time.
// The page token is the last name of the previous page.
func (s *Server) listNamespaces(ctx context.Context, pageSize uint32, token string) ([]*weftv1.Namespace, string, error) {
	if pageSize == 0 {
		pageSize = 100
	}
	if pageSize > 1000 {
		return nil, "", invalid("page-size", "page_size %d is over the limit of 1000", pageSize)
	}
	names, err := s.namespaceNames(ctx)
	if err != nil {
		return nil, "", err
	}
	var out []*weftv1.Namespace
	for _, name := range names {
		if name <= token {
			continue
		}
		if p := principal(ctx); p != nil && !p.May(weftv1.Role_ROLE_READ, name) {
			continue // a key lists the namespaces it may read
		}
		if uint32(len(out)) == pageSize {
			return out, out[len(out)-1].GetName(), nil
		}
		ns, err := s.namespace(ctx, name)
		if err != nil {
			if ue, ok := userError(err); ok && ue.Code == errNamespaceNotFound(name).Code {
				continue // deleted meanwhile
			}
			return nil, "", err
		}
		meta, _ := ns.config()
		out = append(out, meta)
	}
	return out, "", nil
}

// updateNamespace changes the fields update_mask names.
func (s *Server) updateNamespace(ctx context.Context, n *weftv1.Namespace, paths []string) (*weftv1.Namespace, error) {
	ns, err := s.namespace(ctx, n.GetName())
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, invalid("update-mask", "update_mask is empty: name the fields to change (schema, default_plugins, default_search, recall_sample, shard_key_required)")
	}
	ns.metaMu.Lock()
	defer ns.metaMu.Unlock()
	next := proto.CloneOf(ns.meta)
	for _, p := range paths {
		switch p {
		case "schema", "default_plugins", "default_search", "recall_sample", "shard_key_required":
		default:
			return nil, invalid("update-mask", "update_mask path %q cannot change: use schema, default_plugins, default_search, recall_sample or shard_key_required (dimension, metric and shard_key are fixed at creation)", p)
		}
	}
	if slices.Contains(paths, "schema") {
		if err := validSchema("namespace.schema", n.GetSchema()); err != nil {
			return nil, err
		}
		if err := ns.checkSchema(schemaMap(n)); err != nil {
			return nil, err
		}
		next.Schema = n.GetSchema()
	}
	if slices.Contains(paths, "default_plugins") {
		if err := validPluginCalls("namespace.default_plugins", n.GetDefaultPlugins()); err != nil {
			return nil, err
		}
		next.DefaultPlugins = n.GetDefaultPlugins()
	}
	if slices.Contains(paths, "default_search") {
		if err := validSearchParams("namespace.default_search", n.GetDefaultSearch()); err != nil {
			return nil, err
		}
		next.DefaultSearch = n.GetDefaultSearch()
	}
	if slices.Contains(paths, "recall_sample") {
		if err := validRecallSample(n.GetRecallSample()); err != nil {
			return nil, err
		}
		next.RecallSample = n.GetRecallSample()
	}
	if slices.Contains(paths, "shard_key_required") {
		if n.GetShardKeyRequired() && next.GetShardKey() == "" {
			return nil, invalid("namespace-shard-key-required", "namespace %q has no shard key: shard_key_required needs one, set at creation", ns.name)
		}
		next.ShardKeyRequired = n.GetShardKeyRequired()
	}
	data, err := protojson.Marshal(next)
	if err != nil {
		return nil, err
	}
	if err := s.bucket.Upload(ctx, objstore.NamespaceKey(ns.name), data); err != nil {
		return nil, err
	}
	ns.meta, ns.schema = next, schemaMap(next)
	return next, nil
}

// checkSchema rejects a schema that live documents already violate.
func (ns *namespace) checkSchema(schema map[string]weftv1.AttributeType) error {
	st := ns.state()
	st.RLock()
	defer st.RUnlock()
	for slot, id := range st.IDs {
		if id == "" {
			continue
		}
		for name, v := range st.Attrs(slot) {
			if want, ok := schema[name]; ok && attributeType(v) != want {
				return invalid("schema-conflict", "namespace.schema declares %q as %s, but document %q has a %s there: fix or delete such documents first", name, typeName(want), id, typeName(attributeType(v)))
			}
		}
	}
	return nil
}

func (ns *namespace) stats() *weftv1.NamespaceStats {
	man := ns.manifest.Load()
	st := ns.state()
	st.RLock()
	defer st.RUnlock()
	indexed := 0
	for _, g := range st.Segs {
		indexed += g.Graph.Live()
	}
	through := man.GetWalSequence()
	if man != nil && ns.unindexed.Load() == 0 {
		// The entries after the manifest change nothing (write lease
		// renewals): nothing is left to index.
		through = st.Applied
	}
	return &weftv1.NamespaceStats{
		DocumentCount:      uint64(st.Count()),
		WalSequence:        st.Applied,
		ManifestVersion:    man.GetVersion(),
		IndexedWalSequence: through,
		IndexedDocuments:   uint64(indexed),
		UnindexedDocuments: uint64(st.Count() - indexed),
		Indexing:           ns.indexing.Load(),
		Segments:           uint32(len(st.Segs)),
		SampledRecall:      ns.recall.stats(),
	}
}
