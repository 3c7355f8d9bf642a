package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	weftv1 "github.com/weftdb/weft/proto/gen/weft/v1"
	"github.com/weftdb/weft/sdk/weft"
)

// examplePlugin reads the committed build of an example plugin.
func examplePlugin(t *testing.T, name, lang string) []byte {
	t.Helper()
	wasm, err := os.ReadFile(filepath.Join("..", "..", "examples", "plugins", name, lang, name+".wasm"))
	if err != nil {
		t.Fatalf("%v (make plugins rebuilds it)", err)
	}
	return wasm
}

// shopDoc is one document of the plugin tests' namespace.
type shopDoc struct {
	id     string
	vec    []float32
	shard  string
	tier   string
	ts     int64
	l2Dist float64 // to the test's query
}

const shopNow = 1_700_000_000

var shopQuery = []float32{0.5, 0.5, 0.5, 0.5}

// shopDocs are 60 documents over four shards ("region/tenant"), three tiers
// and ages of 0..59 × 10 minutes.
func shopDocs() []shopDoc {
	var out []shopDoc
	for i := range 60 {
		v := []float32{float32(i%7) / 7, float32(i%5) / 5, float32(i%11) / 11, float32(i) / 60}
		out = append(out, shopDoc{
			id: fmt.Sprintf("p%02d", i), vec: v,
			shard: []string{"eu/acme", "us/acme", "eu/globex", "us/initech"}[i%4],
			tier:  []string{"gold", "silver", "bronze"}[i%3],
			ts:    shopNow - int64(i)*600,
			// The server computes in float32; compare with a tolerance.
			l2Dist: euclidean(v, shopQuery),
		})
	}
	return out
}

// nearest returns the k documents nearest the query among those keep
// passes, ties by id.
func nearest(docs []shopDoc, k int, keep func(shopDoc) bool) []shopDoc {
	byID := map[string]shopDoc{}
	vecs := map[string][]float32{}
	for _, d := range docs {
		if keep(d) {
			byID[d.id], vecs[d.id] = d, d.vec
		}
	}
	ids, _ := bruteForce(vecs, shopQuery, k, nil)
	out := make([]shopDoc, len(ids))
	for i, id := range ids {
		out[i] = byID[id]
	}
	return out
}

func wantIDs(t *testing.T, what string, got *weftv1.QueryResponse, want []shopDoc) {
	t.Helper()
	if len(got.GetResults()) != len(want) {
		t.Fatalf("%s: %d results, want %d", what, len(got.GetResults()), len(want))
	}
	for i, r := range got.GetResults() {
		if r.GetId() != want[i].id || math.Abs(float64(r.GetDistance())-want[i].l2Dist) > 1e-5 {
			t.Fatalf("%s: result %d is %s at %v, want %s at %v", what, i, r.GetId(), r.GetDistance(), want[i].id, want[i].l2Dist)
		}
	}
}

