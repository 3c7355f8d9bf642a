package cache

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func loadCount(t *testing.T, reg *prometheus.Registry) uint64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == "weft_cache_load_duration_seconds" {
			return f.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	t.Fatal("no weft_cache_load_duration_seconds")
	return 0
}

func TestMetricsCountHitsMissesAndErrors(t *testing.T) {
	dir := t.TempDir()
	a, b := pieceBytes(1, 1000), pieceBytes(2, 2000)
	var calls atomic.Int64

	first, reg := newTestCache(t, diskOptions(dir))
	mustGet(t, first, "a", countingLoader(a, &calls), a, SourceLoad) // miss
	mustGet(t, first, "a", failingLoader(t), a, SourceRAM)           // ram hit
	_, _, err := first.Get(context.Background(), "b", func(context.Context) ([]byte, error) {
		return nil, errors.New("bucket down") // miss, load error
	})
	if err == nil {
		t.Fatal("want the loader's error")
	}
	mustGet(t, first, "b", countingLoader(b, &calls), b, SourceLoad) // miss

	const counters = `
# HELP weft_cache_hits_total Pieces served from a tier (ram, disk).
# TYPE weft_cache_hits_total counter
weft_cache_hits_total{tier="disk"} 0
weft_cache_hits_total{tier="ram"} 1
# HELP weft_cache_load_errors_total Loader calls that failed.
# TYPE weft_cache_load_errors_total counter
weft_cache_load_errors_total 1
# HELP weft_cache_misses_total Pieces in no tier: loader calls, one per load shared by concurrent Gets.
# TYPE weft_cache_misses_total counter
weft_cache_misses_total 3
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(counters),
		"weft_cache_hits_total", "weft_cache_misses_total", "weft_cache_load_errors_total"); err != nil {
		t.Fatal(err)
	}
	if n := loadCount(t, reg); n != 3 {
		t.Fatalf("load latency observations = %d, want 3", n)
	}
	wantDisk := recordSize("a", a) + recordSize("b", b)
	if got := first.disk.usedBytes(); got != wantDisk {
		t.Fatalf("disk bytes = %d, want %d", got, wantDisk)
	}
	wantRAM := entryCost("a", a) + entryCost("b", b)
	if got := first.ram.usedBytes(); got != wantRAM {
		t.Fatalf("ram bytes = %d, want %d", got, wantRAM)
	}
	first.Close()

	second, reg := newTestCache(t, diskOptions(dir))
	mustGet(t, second, "a", failingLoader(t), a, SourceDisk) // disk hit
	mustGet(t, second, "a", failingLoader(t), a, SourceRAM)  // ram hit
	m := second.metrics
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"ram hits", testutil.ToFloat64(m.ramHits), 1},
		{"disk hits", testutil.ToFloat64(m.diskHits), 1},
		{"misses", testutil.ToFloat64(m.misses), 0},
		{"load errors", testutil.ToFloat64(m.loadErrors), 0},
		{"disk corrupt", testutil.ToFloat64(m.diskCorrupt), 0},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	gauges := fmt.Sprintf(`
# HELP weft_cache_bytes Bytes held by a tier: for ram its cost (keys, bytes, per-entry overhead), for disk its files' sizes.
# TYPE weft_cache_bytes gauge
weft_cache_bytes{tier="disk"} %d
weft_cache_bytes{tier="ram"} %d
`, wantDisk, entryCost("a", a))
	if err := testutil.GatherAndCompare(reg, strings.NewReader(gauges), "weft_cache_bytes"); err != nil {
		t.Fatal(err)
	}
}

func TestMetricsCountRAMEvictions(t *testing.T) {
	const budget = 8 << 10
	c, _ := newTestCache(t, Options{RAMBytes: budget})
	var calls atomic.Int64
	// About seven pieces fit. TinyLFU may turn a newcomer away instead of
	// evicting, so load until an eviction shows, within a bound.
	for i := 0; testutil.ToFloat64(c.metrics.ramEvictions) == 0; i++ {
		if i == 1000 {
			t.Fatalf("no RAM evictions counted after %d pieces", i)
		}
		key := fmt.Sprintf("seg/%d@0+1000", i)
		data := pieceBytes(i, 1000)
		mustGet(t, c, key, countingLoader(data, &calls), data, SourceLoad)
		if used := c.ram.usedBytes(); used > budget {
			t.Fatalf("RAM holds %d bytes, budget %d", used, budget)
		}
	}
}

func TestNewRejectsDuplicateRegistration(t *testing.T) {
	reg := prometheus.NewRegistry()
	c, err := New(Options{RAMBytes: 1 << 10}, reg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := New(Options{RAMBytes: 1 << 10}, reg); err == nil {
		t.Fatal("second New on one registry succeeded")
	}
	// The failed New left the first cache's metrics registered and working.
	if n, err := testutil.GatherAndCount(reg, "weft_cache_bytes"); err != nil || n != 2 {
		t.Fatalf("weft_cache_bytes series = %d, %v; want 2", n, err)
	}
}
