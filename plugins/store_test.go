package plugins

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	weftv1 "github.com/weftdb/weft/proto/gen/weft/v1"
)

// memBucket is an in-memory Bucket with operation counts and injected
// failures, standing in for objstore's.
type memBucket struct {
	mu      sync.Mutex
	objects map[string][]byte
	ops     map[string]int              // by method and object suffix, e.g. "Get.wasm", "List"
	fail    func(op, name string) error // nil: no failures
}

var errMemNotFound = errors.New("memBucket: not found")

func newMemBucket() *memBucket {
	return &memBucket{objects: map[string][]byte{}, ops: map[string]int{}}
}

func (b *memBucket) op(op, name string) error {
	b.ops[op+filepath.Ext(name)]++
	if b.fail != nil {
		return b.fail(op, name)
	}
	return nil
}

func (b *memBucket) Get(_ context.Context, name string) ([]byte, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.op("Get", name); err != nil {
		return nil, err
	}
	d, ok := b.objects[name]
	if !ok {
		return nil, fmt.Errorf("get %s: %w", name, errMemNotFound)
	}
	return slices.Clone(d), nil
}

func (b *memBucket) Exists(_ context.Context, name string) (bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.op("Exists", name); err != nil {
		return false, err
	}
	_, ok := b.objects[name]
	return ok, nil
}

func (b *memBucket) List(_ context.Context, prefix string) ([]string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.op("List", ""); err != nil {
		return nil, err
	}
	var out []string
	for n := range b.objects {
		if strings.HasPrefix(n, prefix) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out, nil
}

func (b *memBucket) Upload(_ context.Context, name string, data []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.op("Upload", name); err != nil {
		return err
	}
	b.objects[name] = slices.Clone(data)
	return nil
}

func (b *memBucket) Create(_ context.Context, name string, data []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.op("Create", name); err != nil {
		return err
	}
	if _, ok := b.objects[name]; ok {
		return fmt.Errorf("create %s: already exists", name)
	}
	b.objects[name] = slices.Clone(data)
	return nil
}

func (b *memBucket) Delete(_ context.Context, name string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.op("Delete", name); err != nil {
		return err
	}
	delete(b.objects, name)
	return nil
}

func (b *memBucket) names() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Sorted(maps.Keys(b.objects))
}

func (b *memBucket) count(op string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.ops[op]
}

func (b *memBucket) setFail(f func(op, name string) error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.fail = f
}

// objectsOf returns the bucket objects of the given modules' registrations.
func objectsOf(wasms ...[]byte) []string {
	var out []string
	for _, w := range wasms {
		d := Digest(w)
		out = append(out, wasmObject(d), metaObject(d))
	}
	slices.Sort(out)
	return out
}

func storeHostConfig() Config {
	c := DefaultConfig()
	c.PoolSize = 1
	c.CallDeadline = time.Second // generous: the machine is shared
	c.InitDeadline = 10 * time.Second
	c.MemoryLimitPages = 256
	c.MaxModuleBytes = 256 << 10
	return c
}

// newTestStore returns a store with its own host over b.
func newTestStore(t testing.TB, b Bucket, ttl time.Duration) *Store {
	t.Helper()
	h := newTestHost(t, storeHostConfig())
	cfg := DefaultStoreConfig()
	cfg.CacheTTL = ttl
	s, err := NewStore(b, h.Host, nil, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// example reads an example plugin's committed module.
func example(t testing.TB, name, lang string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "examples", "plugins", name, lang, name+".wasm"))
	if err != nil {
		t.Fatalf("%v (rebuild with scripts/build-plugins.sh examples)", err)
	}
	return b
}

// tierBatch is three candidates with a "tier" attribute.
func tierBatch() *Batch {
	return &Batch{
		IDs:        []string{"a", "b", "c"},
		Distances:  []float32{0.1, 0.2, 0.3},
		Attributes: []Column{{Name: "tier", Type: TypeString, Strings: []string{"gold", "silver", "gold"}}},
	}
}

var goldOnly = map[string]string{"attr": "tier", "eq": "gold"}

