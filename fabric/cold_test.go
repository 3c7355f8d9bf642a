package fabric_test

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/weftdb/weft/fabric"
	"github.com/weftdb/weft/objstore"
	"github.com/weftdb/weft/objstore/segment"
	storagev1 "github.com/weftdb/weft/proto/gen/weft/storage/v1"
	weftv1 "github.com/weftdb/weft/proto/gen/weft/v1"
)

// coldServer is a new process on bucket, every request to the bucket
// delayed by latency, so that its namespaces take a while to load and the
// first queries are answered cold.
func coldServer(t *testing.T, bucket objstore.Bucket, latency time.Duration) clients {
	t.Helper()
	return serveFabric(t, fabric.Config{Bucket: objstore.WithLatency(bucket, latency), Index: fabric.IndexConfig{Disabled: true},
		WriteLease: testLease, ColdQueries: true})
}

// indexedNamespace writes docs into namespace ns of bucket through a server
// indexing with idx, waits until they are in segments, and returns the
// server and the documents by id.
func indexedNamespace(t *testing.T, bucket objstore.Bucket, idx fabric.IndexConfig, ns string, metric weftv1.Metric, docs []*weftv1.Document) (clients, map[string]*weftv1.Document) {
	t.Helper()
	w := serveFabric(t, fabric.Config{Bucket: bucket, Index: idx, WriteLease: testLease})
	createNamespace(t, w, ns, uint32(len(docs[0].Vector)), metric)
	all := map[string]*weftv1.Document{}
	for i := 0; i < len(docs); i += 1000 {
		upsert(t, w, ns, docs[i:min(i+1000, len(docs))])
	}
	for _, d := range docs {
		all[d.Id] = d
	}
	waitIndexed(t, w, ns)
	return w, all
}

// TestColdQuery: a new process answers its first queries from the bucket
// in three round trips while the namespace loads (temperature COLD), and
// the answers are the exact ones when the probed clusters cover the
// namespace; once loaded, queries are HOT and agree.
func TestColdQuery(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, metric := range []weftv1.Metric{weftv1.Metric_METRIC_L2, weftv1.Metric_METRIC_COSINE} {
		t.Run(metric.String(), func(t *testing.T) {
			bucket := objstore.NewInMemory()
			// 5,000 rows make 5 clusters: a cold query scores all of them.
			_, all := indexedNamespace(t, bucket, eagerIndex, "cold", metric, randomDocs(r, 5000, 16, "d"))
			c := coldServer(t, bucket, 30*time.Millisecond)
			q := randomDocs(r, 1, 16, "q")[0].Vector
			got := query(t, c, &weftv1.QueryRequest{Namespace: "cold", Vector: q, TopK: 10})
			st := got.GetStats()
			if st.GetCacheTemperature() != weftv1.CacheTemperature_CACHE_TEMPERATURE_COLD || st.GetBucketRoundTrips() != 3 {
				t.Fatalf("first query: temperature %v, %d round trips; want COLD, 3", st.GetCacheTemperature(), st.GetBucketRoundTrips())
			}
			checkResults(t, got.GetResults(), reference(all, q, 10, metric, nil))
			// config, pointer; newer manifest?, the WAL after it (a
			// listing, empty), the segment's prefix; its clusters' vectors
			// and ids (≤ 2 reads).
			if n := st.GetBucketRequests(); n < 6 || n > 7 {
				t.Errorf("%d bucket requests, want 6 or 7", n)
			}
			if st.GetBytesFetched() == 0 || st.GetDocumentsScanned() != 5000 {
				t.Errorf("fetched %d bytes, scored %d rows; want > 0 and all 5,000", st.GetBytesFetched(), st.GetDocumentsScanned())
			}
			// The load finishes: queries are served from memory.
			deadline := time.Now().Add(10 * time.Second)
			for {
				hot := query(t, c, &weftv1.QueryRequest{Namespace: "cold", Vector: q, TopK: 10, Search: &weftv1.SearchParams{RecallTarget: 1}})
				if hot.GetStats().GetCacheTemperature() == weftv1.CacheTemperature_CACHE_TEMPERATURE_HOT {
					checkResults(t, hot.GetResults(), reference(all, q, 10, metric, nil))
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the namespace did not load within 10 s")
				}
				time.Sleep(20 * time.Millisecond)
			}
			cold := query(t, c, &weftv1.QueryRequest{Namespace: "cold", Vector: q, TopK: 10})
			if cold.GetStats().GetCacheTemperature() != weftv1.CacheTemperature_CACHE_TEMPERATURE_HOT || cold.GetStats().GetBucketRequests() != 0 {
				t.Fatalf("after the load: %v with %d bucket requests", cold.GetStats().GetCacheTemperature(), cold.GetStats().GetBucketRequests())
			}
		})
	}
}

