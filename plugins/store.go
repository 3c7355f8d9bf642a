package plugins

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	weftv1 "github.com/weftdb/weft/proto/gen/weft/v1"
	"github.com/weftdb/weft/proto/gen/weft/v1/weftv1connect"
)

// Bucket is what the registry needs of the bucket; objstore.Bucket has
// these methods. Get of a missing object returns an error; Create of an
// existing object returns an error; Delete of a missing object does not.
// The registry tells "missing" and "exists" apart with Exists and Get, so
// it needs no provider's sentinel errors.
type Bucket interface {
	Get(ctx context.Context, name string) ([]byte, error)
	Exists(ctx context.Context, name string) (bool, error)
	// List returns the full names under prefix, sorted.
	List(ctx context.Context, prefix string) ([]string, error)
	// Upload writes atomically.
	Upload(ctx context.Context, name string, data []byte) error
	// Create writes atomically if the object is absent.
	Create(ctx context.Context, name string, data []byte) error
	Delete(ctx context.Context, name string) error
}

// Bucket layout: plugins/<sha256>.wasm holds a module's bytes,
// plugins/<sha256>.json its registration (protojson of weftv1.Plugin).
const (
	bucketPrefix = "plugins/"
	wasmSuffix   = ".wasm"
	metaSuffix   = ".json"

	maxNameBytes        = 64
	maxDescriptionBytes = 1024
	// loadTimeout bounds loading a plugin from the bucket into the host
	// (read, compile, instantiate the pool). The load goes on when the query
	// that started it gives up, so the next query finds it loaded.
	loadTimeout = 2 * time.Minute
	// scanParallelism bounds concurrent metadata reads of one scan.
	scanParallelism = 8
)

func wasmObject(digest string) string { return bucketPrefix + digest + wasmSuffix }
func metaObject(digest string) string { return bucketPrefix + digest + metaSuffix }

// Registry error kinds, to test with errors.Is. Store errors that are the
// caller's fault wrap exactly one of them, or one of the host's kinds
// (ErrInvalidModule, ErrABI, ErrTooLarge) when the module is at fault.
var (
	// ErrInvalidRequest: a field of the request is invalid (name, deadline,
	// failure policy, description, module).
	ErrInvalidRequest = errors.New("invalid request")
	// ErrNotRegistered: no plugin is registered under the name.
	ErrNotRegistered = errors.New("plugin not registered")
	// ErrAlreadyRegistered: the module's bytes are registered under another
	// name.
	ErrAlreadyRegistered = errors.New("module already registered")
)

// registryError is a Store error whose message is safe to show users and
// says what to fix.
type registryError struct {
	kind  error
	msg   string
	cause error
}

func (e *registryError) Error() string { return e.msg }

func (e *registryError) Unwrap() []error {
	if e.cause != nil {
		return []error{e.kind, e.cause}
	}
	return []error{e.kind}
}

func invalidRequest(format string, args ...any) error {
	return &registryError{kind: ErrInvalidRequest, msg: fmt.Sprintf(format, args...)}
}

func notRegistered(name string) error {
	return &registryError{kind: ErrNotRegistered, msg: fmt.Sprintf("plugin %q is not registered: register it with PluginService.RegisterPlugin (ListPlugins shows the registered names)", name)}
}

// StoreConfig configures a Store.
type StoreConfig struct {
	// CacheTTL is how long Resolve trusts its name → module map before it
	// lists the bucket again: a plugin registered, replaced or deleted by
	// another process is seen by this one within CacheTTL.
	CacheTTL time.Duration `yaml:"registry_cache_ttl" category:"advanced"`
	// MaxDeadline is the largest deadline_ms a plugin may register.
	MaxDeadline time.Duration `yaml:"max_deadline"`
	// MaxPlugins caps the registered names: every one costs compiled code
	// and a pool of instances in each process that uses it.
	MaxPlugins int `yaml:"max_plugins"`
}