func TestStoreSharedBucket(t *testing.T) {
	ctx := context.Background()
	b := newMemBucket()
	a := newTestStore(t, b, time.Hour)
	other := newTestStore(t, b, time.Nanosecond) // no caching: sees every change

	cWasm, asWasm := example(t, "attrfilter", "c"), example(t, "attrfilter", "as")
	if _, err := a.Register(ctx, &weftv1.RegisterPluginRequest{Name: "gold", Wasm: cWasm}); err != nil {
		t.Fatal(err)
	}
	// The second process never saw the registration: it finds it in the
	// bucket, loads it and runs it.
	p, err := other.Resolve(ctx, "gold")
	if err != nil {
		t.Fatal(err)
	}
	if p.Info().SHA256 != Digest(cWasm) || !p.Has(HookFilter) {
		t.Fatalf("resolved %+v, want the C attrfilter", p.Info())
	}
	res, err := p.Filter(ctx, goldOnly, tierBatch())
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Kept(); !slices.Equal(got, []int{0, 2}) {
		t.Fatalf("kept %v, want [0 2]", got)
	}
	if again, err := other.Resolve(ctx, "gold"); err != nil || again != p {
		t.Fatalf("second Resolve: %p %v, want the loaded %p", again, err, p)
	}

	// Replaced by the first process: the second reloads the new bytes.
	if _, err := a.Register(ctx, &weftv1.RegisterPluginRequest{Name: "gold", Wasm: asWasm, FailurePolicy: weftv1.FailurePolicy_FAILURE_POLICY_FAIL_OPEN, DeadlineMs: 250}); err != nil {
		t.Fatal(err)
	}
	p2, err := other.Resolve(ctx, "gold")
	if err != nil {
		t.Fatal(err)
	}
	if p2.Info().SHA256 != Digest(asWasm) || p2.Options() != (Options{Policy: FailOpen, Deadline: 250 * time.Millisecond}) {
		t.Fatalf("after replace: %s %+v, want the AssemblyScript attrfilter, fail-open, 250ms", p2.Info().SHA256, p2.Options())
	}
	res, err = p2.Filter(ctx, goldOnly, tierBatch())
	if err != nil || !slices.Equal(res.Kept(), []int{0, 2}) {
		t.Fatalf("replaced plugin kept %v (%v), want [0 2]", res.Kept(), err)
	}
	if got, want := b.names(), objectsOf(asWasm); !slices.Equal(got, want) {
		t.Fatalf("bucket holds %v, want %v", got, want)
	}

	// Deleted by the first process: the second stops resolving it and
	// unloads it.
	if err := a.Delete(ctx, "gold"); err != nil {
		t.Fatal(err)
	}
	_, err = other.Resolve(ctx, "gold")
	var ce *connect.Error
	if !errors.As(err, &ce) || ce.Code() != connect.CodeNotFound || !errors.Is(err, ErrNotRegistered) || !strings.Contains(err.Error(), "register it with PluginService.RegisterPlugin") {
		t.Fatalf("Resolve of a deleted plugin: %v", err)
	}
	if got := other.host.Plugins(); len(got) != 0 {
		t.Fatalf("host still has %v loaded", got)
	}
	if got := b.names(); len(got) != 0 {
		t.Fatalf("bucket holds %v after delete, want nothing", got)
	}
}

func TestStoreResolveCaches(t *testing.T) {
	ctx := context.Background()
	b := newMemBucket()
	a := newTestStore(t, b, time.Hour)
	reader := newTestStore(t, b, time.Hour)
	if _, err := reader.Resolve(ctx, "later"); !errors.Is(err, ErrNotRegistered) {
		t.Fatalf("Resolve before registering: %v", err)
	}
	wasm := example(t, "router", "c")
	if _, err := a.Register(ctx, &weftv1.RegisterPluginRequest{Name: "later", Wasm: wasm}); err != nil {
		t.Fatal(err)
	}
	// Within the TTL the reader trusts its index: no bucket reads.
	lists := b.count("List")
	if _, err := reader.Resolve(ctx, "later"); !errors.Is(err, ErrNotRegistered) {
		t.Fatalf("Resolve within the TTL: %v, want the cached miss", err)
	}
	// The registering process sees its own registration at once.
	for range 100 {
		if _, err := a.Resolve(ctx, "later"); err != nil {
			t.Fatal(err)
		}
	}
	if n := b.count("List") - lists; n != 0 {
		t.Fatalf("Resolve listed the bucket %d times within the TTL", n)
	}
	if n := b.count("Get.wasm"); n != 1 {
		t.Fatalf("module read %d times, want 1", n)
	}
	// After the TTL the reader finds it.
	reader.now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	if _, err := reader.Resolve(ctx, "later"); err != nil {
		t.Fatal(err)
	}
}

