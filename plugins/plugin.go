package plugins

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Plugin is a loaded module with its pool of instances. Its hook methods
// are safe for concurrent use; at most Config.PoolSize calls run at once,
// the others wait for a free instance within their deadline.
type Plugin struct {
	name string
	host *Host
	info Info
	opts Options
	hm   [4]hookMetrics
	inst prometheus.Gauge
	made prometheus.Counter

	pool    *instancePool
	done    chan struct{}
	closed  atomic.Bool
	calls   sync.RWMutex   // read-held by calls in flight; close takes it to wait for them
	workers sync.WaitGroup // the refiller
	lastLog atomic.Int64   // unix nanos of the last failure logged
}

func newPlugin(ctx context.Context, h *Host, name string, c *compiled, opts Options) (*Plugin, error) {
	n := h.cfg.PoolSize
	p := &Plugin{
		name: name,
		host: h,
		info: c.info,
		opts: opts,
		hm:   h.metrics.forPlugin(name),
		inst: h.metrics.instances.WithLabelValues(name),
		made: h.metrics.instantiations.WithLabelValues(name),
		pool: newInstancePool(n),
		done: make(chan struct{}),
	}
	// Instantiate the whole pool now: never on a query's path.
	for p.pool.reserve() {
		inst, err := p.instantiate(ctx)
		if err != nil {
			p.pool.discard()
			close(p.done)
			p.drain(ctx)
			return nil, err
		}
		p.pool.put(inst)
	}
	p.workers.Add(1)
	go p.refiller()
	return p, nil
}

// Name returns the name the plugin was loaded under.
func (p *Plugin) Name() string { return p.name }

// Info returns the module's digest, size, ABI version and hooks.
func (p *Plugin) Info() Info { return p.info }

// Options returns the plugin's failure policy and deadline.
func (p *Plugin) Options() Options { return p.opts }

// Has reports whether the plugin implements hook h. Calling a hook it does
// not implement is a no-op that passes the input through.
func (p *Plugin) Has(h Hook) bool { return p.info.Has(h) }

func (p *Plugin) instantiate(ctx context.Context) (*instance, error) {
	cctx, cancel := context.WithTimeout(ctx, p.host.initDeadline())
	defer cancel()
	c := p.host.compiledFor(p.info.SHA256)
	if c == nil {
		return nil, &Error{Plugin: p.name, Kind: ErrClosed, Detail: "module released"}
	}
	inst, err := newInstance(cctx, p.host.rt, c.mod, p.info)
	if err != nil {
		return nil, named(err, p.name)
	}
	p.made.Inc()
	p.inst.Inc()
	return inst, nil
}

// refiller makes fresh instances in the background, in place of discarded
// ones and of idle ones dropped for another tenant, so a trap or a new
// tenant costs the next queries nothing but a short wait.
func (p *Plugin) refiller() {
	defer p.workers.Done()
	for {
		select {
		case <-p.done:
			return
		case <-p.pool.refill:
		}
		for p.pool.reserve() {
			inst, err := p.instantiate(context.Background())
			if err != nil {
				p.pool.discard()
				p.host.logger.Error("plugin instance replacement failed", "plugin", p.name, "err", err)
				select {
				case <-p.done:
					return
				case <-time.After(time.Second):
				}
				continue
			}
			p.pool.put(inst)
		}
	}
}

// acquire takes a call slot and an instance of ctx's tenant.
func (p *Plugin) acquire(cctx, parent context.Context) (*instance, error) {
	fail := func() error {
		select {
		case <-p.done:
			return &Error{Plugin: p.name, Kind: ErrClosed, Detail: "plugin unloaded"}
		default:
		}
		if parent.Err() != nil {
			return &Error{Plugin: p.name, Kind: ErrCanceled, Detail: parent.Err().Error()}
		}
		return &Error{Plugin: p.name, Kind: ErrBusy, Detail: fmt.Sprintf("no free instance within %s (pool of %d)", p.opts.Deadline, p.pool.calls())}
	}
	select {
	case <-p.pool.slots:
	case <-p.done:
		return nil, fail()
	case <-cctx.Done():
		return nil, fail()
	}
	tenant := tenantOf(parent)
	for {
		inst, dropped, wait := p.pool.take(tenant)
		if dropped != nil {
			dropped.close(context.Background())
			p.inst.Dec()
		}
		if inst != nil {
			return inst, nil
		}
		select {
		case <-wait:
		case <-p.done:
			p.pool.slots <- struct{}{}
			return nil, fail()
		case <-cctx.Done():
			p.pool.slots <- struct{}{}
			return nil, fail()
		}
	}
}

