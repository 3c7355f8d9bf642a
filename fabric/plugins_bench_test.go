package fabric_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/weftdb/weft/fabric"
	"github.com/weftdb/weft/objstore"
	"github.com/weftdb/weft/plugins"
	weftv1 "github.com/weftdb/weft/proto/gen/weft/v1"
)

// What a plugin adds to a whole query, through Connect on loopback: each
// sub-benchmark alternates queries without and with the plugin and reports
// the medians of both and their difference (added-µs), the figure
// docs/benchmarks.md gives against the targets (rerank over 100 candidates
// ≤ 50 µs, filter over 10,000 ≤ 1 ms), with the median of the plugin's own
// stage as the responses' stats time it, the extra search time a rerank
// causes by asking for 100 candidates, and the difference to the same
// query asking for 100 results without the plugin (added-vs-100-µs). The
// namespace is indexed first: queries search its graph.
//
//	go test ./fabric -run '^$' -bench QueryPlugin -benchtime 2000x
func BenchmarkQueryPlugin(b *testing.B) {
	ctx := context.Background()
	bucket := objstore.NewInMemory()
	c := serveFabric(b, fabric.Config{Bucket: bucket, Plugins: pluginRegistry(b, bucket), Index: fabric.IndexConfig{Idle: 50 * time.Millisecond}})
	nsc, docs, query := c.ns, c.docs, c.query

	const n, dim = 10_000, 32
	if _, err := nsc.CreateNamespace(ctx, connect.NewRequest(&weftv1.CreateNamespaceRequest{Namespace: &weftv1.Namespace{Name: "b", Dimension: dim, Metric: weftv1.Metric_METRIC_COSINE}})); err != nil {
		b.Fatal(err)
	}
	tiers := []string{"gold", "silver", "bronze"}
	batch := make([]*weftv1.Document, 0, n)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range n {
		v := make([]float32, dim)
		for j := range v {
			v[j] = float32(r.NormFloat64())
		}
		batch = append(batch, &weftv1.Document{Id: fmt.Sprintf("doc-%05d", i), Vector: v, Attributes: map[string]*weftv1.AttributeValue{
			"ts":     {Kind: &weftv1.AttributeValue_IntValue{IntValue: int64(1_700_000_000 - 37*i)}},
			"tier":   {Kind: &weftv1.AttributeValue_StringValue{StringValue: tiers[i%3]}},
			"n":      {Kind: &weftv1.AttributeValue_IntValue{IntValue: int64(i % 100)}},
			"active": {Kind: &weftv1.AttributeValue_BoolValue{BoolValue: i%2 == 0}},
		}})
	}
	if _, err := docs.Upsert(ctx, connect.NewRequest(&weftv1.UpsertRequest{Namespace: "b", Documents: batch})); err != nil {
		b.Fatal(err)
	}
	q := batch[7].GetVector()
	// Queries run on the ANN path: the graph of the indexed segment.
	if st := waitIndexed(b, c, "b"); st.GetSegments() != 1 {
		b.Fatalf("indexed into %d segments", st.GetSegments())
	}

	for _, tc := range []struct {
		hook, example string
		params        map[string]string
		topK          uint32
	}{
		{"rerank100", "recency", map[string]string{"weight": "0.5", "half_life_s": "3600", "now": "1700000000"}, 10},
		{"filter10000", "attrfilter", map[string]string{"attr": "tier", "eq": "gold"}, 10},
	} {
		for _, lang := range []string{"go", "c", "as"} {
			b.Run(tc.hook+"/"+lang, func(b *testing.B) {
				name := tc.example + "-" + lang
				registerExample(b, c, tc.example, lang, name)
				plain := &weftv1.QueryRequest{Namespace: "b", Vector: q, TopK: tc.topK}
				// The same query asking for the 100 candidates a rerank sees.
				plain100 := &weftv1.QueryRequest{Namespace: "b", Vector: q, TopK: 100}
				with := &weftv1.QueryRequest{Namespace: "b", Vector: q, TopK: tc.topK, Plugins: []*weftv1.PluginCall{{Name: name, Params: tc.params}}}
				// stages collects the per-stage timings the responses report.
				stages := map[string][]time.Duration{}
				run := func(req *weftv1.QueryRequest, prefix string) time.Duration {
					start := time.Now()
					resp, err := query.Query(ctx, connect.NewRequest(req))
					took := time.Since(start)
					if err != nil {
						b.Fatal(err)
					}
					if len(resp.Msg.GetResults()) != int(req.GetTopK()) {
						b.Fatalf("%d results", len(resp.Msg.GetResults()))
					}
					for _, st := range resp.Msg.GetStats().GetTimings() {
						stages[prefix+st.GetStage()] = append(stages[prefix+st.GetStage()], st.GetDuration().AsDuration())
					}
					return took
				}
				run(with, "") // load the plugin
				clear(stages)
				var base, base100, plug []time.Duration
				for b.Loop() {
					base = append(base, run(plain, "base-"))
					base100 = append(base100, run(plain100, "base100-"))
					plug = append(plug, run(with, ""))
				}
				mid := func(d []time.Duration) float64 {
					slices.Sort(d)
					return float64(d[len(d)/2].Nanoseconds()) / 1e3
				}
				b.ReportMetric(mid(base), "base-p50-µs")
				b.ReportMetric(mid(plug), "plugin-p50-µs")
				b.ReportMetric(mid(plug)-mid(base), "added-µs")
				b.ReportMetric(mid(plug)-mid(base100), "added-vs-100-µs")
				// The plugin's own stage, and what the scan costs more
				// when a rerank asks it for 100 candidates instead of k.
				stage := strings.TrimSuffix(strings.TrimSuffix(tc.hook, "100"), "10000")
				b.ReportMetric(mid(stages[stage]), stage+"-stage-µs")
				b.ReportMetric(mid(stages["search"])-mid(stages["base-search"]), "search-added-µs")
			})
		}
	}
}

// pluginRegistry returns a plugin registry over bucket; its host closes
// after the servers a test starts next.
func pluginRegistry(tb testing.TB, bucket objstore.Bucket) *plugins.Store {
	tb.Helper()
	host, err := plugins.NewHost(plugins.DefaultConfig(), nil, prometheus.NewRegistry())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { host.Close(context.Background()) })
	store, err := plugins.NewStore(bucket, host, nil, plugins.DefaultStoreConfig())
	if err != nil {
		tb.Fatal(err)
	}
	return store
}

// registerExample registers examples/plugins/<example>/<lang> as name (a
// second registration of the same name is fine).
func registerExample(tb testing.TB, c clients, example, lang, name string) {
	tb.Helper()
	wasm, err := os.ReadFile(filepath.Join("..", "examples", "plugins", example, lang, example+".wasm"))
	if err != nil {
		tb.Fatal(err)
	}
	_, err = c.plugins.RegisterPlugin(context.Background(), connect.NewRequest(&weftv1.RegisterPluginRequest{Name: name, Wasm: wasm, DeadlineMs: 1000}))
	if err != nil && connect.CodeOf(err) != connect.CodeAlreadyExists {
		tb.Fatal(err)
	}
}
