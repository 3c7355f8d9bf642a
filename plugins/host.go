package plugins

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"

	"github.com/weftdb/weft/plugins/meter"
)

// Host runs plugins: one wazero runtime, compiled modules shared by digest,
// and the loaded plugins by name. It is safe for concurrent use.
type Host struct {
	cfg     Config
	logger  *slog.Logger
	metrics *metrics
	cache   wazero.CompilationCache
	rt      wazero.Runtime

	mu       sync.Mutex
	closed   bool
	compiled map[string]*compiled // by hex sha256
	plugins  map[string]*Plugin   // by name
	retired  sync.WaitGroup       // replaced plugins still draining
	compiles sync.WaitGroup       // compiles running, abandoned ones too
}

type compiled struct {
	mod  wazero.CompiledModule
	info Info
	refs int
}

// Info describes a valid plugin module.
type Info struct {
	SHA256     string `json:"sha256"` // hex
	Size       int    `json:"size_bytes"`
	ABIVersion uint32 `json:"abi_version"`
	Hooks      []Hook `json:"hooks"` // in hook order; JSON as names
}

// Has reports whether the module implements hook h.
func (i Info) Has(h Hook) bool { return slices.Contains(i.Hooks, h) }

// NewHost creates a host. A nil logger discards logs; a nil registerer
// keeps the metrics unregistered. Call Close to release it.
func NewHost(cfg Config, logger *slog.Logger, reg prometheus.Registerer) (*Host, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	var cache wazero.CompilationCache
	if cfg.CompileCacheDir != "" {
		var err error
		cache, err = wazero.NewCompilationCacheWithDir(cfg.CompileCacheDir)
		if err != nil {
			return nil, fmt.Errorf("opening plugin compile cache %s: %w", cfg.CompileCacheDir, err)
		}
	} else {
		cache = wazero.NewCompilationCache()
	}
	// A guest's deadline is enforced by plugins/meter's budget counter,
	// which calls back into tick, not by WithCloseOnContextDone: that one
	// leaves native code for Go at every loop iteration (70 ns each) and
	// starts a goroutine per call.
	rc := wazero.NewRuntimeConfig().
		WithCompilationCache(cache).
		WithMemoryLimitPages(cfg.MemoryLimitPages)
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, rc)
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		_ = rt.Close(ctx)
		_ = cache.Close(ctx)
		return nil, fmt.Errorf("instantiating WASI for plugins: %w", err)
	}
	_, err := rt.NewHostModuleBuilder(meter.Module).
		NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(tick), nil, []api.ValueType{api.ValueTypeI32}).
		Export(meter.Func).
		Instantiate(ctx)
	if err != nil {
		_ = rt.Close(ctx)
		_ = cache.Close(ctx)
		return nil, fmt.Errorf("instantiating the plugin meter: %w", err)
	}
	return &Host{
		cfg:      cfg,
		logger:   logger,
		metrics:  newMetrics(reg),
		cache:    cache,
		rt:       rt,
		compiled: map[string]*compiled{},
		plugins:  map[string]*Plugin{},
	}, nil
}

// Digest returns the hex sha256 of a module, the key it is stored and
// compiled under.
func Digest(wasm []byte) string {
	s := sha256.Sum256(wasm)
	return hex.EncodeToString(s[:])
}

// Validate checks that wasm is a plugin this host can run: size, imports
// (WASI only), exports (memory, weft_abi_version, weft_alloc and at least
// one hook, with the right signatures) and the ABI version the module
// reports. RegisterPlugin calls it before storing a module.
func (h *Host) Validate(ctx context.Context, wasm []byte) (Info, error) {
	c, err := h.acquireCompiled(ctx, wasm)
	if err != nil {
		return Info{}, err
	}
	info := c.info
	h.releaseCompiled(ctx, info.SHA256)
	return info, nil
}