// release returns an instance and its call slot; a broken one is closed
// and replaced in the background.
func (p *Plugin) release(inst *instance, broken bool) {
	if broken || inst.mod.IsClosed() {
		inst.close(context.Background())
		p.inst.Dec()
		p.pool.discard()
	} else {
		p.pool.put(inst)
	}
	p.pool.slots <- struct{}{}
}

// close stops new calls, waits for those in flight (each ends by its
// deadline) and closes the instances.
func (p *Plugin) close(ctx context.Context) {
	if p.closed.Swap(true) {
		return
	}
	close(p.done)  // wakes calls waiting for an instance
	p.calls.Lock() // waits for calls in flight; later ones see closed
	//lint:ignore SA2001 the lock is a barrier, nothing to guard
	p.calls.Unlock()
	p.workers.Wait()
	p.drain(ctx)
	p.host.releaseCompiled(ctx, p.info.SHA256)
}

func (p *Plugin) drain(ctx context.Context) {
	for _, inst := range p.pool.takeAll() {
		inst.close(ctx)
		p.inst.Dec()
	}
}

func (h *Host) compiledFor(digest string) *compiled {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.compiled[digest]
}

// call runs one hook call: take an instance, write the input into its
// memory, call the hook under the deadline, check the output and hand its
// payload to decode.
func (p *Plugin) call(ctx context.Context, hook Hook, in *input, decode func(payload []byte, nprobe uint32) error) error {
	p.calls.RLock()
	defer p.calls.RUnlock()
	if p.closed.Load() {
		return &Error{Plugin: p.name, Hook: hook, Kind: ErrClosed, Detail: "plugin unloaded"}
	}
	if err := ctx.Err(); err != nil {
		// Do not spend (and lose) an instance on a query that is gone.
		return &Error{Plugin: p.name, Hook: hook, Kind: ErrCanceled, Detail: err.Error(), Err: err}
	}
	cctx, cancel := context.WithTimeout(ctx, p.opts.Deadline)
	defer cancel()
	inst, err := p.acquire(cctx, ctx)
	if err != nil {
		err.(*Error).Hook = hook
		return err
	}
	broken := true
	defer func() { p.release(inst, broken) }()

	l := in.plan()
	if limit := uint64(p.host.cfg.MemoryLimitPages) << 16; uint64(l.total) >= limit {
		broken = false
		return &Error{Plugin: p.name, Hook: hook, Kind: ErrTooLarge, Detail: fmt.Sprintf("input of %d candidates is %d bytes, more than the instance memory limit of %d bytes", in.count, l.total, limit)}
	}
	ptr, err := inst.input(cctx, uint32(l.total))
	if err != nil {
		return p.wrap(hook, classify(cctx, ctx, err, inst, p.opts.Deadline))
	}
	buf, ok := inst.mem.Read(ptr, uint32(l.total))
	if !ok {
		return &Error{Plugin: p.name, Hook: hook, Kind: ErrABI, Detail: "input buffer outside guest memory"}
	}
	in.encode(buf, &l)
	inst.stderr.reset()
	inst.stack[0], inst.stack[1] = uint64(ptr), uint64(l.total)
	if err := inst.hooks[hook].CallWithStack(cctx, inst.stack[:]); err != nil {
		return p.wrap(hook, classify(cctx, ctx, err, inst, p.opts.Deadline))
	}
	res := inst.stack[0]
	err = p.output(inst, hook, in.count, uint32(res>>32), uint32(res), decode)
	if err == nil || errors.Is(err, ErrGuest) {
		// A guest that reports an error cleanly is still sound.
		broken = false
	}
	return err
}

func (p *Plugin) wrap(hook Hook, err error) error {
	var e *Error
	if errors.As(err, &e) {
		c := *e
		c.Plugin, c.Hook = p.name, hook
		return &c
	}
	return err
}

