package fabric

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/weftdb/weft/objstore"
	storagev1 "github.com/weftdb/weft/proto/gen/weft/storage/v1"
	weftv1 "github.com/weftdb/weft/proto/gen/weft/v1"
)

// namespace is one namespace served from memory: its config, its WAL and the
// state the WAL replays into.
type namespace struct {
	name string
	wal  *objstore.WAL
	st   *state

	metaMu sync.RWMutex
	meta   *weftv1.Namespace
	schema map[string]weftv1.AttributeType

	// walMu serialises appending to and catching up with the WAL, so
	// batches apply in sequence order. It is held across bucket calls.
	walMu   sync.Mutex
	deleted bool // set under walMu by DeleteNamespace; no append follows

	// Group commit (commit.go).
	commitMu   sync.Mutex
	pending    []*pendingWrite
	committing bool

	loaded  chan struct{} // closed when loading ended
	loadErr error
}

func namespacePrefix(name string) string { return "namespaces/" + name + "/" }
func namespaceKey(name string) string    { return namespacePrefix(name) + "namespace.json" }

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

// namespace returns the loaded namespace name, loading it from the bucket
// (config and WAL replay) on first use. Concurrent callers share one load.
func (s *Server) namespace(ctx context.Context, name string) (*namespace, error) {
	if err := validNamespaceName(name); err != nil {
		return nil, err
	}
	s.mu.Lock()
	ns, ok := s.namespaces[name]
	if !ok {
		ns = &namespace{name: name, loaded: make(chan struct{})}
		s.namespaces[name] = ns
		go s.load(ns)
	}
	s.mu.Unlock()
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

// load reads a namespace's config and replays its WAL. A failed load is
// forgotten so the next request retries it.
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
	}
}

func (s *Server) loadNamespace(ctx context.Context, ns *namespace) error {
	data, err := s.bucket.Get(ctx, namespaceKey(ns.name))
	if errors.Is(err, objstore.ErrNotFound) {
		return errNamespaceNotFound(ns.name)
	}
	if err != nil {
		return fmt.Errorf("read namespace %s config: %w", ns.name, err)
	}
	meta := &weftv1.Namespace{}
	if err := protojson.Unmarshal(data, meta); err != nil {
		return fmt.Errorf("decode namespace %s config: %w", ns.name, err)
	}
	ns.meta, ns.schema = meta, schemaMap(meta)
	ns.wal = objstore.NewWAL(s.bucket, ns.name)
	ns.st = newState(int(meta.GetDimension()), meta.GetMetric())
	ns.walMu.Lock()
	defer ns.walMu.Unlock()
	start := time.Now()
	n, err := s.catchUpLocked(ctx, ns)
	if err != nil {
		return err
	}
	s.log.Info("namespace loaded", "namespace", ns.name, "wal_entries", n, "documents", ns.st.count(), "seconds", time.Since(start).Seconds())
	return nil
}