// RegisterFlags registers the flags under prefix (e.g. "plugins.") and sets
// the defaults.
func (c *StoreConfig) RegisterFlags(prefix string, fs *flag.FlagSet) {
	fs.DurationVar(&c.CacheTTL, prefix+"registry-cache-ttl", 2*time.Second, "How long a process trusts its list of registered plugins before reading the bucket again; other processes' registrations show up within it.")
	fs.DurationVar(&c.MaxDeadline, prefix+"max-deadline", 10*time.Second, "Largest per-call deadline a plugin may register (deadline_ms).")
	fs.IntVar(&c.MaxPlugins, prefix+"max-plugins", 256, "Most plugin names registered at once; registering another fails until one is deleted.")
}

// DefaultStoreConfig returns the defaults RegisterFlags sets.
func DefaultStoreConfig() StoreConfig {
	var c StoreConfig
	c.RegisterFlags("", flag.NewFlagSet("", flag.ContinueOnError))
	return c
}

// Validate reports every problem of the configuration.
func (c *StoreConfig) Validate() error {
	var errs []error
	if c.CacheTTL < 0 {
		errs = append(errs, fmt.Errorf("plugins registry-cache-ttl must not be negative, got %s", c.CacheTTL))
	}
	if c.MaxDeadline < time.Millisecond {
		errs = append(errs, fmt.Errorf("plugins max-deadline must be at least 1ms, got %s", c.MaxDeadline))
	}
	if c.MaxPlugins < 1 {
		errs = append(errs, fmt.Errorf("plugins max-plugins must be at least 1, got %d", c.MaxPlugins))
	}
	return errors.Join(errs...)
}

// Store is the plugin registry: PluginService's state, kept in the bucket
// so that every process sharing the bucket runs the same plugins, and the
// query path's way to a loaded plugin (Resolve). It is safe for concurrent
// use.
//
// # Bucket and crash safety
//
// A registration is two objects: plugins/<sha256>.wasm, the module,
// written first with Create (present already is fine: same digest, same
// bytes), then plugins/<sha256>.json, the metadata, which is the commit
// point. A crash between the two leaves an unreferenced .wasm that the
// next registration of those bytes reuses; metadata never points at
// missing bytes.
//
// One module has one name: its .json names it. A name normally has one
// .json; replacing a plugin writes the new digest's .json, then deletes the
// older ones of that name. Should two remain (a crash in between, or two
// processes replacing one name at once), the newest create_time wins
// (then the larger digest) and the next Register or Delete of the name
// removes the others.
//
// A .wasm is deleted with its last .json (Delete, or a replacement). Since
// another process may register the same bytes at that moment, the deleter
// checks again after deleting and puts the bytes back if a .json appeared,
// and Register checks that the .wasm still exists after writing the .json:
// one of the two always sees the other.
type Store struct {
	bucket Bucket
	host   *Host
	log    *slog.Logger
	cfg    StoreConfig
	now    func() time.Time

	writeMu   sync.Mutex // serializes this process's Register and Delete
	refreshMu sync.Mutex // one index refresh at a time

	mu      sync.Mutex
	index   map[string]*weftv1.Plugin // name → registration, as of indexAt
	indexAt time.Time                 // zero: stale
	loads   map[string]*loadCall      // loads in flight, by name, digest and options
	loaded  map[string]bool           // names this store loaded into the host
}

type loadCall struct {
	done chan struct{}
	p    *Plugin
	err  error
}

// NewStore returns a registry over bucket that loads plugins into host. A
// nil logger discards logs.
func NewStore(bucket Bucket, host *Host, logger *slog.Logger, cfg StoreConfig) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Store{
		bucket: bucket,
		host:   host,
		log:    logger,
		cfg:    cfg,
		now:    time.Now,
		loads:  map[string]*loadCall{},
		loaded: map[string]bool{},
	}, nil
}

// Service returns the PluginService handler over the store (what the
// fabric mounts).
func (s *Store) Service() weftv1connect.PluginServiceHandler { return NewService(s, s.log) }

