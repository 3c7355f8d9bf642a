package plugins

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// Benchmarks of whole hook calls (encode, pool, guest, decode) with the
// example plugins in each guest language (go, c, and as = AssemblyScript
// where the example has it). They report the median call time
// as p50-µs; docs/benchmarks.md ("## Plugins") records the figures.
//
//	go test ./plugins -run '^$' -bench 'Rerank100|Filter10000' -benchtime 2000x

func examplePlugin(b *testing.B, name, lang string) *Plugin {
	b.Helper()
	wasm, err := os.ReadFile(filepath.Join("..", "examples", "plugins", name, lang, name+".wasm"))
	if err != nil {
		b.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.PoolSize = 1
	cfg.CallDeadline = time.Second
	h := newTestHost(b, cfg)
	return mustLoad(b, h, name, wasm, Options{})
}

// benchBatch is n candidates with an id, a distance and four attributes,
// the shape a query stage hands a plugin.
func benchBatch(b *testing.B, n int) *Batch {
	b.Helper()
	rows := make([]map[string]any, n)
	ids := make([]string, n)
	dist := make([]float32, n)
	tiers := []string{"gold", "silver", "bronze"}
	for i := range n {
		ids[i] = fmt.Sprintf("doc-%08d", i)
		dist[i] = float32(i) / float32(n)
		rows[i] = map[string]any{
			"ts":     int64(1_700_000_000 - 37*i),
			"tier":   tiers[i%3],
			"n":      i % 100,
			"tags":   []string{"news", tiers[(i+1)%3]},
			"active": i%2 == 0,
		}
	}
	cols, err := ColumnsFromRows(rows)
	if err != nil {
		b.Fatal(err)
	}
	return &Batch{IDs: ids, Distances: dist, Attributes: cols, TopK: 10, Metric: MetricCosine}
}

// p50 runs call b.N times and reports the median duration, with the 10th
// and 90th percentiles.
func p50(b *testing.B, call func() error) {
	b.Helper()
	var took []time.Duration
	b.ReportAllocs()
	for b.Loop() {
		start := time.Now()
		if err := call(); err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Nanoseconds())/1e3, "p50-µs")
	b.ReportMetric(float64(took[len(took)/10].Nanoseconds())/1e3, "p10-µs")
	b.ReportMetric(float64(took[len(took)*9/10].Nanoseconds())/1e3, "p90-µs")
}

func BenchmarkRerank100(b *testing.B) {
	for _, lang := range []string{"go", "c", "as"} {
		b.Run(lang, func(b *testing.B) {
			p := examplePlugin(b, "recency", lang)
			batch := benchBatch(b, 100)
			params := map[string]string{"weight": "0.5", "half_life_s": "3600", "now": "1700000000"}
			p50(b, func() error {
				res, err := p.Rerank(context.Background(), params, batch)
				if err == nil && len(res.Order) != 100 {
					err = fmt.Errorf("order of %d", len(res.Order))
				}
				return err
			})
		})
	}
}

func BenchmarkFilter10000(b *testing.B) {
	for _, lang := range []string{"go", "c", "as"} {
		b.Run(lang, func(b *testing.B) {
			p := examplePlugin(b, "attrfilter", lang)
			batch := benchBatch(b, 10_000)
			params := map[string]string{"attr": "tier", "eq": "gold"}
			p50(b, func() error {
				res, err := p.Filter(context.Background(), params, batch)
				if err == nil && len(res.Kept()) != 3334 {
					err = fmt.Errorf("kept %d", len(res.Kept()))
				}
				return err
			})
		})
	}
}

// BenchmarkMMR100x128 is the diversity reranker over 100 candidates with
// 128-dimensional vectors: O(n²·d) guest work per call.
func BenchmarkMMR100x128(b *testing.B) {
	for _, lang := range []string{"go", "c"} {
		b.Run(lang, func(b *testing.B) {
			p := examplePlugin(b, "mmr", lang)
			batch := benchBatch(b, 100)
			batch.Dim = 128
			batch.Vectors = make([]float32, 100*128)
			for i := range batch.Vectors {
				batch.Vectors[i] = float32((i*7919)%1000) / 1000
			}
			batch.Query = batch.Vectors[:128]
			p50(b, func() error {
				_, err := p.Rerank(context.Background(), nil, batch)
				return err
			})
		})
	}
}

// BenchmarkCallOverhead is a rerank of 1 candidate with no attributes: the
// fixed cost of a call (pool, watchdog, encode, decode).
func BenchmarkCallOverhead(b *testing.B) {
	for _, lang := range []string{"go", "c", "as"} {
		b.Run(lang, func(b *testing.B) {
			p := examplePlugin(b, "recency", lang)
			batch := &Batch{IDs: []string{"a"}, Distances: []float32{1}}
			p50(b, func() error {
				_, err := p.Rerank(context.Background(), nil, batch)
				return err
			})
		})
	}
}