// TestColdQueryRecall: with more clusters than a cold query probes, recall
// against brute force stays high, and less than the namespace is read.
func TestColdQueryRecall(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	const n, dim = 50000, 8
	docs := mixture(r, n, dim)
	bucket := objstore.NewInMemory()
	_, all := indexedNamespace(t, bucket, eagerIndex, "coldr", weftv1.Metric_METRIC_L2, docs)
	var recall float64
	const queries = 20
	for i := range queries {
		c := coldServer(t, bucket, 20*time.Millisecond) // a new process per query
		q := docs[r.IntN(n)].Vector
		for j := range q {
			q[j] += float32(r.NormFloat64()) * 0.5
		}
		got := query(t, c, &weftv1.QueryRequest{Namespace: "coldr", Vector: q, TopK: 10, Consistency: weftv1.Consistency_CONSISTENCY_EVENTUAL,
			Search: &weftv1.SearchParams{Ef: 16}})
		if got.GetStats().GetCacheTemperature() != weftv1.CacheTemperature_CACHE_TEMPERATURE_COLD {
			t.Fatalf("query %d was not cold", i)
		}
		if s := got.GetStats().GetDocumentsScanned(); s >= n*3/5 {
			t.Fatalf("a cold query scored %d of %d rows", s, n)
		}
		recall += recallOf(got.GetResults(), reference(all, q, 10, weftv1.Metric_METRIC_L2, nil))
	}
	recall /= queries
	t.Logf("cold recall@10 %.3f", recall)
	if recall < 0.95 {
		t.Fatalf("cold recall@10 %.3f, want ≥ 0.95", recall)
	}
}

// TestColdQueryNeverStale: writes the segments do not hold yet (a WAL
// tail) make a STRONG query wait for the load, deletes the manifest
// records are never returned cold, and a damaged cluster makes the query
// wait for the load, which reports the segment unreadable, naming it.
func TestColdQueryNeverStale(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	bucket := objstore.NewInMemory()
	docs := randomDocs(r, 3000, 8, "d")
	w, _ := indexedNamespace(t, bucket, eagerIndex, "stale", weftv1.Metric_METRIC_L2, docs)
	q := docs[17].Vector
	// Delete the query's own document and its nearest neighbour; once
	// folded, the manifest lists them as deleted rows of the segment (or a
	// new segment lacks them).
	all := map[string]*weftv1.Document{}
	for _, d := range docs {
		all[d.Id] = d
	}
	gone := reference(all, q, 2, weftv1.Metric_METRIC_L2, nil)
	if _, err := w.docs.Delete(t.Context(), connect.NewRequest(&weftv1.DeleteRequest{Namespace: "stale", Ids: []string{gone[0].id, gone[1].id}})); err != nil {
		t.Fatal(err)
	}
	delete(all, gone[0].id)
	delete(all, gone[1].id)
	waitIndexed(t, w, "stale")
	c := coldServer(t, bucket, 20*time.Millisecond)
	got := query(t, c, &weftv1.QueryRequest{Namespace: "stale", Vector: q, TopK: 10})
	if got.GetStats().GetCacheTemperature() != weftv1.CacheTemperature_CACHE_TEMPERATURE_COLD {
		t.Fatal("not answered cold")
	}
	checkResults(t, got.GetResults(), reference(all, q, 10, weftv1.Metric_METRIC_L2, nil))

	// An unindexed write: a STRONG query in a new process waits for the
	// load, which reads the WAL after the manifest, and sees it.
	extra := randomDocs(r, 1, 8, "new")[0]
	extra.Vector = append([]float32(nil), q...)
	wi := startServer(t, bucket) // writes, never folds
	upsert(t, wi, "stale", []*weftv1.Document{extra})
	c = coldServer(t, bucket, 20*time.Millisecond)
	got = query(t, c, &weftv1.QueryRequest{Namespace: "stale", Vector: q, TopK: 1})
	if got.GetStats().GetCacheTemperature() == weftv1.CacheTemperature_CACHE_TEMPERATURE_COLD || got.GetResults()[0].GetId() != extra.Id {
		t.Fatalf("with a WAL tail: %v answered %v, want %s from memory", got.GetStats().GetCacheTemperature(), resultIDs(got.GetResults()), extra.Id)
	}

	// Damage one cluster's vectors in every segment: a cold query that
	// reads it fails naming the segment.
	damaged := ""
	for _, name := range segmentObjects(t, bucket, "stale") {
		data, h, navBytes := segmentSection(t, bucket, name, segment.KindClusters)
		cl, err := segment.DecodeClusters(navBytes)
		if err != nil {
			t.Fatal(err)
		}
		for i := range cl.Len() {
			v, _, _, _ := cl.ClusterRanges(h, i)
			if v.Length > 0 {
				data[v.Offset+3] ^= 0x40
			}
		}
		if err := bucket.Upload(t.Context(), name, data); err != nil {
			t.Fatal(err)
		}
		damaged = name
	}
	c = coldServer(t, bucket, 20*time.Millisecond)
	_, err := c.query.Query(t.Context(), connect.NewRequest(&weftv1.QueryRequest{Namespace: "stale", Vector: q, TopK: 10, Consistency: weftv1.Consistency_CONSISTENCY_EVENTUAL}))
	if connect.CodeOf(err) != connect.CodeUnavailable || !strings.Contains(err.Error(), damaged) || damaged == "" {
		t.Fatalf("a damaged cluster: %v, want an error naming the segment", err)
	}
}