// ValidName reports whether name is a valid plugin name: 1..64 bytes of
// [A-Za-z0-9_-], starting with a letter or digit (the rule of namespace
// names). The error says what is wrong.
func ValidName(name string) error {
	if name == "" {
		return invalidRequest("name is empty: use 1..%d bytes of [A-Za-z0-9_-], starting with a letter or digit", maxNameBytes)
	}
	if len(name) > maxNameBytes {
		return invalidRequest("name is %d bytes long: the limit is %d", len(name), maxNameBytes)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		alnum := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
		if alnum || (i > 0 && (c == '_' || c == '-')) {
			continue
		}
		return invalidRequest("name %q: byte %d (%q) is not allowed; use [A-Za-z0-9_-], starting with a letter or digit", name, i, c)
	}
	return nil
}

// Register validates req's module and options and stores the plugin under
// req.name; see Store for the bucket layout. Registering a name again with
// other bytes replaces the plugin; with the same bytes and options it
// returns the registration unchanged; with the same bytes and other
// options it updates them. The same bytes under a second name are refused
// with ErrAlreadyRegistered. Processes load the new module when Resolve
// next sees it (this one at once, others within CacheTTL).
func (s *Store) Register(ctx context.Context, req *weftv1.RegisterPluginRequest) (*weftv1.Plugin, error) {
	name := req.GetName()
	if err := ValidName(name); err != nil {
		return nil, err
	}
	wasm := req.GetWasm()
	if len(wasm) == 0 {
		return nil, invalidRequest("wasm is empty: send the bytes of the compiled .wasm module")
	}
	if limit := s.host.cfg.MaxModuleBytes; len(wasm) > limit {
		return nil, &registryError{kind: ErrTooLarge, msg: fmt.Sprintf("wasm is %d bytes: the limit is %d (--plugins.max-module-bytes); build with optimisations (C: -O2, Go: -ldflags=-s, AssemblyScript: -O3)", len(wasm), limit)}
	}
	policy := req.GetFailurePolicy()
	switch policy {
	case weftv1.FailurePolicy_FAILURE_POLICY_UNSPECIFIED:
		policy = weftv1.FailurePolicy_FAILURE_POLICY_FAIL_CLOSED
	case weftv1.FailurePolicy_FAILURE_POLICY_FAIL_CLOSED, weftv1.FailurePolicy_FAILURE_POLICY_FAIL_OPEN:
	default:
		return nil, invalidRequest("failure_policy %d is unknown: use FAILURE_POLICY_FAIL_CLOSED or FAILURE_POLICY_FAIL_OPEN", policy)
	}
	if d := time.Duration(req.GetDeadlineMs()) * time.Millisecond; d > s.cfg.MaxDeadline {
		return nil, invalidRequest("deadline_ms is %d: use 0 for the server default (%s) or 1..%d", req.GetDeadlineMs(), s.host.cfg.CallDeadline, s.cfg.MaxDeadline.Milliseconds())
	}
	if n := len(req.GetDescription()); n > maxDescriptionBytes {
		return nil, invalidRequest("description is %d bytes long: the limit is %d", n, maxDescriptionBytes)
	}
	if !utf8.ValidString(req.GetDescription()) {
		return nil, invalidRequest("description is not valid UTF-8")
	}
	info, err := s.host.Validate(ctx, wasm)
	if err != nil {
		return nil, moduleError(err)
	}
	meta := &weftv1.Plugin{
		Name:          name,
		Sha256:        info.SHA256,
		SizeBytes:     uint64(info.Size),
		Hooks:         protoHooks(info.Hooks),
		FailurePolicy: policy,
		DeadlineMs:    req.GetDeadlineMs(),
		Description:   req.GetDescription(),
		CreateTime:    timestamppb.New(s.now()),
	}

	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	all, err := s.scan(ctx)
	if err != nil {
		return nil, err
	}
	if idx := winners(all); idx[name] == nil && len(idx) >= s.cfg.MaxPlugins {
		return nil, &registryError{kind: ErrTooLarge, msg: fmt.Sprintf("%d plugins are registered, the limit (--plugins.max-plugins): delete one first, or replace one by registering under its name", len(idx))}
	}
	if old := findDigest(all, meta.Sha256); old != nil {
		if old.GetName() != name {
			return nil, alreadyRegistered(old)
		}
		meta.CreateTime = old.GetCreateTime()
		if !proto.Equal(old, meta) {
			// Same bytes, same name, other options: update in place.
			if err := s.putMeta(ctx, meta, false); err != nil {
				return nil, err
			}
		}
	} else {
		if err := s.putWasm(ctx, meta.Sha256, wasm); err != nil {
			return nil, err
		}
		if err := s.putMeta(ctx, meta, true); err != nil {
			return nil, err
		}
		// A concurrent Delete of other registrations of these bytes may
		// have removed the .wasm between Create and now: put it back.
		if err := s.putWasm(ctx, meta.Sha256, wasm); err != nil {
			return nil, err
		}
	}
	// The new .json is committed: drop the name's older registrations.
	// Failing here leaves a duplicate that loses to the new one; it is
	// logged, not returned.
	for _, old := range all {
		if old.GetName() == name && old.GetSha256() != meta.Sha256 {
			if err := s.drop(ctx, old); err != nil {
				s.log.Warn("dropping replaced plugin registration", "plugin", name, "sha256", old.GetSha256(), "err", err)
			}
		}
	}
	// The scan is fresh: it and the new registration are the index.
	idx := winners(all)
	idx[name] = meta
	s.setIndex(ctx, idx)
	s.log.Info("plugin registered", "plugin", name, "sha256", meta.Sha256, "size", meta.SizeBytes, "hooks", fmt.Sprint(info.Hooks), "policy", policy.String(), "deadline_ms", meta.DeadlineMs)
	return proto.CloneOf(meta), nil
}