// catchUpLocked applies every WAL entry after the last applied one. The
// caller holds ns.walMu. Entries are read in parallel and applied in order.
func (s *Server) catchUpLocked(ctx context.Context, ns *namespace) (int, error) {
	seqs, err := ns.wal.List(ctx, ns.st.applied)
	if err != nil {
		return 0, fmt.Errorf("list WAL of %s: %w", ns.name, err)
	}
	const window = 16 // entries in flight
	total := len(seqs)
	for len(seqs) > 0 {
		chunk := seqs[:min(window, len(seqs))]
		seqs = seqs[len(chunk):]
		batches := make([]*storagev1.WALBatch, len(chunk))
		g, gctx := errgroup.WithContext(ctx)
		for i, seq := range chunk {
			g.Go(func() error {
				payload, err := ns.wal.Read(gctx, seq)
				if err != nil {
					return fmt.Errorf("read WAL entry %d of %s: %w", seq, ns.name, err)
				}
				b := &storagev1.WALBatch{}
				if err := proto.Unmarshal(payload, b); err != nil {
					return fmt.Errorf("decode WAL entry %d of %s: %w", seq, ns.name, err)
				}
				if err := ns.st.checkBatch(b); err != nil {
					return fmt.Errorf("WAL entry %d of %s: %w", seq, ns.name, err)
				}
				batches[i] = b
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			return 0, err
		}
		ns.st.mu.Lock()
		for i, seq := range chunk {
			if seq != ns.st.applied+1 {
				ns.st.mu.Unlock()
				return 0, fmt.Errorf("WAL of %s jumps from entry %d to %d", ns.name, ns.st.applied, seq)
			}
			ns.st.apply(seq, batches[i])
		}
		ns.st.mu.Unlock()
	}
	return total, nil
}

// refresh makes a STRONG read see every write acknowledged before it
// started, including other processes' writes: one existence check of the
// next entry, and a catch-up when it is there.
func (s *Server) refresh(ctx context.Context, ns *namespace) error {
	ns.walMu.Lock()
	defer ns.walMu.Unlock()
	if ns.deleted {
		return errNamespaceNotFound(ns.name)
	}
	ns.st.mu.RLock()
	next := ns.st.applied + 1
	ns.st.mu.RUnlock()
	ok, err := ns.wal.Exists(ctx, next)
	if err != nil {
		return fmt.Errorf("check WAL of %s: %w", ns.name, err)
	}
	if !ok {
		return nil
	}
	_, err = s.catchUpLocked(ctx, ns)
	return err
}

// createNamespace validates and stores a new namespace's config. Objects
// left under its prefix by an interrupted delete are removed first, so a
// new namespace never replays an old one's WAL.
func (s *Server) createNamespace(ctx context.Context, n *weftv1.Namespace) (*weftv1.Namespace, error) {
	if err := validNewNamespace(n); err != nil {
		return nil, err
	}
	n = proto.CloneOf(n)
	n.CreateTime = timestamppb.Now()
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
	key := namespaceKey(n.GetName())
	exists, err := s.bucket.Exists(ctx, key)
	if err != nil {
		return nil, err
	}
	if exists {
		return nil, namespaceExists(n.GetName())
	}
	if err := s.deletePrefix(ctx, namespacePrefix(n.GetName()), key); err != nil {
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

// deletePrefix deletes every object under prefix except keep.
func (s *Server) deletePrefix(ctx context.Context, prefix, keep string) error {
	names, err := s.bucket.List(ctx, prefix)
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for _, name := range names {
		if name == keep {
			continue
		}
		g.Go(func() error { return s.bucket.Delete(gctx, name) })
	}
	return g.Wait()
}

// deleteNamespace removes the config first (from then on the namespace does
// not exist), then its WAL and other objects.
func (s *Server) deleteNamespace(ctx context.Context, name string) error {
	ns, err := s.namespace(ctx, name)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ns.walMu.Lock()
	ns.deleted = true
	ns.walMu.Unlock()
	delete(s.namespaces, name)
	if err := s.bucket.Delete(ctx, namespaceKey(name)); err != nil {
		return err
	}
	return s.deletePrefix(ctx, namespacePrefix(name), "")
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
	names, err := s.bucket.List(ctx, "namespaces/")
	if err != nil {
		return nil, "", err
	}
	var out []*weftv1.Namespace
	for _, key := range names {
		name, ok := strings.CutSuffix(strings.TrimPrefix(key, "namespaces/"), "/namespace.json")
		if !ok || strings.Contains(name, "/") || name <= token {
			continue
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
		return nil, invalid("update-mask", "update_mask is empty: name the fields to change (schema, default_plugins, default_search)")
	}
	ns.metaMu.Lock()
	defer ns.metaMu.Unlock()
	next := proto.CloneOf(ns.meta)
	for _, p := range paths {
		switch p {
		case "schema", "default_plugins", "default_search":
		default:
			return nil, invalid("update-mask", "update_mask path %q cannot change: use schema, default_plugins or default_search (dimension, metric and shard_key are fixed at creation)", p)
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
	data, err := protojson.Marshal(next)
	if err != nil {
		return nil, err
	}
	if err := s.bucket.Upload(ctx, namespaceKey(ns.name), data); err != nil {
		return nil, err
	}
	ns.meta, ns.schema = next, schemaMap(next)
	return next, nil
}

// checkSchema rejects a schema that live documents already violate.
func (ns *namespace) checkSchema(schema map[string]weftv1.AttributeType) error {
	ns.st.mu.RLock()
	defer ns.st.mu.RUnlock()
	for slot, id := range ns.st.ids {
		if id == "" {
			continue
		}
		for name, v := range ns.st.attrs[slot] {
			if want, ok := schema[name]; ok && attributeType(v) != want {
				return invalid("schema-conflict", "namespace.schema declares %q as %s, but document %q has a %s there: fix or delete such documents first", name, typeName(want), id, typeName(attributeType(v)))
			}
		}
	}
	return nil
}

func (ns *namespace) stats() *weftv1.NamespaceStats {
	ns.st.mu.RLock()
	defer ns.st.mu.RUnlock()
	return &weftv1.NamespaceStats{DocumentCount: uint64(ns.st.count()), WalSequence: ns.st.applied}
}