// acquireCompiled compiles and validates wasm, or returns the cached result,
// with one more reference.
func (h *Host) acquireCompiled(ctx context.Context, wasm []byte) (*compiled, error) {
	if len(wasm) > h.cfg.MaxModuleBytes {
		return nil, &Error{Plugin: "", Kind: ErrTooLarge, Detail: fmt.Sprintf("module is %d bytes, the limit is %d", len(wasm), h.cfg.MaxModuleBytes)}
	}
	digest := Digest(wasm)
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, &Error{Kind: ErrClosed, Detail: "host closed"}
	}
	if c := h.compiled[digest]; c != nil {
		c.refs++
		h.mu.Unlock()
		return c, nil
	}
	h.mu.Unlock()

	// Compile outside the lock: it can take seconds for a Go module on a
	// cold cache. Two loaders of the same bytes may race; the loser's copy
	// is closed below.
	start := time.Now()
	metered, err := meter.Instrument(wasm)
	if err != nil {
		return nil, &Error{Kind: ErrInvalidModule, Detail: err.Error(), Err: err}
	}
	mod, err := h.compile(ctx, metered)
	h.metrics.compiles.Inc()
	h.metrics.compileSeconds.Observe(time.Since(start).Seconds())
	var he *Error
	if errors.As(err, &he) {
		return nil, err
	}
	if err != nil {
		return nil, &Error{Kind: ErrInvalidModule, Detail: err.Error(), Err: err}
	}
	info, err := h.check(ctx, mod, digest, len(wasm))
	if err != nil {
		_ = mod.Close(ctx)
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if c := h.compiled[digest]; c != nil {
		c.refs++
		_ = mod.Close(ctx)
		return c, nil
	}
	c := &compiled{mod: mod, info: info, refs: 1}
	h.compiled[digest] = c
	return c, nil
}

// compile compiles a module within the compile deadline. wazero does not
// stop a compile midway: one past the deadline finishes in the background
// and its result is closed.
func (h *Host) compile(ctx context.Context, wasm []byte) (wazero.CompiledModule, error) {
	type result struct {
		mod wazero.CompiledModule
		err error
	}
	// Close waits for every compile, abandoned ones too, before it closes
	// the runtime they use.
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, &Error{Kind: ErrClosed, Detail: "host closed"}
	}
	h.compiles.Add(1)
	h.mu.Unlock()
	done, abandon := make(chan result), make(chan struct{})
	go func() {
		defer h.compiles.Done()
		mod, err := h.rt.CompileModule(context.WithoutCancel(ctx), wasm)
		select {
		case done <- result{mod, err}:
		case <-abandon:
			if err == nil {
				_ = mod.Close(context.Background())
			}
		}
	}()
	t := time.NewTimer(h.cfg.CompileDeadline)
	defer t.Stop()
	select {
	case r := <-done:
		return r.mod, r.err
	case <-t.C:
	case <-ctx.Done():
	}
	close(abandon)
	if ctx.Err() != nil {
		return nil, &Error{Kind: ErrCanceled, Detail: ctx.Err().Error(), Err: ctx.Err()}
	}
	return nil, &Error{Kind: ErrTooLarge, Detail: fmt.Sprintf("compiling the module took longer than %s (--plugins.compile-deadline): make it smaller", h.cfg.CompileDeadline)}
}

func (h *Host) releaseCompiled(ctx context.Context, digest string) {
	h.mu.Lock()
	c := h.compiled[digest]
	if c == nil {
		h.mu.Unlock()
		return
	}
	c.refs--
	if c.refs > 0 {
		h.mu.Unlock()
		return
	}
	delete(h.compiled, digest)
	h.mu.Unlock()
	_ = c.mod.Close(ctx)
}

var (
	sigVersion = sig{nil, []api.ValueType{api.ValueTypeI32}}
	sigAlloc   = sig{[]api.ValueType{api.ValueTypeI32}, []api.ValueType{api.ValueTypeI32}}
	sigHook    = sig{[]api.ValueType{api.ValueTypeI32, api.ValueTypeI32}, []api.ValueType{api.ValueTypeI64}}
)

type sig struct{ params, results []api.ValueType }

