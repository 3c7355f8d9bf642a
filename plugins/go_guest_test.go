package plugins

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestGoGuests runs hostile Go modules (plugins/testdata/go): a Go guest
// needs WASI and _initialize, and dies differently from C.
func TestGoGuests(t *testing.T) {
	cfg := testConfig()
	cfg.MemoryLimitPages = 512 // 32 MiB
	cfg.InitDeadline = 30 * time.Second
	h := newTestHost(t, cfg)
	load := func(name string, opts Options) *Plugin {
		b, err := os.ReadFile(filepath.Join("testdata", "go", name+".wasm"))
		if err != nil {
			t.Fatalf("%v (rebuild with scripts/build-plugins.sh go)", err)
		}
		return mustLoad(t, h, name, b, opts)
	}
	ctx := context.Background()

	// The Go runtime's GC slows the bomb down: give it time to hit the limit.
	bomb := load("gobomb", Options{Deadline: 5 * time.Second})
	if !slices.Equal(bomb.Info().Hooks, []Hook{HookFilter, HookRerank}) {
		t.Errorf("hooks %v", bomb.Info().Hooks)
	}
	start := time.Now()
	_, err := bomb.Filter(ctx, nil, abcBatch())
	if !errors.Is(err, ErrTrap) || !strings.Contains(err.Error(), "out of memory") {
		t.Errorf("memory bomb: %v", err)
	}
	t.Logf("memory bomb: %v after %s", err, time.Since(start))
	_, err = bomb.Rerank(ctx, nil, abcBatch())
	if !errors.Is(err, ErrGuest) || !strings.Contains(err.Error(), "panic: assignment to entry in nil map") {
		t.Errorf("panic: %v", err)
	}

	loop := load("goloop", Options{})
	var took []time.Duration
	for range 3 {
		start := time.Now()
		_, err = loop.Rerank(ctx, nil, abcBatch())
		took = append(took, time.Since(start))
		if !errors.Is(err, ErrDeadline) {
			t.Errorf("loop: %v", err)
		}
	}
	slices.Sort(took)
	if took[1] > cfg.CallDeadline+10*time.Millisecond {
		t.Errorf("loop calls took %v, want a median ≤ deadline + 10ms", took)
	}
	// The discarded instances are replaced in the background; the sound
	// hook of the same module answers once one is back.
	res, err := loop.Filter(ctx, nil, &Batch{IDs: []string{"a", "xb", "c"}, Distances: []float32{1, 2, 3}})
	if err != nil || !slices.Equal(res.Keep, []bool{true, false, true}) {
		t.Errorf("filter after loops: %+v %v", res, err)
	}
}