// moduleError turns a Validate error into one that says what to fix.
func moduleError(err error) error {
	var he *Error
	if !errors.As(err, &he) {
		return err
	}
	switch {
	case errors.Is(err, ErrTooLarge):
		return &registryError{kind: ErrTooLarge, msg: "wasm is too large: " + he.Detail, cause: err}
	case errors.Is(err, ErrInvalidModule):
		return &registryError{kind: ErrInvalidRequest, msg: "wasm is not a valid WebAssembly module, or cannot be instantiated: " + he.Detail + "; send the .wasm file a compiler produced (docs/plugins.md)", cause: err}
	case errors.Is(err, ErrABI):
		return &registryError{kind: ErrInvalidRequest, msg: "wasm is not a Weft plugin (ABI version 1): " + he.Detail + "; build it with a Weft plugin SDK, see docs/plugins.md#abi-version-1", cause: err}
	case errors.Is(err, ErrTrap), errors.Is(err, ErrDeadline), errors.Is(err, ErrOutput), errors.Is(err, ErrGuest):
		return &registryError{kind: ErrInvalidRequest, msg: "wasm failed to start: " + he.Error() + "; check the module's initialisation and weft_abi_version", cause: err}
	}
	return err
}

func alreadyRegistered(old *weftv1.Plugin) error {
	return &registryError{kind: ErrAlreadyRegistered, msg: fmt.Sprintf("this module (sha256 %s) is already registered as plugin %q: use that name, or delete it with DeletePlugin first", old.GetSha256(), old.GetName())}
}

func protoHooks(hs []Hook) []weftv1.Hook {
	out := make([]weftv1.Hook, len(hs))
	for i, h := range hs {
		out[i] = weftv1.Hook(h) // same numbering
	}
	return out
}

func findDigest(all []*weftv1.Plugin, digest string) *weftv1.Plugin {
	for _, p := range all {
		if p.GetSha256() == digest {
			return p
		}
	}
	return nil
}

// putWasm makes sure plugins/<digest>.wasm holds wasm.
func (s *Store) putWasm(ctx context.Context, digest string, wasm []byte) error {
	name := wasmObject(digest)
	ok, err := s.bucket.Exists(ctx, name)
	if err != nil {
		return fmt.Errorf("checking plugin module: %w", err)
	}
	if ok {
		return nil
	}
	if err := s.bucket.Create(ctx, name, wasm); err != nil {
		// Present already (a concurrent registration) is fine: the name
		// is the bytes' digest.
		if ok, xerr := s.bucket.Exists(ctx, name); xerr == nil && ok {
			return nil
		}
		return fmt.Errorf("storing plugin module: %w", err)
	}
	return nil
}

