package plugins

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func testConfig() Config {
	c := DefaultConfig()
	c.PoolSize = 2
	c.CallDeadline = 50 * time.Millisecond
	c.MemoryLimitPages = 256 // 16 MiB
	c.InitDeadline = 500 * time.Millisecond
	return c
}

type testHost struct {
	*Host
	reg *prometheus.Registry
}

func newTestHost(t testing.TB, cfg Config) testHost {
	t.Helper()
	reg := prometheus.NewRegistry()
	h, err := NewHost(cfg, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := h.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return testHost{h, reg}
}

func hostile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "hostile", name+".wasm"))
	if err != nil {
		t.Fatalf("%v (rebuild with scripts/build-plugins.sh hostile)", err)
	}
	return b
}

func mustLoad(t testing.TB, h testHost, name string, wasm []byte, opts Options) *Plugin {
	t.Helper()
	p, err := h.Load(context.Background(), name, wasm, opts)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func abcBatch() *Batch {
	return &Batch{IDs: []string{"a", "b", "c"}, Distances: []float32{0.1, 0.2, 0.3}, TopK: 3, Metric: MetricL2}
}

func TestValidate(t *testing.T) {
	h := newTestHost(t, testConfig())
	ctx := context.Background()
	good := hostile(t, "good")
	info, err := h.Validate(ctx, good)
	if err != nil {
		t.Fatal(err)
	}
	if want := []Hook{HookRoute, HookFilter, HookRerank}; !slices.Equal(info.Hooks, want) {
		t.Errorf("hooks %v, want %v", info.Hooks, want)
	}
	if info.ABIVersion != ABIVersion || info.Size != len(good) || info.SHA256 != Digest(good) {
		t.Errorf("info %+v", info)
	}

	cases := []struct {
		module string
		kind   error
		msg    string
	}{
		{"abi_wrong", ErrABI, "ABI version 99"},
		{"abi_missing", ErrABI, "does not export weft_abi_version"},
		{"abi_bad_signature", ErrABI, "export weft_rerank has type (i32, i32) -> (i32)"},
		{"no_hooks", ErrABI, "exports no hook"},
		{"foreign_import", ErrABI, "imports env.steal"},
		{"memory_min_huge", ErrInvalidModule, "memory"},
		{"init_loop", ErrDeadline, "initialisation"},
	}
	for _, c := range cases {
		t.Run(c.module, func(t *testing.T) {
			start := time.Now()
			_, err := h.Validate(ctx, hostile(t, c.module))
			if !errors.Is(err, c.kind) || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("got %v, want %v containing %q", err, c.kind, c.msg)
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("took %s", d)
			}
			t.Log(err)
		})
	}
	if _, err := h.Validate(ctx, []byte("\x00asm garbage")); !errors.Is(err, ErrInvalidModule) {
		t.Errorf("garbage: %v", err)
	}
	cfg := testConfig()
	cfg.MaxModuleBytes = 100
	small := newTestHost(t, cfg)
	if _, err := small.Validate(ctx, good); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "limit is 100") {
		t.Errorf("size limit: %v", err)
	}
}

func TestRerank(t *testing.T) {
	h := newTestHost(t, testConfig())
	p := mustLoad(t, h, "good", hostile(t, "good"), Options{})
	res, err := p.Rerank(context.Background(), map[string]string{"bonus": "1"}, abcBatch())
	if err != nil {
		t.Fatal(err)
	}
	want := []float32{-0.1, -float32(0.2) + 1, -0.3}
	if !slices.Equal(res.Scores, want) {
		t.Errorf("scores %v, want %v", res.Scores, want)
	}
	if !slices.Equal(res.Order, []int{1, 0, 2}) {
		t.Errorf("order %v", res.Order)
	}
	// Without params the scores are -distance and the order is unchanged.
	res, err = p.Rerank(context.Background(), nil, abcBatch())
	if err != nil || !slices.Equal(res.Order, []int{0, 1, 2}) || res.Scores[2] != -0.3 {
		t.Errorf("no params: %+v %v", res, err)
	}
}