func (p *Plugin) output(inst *instance, hook Hook, count int, ptr, n uint32, decode func([]byte, uint32) error) error {
	bad := func(format string, args ...any) error {
		return &Error{Plugin: p.name, Hook: hook, Kind: ErrOutput, Detail: fmt.Sprintf(format, args...)}
	}
	want := outHeaderSize + payloadSize(hook, count)
	if n < outHeaderSize {
		return bad("output is %d bytes, shorter than its %d-byte header", n, outHeaderSize)
	}
	out, ok := inst.mem.Read(ptr, n)
	if !ok {
		return bad("output [%#x, +%d) lies outside guest memory of %d bytes", ptr, n, inst.mem.Size())
	}
	if m := le.Uint32(out[oMagic:]); m != abiMagic {
		return bad("output header has magic %#x, want %#x", m, abiMagic)
	}
	if status := le.Uint32(out[oStatus:]); status != 0 {
		msgLen := le.Uint32(out[oMsgLen:])
		if uint64(msgLen) > uint64(n-outHeaderSize) {
			return bad("error message of %d bytes overruns the %d-byte output", msgLen, n)
		}
		msg := out[outHeaderSize : outHeaderSize+min(msgLen, maxErrMsg)]
		return &Error{Plugin: p.name, Hook: hook, Kind: ErrGuest, Detail: fmt.Sprintf("status %d: %s", status, sanitize(msg))}
	}
	if int(n) > want {
		return bad("output is %d bytes, too large: %d candidates need %d", n, count, want)
	}
	if c := le.Uint32(out[oCount:]); int(c) != count {
		return bad("output has %d entries for %d inputs", c, count)
	}
	if int(n) != want {
		return bad("output is %d bytes, %d candidates need %d", n, count, want)
	}
	return decode(out[outHeaderSize:], le.Uint32(out[oNProbe:]))
}

func sanitize(b []byte) string {
	out := make([]rune, 0, len(b))
	for _, r := range string(b) {
		if r < 0x20 && r != '\t' {
			r = ' '
		}
		out = append(out, r)
	}
	return string(out)
}

// finish records a call's metrics and applies the failure policy: it
// returns (swallowed, returned) errors.
func (p *Plugin) finish(hook Hook, start time.Time, err error) (error, error) {
	m := &p.hm[hook]
	m.calls.Inc()
	m.duration.Observe(time.Since(start).Seconds())
	if err == nil {
		return nil, nil
	}
	m.errors[reason(err)].Inc()
	if now := time.Now().UnixNano(); now-p.lastLog.Load() > int64(time.Second) {
		p.lastLog.Store(now)
		p.host.logger.Warn("plugin call failed", "plugin", p.name, "hook", hook.String(), "policy", p.opts.Policy.String(), "err", err)
	}
	if p.opts.Policy == FailOpen && !errors.Is(err, ErrCanceled) {
		m.failOpen.Inc()
		return err, nil
	}
	return nil, err
}

// Route asks the plugin which shards to probe. params are the query's
// PluginCall params. Without a route hook it returns a nil-weight result
// (probe as planned).
func (p *Plugin) Route(ctx context.Context, params map[string]string, req RouteRequest) (RouteResult, error) {
	if !p.Has(HookRoute) {
		return RouteResult{}, nil
	}
	start := time.Now()
	n := len(req.Shards)
	in := &input{
		hook: HookRoute, count: n, dim: len(req.Query), metric: req.Metric, topK: req.TopK,
		nowMS: start.UnixMilli(), nprobe: req.NProbe, params: params,
		ids: make([]string, n), sizes: make([]int64, n), query: req.Query,
	}
	for i, s := range req.Shards {
		in.ids[i], in.sizes[i] = s.Key, s.Size
	}
	var res RouteResult
	err := p.call(ctx, HookRoute, in, func(payload []byte, nprobe uint32) error {
		w := make([]float32, n)
		getF32s(payload, w)
		for i, x := range w {
			if math.IsNaN(float64(x)) || x < 0 {
				return &Error{Plugin: p.name, Hook: HookRoute, Kind: ErrOutput, Detail: fmt.Sprintf("weight of shard %q is %v; weights must be ≥ 0", req.Shards[i].Key, x)}
			}
		}
		res.Weights, res.NProbe = w, int(nprobe)
		return nil
	})
	skipped, err := p.finish(HookRoute, start, err)
	if err != nil {
		return RouteResult{}, err
	}
	if skipped != nil {
		return RouteResult{Skipped: skipped}, nil
	}
	return res, nil
}

