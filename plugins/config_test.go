package plugins

import (
	"context"
	"errors"
	"flag"
	"os"
	"strings"
	"testing"
	"time"
)

func TestConfigFlags(t *testing.T) {
	var c Config
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	c.RegisterFlags("plugins.", fs)
	if err := fs.Parse([]string{"-plugins.pool-size=7", "-plugins.memory-limit-pages=64", "-plugins.call-deadline=5ms", "-plugins.compile-cache-dir=/tmp/x"}); err != nil {
		t.Fatal(err)
	}
	if c.PoolSize != 7 || c.MemoryLimitPages != 64 || c.CallDeadline != 5*time.Millisecond || c.CompileCacheDir != "/tmp/x" || c.MaxModuleBytes != 16<<20 {
		t.Errorf("%+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Error(err)
	}
	bad := Config{}
	err := bad.Validate()
	for _, want := range []string{"pool-size", "memory-limit-pages", "call-deadline", "init-deadline", "compile-deadline", "max-module-bytes", "max-filter-batch"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate of a zero config does not mention %s: %v", want, err)
		}
	}
}

// TestCompileCacheDir: a second host (a restarted process) finds the
// machine code of a module on disk.
func TestCompileCacheDir(t *testing.T) {
	cfg := testConfig()
	cfg.CompileCacheDir = t.TempDir()
	wasm := hostile(t, "good")
	for i := range 2 {
		h, err := NewHost(cfg, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		p, err := h.Load(context.Background(), "good", wasm, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if res, err := p.Rerank(context.Background(), map[string]string{"bonus": "1"}, abcBatch()); err != nil || res.Order[0] != 1 {
			t.Errorf("host %d: %+v %v", i, res, err)
		}
		if err := h.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	entries, err := os.ReadDir(cfg.CompileCacheDir)
	if err != nil || len(entries) == 0 {
		t.Errorf("compile cache dir is empty: %v", err)
	}
}

// --plugins.compile-deadline: a module whose compile takes longer is
// refused saying so; the host stays usable.
func TestCompileDeadline(t *testing.T) {
	cfg := testConfig()
	cfg.CompileDeadline = time.Nanosecond
	h := newTestHost(t, cfg)
	_, err := h.Validate(context.Background(), example(t, "recency", "go"))
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "--plugins.compile-deadline") {
		t.Fatalf("a compile past the deadline: %v", err)
	}
	h.cfg.CompileDeadline = time.Minute
	if _, err := h.Validate(context.Background(), hostile(t, "good")); err != nil {
		t.Fatalf("within the deadline: %v", err)
	}
}