func TestStoreConcurrentResolveLoadsOnce(t *testing.T) {
	ctx := context.Background()
	b := newMemBucket()
	a := newTestStore(t, b, time.Hour)
	if _, err := a.Register(ctx, &weftv1.RegisterPluginRequest{Name: "mmr", Wasm: example(t, "mmr", "c")}); err != nil {
		t.Fatal(err)
	}
	s := newTestStore(t, b, time.Hour)
	const n = 16
	got := make([]*Plugin, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			p, err := s.Resolve(ctx, "mmr")
			if err != nil {
				t.Error(err)
			}
			got[i] = p
		})
	}
	wg.Wait()
	for _, p := range got {
		if p == nil || p != got[0] {
			t.Fatalf("Resolve returned different plugins: %p, %p", p, got[0])
		}
	}
	if reads := b.count("Get.wasm"); reads != 1 {
		t.Fatalf("module read %d times by %d concurrent Resolves, want 1", reads, n)
	}
	if lists := b.count("List"); lists != 2 { // one by Register, one by the first Resolve
		t.Fatalf("bucket listed %d times, want 2", lists)
	}
}

func TestStoreResolveGivesUpWithItsContext(t *testing.T) {
	b := newMemBucket()
	a := newTestStore(t, b, time.Hour)
	if _, err := a.Register(context.Background(), &weftv1.RegisterPluginRequest{Name: "r", Wasm: example(t, "recency", "c")}); err != nil {
		t.Fatal(err)
	}
	s := newTestStore(t, b, time.Hour)
	release := make(chan struct{})
	b.setFail(func(op, name string) error {
		if op == "Get" && strings.HasSuffix(name, wasmSuffix) {
			<-release // a slow bucket
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	// The bucket mutex is held by the blocked Get; unblock before the
	// store's other calls need it.
	go func() { time.Sleep(200 * time.Millisecond); close(release) }()
	if _, err := s.Resolve(ctx, "r"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Resolve with a slow bucket: %v, want its deadline", err)
	}
	// The load went on: the next Resolve gets it.
	p, err := s.Resolve(context.Background(), "r")
	if err != nil || !p.Has(HookRerank) {
		t.Fatalf("Resolve after the load: %v", err)
	}
}

func TestStoreCrashSafety(t *testing.T) {
	ctx := context.Background()
	b := newMemBucket()
	s := newTestStore(t, b, time.Hour)
	wasm := example(t, "attrfilter", "c")
	boom := errors.New("injected")

	// A failure writing the metadata leaves only the module: nothing is
	// registered, and registering again completes.
	b.setFail(func(op, name string) error {
		if op == "Create" && strings.HasSuffix(name, metaSuffix) {
			return boom
		}
		return nil
	})
	if _, err := s.Register(ctx, &weftv1.RegisterPluginRequest{Name: "f", Wasm: wasm}); !errors.Is(err, boom) {
		t.Fatalf("Register with a failing bucket: %v", err)
	}
	if got, want := b.names(), []string{wasmObject(Digest(wasm))}; !slices.Equal(got, want) {
		t.Fatalf("bucket holds %v, want %v", got, want)
	}
	if ps, err := s.List(ctx); err != nil || len(ps) != 0 {
		t.Fatalf("List after a failed Register: %v %v", ps, err)
	}
	b.setFail(nil)
	if _, err := s.Register(ctx, &weftv1.RegisterPluginRequest{Name: "f", Wasm: wasm}); err != nil {
		t.Fatal(err)
	}
	if got, want := b.names(), objectsOf(wasm); !slices.Equal(got, want) {
		t.Fatalf("bucket holds %v, want %v", got, want)
	}

	// A failure dropping the replaced registration leaves two .json of
	// one name: the newer wins, and Delete removes both.
	b.setFail(func(op, name string) error {
		if op == "Delete" {
			return boom
		}
		return nil
	})
	s.now = func() time.Time { return time.Now().Add(time.Minute) }
	next := example(t, "attrfilter", "as")
	if _, err := s.Register(ctx, &weftv1.RegisterPluginRequest{Name: "f", Wasm: next}); err != nil {
		t.Fatalf("Register whose cleanup fails: %v", err)
	}
	b.setFail(nil)
	if got, want := b.names(), objectsOf(wasm, next); !slices.Equal(got, want) {
		t.Fatalf("bucket holds %v, want %v", got, want)
	}
	ps, err := s.List(ctx)
	if err != nil || len(ps) != 1 || ps[0].GetSha256() != Digest(next) {
		t.Fatalf("List with a duplicate: %v %v, want the newer only", ps, err)
	}
	other := newTestStore(t, b, time.Hour)
	if p, err := other.Resolve(ctx, "f"); err != nil || p.Info().SHA256 != Digest(next) {
		t.Fatalf("Resolve with a duplicate: %v, want the newer", err)
	}
	if err := s.Delete(ctx, "f"); err != nil {
		t.Fatal(err)
	}
	if got := b.names(); len(got) != 0 {
		t.Fatalf("bucket holds %v after delete, want nothing", got)
	}
}

func TestStoreIdempotentAndUpdate(t *testing.T) {
	ctx := context.Background()
	b := newMemBucket()
	s := newTestStore(t, b, time.Hour)
	wasm := example(t, "recency", "c")
	req := &weftv1.RegisterPluginRequest{Name: "fresh", Wasm: wasm, Description: "recency boost"}
	first, err := s.Register(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.Resolve(ctx, "fresh")
	if err != nil {
		t.Fatal(err)
	}
	writes := b.count("Create.json") + b.count("Upload.json") + b.count("Create.wasm")
	s.now = func() time.Time { return time.Now().Add(time.Minute) }
	again, err := s.Register(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if n := b.count("Create.json") + b.count("Upload.json") + b.count("Create.wasm"); n != writes {
		t.Fatalf("idempotent Register wrote %d objects", n-writes)
	}
	if !proto.Equal(first, again) {
		t.Fatalf("idempotent Register returned %v, want %v", again, first)
	}
	if q, _ := s.Resolve(ctx, "fresh"); q != p {
		t.Fatal("idempotent Register reloaded the plugin")
	}
	// Same bytes, new options: updated in place, create_time kept, and
	// the plugin reloaded with them.
	upd, err := s.Register(ctx, &weftv1.RegisterPluginRequest{Name: "fresh", Wasm: wasm, DeadlineMs: 40})
	if err != nil {
		t.Fatal(err)
	}
	if upd.GetDeadlineMs() != 40 || upd.GetDescription() != "" || !upd.GetCreateTime().AsTime().Equal(first.GetCreateTime().AsTime()) {
		t.Fatalf("updated registration %v", upd)
	}
	q, err := s.Resolve(ctx, "fresh")
	if err != nil || q.Options().Deadline != 40*time.Millisecond {
		t.Fatalf("Resolve after an update: %v", err)
	}
	if got, want := b.names(), objectsOf(wasm); !slices.Equal(got, want) {
		t.Fatalf("bucket holds %v, want %v", got, want)
	}
}

func TestStoreConfig(t *testing.T) {
	c := DefaultStoreConfig()
	if err := c.Validate(); err != nil || c.CacheTTL != 2*time.Second || c.MaxDeadline != 10*time.Second {
		t.Fatalf("defaults %+v: %v", c, err)
	}
	bad := StoreConfig{CacheTTL: -1}
	err := bad.Validate()
	for _, want := range []string{"registry-cache-ttl", "max-deadline"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate(%+v) = %v, want it to name %s", bad, err, want)
		}
	}
	h, err := NewHost(storeHostConfig(), nil, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(context.Background())
	if _, err := NewStore(newMemBucket(), h, nil, bad); err == nil {
		t.Fatal("NewStore accepted a bad config")
	}
}

func TestValidName(t *testing.T) {
	for _, ok := range []string{"a", "A9", "geo_boost-2", strings.Repeat("x", 64)} {
		if err := ValidName(ok); err != nil {
			t.Errorf("ValidName(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "-a", "_a", "a b", "a/b", "é", strings.Repeat("x", 65)} {
		if err := ValidName(bad); !errors.Is(err, ErrInvalidRequest) || !strings.Contains(err.Error(), "name") {
			t.Errorf("ValidName(%q) = %v", bad, err)
		}
	}
}

// TestStoreHammer registers, replaces, deletes and resolves one name from
// two processes sharing a bucket at once, then checks the bucket.
func TestStoreHammer(t *testing.T) {
	ctx := context.Background()
	b := newMemBucket()
	stores := []*Store{newTestStore(t, b, time.Millisecond), newTestStore(t, b, time.Nanosecond)}
	modules := [][]byte{example(t, "attrfilter", "c"), example(t, "attrfilter", "as")}
	rounds := 40
	if testing.Short() { // make flake: many short repetitions instead
		rounds = 8
	}
	var wg sync.WaitGroup
	for i, s := range stores {
		wg.Go(func() { // writer
			for r := range rounds {
				var err error
				if r%7 == 6 {
					err = s.Delete(ctx, "h")
					if errors.Is(err, ErrNotRegistered) {
						err = nil
					}
				} else {
					_, err = s.Register(ctx, &weftv1.RegisterPluginRequest{Name: "h", Wasm: modules[(r+i)%2]})
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
		wg.Go(func() { // reader
			for range 4 * rounds {
				p, err := s.Resolve(ctx, "h")
				if errors.Is(err, ErrNotRegistered) {
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				res, err := p.Filter(ctx, goldOnly, tierBatch())
				if errors.Is(err, ErrClosed) { // replaced meanwhile
					continue
				}
				if err != nil || !slices.Equal(res.Kept(), []int{0, 2}) {
					t.Errorf("filter: %v %v", res.Kept(), err)
					return
				}
			}
		})
	}
	wg.Wait()
	// Every .json has its .wasm, and one name shows once.
	names := b.names()
	for _, n := range names {
		if d, ok := strings.CutSuffix(n, metaSuffix); ok && !slices.Contains(names, d+wasmSuffix) {
			t.Errorf("bucket holds %s without its module: %v", n, names)
		}
	}
	ps, err := stores[0].List(ctx)
	if err != nil || len(ps) > 1 {
		t.Fatalf("List: %v %v", ps, err)
	}
	// A last registration settles it.
	if _, err := stores[1].Register(ctx, &weftv1.RegisterPluginRequest{Name: "h", Wasm: modules[0]}); err != nil {
		t.Fatal(err)
	}
	if got, want := b.names(), objectsOf(modules[0]); !slices.Equal(got, want) {
		// An unreferenced .wasm may remain from a race between a Delete and
		// a Register of the same bytes: allowed, but not a .json.
		for _, n := range got {
			if strings.HasSuffix(n, metaSuffix) && !slices.Contains(want, n) {
				t.Fatalf("bucket holds %v, want %v", got, want)
			}
		}
	}
}

// --plugins.max-plugins: a name past the limit is refused saying what to
// do; replacing a registered name still works.
func TestStoreMaxPlugins(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, newMemBucket(), time.Hour)
	s.cfg.MaxPlugins = 1
	if _, err := s.Register(ctx, &weftv1.RegisterPluginRequest{Name: "one", Wasm: example(t, "recency", "c")}); err != nil {
		t.Fatal(err)
	}
	_, err := s.Register(ctx, &weftv1.RegisterPluginRequest{Name: "two", Wasm: example(t, "attrfilter", "c")})
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "--plugins.max-plugins") {
		t.Fatalf("a second name past the limit: %v", err)
	}
	if _, err := s.Register(ctx, &weftv1.RegisterPluginRequest{Name: "one", Wasm: example(t, "attrfilter", "c")}); err != nil {
		t.Fatalf("replacing the registered name: %v", err)
	}
}