// Filter asks the plugin which candidates to keep. With b.Distances set it
// is a post-ANN verdict; with nil Distances it is a pre-ANN predicate over
// documents, whose kept ids make an allow-list for the planner. Inputs
// larger than Config.MaxFilterBatch are sent in several calls. Without a
// filter hook everything is kept.
func (p *Plugin) Filter(ctx context.Context, params map[string]string, b *Batch) (FilterResult, error) {
	n := b.Len()
	keepAll := func() []bool {
		k := make([]bool, n)
		for i := range k {
			k[i] = true
		}
		return k
	}
	if !p.Has(HookFilter) || n == 0 {
		return FilterResult{Keep: keepAll()}, nil
	}
	if err := b.validate(); err != nil {
		return FilterResult{}, fmt.Errorf("plugin %q filter: %w", p.name, err)
	}
	start := time.Now()
	keep := make([]bool, n)
	var err error
	step := p.host.cfg.MaxFilterBatch
	for lo := 0; lo < n; lo += step {
		hi := min(lo+step, n)
		chunk := b
		if lo != 0 || hi != n {
			chunk = b.slice(lo, hi)
		}
		in := batchInput(HookFilter, chunk, params, start)
		err = p.call(ctx, HookFilter, in, func(payload []byte, _ uint32) error {
			for i, v := range payload[:hi-lo] {
				if v > 1 {
					return &Error{Plugin: p.name, Hook: HookFilter, Kind: ErrOutput, Detail: fmt.Sprintf("verdict of candidate %q is %d; want 0 (drop) or 1 (keep)", chunk.IDs[i], v)}
				}
				keep[lo+i] = v == 1
			}
			return nil
		})
		if err != nil {
			break
		}
	}
	skipped, err := p.finish(HookFilter, start, err)
	if err != nil {
		return FilterResult{}, err
	}
	if skipped != nil {
		return FilterResult{Keep: keepAll(), Skipped: skipped}, nil
	}
	return FilterResult{Keep: keep}, nil
}

// Rerank asks the plugin for a new score per candidate (higher is better)
// and orders the candidates by it, descending, ties in batch order. Without
// a rerank hook, or when a fail-open plugin fails, the order is unchanged
// and Scores is nil.
func (p *Plugin) Rerank(ctx context.Context, params map[string]string, b *Batch) (RerankResult, error) {
	n := b.Len()
	identity := func() []int {
		o := make([]int, n)
		for i := range o {
			o[i] = i
		}
		return o
	}
	if !p.Has(HookRerank) || n == 0 {
		return RerankResult{Order: identity()}, nil
	}
	if err := b.validate(); err != nil {
		return RerankResult{}, fmt.Errorf("plugin %q rerank: %w", p.name, err)
	}
	start := time.Now()
	in := batchInput(HookRerank, b, params, start)
	scores := make([]float32, n)
	err := p.call(ctx, HookRerank, in, func(payload []byte, _ uint32) error {
		getF32s(payload, scores)
		for i, s := range scores {
			if math.IsNaN(float64(s)) {
				return &Error{Plugin: p.name, Hook: HookRerank, Kind: ErrOutput, Detail: fmt.Sprintf("score of candidate %q is NaN", b.IDs[i])}
			}
		}
		return nil
	})
	skipped, err := p.finish(HookRerank, start, err)
	if err != nil {
		return RerankResult{}, err
	}
	if skipped != nil {
		return RerankResult{Order: identity(), Skipped: skipped}, nil
	}
	order := identity()
	slices.SortStableFunc(order, func(i, j int) int { return cmp.Compare(scores[j], scores[i]) })
	return RerankResult{Scores: scores, Order: order}, nil
}

func batchInput(hook Hook, b *Batch, params map[string]string, now time.Time) *input {
	in := &input{
		hook: hook, count: b.Len(), dim: b.Dim, metric: b.Metric, topK: b.TopK,
		nowMS: now.UnixMilli(), params: params, ids: b.IDs, dist: b.Distances,
		query: b.Query, vectors: b.Vectors, attrs: b.Attributes,
	}
	if !slices.IsSortedFunc(in.attrs, byName) {
		in.attrs = slices.SortedFunc(slices.Values(in.attrs), byName)
	}
	if in.dim == 0 {
		in.dim = len(b.Query)
	}
	if b.Distances != nil {
		in.flags |= flagDistances
	} else {
		in.flags |= flagPreANN
	}
	if b.Vectors != nil {
		in.flags |= flagVectors
	}
	return in
}

func byName(a, b Column) int { return strings.Compare(a.Name, b.Name) }