// mixture returns n documents (randomDocs' ids and attributes) whose
// vectors come from a mixture of 64 Gaussians, clustered like real data.
func mixture(r *rand.Rand, n, dim int) []*weftv1.Document {
	centres := randomDocs(r, 64, dim, "c")
	docs := randomDocs(r, n, dim, "d")
	for i, d := range docs {
		for j := range d.Vector {
			d.Vector[j] = 6*centres[i%64].Vector[j] + d.Vector[j]
		}
	}
	return docs
}

// TestColdQueryPassesLeaseRenewals: the empty batches a writer appends to
// renew its lease while it answers queries do not keep a STRONG query from
// being answered cold, and the answer says it saw them.
func TestColdQueryPassesLeaseRenewals(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	bucket := objstore.NewInMemory()
	docs := randomDocs(r, 2000, 8, "d")
	w, _ := indexedNamespace(t, bucket, eagerIndex, "renew", weftv1.Metric_METRIC_L2, docs)
	// Renewals after the newest manifest, as the bucket shows them.
	pending := func() (after uint64, last uint64) {
		p, err := objstore.ReadPointer(t.Context(), bucket, "renew")
		if err != nil {
			t.Fatal(err)
		}
		man := &storagev1.Manifest{}
		if err := proto.Unmarshal(p.Manifest, man); err != nil {
			t.Fatal(err)
		}
		seqs, err := objstore.NewWAL(bucket, objstore.Generation{Namespace: "renew", ID: p.Generation}.WALPrefix()).List(t.Context(), man.GetWalSequence())
		if err != nil {
			t.Fatal(err)
		}
		if len(seqs) == 0 {
			return 0, man.GetWalSequence()
		}
		return uint64(len(seqs)), seqs[len(seqs)-1]
	}
	deadline := time.Now().Add(10 * time.Second)
	n, last := pending()
	for n < 3 {
		_ = query(t, w, &weftv1.QueryRequest{Namespace: "renew", Vector: docs[0].Vector, TopK: 1})
		time.Sleep(testLease / 2)
		if n, last = pending(); time.Now().After(deadline) {
			t.Fatalf("%d lease renewals after the manifest after 10 s", n)
		}
	}
	st := &weftv1.NamespaceStats{WalSequence: last}
	c := coldServer(t, bucket, 20*time.Millisecond)
	got := query(t, c, &weftv1.QueryRequest{Namespace: "renew", Vector: docs[7].Vector, TopK: 1})
	if s := got.GetStats(); s.GetCacheTemperature() != weftv1.CacheTemperature_CACHE_TEMPERATURE_COLD || s.GetBucketRoundTrips() != 3 ||
		s.GetWalSequence() < st.GetWalSequence() || got.GetResults()[0].GetId() != "d7" {
		t.Fatalf("with %d renewals after the manifest: %v, %v (WAL at %d)", n, s, resultIDs(got.GetResults()), st.GetWalSequence())
	}
}

// segmentObjects returns the names of the segment objects of namespace ns's
// newest manifest.
func segmentObjects(t *testing.T, bucket objstore.Bucket, ns string) []string {
	t.Helper()
	// The newest manifest's: an earlier fold's segment may still be in the
	// bucket, waiting for the grace period.
	man := newestManifest(t, bucket, ns)
	gen := objstore.Generation{Namespace: ns, ID: man.GetGeneration()}
	var segs []string
	for _, ref := range man.GetSegments() {
		segs = append(segs, gen.SegmentKey(ref.GetId()))
	}
	if len(segs) == 0 {
		t.Fatalf("namespace %s has no segment", ns)
	}
	return segs
}

// segmentSection reads segment object name whole and returns its bytes,
// header and the bytes of its section of kind.
func segmentSection(t *testing.T, bucket objstore.Bucket, name string, kind segment.Kind) ([]byte, *segment.Header, []byte) {
	t.Helper()
	data, err := bucket.Get(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	h, err := segment.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	sec, ok := h.Section(kind, 0)
	if !ok {
		t.Fatalf("segment %s has no %v section", name, kind)
	}
	b, err := h.SectionBytes(data, sec)
	if err != nil {
		t.Fatal(err)
	}
	return data, h, b
}
