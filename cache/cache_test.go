package cache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestGetLoadsThenHitsRAM(t *testing.T) {
	c, _ := newTestCache(t, Options{RAMBytes: 1 << 20})
	data := pieceBytes(1, 1000)
	var calls atomic.Int64
	mustGet(t, c, "seg/1@0+1000", countingLoader(data, &calls), data, SourceLoad)
	mustGet(t, c, "seg/1@0+1000", countingLoader(data, &calls), data, SourceRAM)
	if n := calls.Load(); n != 1 {
		t.Fatalf("loader called %d times, want 1", n)
	}
}

func TestConcurrentGetsShareOneLoad(t *testing.T) {
	c, _ := newTestCache(t, Options{RAMBytes: 1 << 20})
	const callers = 50
	data := pieceBytes(2, 4096)
	var calls atomic.Int64
	var entered sync.WaitGroup
	entered.Add(callers)
	allEntered := make(chan struct{})
	go func() { entered.Wait(); close(allEntered) }()
	load := func(ctx context.Context) ([]byte, error) {
		calls.Add(1)
		select {
		case <-allEntered:
			return data, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}

	type result struct {
		data   []byte
		source Source
		err    error
	}
	results := make(chan result, callers)
	for range callers {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			entered.Done()
			data, source, err := c.Get(ctx, "shared", load)
			results <- result{data, source, err}
		}()
	}
	for range callers {
		r := receive(t, "a Get", results)
		if r.err != nil || !bytes.Equal(r.data, data) {
			t.Fatalf("Get = %d bytes, %v", len(r.data), r.err)
		}
		// A goroutine scheduled after the load ended finds the piece in RAM.
		if r.source != SourceLoad && r.source != SourceRAM {
			t.Fatalf("source = %v", r.source)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("loader called %d times, want 1", n)
	}
}

func TestCancelledWaiterLeavesSharedLoadRunning(t *testing.T) {
	c, _ := newTestCache(t, Options{RAMBytes: 1 << 20})
	data := pieceBytes(3, 512)
	var calls atomic.Int64
	started, release := make(chan struct{}, 1), make(chan struct{})
	load := func(ctx context.Context) ([]byte, error) {
		calls.Add(1)
		signal(started)
		select {
		case <-release:
			return data, nil
		case <-ctx.Done():
			return nil, ctx.Err() // would fail the others: the test catches it
		}
	}

	leaverCtx, leave := context.WithCancel(context.Background())
	leaverErr := make(chan error, 1)
	go func() {
		_, _, err := c.Get(leaverCtx, "k", load)
		leaverErr <- err
	}()
	receive(t, "the load to start", started)

	const stayers = 5
	stayerErr := make(chan error, stayers)
	for range stayers {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			got, _, err := c.Get(ctx, "k", load)
			if err == nil && !bytes.Equal(got, data) {
				err = errors.New("wrong bytes")
			}
			stayerErr <- err
		}()
	}

	leave()
	if err := receive(t, "the leaver", leaverErr); !errors.Is(err, context.Canceled) {
		t.Fatalf("leaver got %v, want context.Canceled", err)
	}
	close(release)
	for range stayers {
		if err := receive(t, "a stayer", stayerErr); err != nil {
			t.Fatalf("stayer: %v", err)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("loader called %d times, want 1", n)
	}
}

func TestLoadKeepsCallerValues(t *testing.T) {
	c, _ := newTestCache(t, Options{RAMBytes: 1 << 20})
	type ctxKey struct{}
	ctx := context.WithValue(context.Background(), ctxKey{}, "trace-7")
	_, _, err := c.Get(ctx, "k", func(ctx context.Context) ([]byte, error) {
		if got := ctx.Value(ctxKey{}); got != "trace-7" {
			t.Errorf("load ctx value = %v, want trace-7", got)
		}
		if _, ok := ctx.Deadline(); !ok {
			t.Error("load ctx has no deadline")
		}
		return []byte("x"), nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestLoadTimeoutBoundsDetachedLoad(t *testing.T) {
	c, _ := newTestCache(t, Options{RAMBytes: 1 << 20, LoadTimeout: 20 * time.Millisecond})
	blockUntilDone := func(ctx context.Context) ([]byte, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if _, _, err := c.Get(ctx, "k", blockUntilDone); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Get = %v, want context.DeadlineExceeded", err)
	}
}

func TestGetWithDoneContextDoesNotLoad(t *testing.T) {
	c, _ := newTestCache(t, Options{RAMBytes: 1 << 20})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := c.Get(ctx, "k", failingLoader(t)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Get = %v, want context.Canceled", err)
	}
}

func TestErrorsAreNotCached(t *testing.T) {
	c, _ := newTestCache(t, Options{RAMBytes: 1 << 20})
	errBucket := errors.New("bucket unavailable")
	var calls atomic.Int64
	_, _, err := c.Get(context.Background(), "k", func(context.Context) ([]byte, error) {
		calls.Add(1)
		return nil, errBucket
	})
	if !errors.Is(err, errBucket) {
		t.Fatalf("Get = %v, want %v", err, errBucket)
	}
	data := []byte("recovered")
	mustGet(t, c, "k", countingLoader(data, &calls), data, SourceLoad)
	if n := calls.Load(); n != 2 {
		t.Fatalf("loader called %d times, want 2", n)
	}
}

func TestRAMBudgetHolds(t *testing.T) {
	const budget = 64 << 10
	c, _ := newTestCache(t, Options{RAMBytes: budget})
	const pieces, size = 300, 1 << 10
	var calls atomic.Int64
	keys := make([]string, pieces)
	for i := range pieces {
		keys[i] = fmt.Sprintf("seg/%d@0+%d", i, size)
		data := pieceBytes(i, size)
		mustGet(t, c, keys[i], countingLoader(data, &calls), data, SourceLoad)
		if used := c.ram.usedBytes(); used > budget {
			t.Fatalf("after %d pieces RAM holds %d bytes, budget %d", i+1, used, budget)
		}
	}
	var resident int64
	for _, key := range keys {
		if data, ok := c.ram.get(key); ok {
			resident += entryCost(key, data)
		}
	}
	if resident > budget || resident == 0 {
		t.Fatalf("resident cost %d, want in (0, %d]", resident, budget)
	}
	if total := int64(pieces * size); resident >= total {
		t.Fatalf("everything (%d bytes) stayed resident in a %d-byte budget", total, budget)
	}
}

func TestOversizedPieceIsReturnedNotKept(t *testing.T) {
	c, _ := newTestCache(t, Options{RAMBytes: 1 << 10})
	data := pieceBytes(4, 4<<10)
	var calls atomic.Int64
	mustGet(t, c, "big", countingLoader(data, &calls), data, SourceLoad)
	mustGet(t, c, "big", countingLoader(data, &calls), data, SourceLoad)
	if used := c.ram.usedBytes(); used != 0 {
		t.Fatalf("RAM holds %d bytes, want 0", used)
	}
}

func TestCloseCancelsRunningLoads(t *testing.T) {
	c, err := New(Options{RAMBytes: 1 << 20}, nil)
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{}, 1)
	getErr := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		_, _, err := c.Get(ctx, "k", func(ctx context.Context) ([]byte, error) {
			signal(started)
			<-ctx.Done()
			return nil, ctx.Err()
		})
		getErr <- err
	}()
	receive(t, "the load to start", started)
	c.Close()
	if err := receive(t, "Get", getErr); !errors.Is(err, context.Canceled) {
		t.Fatalf("Get = %v, want context.Canceled", err)
	}
	if _, _, err := c.Get(context.Background(), "k", failingLoader(t)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Get after Close = %v, want ErrClosed", err)
	}
	c.Close() // twice is fine
}

func TestOptionsValidation(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		opts Options
		want string // substring of the error; empty means valid
	}{
		{"ram only", Options{RAMBytes: 1}, ""},
		{"with disk", Options{RAMBytes: 1, DiskDir: dir, DiskBytes: 1}, ""},
		{"no ram", Options{}, "RAMBytes must be > 0"},
		{"negative ram", Options{RAMBytes: -1}, "RAMBytes must be > 0"},
		{"disk without budget", Options{RAMBytes: 1, DiskDir: dir}, "DiskBytes must be > 0"},
		{"budget without disk", Options{RAMBytes: 1, DiskBytes: 10}, "DiskDir is empty"},
		{"negative timeout", Options{RAMBytes: 1, LoadTimeout: -time.Second}, "LoadTimeout must be >= 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New(tc.opts, nil)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				c.Close()
				return
			}
			if err == nil {
				c.Close()
				t.Fatalf("New succeeded, want error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New = %v, want error containing %q", err, tc.want)
			}
		})
	}
}

func TestSourceString(t *testing.T) {
	for s, want := range map[Source]string{SourceRAM: "ram", SourceDisk: "disk", SourceLoad: "load", 0: "Source(0)"} {
		if got := s.String(); got != want {
			t.Errorf("Source(%d).String() = %q, want %q", uint8(s), got, want)
		}
	}
}
