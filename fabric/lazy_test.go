package fabric_test

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/weftdb/weft/cache"
	"github.com/weftdb/weft/fabric"
	"github.com/weftdb/weft/objstore"
	"github.com/weftdb/weft/objstore/segment"
	weftv1 "github.com/weftdb/weft/proto/gen/weft/v1"
)

// lazyServer serves bucket without indexing, its segments opened lazily
// through a cache of ramBytes (and a disk tier when dir is set).
func lazyServer(t *testing.T, bucket objstore.Bucket, ramBytes int64, dir string) (clients, *cache.Cache) {
	t.Helper()
	opts := cache.Options{RAMBytes: ramBytes}
	if dir != "" {
		opts.DiskDir, opts.DiskBytes = dir, 1<<30
	}
	c, err := cache.New(opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return serveFabric(t, fabric.Config{Bucket: bucket, Index: fabric.IndexConfig{Disabled: true}, WriteLease: testLease, Cache: c}), c
}

// codesIndex is eagerIndex with codes in the segments, which lazy
// segments need.
var codesIndex = func() fabric.IndexConfig { c := eagerIndex; c.Codes = true; return c }()

// TestLazySegments: a server whose segments are lazy (links and codes in
// memory, vectors through a small cache) answers exactly what a server
// holding the whole segments answers with the same search on codes, while
// its cache never holds more than its budget; filters, vectors in answers
// and Get read every vector first and still agree.
func TestLazySegments(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	for _, metric := range []weftv1.Metric{weftv1.Metric_METRIC_L2, weftv1.Metric_METRIC_COSINE} {
		t.Run(metric.String(), func(t *testing.T) {
			bucket := objstore.NewInMemory()
			docs := mixture(r, 4000, 32)
			_, all := indexedNamespace(t, bucket, codesIndex, "lazy", metric, docs)

			full := serveFabric(t, fabric.Config{Bucket: bucket, Index: fabric.IndexConfig{Disabled: true}, WriteLease: testLease})
			const budget = 64 << 10 // 500 of the 4,000 vectors
			lazy, c := lazyServer(t, bucket, budget, t.TempDir())
			search := &weftv1.SearchParams{Ef: 64, Refine: 64}
			var recall float64
			for i := range 30 {
				q := slices.Clone(docs[r.IntN(len(docs))].Vector)
				for j := range q {
					q[j] += float32(r.NormFloat64())
				}
				req := &weftv1.QueryRequest{Namespace: "lazy", Vector: q, TopK: 10, Search: search}
				want, got := query(t, full, req), query(t, lazy, req)
				if !slices.EqualFunc(got.GetResults(), want.GetResults(), func(a, b *weftv1.QueryResult) bool {
					return a.GetId() == b.GetId() && a.GetDistance() == b.GetDistance()
				}) {
					t.Fatalf("query %d: lazy %v, whole %v", i, resultIDs(got.GetResults()), resultIDs(want.GetResults()))
				}
				recall += recallOf(got.GetResults(), reference(all, q, 10, metric, nil))
				if ram, _ := c.Bytes(); ram > budget {
					t.Fatalf("the cache accounts %d bytes, over its budget of %d", ram, budget)
				}
			}
			if recall /= 30; recall < 0.9 {
				t.Fatalf("recall@10 %.3f on codes, want ≥ 0.9", recall)
			}
			// Stats say where the vectors came from: a query on a new
			// process reads blocks from the bucket (COLD, bytes); the
			// same query again finds them in RAM or on disk.
			fresh, _ := lazyServer(t, bucket, 1<<20, "")
			first := query(t, fresh, &weftv1.QueryRequest{Namespace: "lazy", Vector: docs[9].Vector, TopK: 10, Search: search})
			if st := first.GetStats(); st.GetCacheTemperature() != weftv1.CacheTemperature_CACHE_TEMPERATURE_COLD || st.GetBytesFetched() == 0 || st.GetBucketRequests() == 0 {
				t.Fatalf("first lazy query: %v", st)
			}
			again := query(t, fresh, &weftv1.QueryRequest{Namespace: "lazy", Vector: docs[9].Vector, TopK: 10, Search: search})
			if st := again.GetStats(); st.GetCacheTemperature() == weftv1.CacheTemperature_CACHE_TEMPERATURE_COLD || st.GetBytesFetched() != 0 {
				t.Fatalf("the same query again: %v", st)
			}
			// A query that sets no refine walks the codes too (explain says
			// so), refining the ef best.
			q := docs[5].Vector
			ex := query(t, lazy, &weftv1.QueryRequest{Namespace: "lazy", Vector: q, TopK: 10, Explain: true})
			if s := ex.GetExplain().GetShards(); len(s) == 0 || s[0].GetStrategy() != "codes, vectors by block" || ex.GetResults()[0].GetId() != "d5" {
				t.Fatalf("default query on lazy segments: %v, first result %s", ex.GetExplain().GetShards(), ex.GetResults()[0].GetId())
			}
			// Filters, vectors in answers and Get read every vector first.
			red := &weftv1.Filter{Op: &weftv1.Filter_Eq{Eq: &weftv1.Comparison{Attribute: "color", Value: &weftv1.AttributeValue{Kind: &weftv1.AttributeValue_StringValue{StringValue: "red"}}}}}
			req := &weftv1.QueryRequest{Namespace: "lazy", Vector: q, TopK: 10, Filter: red, IncludeVectors: true}
			want, got := query(t, full, req), query(t, lazy, req)
			if !slices.Equal(resultIDs(got.GetResults()), resultIDs(want.GetResults())) || !slices.Equal(got.GetResults()[0].GetVector(), want.GetResults()[0].GetVector()) {
				t.Fatalf("filtered with vectors: lazy %v, whole %v", resultIDs(got.GetResults()), resultIDs(want.GetResults()))
			}
			g, err := lazy.docs.Get(t.Context(), connect.NewRequest(&weftv1.GetRequest{Namespace: "lazy", Ids: []string{"d7"}, IncludeVectors: true}))
			if err != nil || len(g.Msg.GetDocuments()) != 1 || !slices.Equal(g.Msg.GetDocuments()[0].GetVector(), all["d7"].Vector) {
				t.Fatalf("Get d7 with its vector: %v, %v", g, err)
			}
		})
	}
}

// TestLazyDamagedBlock: a vector block that fails its checksum fails the
// query that needs it with Unavailable naming the segment; the others
// answer.
func TestLazyDamagedBlock(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 24))
	bucket := objstore.NewInMemory()
	docs := randomDocs(r, 2000, 16, "d")
	indexedNamespace(t, bucket, codesIndex, "dmg", weftv1.Metric_METRIC_L2, docs)
	key := segmentObjects(t, bucket, "dmg")[0]
	data, h, pb := segmentSection(t, bucket, key, segment.KindPieces)
	p, err := segment.DecodePieces(pb)
	if err != nil {
		t.Fatal(err)
	}
	gs, _ := h.Section(segment.KindGraph, 0)
	// Damage every block but the last: queries near any document fail.
	for b := range len(p.BlockCRC) - 1 {
		rg, _ := p.Block(gs, b, 2000, 16)
		data[rg.Offset+1] ^= 0x10
	}
	if err := bucket.Upload(t.Context(), key, data); err != nil {
		t.Fatal(err)
	}
	lazy, _ := lazyServer(t, bucket, 1<<20, "")
	_, err = lazy.query.Query(t.Context(), connect.NewRequest(&weftv1.QueryRequest{Namespace: "dmg", Vector: docs[3].Vector, TopK: 5}))
	if connect.CodeOf(err) != connect.CodeUnavailable || !strings.Contains(err.Error(), key) || !strings.Contains(err.Error(), "checksum") {
		t.Fatalf("a damaged vector block: %v, want Unavailable naming %s and the checksum", err, key)
	}
}