func TestFilter(t *testing.T) {
	cfg := testConfig()
	cfg.MaxFilterBatch = 3
	h := newTestHost(t, cfg)
	p := mustLoad(t, h, "good", hostile(t, "good"), Options{})
	ids := []string{"a", "xb", "c", "xd", "e", "f", "xg", "h", "i", "x"}
	b := &Batch{IDs: ids, Distances: make([]float32, len(ids))}
	res, err := p.Filter(context.Background(), nil, b)
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, i := range res.Kept() {
		kept = append(kept, ids[i])
	}
	if want := []string{"a", "c", "e", "f", "h", "i"}; !slices.Equal(kept, want) {
		t.Errorf("kept %v, want %v", kept, want)
	}
	// Pre-ANN: no distances.
	res, err = p.Filter(context.Background(), nil, &Batch{IDs: []string{"xa", "b"}})
	if err != nil || !slices.Equal(res.Keep, []bool{false, true}) {
		t.Errorf("pre-ANN: %+v %v", res, err)
	}
	// A guest error is reported and leaves the instance in the pool.
	_, err = p.Filter(context.Background(), map[string]string{"fail": "1"}, b)
	if !errors.Is(err, ErrGuest) || !strings.Contains(err.Error(), `plugin "good" filter: plugin error: status 1: asked to fail by params`) {
		t.Errorf("guest error: %v", err)
	}
	if n := value(h.metrics.instantiations.WithLabelValues("good")); n != 3 {
		t.Errorf("instantiations %v, want 3 (a pool of 2 and a spare)", n)
	}
}

func TestRoute(t *testing.T) {
	h := newTestHost(t, testConfig())
	p := mustLoad(t, h, "good", hostile(t, "good"), Options{})
	shards := []Shard{{"acme", 10}, {"globex", 30}, {"initech", 20}}
	res, err := p.Route(context.Background(), nil, RouteRequest{Shards: shards})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Weights, []float32{10, 30, 20}) || !slices.Equal(res.Selected(3), []int{1, 2, 0}) {
		t.Errorf("all: %+v %v", res, res.Selected(3))
	}
	res, err = p.Route(context.Background(), map[string]string{"tenant": "globex", "nprobe": "1"}, RouteRequest{Shards: shards})
	if err != nil || !slices.Equal(res.Weights, []float32{0, 30, 0}) || res.NProbe != 1 || !slices.Equal(res.Selected(3), []int{1}) {
		t.Errorf("tenant: %+v %v", res, err)
	}
}

func TestAttributesReachTheGuest(t *testing.T) {
	// The wire format is checked end to end by the example plugins; here the
	// encoder's layout is pinned (change ABIVersion if this has to change).
	rows := []map[string]any{
		{"tenant": "acme", "n": 3, "score": 0.5, "ok": true, "tags": []string{"x", "yz"}},
		{"tenant": "globex", "tags": []string{}},
	}
	cols, err := ColumnsFromRows(rows)
	if err != nil {
		t.Fatal(err)
	}
	in := batchInput(HookRerank, &Batch{IDs: []string{"a", "bb"}, Distances: []float32{1, 2}, Attributes: cols, Query: []float32{1, 0}}, map[string]string{"k": "v"}, time.UnixMilli(1700000000000))
	l := in.plan()
	buf := make([]byte, l.total)
	in.encode(buf, &l)
	if got, want := Digest(buf), "5952bf7447d62818c6a7587cd9d73b9ac34cc007b5466821e99ff557b73899d7"; got != want {
		t.Errorf("encoding changed: sha256 %s, want %s (%d bytes)", got, want, len(buf))
	}
	if le.Uint32(buf[hNAttrs:]) != 5 || le.Uint32(buf[hTotalLen:]) != uint32(len(buf)) || le.Uint32(buf[hFlags:]) != flagDistances {
		t.Errorf("header %x", buf[:inHeaderSize])
	}
	names := []string{}
	for i := range 5 {
		d := buf[l.attrs+attrDescSize*i:]
		names = append(names, string(buf[le.Uint32(d):][:le.Uint32(d[4:])]))
	}
	if !sort.StringsAreSorted(names) {
		t.Errorf("attribute names not sorted: %v", names)
	}
}

// hostileCase is one misbehaving module and what the host must make of it.
type hostileCase struct {
	module   string
	kind     error
	msg      string
	deadline time.Duration // 0: 50ms
}