// Every example plugin, in every language it is built in, is registered
// over the API of a running `weft serve` and changes query results exactly
// as its logic says.
func TestServeExamplePlugins(t *testing.T) {
	c := newClient(t, startServe(t, t.TempDir()))
	ctx := context.Background()
	if _, err := c.CreateNamespace(ctx, "shop", 4, weft.L2, weft.WithShardKey("shard"),
		weft.WithAttribute("tier", weft.TypeString), weft.WithAttribute("ts", weft.TypeInt)); err != nil {
		t.Fatal(err)
	}
	docs := shopDocs()
	var batch []*weft.Document
	for _, d := range docs {
		batch = append(batch, weft.Doc(d.id, d.vec, weft.Attributes{"shard": weft.String(d.shard), "tier": weft.String(d.tier), "ts": weft.Int(d.ts)}))
	}
	if _, err := c.Namespace("shop").Upsert(ctx, batch...); err != nil {
		t.Fatal(err)
	}
	shop := c.Namespace("shop")
	all := func(shopDoc) bool { return true }
	plain, err := shop.Query(ctx, shopQuery, 5)
	if err != nil {
		t.Fatal(err)
	}
	wantIDs(t, "without plugins", plain, nearest(docs, 5, all))

	for _, lang := range []string{"go", "c", "as"} {
		t.Run(lang, func(t *testing.T) {
			register := func(example string) string {
				t.Helper()
				if _, err := os.Stat(filepath.Join("..", "..", "examples", "plugins", example, lang)); err != nil {
					return "" // this example has no build in lang
				}
				name := example + "-" + lang
				got, err := c.RegisterPlugin(ctx, name, examplePlugin(t, example, lang), weft.FailClosed(), weft.PluginDeadline(5*time.Second))
				if err != nil {
					t.Fatalf("register %s: %v", name, err)
				}
				if got.GetName() != name || len(got.GetSha256()) != 64 {
					t.Fatalf("registered %v", got)
				}
				return name
			}

			if router := register("router"); router != "" {
				resp, err := shop.Query(ctx, shopQuery, 5, weft.UsePlugin(router, map[string]string{"tenant": "acme"}))
				if err != nil {
					t.Fatal(err)
				}
				wantIDs(t, "router tenant=acme", resp, nearest(docs, 5, func(d shopDoc) bool { return strings.HasSuffix(d.shard, "/acme") }))
				if n := resp.GetStats().GetShardsProbed(); n != 2 {
					t.Fatalf("router tenant=acme probed %d shards, want 2", n)
				}
				// us/acme and us/initech weigh 2; nprobe 1 keeps the first of
				// them in key order.
				resp, err = shop.Query(ctx, shopQuery, 5, weft.UsePlugin(router, map[string]string{"region": "us", "region_only": "true", "nprobe": "1"}))
				if err != nil {
					t.Fatal(err)
				}
				wantIDs(t, "router region=us nprobe=1", resp, nearest(docs, 5, func(d shopDoc) bool { return d.shard == "us/acme" }))
				if n := resp.GetStats().GetShardsProbed(); n != 1 {
					t.Fatalf("router nprobe=1 probed %d shards, want 1", n)
				}
			}

			if filter := register("attrfilter"); filter != "" {
				resp, err := shop.Query(ctx, shopQuery, 7, weft.UsePlugin(filter, map[string]string{"attr": "tier", "eq": "gold"}))
				if err != nil {
					t.Fatal(err)
				}
				wantIDs(t, "attrfilter tier=gold", resp, nearest(docs, 7, func(d shopDoc) bool { return d.tier == "gold" }))
				// Pre-ANN: the scan only sees what the plugin kept.
				if n := resp.GetStats().GetDocumentsScanned(); n != 20 {
					t.Fatalf("attrfilter tier=gold scanned %d documents, want the 20 gold ones", n)
				}
				lo := int64(shopNow - 3000)
				resp, err = shop.Query(ctx, shopQuery, 7, weft.UsePlugin(filter, map[string]string{"attr": "ts", "min": fmt.Sprint(lo)}))
				if err != nil {
					t.Fatal(err)
				}
				wantIDs(t, "attrfilter ts>=min", resp, nearest(docs, 7, func(d shopDoc) bool { return d.ts >= lo }))
				// The filter composes with the query's own filter.
				resp, err = shop.Query(ctx, shopQuery, 7, weft.UsePlugin(filter, map[string]string{"attr": "tier", "eq": "gold"}),
					weft.Filter(weft.Eq("shard", weft.String("eu/acme"))))
				if err != nil {
					t.Fatal(err)
				}
				wantIDs(t, "attrfilter and a filter", resp, nearest(docs, 7, func(d shopDoc) bool { return d.tier == "gold" && d.shard == "eu/acme" }))
			}

			if recency := register("recency"); recency != "" {
				const weight, halfLife = 0.3, 3600.0
				resp, err := shop.Query(ctx, shopQuery, 6, weft.UsePlugin(recency, map[string]string{
					"weight": fmt.Sprint(weight), "half_life_s": fmt.Sprint(halfLife), "now": fmt.Sprint(shopNow)}))
				if err != nil {
					t.Fatal(err)
				}
				// All 60 documents are candidates (a rerank sees at least 100).
				type scored struct {
					id    string
					score float64
				}
				var want []scored
				for _, d := range docs {
					want = append(want, scored{d.id, -d.l2Dist + weight*math.Pow(0.5, float64(shopNow-d.ts)/halfLife)})
				}
				slices.SortStableFunc(want, func(a, b scored) int {
					if a.score > b.score {
						return -1
					}
					if a.score < b.score {
						return 1
					}
					return 0
				})
				for i, r := range resp.GetResults() {
					if r.GetId() != want[i].id || math.Abs(float64(r.GetScore())-want[i].score) > 1e-5 {
						t.Fatalf("recency: result %d is %s scoring %v, want %s scoring %v", i, r.GetId(), r.GetScore(), want[i].id, want[i].score)
					}
				}
				if len(resp.GetResults()) != 6 {
					t.Fatalf("recency: %d results", len(resp.GetResults()))
				}
			}
		})
	}
}