func (s sig) matches(d api.FunctionDefinition) bool {
	return slices.Equal(s.params, d.ParamTypes()) && slices.Equal(s.results, d.ResultTypes())
}

func (s sig) String() string {
	return fmt.Sprintf("%s -> %s", typesString(s.params), typesString(s.results))
}

func typesString(ts []api.ValueType) string {
	out := "("
	for i, t := range ts {
		if i > 0 {
			out += ", "
		}
		out += api.ValueTypeName(t)
	}
	return out + ")"
}

// check validates a compiled module's imports and exports, then
// instantiates it once to read its ABI version.
func (h *Host) check(ctx context.Context, mod wazero.CompiledModule, digest string, size int) (Info, error) {
	abi := func(format string, args ...any) (Info, error) {
		return Info{}, &Error{Kind: ErrABI, Detail: fmt.Sprintf(format, args...)}
	}
	for _, f := range mod.ImportedFunctions() {
		m, n, _ := f.Import()
		if m == meter.Module && n == meter.Func {
			continue // added by meter.Instrument
		}
		if m != wasi_snapshot_preview1.ModuleName {
			return abi("module imports %s.%s; plugins may import only %s", m, n, wasi_snapshot_preview1.ModuleName)
		}
	}
	if len(mod.ImportedMemories()) > 0 {
		return abi("module imports a memory; plugins must export theirs as \"memory\"")
	}
	if _, ok := mod.ExportedMemories()["memory"]; !ok {
		return abi("module exports no memory named \"memory\"")
	}
	exports := mod.ExportedFunctions()
	need := func(name string, s sig) error {
		d, ok := exports[name]
		if !ok {
			return &Error{Kind: ErrABI, Detail: fmt.Sprintf("module does not export %s", name)}
		}
		if !s.matches(d) {
			return &Error{Kind: ErrABI, Detail: fmt.Sprintf("export %s has type %s -> %s, want %s", name, typesString(d.ParamTypes()), typesString(d.ResultTypes()), s)}
		}
		return nil
	}
	if err := need("weft_abi_version", sigVersion); err != nil {
		return Info{}, err
	}
	if err := need("weft_alloc", sigAlloc); err != nil {
		return Info{}, err
	}
	info := Info{SHA256: digest, Size: size}
	for _, hk := range allHooks {
		if _, ok := exports[hk.export()]; !ok {
			continue
		}
		if err := need(hk.export(), sigHook); err != nil {
			return Info{}, err
		}
		info.Hooks = append(info.Hooks, hk)
	}
	if len(info.Hooks) == 0 {
		return abi("module exports no hook (weft_route, weft_filter or weft_rerank)")
	}

	// Instantiating runs the module's initialisation (Go's runtime, C
	// constructors): bound it like a call.
	cctx, cancel := context.WithTimeout(ctx, h.initDeadline())
	defer cancel()
	inst, err := newInstance(cctx, h.rt, mod, info)
	if err != nil {
		return Info{}, err
	}
	defer inst.close(ctx)
	stack := []uint64{0}
	if err := inst.version.CallWithStack(cctx, stack); err != nil {
		return Info{}, classify(cctx, ctx, err, inst, h.initDeadline())
	}
	info.ABIVersion = api.DecodeU32(stack[0])
	if info.ABIVersion != ABIVersion {
		return abi("module speaks ABI version %d, this host speaks %d", info.ABIVersion, ABIVersion)
	}
	return info, nil
}

// initDeadline bounds instantiation and validation calls: module start-up
// (a Go runtime's init) takes longer than a hook call.
func (h *Host) initDeadline() time.Duration { return h.cfg.InitDeadline }

// FailurePolicy says what a query does when a plugin's hook call fails.
type FailurePolicy int

// Failure policies.
const (
	// FailClosed: the hook call returns the error and the query fails.
	FailClosed FailurePolicy = iota
	// FailOpen: the hook is skipped, the stage's input passes through, the
	// result's Skipped field carries the error.
	FailOpen
)