// putMeta writes meta's .json: with create, only if absent (a concurrent
// registration of the same bytes under another name loses).
func (s *Store) putMeta(ctx context.Context, meta *weftv1.Plugin, create bool) error {
	data, err := protojson.MarshalOptions{Multiline: true}.Marshal(meta)
	if err != nil {
		return fmt.Errorf("encoding plugin metadata: %w", err)
	}
	name := metaObject(meta.GetSha256())
	if !create {
		if err := s.bucket.Upload(ctx, name, data); err != nil {
			return fmt.Errorf("storing plugin metadata: %w", err)
		}
		return nil
	}
	if err := s.bucket.Create(ctx, name, data); err != nil {
		other, rerr := s.readMeta(ctx, meta.GetSha256())
		if rerr != nil || other == nil {
			return fmt.Errorf("storing plugin metadata: %w", err)
		}
		if other.GetName() != meta.GetName() {
			return alreadyRegistered(other)
		}
		// Registered under this name by someone else meanwhile: ours wins.
		return s.putMeta(ctx, meta, false)
	}
	return nil
}

// readMeta reads and checks plugins/<digest>.json; nil when absent.
func (s *Store) readMeta(ctx context.Context, digest string) (*weftv1.Plugin, error) {
	name := metaObject(digest)
	data, err := s.bucket.Get(ctx, name)
	if err != nil {
		if ok, xerr := s.bucket.Exists(ctx, name); xerr == nil && !ok {
			return nil, nil
		}
		return nil, fmt.Errorf("reading plugin metadata: %w", err)
	}
	var p weftv1.Plugin
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(data, &p); err != nil {
		s.log.Warn("ignoring unreadable plugin metadata", "object", name, "err", err)
		return nil, nil
	}
	if p.GetSha256() != digest || ValidName(p.GetName()) != nil {
		s.log.Warn("ignoring inconsistent plugin metadata", "object", name, "name", p.GetName(), "sha256", p.GetSha256())
		return nil, nil
	}
	return &p, nil
}