var hostileCases = []hostileCase{
	{"loop", ErrDeadline, "did not return within 50ms", 0},
	// Grows memory 4 MiB at a time until the 16 MiB limit refuses, then
	// traps; copying memory as it grows takes a while on a busy machine.
	{"membomb", ErrTrap, "unreachable", time.Second},
	{"trap", ErrTrap, "unreachable", 0},
	{"oob_access", ErrTrap, "out of bounds memory access", 0},
	// C's shadow stack lives in linear memory: overflowing it is an
	// out-of-bounds access.
	{"stack_overflow", ErrTrap, "out of bounds memory access", 0},
	{"out_oob", ErrOutput, "outside guest memory", 0},
	{"out_huge", ErrOutput, "too large", time.Second}, // grows 8 MiB first
	{"out_len_max", ErrOutput, "outside guest memory", 0},
	{"out_short", ErrOutput, "3 candidates need 36", 0},
	{"nan", ErrOutput, "NaN", 0},
	{"alloc_oob", ErrABI, "weft_alloc", 0},
	{"guest_error", ErrGuest, "tenant param missing", 0},
}

func TestHostile(t *testing.T) {
	h := newTestHost(t, testConfig())
	good := mustLoad(t, h, "good", hostile(t, "good"), Options{})
	for _, c := range hostileCases {
		t.Run(c.module, func(t *testing.T) {
			deadline := cmp.Or(c.deadline, 50*time.Millisecond)
			p := mustLoad(t, h, c.module, hostile(t, c.module), Options{Policy: FailClosed, Deadline: deadline})
			var took []time.Duration
			for range 5 {
				start := time.Now()
				_, err := p.Rerank(context.Background(), nil, abcBatch())
				took = append(took, time.Since(start))
				if !errors.Is(err, c.kind) || !strings.Contains(err.Error(), c.msg) {
					t.Fatalf("got %v, want %v containing %q", err, c.kind, c.msg)
				}
				var e *Error
				if !errors.As(err, &e) || e.Plugin != c.module || e.Hook != HookRerank {
					t.Fatalf("error %#v does not name the plugin and hook", err)
				}
				// Other plugins keep serving meanwhile.
				if res, err := good.Rerank(context.Background(), nil, abcBatch()); err != nil || len(res.Order) != 3 {
					t.Fatalf("good plugin after %s: %v", c.module, err)
				}
			}
			slices.Sort(took)
			if took[2] > deadline+10*time.Millisecond {
				t.Errorf("median call took %s, want ≤ deadline (%s) + 10ms", took[2], deadline)
			}
			t.Logf("%v (median %s, max %s)", took, took[2], took[4])

			// Fail-open: the same failure passes the input through.
			open := mustLoad(t, h, c.module+"-open", hostile(t, c.module), Options{Policy: FailOpen, Deadline: deadline})
			res, err := open.Rerank(context.Background(), nil, abcBatch())
			if err != nil || !errors.Is(res.Skipped, c.kind) || res.Scores != nil || !slices.Equal(res.Order, []int{0, 1, 2}) {
				t.Errorf("fail-open: %+v, %v", res, err)
			}
			if n := value(h.metrics.failOpen.WithLabelValues(c.module+"-open", "rerank")); n != 1 {
				t.Errorf("fail-open metric %v", n)
			}
			if n := value(h.metrics.errors.WithLabelValues(c.module, "rerank", reason(c.kind))); n != 5 {
				t.Errorf("error metric %v, want 5", n)
			}
		})
	}
}

func TestMemoryLimit(t *testing.T) {
	cfg := testConfig()
	cfg.CallDeadline = 5 * time.Second
	h := newTestHost(t, cfg)
	p := mustLoad(t, h, "bomb", hostile(t, "membomb_silent"), Options{})
	if _, err := p.Rerank(context.Background(), nil, abcBatch()); err != nil {
		t.Fatal(err)
	}
	inst, err := p.acquire(context.Background(), context.Background()) // the one that ran: the most recent
	if err != nil {
		t.Fatal(err)
	}
	size := inst.mem.Size()
	p.release(inst, false)
	if limit := uint32(256 << 16); size > limit {
		t.Errorf("instance memory grew to %d bytes, over the %d limit", size, limit)
	}
	// An input that cannot fit in the memory limit is refused up front.
	big := &Batch{IDs: make([]string, 5_000_000), Distances: make([]float32, 5_000_000)}
	if _, err := p.Rerank(context.Background(), nil, big); !errors.Is(err, ErrTooLarge) {
		t.Errorf("big input: %v", err)
	}
}