// String returns the policy's name.
func (p FailurePolicy) String() string {
	if p == FailOpen {
		return "fail-open"
	}
	return "fail-closed"
}

// Options are a plugin's per-registration settings.
type Options struct {
	Policy FailurePolicy
	// Deadline of one call; 0 means the host's CallDeadline.
	Deadline time.Duration
}

// Load compiles (once per digest, through the compile cache), validates and
// instantiates a plugin's pool under name, and returns it. Loading a name
// again with the same bytes and options returns the loaded plugin; with
// other bytes or options it replaces it: calls in flight finish on the old
// one, which is then closed.
func (h *Host) Load(ctx context.Context, name string, wasm []byte, opts Options) (*Plugin, error) {
	digest := Digest(wasm)
	if opts.Deadline <= 0 {
		opts.Deadline = h.cfg.CallDeadline
	}
	h.mu.Lock()
	if old := h.plugins[name]; old != nil && old.info.SHA256 == digest && old.opts == opts {
		h.mu.Unlock()
		return old, nil
	}
	h.mu.Unlock()

	c, err := h.acquireCompiled(ctx, wasm)
	if err != nil {
		return nil, named(err, name)
	}
	p, err := newPlugin(ctx, h, name, c, opts)
	if err != nil {
		h.releaseCompiled(ctx, c.info.SHA256)
		return nil, named(err, name)
	}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		p.close(ctx)
		return nil, &Error{Plugin: name, Kind: ErrClosed, Detail: "host closed"}
	}
	old := h.plugins[name]
	h.plugins[name] = p
	if old != nil {
		h.retired.Add(1)
	}
	h.mu.Unlock()
	if old != nil {
		go func() {
			defer h.retired.Done()
			old.close(context.Background())
		}()
	}
	h.logger.Info("plugin loaded", "plugin", name, "sha256", c.info.SHA256, "hooks", fmt.Sprint(c.info.Hooks), "policy", opts.Policy.String(), "deadline", opts.Deadline)
	return p, nil
}

func named(err error, name string) error {
	var e *Error
	if errors.As(err, &e) && e.Plugin == "" {
		c := *e
		c.Plugin = name
		return &c
	}
	return err
}

// Get returns the plugin loaded under name, or nil.
func (h *Host) Get(name string) *Plugin {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.plugins[name]
}

// Plugins returns the loaded plugins' names, sorted.
func (h *Host) Plugins() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	names := make([]string, 0, len(h.plugins))
	for n := range h.plugins {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Unload closes the plugin loaded under name, after its calls in flight
// end, and drops its metrics. Unloading an unknown name is not an error.
func (h *Host) Unload(ctx context.Context, name string) {
	h.mu.Lock()
	p := h.plugins[name]
	delete(h.plugins, name)
	h.mu.Unlock()
	if p != nil {
		p.close(ctx)
		h.metrics.deletePlugin(name)
		h.logger.Info("plugin unloaded", "plugin", name)
	}
}

// Close unloads every plugin and releases the runtime and compile cache.
func (h *Host) Close(ctx context.Context) error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	ps := h.plugins
	h.plugins = map[string]*Plugin{}
	h.mu.Unlock()
	for _, p := range ps {
		p.close(ctx)
	}
	h.retired.Wait()
	h.compiles.Wait()
	return errors.Join(h.rt.Close(ctx), h.cache.Close(ctx))
}

// tick is the import meter.Instrument adds: a guest calls it every
// meter.Budget instructions or so. It ends the call once its context is
// done or past its deadline (read from the clock, not a timer, which a busy
// scheduler could run late) and otherwise grants the next budget.
func tick(ctx context.Context, _ api.Module, stack []uint64) {
	if err := ctx.Err(); err != nil {
		if errors.Is(err, context.Canceled) {
			panic(sys.NewExitError(sys.ExitCodeContextCanceled))
		}
		panic(sys.NewExitError(sys.ExitCodeDeadlineExceeded))
	}
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		panic(sys.NewExitError(sys.ExitCodeDeadlineExceeded))
	}
	stack[0] = meter.Budget
}