// scan reads every registration in the bucket, in object order.
func (s *Store) scan(ctx context.Context) ([]*weftv1.Plugin, error) {
	names, err := s.bucket.List(ctx, bucketPrefix)
	if err != nil {
		return nil, fmt.Errorf("listing plugins: %w", err)
	}
	var digests []string
	for _, n := range names {
		d, ok := strings.CutSuffix(strings.TrimPrefix(n, bucketPrefix), metaSuffix)
		if ok && isDigest(d) {
			digests = append(digests, d)
		}
	}
	metas := make([]*weftv1.Plugin, len(digests))
	errs := make([]error, len(digests))
	sem := make(chan struct{}, scanParallelism)
	var wg sync.WaitGroup
	for i, d := range digests {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			metas[i], errs[i] = s.readMeta(ctx, d)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return slices.DeleteFunc(metas, func(p *weftv1.Plugin) bool { return p == nil }), nil
}

func isDigest(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// newer reports whether registration a wins over b for one name.
func newer(a, b *weftv1.Plugin) bool {
	if c := a.GetCreateTime().AsTime().Compare(b.GetCreateTime().AsTime()); c != 0 {
		return c > 0
	}
	return a.GetSha256() > b.GetSha256()
}

// winners keeps the winning registration of each name.
func winners(all []*weftv1.Plugin) map[string]*weftv1.Plugin {
	m := make(map[string]*weftv1.Plugin, len(all))
	for _, p := range all {
		if cur := m[p.GetName()]; cur == nil || newer(p, cur) {
			m[p.GetName()] = p
		}
	}
	return m
}

// drop deletes a registration's .json, then its .wasm unless another
// .json references it again.
func (s *Store) drop(ctx context.Context, p *weftv1.Plugin) error {
	digest := p.GetSha256()
	if err := s.bucket.Delete(ctx, metaObject(digest)); err != nil {
		return fmt.Errorf("deleting plugin metadata: %w", err)
	}
	wasm, err := s.bucket.Get(ctx, wasmObject(digest))
	if err != nil {
		if ok, xerr := s.bucket.Exists(ctx, wasmObject(digest)); xerr == nil && !ok {
			return nil
		}
		return fmt.Errorf("reading plugin module: %w", err)
	}
	if ok, err := s.bucket.Exists(ctx, metaObject(digest)); err != nil || ok {
		return err // registered again meanwhile: keep the bytes
	}
	if err := s.bucket.Delete(ctx, wasmObject(digest)); err != nil {
		return fmt.Errorf("deleting plugin module: %w", err)
	}
	// A registration of the same bytes may have checked for the .wasm just
	// before it went: if its .json is there now, put the bytes back.
	if ok, err := s.bucket.Exists(ctx, metaObject(digest)); err != nil || !ok {
		return err
	}
	return s.putWasm(ctx, digest, wasm)
}

// List returns the registered plugins in name order.
func (s *Store) List(ctx context.Context) ([]*weftv1.Plugin, error) {
	all, err := s.scan(ctx)
	if err != nil {
		return nil, err
	}
	idx := winners(all)
	out := make([]*weftv1.Plugin, 0, len(idx))
	for _, p := range idx {
		out = append(out, proto.CloneOf(p))
	}
	s.setIndex(ctx, idx) // after reading idx: then Register may write it
	slices.SortFunc(out, func(a, b *weftv1.Plugin) int { return strings.Compare(a.GetName(), b.GetName()) })
	return out, nil
}

// Delete removes the plugin registered under name (ErrNotRegistered if
// none) and its module when no other name uses it, and unloads it from
// this process's host. Other processes stop resolving it within CacheTTL.
func (s *Store) Delete(ctx context.Context, name string) error {
	if err := ValidName(name); err != nil {
		return err
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	all, err := s.scan(ctx)
	if err != nil {
		return err
	}
	found := false
	for _, p := range all {
		if p.GetName() != name {
			continue
		}
		found = true
		if err := s.drop(ctx, p); err != nil {
			return err
		}
	}
	if !found {
		return notRegistered(name)
	}
	// The scan is fresh: the rest of it is the index (which unloads name).
	idx := winners(all)
	delete(idx, name)
	s.setIndex(ctx, idx)
	s.log.Info("plugin deleted", "plugin", name)
	return nil
}

// setIndex installs a fresh name → registration map and unloads the
// plugins this store loaded whose names are gone.
func (s *Store) setIndex(ctx context.Context, idx map[string]*weftv1.Plugin) {
	s.mu.Lock()
	s.index = idx
	s.indexAt = s.now()
	var gone []string
	for n := range s.loaded {
		if idx[n] == nil {
			gone = append(gone, n)
			delete(s.loaded, n)
		}
	}
	s.mu.Unlock()
	for _, n := range gone {
		s.host.Unload(ctx, n)
	}
}

// lookup returns name's registration from the index, refreshing the index
// when it is older than CacheTTL; nil when not registered.
func (s *Store) lookup(ctx context.Context, name string) (*weftv1.Plugin, error) {
	fresh := func() (*weftv1.Plugin, bool) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.indexAt.IsZero() || s.now().Sub(s.indexAt) >= s.cfg.CacheTTL {
			return nil, false
		}
		return s.index[name], true
	}
	if p, ok := fresh(); ok {
		return p, nil
	}
	s.refreshMu.Lock()
	defer s.refreshMu.Unlock()
	if p, ok := fresh(); ok { // refreshed while we waited
		return p, nil
	}
	all, err := s.scan(ctx)
	if err != nil {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.index != nil {
			// Keep serving what we knew while the bucket is unreachable,
			// and try again after another CacheTTL, not on every query.
			s.log.Warn("refreshing plugin registry; using the previous list", "err", err)
			s.indexAt = s.now()
			return s.index[name], nil
		}
		return nil, err
	}
	idx := winners(all)
	p := idx[name] // before setIndex: then Register may write idx
	s.setIndex(ctx, idx)
	return p, nil
}

// options are the host options of a registration, deadline defaulted as
// Host.Load does.
func (s *Store) options(p *weftv1.Plugin) Options {
	o := Options{Policy: FailClosed, Deadline: time.Duration(p.GetDeadlineMs()) * time.Millisecond}
	if p.GetFailurePolicy() == weftv1.FailurePolicy_FAILURE_POLICY_FAIL_OPEN {
		o.Policy = FailOpen
	}
	if o.Deadline <= 0 {
		o.Deadline = s.host.cfg.CallDeadline
	}
	return o
}

// Resolve returns the plugin registered under name, loaded into the host:
// the query path's entry. The first Resolve of a name in a process (or
// the first after the name maps to other bytes or options) reads the
// module from the bucket and loads it; concurrent Resolves share that
// load, and one that gives up (its ctx ends) leaves the load running for
// the next. Later Resolves cost a map lookup until CacheTTL passes.
//
// An unregistered name returns a *connect.Error with CodeNotFound that
// wraps ErrNotRegistered; a module the host refuses returns the host's
// *Error; anything else (the bucket) a plain error.
func (s *Store) Resolve(ctx context.Context, name string) (*Plugin, error) {
	meta, err := s.lookup(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("resolving plugin %q: %w", name, err)
	}
	if meta == nil {
		return nil, connect.NewError(connect.CodeNotFound, notRegistered(name))
	}
	opts := s.options(meta)
	current := func() *Plugin {
		if p := s.host.Get(name); p != nil && p.Info().SHA256 == meta.GetSha256() && p.Options() == opts {
			return p
		}
		return nil
	}
	if p := current(); p != nil {
		return p, nil
	}
	key := fmt.Sprintf("%s\x00%s\x00%d\x00%d", name, meta.GetSha256(), opts.Policy, opts.Deadline)
	s.mu.Lock()
	c := s.loads[key]
	if c == nil {
		// A load may have finished since the check above: it is in the
		// host before its call leaves s.loads, so looking again under the
		// lock closes the gap in which a second read of the module began.
		if p := current(); p != nil {
			s.mu.Unlock()
			return p, nil
		}
		c = &loadCall{done: make(chan struct{})}
		s.loads[key] = c
		go s.load(c, key, name, meta.GetSha256(), opts)
	}
	s.mu.Unlock()
	select {
	case <-c.done:
		return c.p, c.err
	case <-ctx.Done():
		return nil, fmt.Errorf("loading plugin %q: %w", name, ctx.Err())
	}
}

// load reads a module from the bucket and loads it into the host, for
// every Resolve waiting on c.
func (s *Store) load(c *loadCall, key, name, digest string, opts Options) {
	ctx, cancel := context.WithTimeout(context.Background(), loadTimeout)
	defer cancel()
	c.p, c.err = s.loadNow(ctx, name, digest, opts)
	s.mu.Lock()
	delete(s.loads, key)
	if c.err == nil {
		s.loaded[name] = true
	}
	s.mu.Unlock()
	close(c.done)
}

func (s *Store) loadNow(ctx context.Context, name, digest string, opts Options) (*Plugin, error) {
	wasm, err := s.bucket.Get(ctx, wasmObject(digest))
	if err != nil {
		// Replaced or deleted by another process since the index was read:
		// read the index again on the next Resolve.
		s.mu.Lock()
		s.indexAt = time.Time{}
		s.mu.Unlock()
		return nil, fmt.Errorf("reading plugin %q module %s: %w", name, digest, err)
	}
	if got := Digest(wasm); got != digest {
		return nil, fmt.Errorf("plugin %q: bucket object %s holds bytes with sha256 %s", name, wasmObject(digest), got)
	}
	p, err := s.host.Load(ctx, name, wasm, opts)
	if err != nil {
		return nil, err
	}
	// Deleted or replaced meanwhile by this process? Resolve sorts it out
	// next time; a deleted name is unloaded by the next index refresh.
	return p, nil
}