func TestCanceledContextIsNotSwallowed(t *testing.T) {
	h := newTestHost(t, testConfig())
	p := mustLoad(t, h, "loop", hostile(t, "loop"), Options{Policy: FailOpen})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := p.Rerank(ctx, nil, abcBatch())
	if !errors.Is(err, ErrCanceled) {
		t.Fatalf("got %v, want ErrCanceled", err)
	}
	if d := time.Since(start); d > 40*time.Millisecond {
		t.Errorf("took %s", d)
	}
}

func TestBusy(t *testing.T) {
	cfg := testConfig()
	cfg.PoolSize = 1
	h := newTestHost(t, cfg)
	p := mustLoad(t, h, "good", hostile(t, "good"), Options{Deadline: 20 * time.Millisecond})
	inst, err := p.acquire(context.Background(), context.Background()) // another call holds the only call slot
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = p.Rerank(context.Background(), nil, abcBatch())
	if !errors.Is(err, ErrBusy) || !strings.Contains(err.Error(), "no free instance within 20ms (pool of 1)") {
		t.Errorf("got %v, want busy", err)
	}
	if d := time.Since(start); d < 20*time.Millisecond || d > 60*time.Millisecond {
		t.Errorf("busy after %s", d)
	}
	p.release(inst, false)
	if _, err := p.Rerank(context.Background(), nil, abcBatch()); err != nil {
		t.Errorf("after release: %v", err)
	}
}

func TestReloadAndUnload(t *testing.T) {
	h := newTestHost(t, testConfig())
	ctx := context.Background()
	p1 := mustLoad(t, h, "p", hostile(t, "good"), Options{})
	if again := mustLoad(t, h, "p", hostile(t, "good"), Options{}); again != p1 {
		t.Error("loading the same bytes again made a new plugin")
	}
	p2 := mustLoad(t, h, "p", hostile(t, "trap"), Options{})
	if h.Get("p") != p2 || slices.Compare(h.Plugins(), []string{"p"}) != 0 {
		t.Error("replacement not visible")
	}
	if _, err := p1.Rerank(ctx, nil, abcBatch()); err == nil {
		// The replaced plugin may still be draining; once closed it refuses.
		time.Sleep(20 * time.Millisecond)
	}
	h.Unload(ctx, "p")
	if h.Get("p") != nil {
		t.Error("unloaded plugin still visible")
	}
	if _, err := p2.Rerank(ctx, nil, abcBatch()); !errors.Is(err, ErrClosed) {
		t.Errorf("unloaded: %v", err)
	}
}

