package plugins

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"
)

// TestHostileCallsLeakNothing makes 10,000 hostile calls (traps, bad
// outputs, out-of-bounds pointers, guest errors, deadlines) from several
// goroutines and checks that every one is contained, that a sound plugin
// keeps answering, and that neither goroutines (goleak in TestMain, and a
// count here) nor heap grow with the number of calls.
func TestHostileCallsLeakNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 calls")
	}
	cfg := testConfig()
	cfg.CallDeadline = 200 * time.Millisecond
	h := newTestHost(t, cfg)
	good := mustLoad(t, h, "good", hostile(t, "good"), Options{})
	mods := []string{"trap", "oob_access", "out_oob", "out_huge", "out_len_max", "nan", "alloc_oob", "guest_error", "membomb_silent"}
	var ps []*Plugin
	for _, m := range mods {
		ps = append(ps, mustLoad(t, h, m, hostile(t, m), Options{}))
	}
	loop := mustLoad(t, h, "loop", hostile(t, "loop"), Options{Deadline: 2 * time.Millisecond})

	run := func(calls int) {
		const workers = 4
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < calls; i += workers {
					p := ps[i%len(ps)]
					if i%500 == 0 {
						p = loop
					}
					_, err := p.Rerank(context.Background(), nil, abcBatch())
					var e *Error
					if p.Name() != "membomb_silent" && !errors.As(err, &e) {
						t.Errorf("call %d to %s: %v", i, p.Name(), err)
						return
					}
					if i%100 == 0 {
						res, err := good.Rerank(context.Background(), map[string]string{"bonus": "1"}, abcBatch())
						if err != nil || res.Order[0] != 1 {
							t.Errorf("good plugin during hostile calls: %+v %v", res, err)
							return
						}
					}
				}
			}()
		}
		wg.Wait()
	}
	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapInuse
	}
	start := time.Now()
	run(1000) // warm-up: pools refilled, buffers at their sizes
	time.Sleep(50 * time.Millisecond)
	g0, h0 := runtime.NumGoroutine(), heap()
	run(10_000)
	time.Sleep(50 * time.Millisecond) // let the refillers finish
	g1, h1 := runtime.NumGoroutine(), heap()
	t.Logf("11,000 hostile calls in %s; goroutines %d -> %d; heap in use %d -> %d KiB", time.Since(start), g0, g1, h0>>10, h1>>10)
	if g1 > g0+2 {
		t.Errorf("goroutines grew from %d to %d", g0, g1)
	}
	if h1 > h0+16<<20 {
		t.Errorf("heap grew from %d to %d bytes", h0, h1)
	}
	for _, p := range append(ps, loop) {
		if n := value(h.metrics.instances.WithLabelValues(p.Name())); n != float64(cfg.PoolSize+1) {
			t.Errorf("%s has %v live instances, want %d (the pool and a spare)", p.Name(), n, cfg.PoolSize+1)
		}
	}
}

// TestHammerReload calls a plugin from many goroutines while it is
// replaced and unloaded under them: every call either answers correctly
// or reports the plugin closed, and nothing leaks (goleak in TestMain).
func TestHammerReload(t *testing.T) {
	cfg := testConfig()
	cfg.CallDeadline = time.Second
	h := newTestHost(t, cfg)
	good, other := hostile(t, "good"), hostile(t, "echo")
	mustLoad(t, h, "p", good, Options{})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var calls, closed int64
	var mu sync.Mutex
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				p := h.Get("p")
				if p == nil {
					continue
				}
				_, err := p.Rerank(context.Background(), nil, abcBatch())
				mu.Lock()
				calls++
				if errors.Is(err, ErrClosed) {
					closed++
				} else if err != nil {
					t.Errorf("call: %v", err)
				}
				mu.Unlock()
			}
		}()
	}
	for i := range 20 {
		wasm := good
		if i%2 == 0 {
			wasm = other
		}
		mustLoad(t, h, "p", wasm, Options{})
		time.Sleep(2 * time.Millisecond)
	}
	h.Unload(context.Background(), "p")
	close(stop)
	wg.Wait()
	t.Logf("%d calls, %d saw a closed plugin", calls, closed)
	if calls == 0 {
		t.Error("no calls made")
	}
}