// The mmr example reorders near-duplicates below a diverse document, and a
// namespace's default plugin runs on every query without being named.
func TestServeMMRAndDefaultPlugins(t *testing.T) {
	c := newClient(t, startServe(t, t.TempDir()))
	ctx := context.Background()
	// a and a2 are near-duplicates close to the query (1, 1); b is less
	// relevant but points elsewhere; c is least relevant.
	vecs := map[string][]float32{"a": {1, 0.9}, "a2": {1, 0.85}, "b": {0.2, 1}, "c": {1, -0.2}}
	for _, lang := range []string{"go", "c"} {
		name := "mmr-" + lang
		if _, err := c.RegisterPlugin(ctx, name, examplePlugin(t, "mmr", lang), weft.FailClosed()); err != nil {
			t.Fatal(err)
		}
		nsName := "div-" + lang
		if _, err := c.CreateNamespace(ctx, nsName, 2, weft.Cosine, weft.WithDefaultPlugin(name, map[string]string{"lambda": "0.5"})); err != nil {
			t.Fatal(err)
		}
		ns := c.Namespace(nsName)
		for id, v := range vecs {
			if _, err := ns.Upsert(ctx, weft.Doc(id, v, nil)); err != nil {
				t.Fatal(err)
			}
		}
		for _, tc := range []struct {
			opts  []weft.QueryOption
			order []string
		}{
			{nil, []string{"a", "b", "a2", "c"}}, // the default: diversity lifts b over a2
			{[]weft.QueryOption{weft.UsePlugin(name, map[string]string{"lambda": "1"})}, []string{"a", "a2", "b", "c"}}, // then pure relevance
		} {
			resp, err := ns.Query(ctx, []float32{1, 1}, 4, tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for rank, r := range resp.GetResults() {
				ids = append(ids, r.GetId())
				if r.GetScore() != float32(4-rank) {
					t.Fatalf("%s: score of %s is %v, want %d", name, r.GetId(), r.GetScore(), 4-rank)
				}
			}
			if !slices.Equal(ids, tc.order) {
				t.Fatalf("%s %d extra plugins: order %v, want %v", name, len(tc.opts), ids, tc.order)
			}
		}
	}
}

// A hostile plugin is contained: a fail-closed infinite loop fails its
// query with DeadlineExceeded soon after its deadline, a fail-open one is
// skipped, and other queries keep being served.
func TestServeHostilePlugin(t *testing.T) {
	c := newClient(t, startServe(t, t.TempDir()))
	ctx := context.Background()
	loop, err := os.ReadFile(filepath.Join("..", "..", "plugins", "testdata", "hostile", "loop.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.RegisterPlugin(ctx, "loop-closed", loop, weft.FailClosed(), weft.PluginDeadline(50*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateNamespace(ctx, "h", 2, weft.L2); err != nil {
		t.Fatal(err)
	}
	ns := c.Namespace("h")
	if _, err := ns.Upsert(ctx, weft.Doc("x", []float32{0, 0}, nil), weft.Doc("y", []float32{1, 1}, nil)); err != nil {
		t.Fatal(err)
	}
	for round := range 2 {
		if round == 1 {
			// One module has one name: move it to a fail-open registration.
			if err := c.DeletePlugin(ctx, "loop-closed"); err != nil {
				t.Fatal(err)
			}
			if _, err := c.RegisterPlugin(ctx, "loop-open", loop, weft.FailOpen(), weft.PluginDeadline(50*time.Millisecond)); err != nil {
				t.Fatal(err)
			}
			resp, err := ns.Query(ctx, []float32{1, 1}, 2, weft.UsePlugin("loop-open", nil))
			if err != nil {
				t.Fatalf("fail-open loop: %v", err)
			}
			if ids := resultIDs(resp); !slices.Equal(ids, []string{"y", "x"}) {
				t.Fatalf("fail-open loop: %v, want the plain result [y x]", ids)
			}
			_, err = ns.Query(ctx, []float32{1, 1}, 2, weft.UsePlugin("loop-closed", nil))
			if connect.CodeOf(err) != connect.CodeNotFound {
				t.Fatalf("a deleted plugin: %v", err)
			}
			continue
		}
		start := time.Now()
		_, err := ns.Query(ctx, []float32{1, 1}, 2, weft.UsePlugin("loop-closed", nil))
		took := time.Since(start)
		if connect.CodeOf(err) != connect.CodeDeadlineExceeded || !strings.Contains(err.Error(), "loop-closed") {
			t.Fatalf("fail-closed loop: %v", err)
		}
		// Generous bound: the machine is shared; the plugins package
		// checks deadline + 10 ms on the host itself.
		if took > 2*time.Second {
			t.Fatalf("fail-closed loop took %v with a 50 ms deadline", took)
		}
		resp, err := ns.Query(ctx, []float32{0, 0}, 1)
		if err != nil || resp.GetResults()[0].GetId() != "x" {
			t.Fatalf("a query without plugins: %v %v", resp, err)
		}
	}
	_, err = ns.Query(ctx, []float32{1, 1}, 2, weft.UsePlugin("never-registered", nil))
	if connect.CodeOf(err) != connect.CodeNotFound {
		t.Fatalf("unregistered plugin: %v", err)
	}
}

func resultIDs(r *weftv1.QueryResponse) []string {
	var ids []string
	for _, x := range r.GetResults() {
		ids = append(ids, x.GetId())
	}
	return ids
}