// TestLazyWarmsCompactedSegments: a lazy process that follows another's
// indexer reads the vector blocks of the segments a new manifest brings
// into its cache before serving that manifest, so the first query after a
// compaction fetches nothing from the bucket.
func TestLazyWarmsCompactedSegments(t *testing.T) {
	r := rand.New(rand.NewPCG(25, 26))
	bucket := objstore.NewInMemory()
	docs := mixture(r, 3000, 16)
	w, _ := indexedNamespace(t, bucket, codesIndex, "warm", weftv1.Metric_METRIC_L2, docs[:1500])

	c, err := cache.New(cache.Options{RAMBytes: 1 << 20, DiskDir: t.TempDir(), DiskBytes: 1 << 30}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	follower := serveFabric(t, fabric.Config{Bucket: bucket, Index: fabric.IndexConfig{Disabled: true, Idle: 20 * time.Millisecond},
		WriteLease: testLease, Cache: c})
	search := &weftv1.SearchParams{Ef: 64, Refine: 64}
	_ = query(t, follower, &weftv1.QueryRequest{Namespace: "warm", Vector: docs[0].Vector, TopK: 10, Search: search, Consistency: weftv1.Consistency_CONSISTENCY_EVENTUAL})

	// More writes; the indexer folds them and, after a pause, merges
	// everything into one new segment.
	upsert(t, w, "warm", docs[1500:])
	var want *weftv1.NamespaceStats
	deadline := time.Now().Add(30 * time.Second)
	for want = waitIndexed(t, w, "warm"); want.GetSegments() != 1; want = waitIndexed(t, w, "warm") {
		if time.Now().After(deadline) {
			t.Fatalf("no merge into one segment within 30 s: %v", want)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for {
		got, err := follower.ns.GetNamespace(t.Context(), connect.NewRequest(&weftv1.GetNamespaceRequest{Name: "warm"}))
		if err != nil {
			t.Fatal(err)
		}
		if got.Msg.GetStats().GetManifestVersion() >= want.GetManifestVersion() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the follower serves manifest %d, not %d", got.Msg.GetStats().GetManifestVersion(), want.GetManifestVersion())
		}
		time.Sleep(10 * time.Millisecond)
	}
	for i := range 20 {
		got := query(t, follower, &weftv1.QueryRequest{Namespace: "warm", Vector: docs[r.IntN(len(docs))].Vector, TopK: 10, Search: search, Consistency: weftv1.Consistency_CONSISTENCY_EVENTUAL})
		if st := got.GetStats(); st.GetBucketRequests() != 0 || st.GetCacheTemperature() == weftv1.CacheTemperature_CACHE_TEMPERATURE_COLD {
			t.Fatalf("query %d after the compaction: %v", i, st)
		}
	}
}

// TestPinnedNamespaceStays: a pinned namespace loads when the server starts
// and stays loaded past the idle period; another one unloads.
func TestPinnedNamespaceStays(t *testing.T) {
	bucket := objstore.NewInMemory()
	w := startServer(t, bucket)
	r := rand.New(rand.NewPCG(27, 28))
	for _, ns := range []string{"pinned", "loose"} {
		createNamespace(t, w, ns, 4, weftv1.Metric_METRIC_L2)
		upsert(t, w, ns, randomDocs(r, 10, 4, "d"))
	}
	reg := prometheus.NewRegistry()
	s := serveFabric(t, fabric.Config{Bucket: bucket, Index: fabric.IndexConfig{Disabled: true}, WriteLease: testLease, UnloadIdle: 100 * time.Millisecond,
		Pinned: []string{"pinned"}, Registerer: reg})
	for _, ns := range []string{"loose", "pinned"} {
		_ = query(t, s, &weftv1.QueryRequest{Namespace: ns, Vector: []float32{1, 2, 3, 4}, TopK: 1})
	}
	unloaded := func() float64 {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "weft_namespaces_unloaded_total" {
				return mf.GetMetric()[0].GetCounter().GetValue()
			}
		}
		return 0
	}
	deadline := time.Now().Add(10 * time.Second)
	for unloaded() < 1 {
		if time.Now().After(deadline) {
			t.Fatal("the loose namespace never unloaded")
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // three idle periods more
	if n := unloaded(); n != 1 {
		t.Fatalf("%v namespaces unloaded, want only the loose one", n)
	}
	if _, err := fabric.New(fabric.Config{Bucket: bucket, Pinned: []string{"no/such name"}}); err == nil {
		t.Fatal("a pinned namespace with a bad name was accepted")
	}
}