func TestConcurrentCalls(t *testing.T) {
	cfg := testConfig()
	cfg.PoolSize = 3
	cfg.CallDeadline = time.Second
	h := newTestHost(t, cfg)
	p := mustLoad(t, h, "good", hostile(t, "good"), Options{})
	errs := make(chan error, 16)
	for g := range 16 {
		go func() {
			for i := range 200 {
				b := &Batch{IDs: []string{"a", "b"}, Distances: []float32{float32(g), float32(i)}}
				res, err := p.Rerank(context.Background(), map[string]string{"bonus": "0.5"}, b)
				if err == nil && (res.Scores[0] != -float32(g) || res.Scores[1] != -float32(i)+0.5) {
					err = errors.New("wrong scores")
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range 16 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

func TestColumnsFromRows(t *testing.T) {
	cols, err := ColumnsFromRows([]map[string]any{{"a": 1}, {"a": "x"}})
	if err == nil || !strings.Contains(err.Error(), `attribute "a" of row 1`) {
		t.Errorf("mixed types: %v %v", cols, err)
	}
	cols, err = ColumnsFromRows([]map[string]any{{"f": 1.5}, {}})
	if err != nil || len(cols) != 1 || cols[0].Floats[0] != 1.5 || !slices.Equal(cols[0].Valid, []bool{true, false}) {
		t.Errorf("%+v %v", cols, err)
	}
}

func value(m prometheus.Metric) float64 {
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		panic(err)
	}
	if d.Counter != nil {
		return d.Counter.GetValue()
	}
	return d.Gauge.GetValue()
}

func TestMalformedVerdicts(t *testing.T) {
	h := newTestHost(t, testConfig())
	p := mustLoad(t, h, "bad", hostile(t, "bad_verdicts"), Options{})
	_, err := p.Filter(context.Background(), nil, abcBatch())
	if !errors.Is(err, ErrOutput) || !strings.Contains(err.Error(), `verdict of candidate "a" is 2`) {
		t.Errorf("filter: %v", err)
	}
	_, err = p.Route(context.Background(), nil, RouteRequest{Shards: []Shard{{"s1", 1}, {"s2", 2}}})
	if !errors.Is(err, ErrOutput) || !strings.Contains(err.Error(), `weight of shard "s1" is -1`) {
		t.Errorf("route: %v", err)
	}
}

func TestFilterFailOpen(t *testing.T) {
	h := newTestHost(t, testConfig())
	p := mustLoad(t, h, "loop", hostile(t, "loop"), Options{Policy: FailOpen, Deadline: 20 * time.Millisecond})
	res, err := p.Filter(context.Background(), nil, abcBatch())
	if err != nil || !errors.Is(res.Skipped, ErrDeadline) || !slices.Equal(res.Keep, []bool{true, true, true}) {
		t.Errorf("%+v %v", res, err)
	}
	// A module without a route hook passes routing through.
	rr, err := p.Route(context.Background(), nil, RouteRequest{Shards: []Shard{{"a", 1}, {"b", 1}}})
	if err != nil || rr.Weights != nil || !slices.Equal(rr.Selected(2), []int{0, 1}) {
		t.Errorf("route without hook: %+v %v", rr, err)
	}
}

func TestSelectAndInfoJSON(t *testing.T) {
	cols, err := ColumnsFromRows([]map[string]any{{"t": "x", "n": 1}, {"t": "y"}, {"t": "z", "n": 3}})
	if err != nil {
		t.Fatal(err)
	}
	b := &Batch{IDs: []string{"a", "b", "c"}, Distances: []float32{1, 2, 3}, Dim: 1, Vectors: []float32{10, 20, 30}, Attributes: cols}
	s := b.Select([]int{2, 0})
	if !slices.Equal(s.IDs, []string{"c", "a"}) || !slices.Equal(s.Distances, []float32{3, 1}) || !slices.Equal(s.Vectors, []float32{30, 10}) {
		t.Errorf("%+v", s)
	}
	if n := s.Attributes[0]; n.Name != "n" || !slices.Equal(n.Ints, []int64{3, 1}) || !slices.Equal(n.Valid, []bool{true, true}) {
		t.Errorf("%+v", n)
	}
	if err := s.validate(); err != nil {
		t.Error(err)
	}
	j, err := json.Marshal(Info{SHA256: "ab", Size: 3, ABIVersion: 1, Hooks: []Hook{HookFilter, HookRerank}})
	if err != nil || string(j) != `{"sha256":"ab","size_bytes":3,"abi_version":1,"hooks":["filter","rerank"]}` {
		t.Errorf("%s %v", j, err)
	}
	var back Info
	if err := json.Unmarshal(j, &back); err != nil || !slices.Equal(back.Hooks, []Hook{HookFilter, HookRerank}) {
		t.Errorf("%+v %v", back, err)
	}
}

func TestDoneContextKeepsInstances(t *testing.T) {
	h := newTestHost(t, testConfig())
	p := mustLoad(t, h, "good", hostile(t, "good"), Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.Rerank(ctx, nil, abcBatch()); !errors.Is(err, ErrCanceled) {
		t.Errorf("got %v", err)
	}
	if n := value(h.metrics.instantiations.WithLabelValues("good")); n != 3 {
		t.Errorf("%v instantiations, want the 3 of the pool (2 and a spare)", n)
	}
}
