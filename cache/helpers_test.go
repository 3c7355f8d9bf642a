package cache

import (
	"bytes"
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// testTimeout bounds every wait in the tests.
const testTimeout = 5 * time.Second

func newTestCache(t *testing.T, opts Options) (*Cache, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	c, err := New(opts, reg)
	if err != nil {
		t.Fatalf("New(%+v): %v", opts, err)
	}
	t.Cleanup(c.Close)
	return c, reg
}

// countingLoader returns data and counts its calls.
func countingLoader(data []byte, calls *atomic.Int64) Loader {
	return func(context.Context) ([]byte, error) {
		calls.Add(1)
		return data, nil
	}
}

// failingLoader fails the test if called.
func failingLoader(t *testing.T) Loader {
	return func(context.Context) ([]byte, error) {
		t.Error("loader called")
		return nil, fmt.Errorf("unexpected load")
	}
}

func pieceBytes(seed, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(seed*31 + i)
	}
	return b
}

func mustGet(t *testing.T, c *Cache, key string, load Loader, wantData []byte, wantSource Source) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	data, source, err := c.Get(ctx, key, load)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	if !bytes.Equal(data, wantData) {
		t.Fatalf("Get(%q) = %d bytes, want %d bytes %x...", key, len(data), len(wantData), wantData[:min(8, len(wantData))])
	}
	if source != wantSource {
		t.Fatalf("Get(%q) source = %v, want %v", key, source, wantSource)
	}
}

// receive waits for one value from ch, failing the test after testTimeout.
func receive[T any](t *testing.T, what string, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(testTimeout):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// signal sends on a buffered channel without blocking, so a loader called
// more often than a test expects fails the test's count, not hangs it.
func signal(ch chan<- struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
