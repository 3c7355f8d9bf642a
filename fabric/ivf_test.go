package fabric_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/weftdb/weft/fabric"
	"github.com/weftdb/weft/index/indextest"
	"github.com/weftdb/weft/objstore"
	storagev1 "github.com/weftdb/weft/proto/gen/weft/storage/v1"
	weftv1 "github.com/weftdb/weft/proto/gen/weft/v1"
)

// clustered returns n documents around each of centers, ids prefix-i.
func clustered(r *rand.Rand, centers [][]float32, n int, prefix string) []*weftv1.Document {
	var docs []*weftv1.Document
	for c, center := range centers {
		for i := range n {
			v := make([]float32, len(center))
			for j := range v {
				v[j] = center[j] + float32(r.NormFloat64())
			}
			docs = append(docs, &weftv1.Document{Id: fmt.Sprintf("%s%d-%d", prefix, c, i), Vector: v})
		}
	}
	return docs
}

// A fold of more rows than --index.shard-rows is split into IVF lists,
// one segment each, with their centroids in the manifest. A query searches
// the lists nearest it: with nprobe, that many; without, every list that
// can still hold a row nearer than the k-th found, so an exact query
// (recall_target 1) returns exactly the brute-force top k while skipping
// the far lists. A restarted process routes the same way, and an idle
// namespace is not partitioned again and again.
func TestIVFLists(t *testing.T) {
	const dim, perCluster = 8, 400
	r := rand.New(rand.NewPCG(7, 8))
	var centers [][]float32
	for c := range 6 {
		v := make([]float32, dim)
		v[c%dim] = 60 * float32(1-2*(c/dim%2))
		if c >= dim {
			v[(c+1)%dim] = 60
		}
		centers = append(centers, v)
	}
	bucket := objstore.NewInMemory()
	cfg := fabric.Config{Bucket: bucket, Index: eagerIndex, WriteLease: testLease}
	cfg.Index.ShardRows = 500
	c := serveFabric(t, cfg)
	createNamespace(t, c, "ivf", dim, weftv1.Metric_METRIC_L2)
	docs := clustered(r, centers, perCluster, "d")
	all := map[string]*weftv1.Document{}
	upsert(t, c, "ivf", docs) // one fold: a slow machine cannot fold a part first
	for _, d := range docs {
		all[d.Id] = d
	}
	st := waitIndexed(t, c, "ivf")
	// 2,400 rows, at most 500 per list: ⌈1.2·2400/500⌉ = 6 lists.
	if st.GetSegments() != 6 || st.GetIndexedDocuments() != 2400 {
		t.Fatalf("stats after indexing: %v; want 6 segments holding 2,400 documents", st)
	}
	man := newestManifest(t, bucket, "ivf")
	rows := uint64(0)
	for _, ref := range man.GetSegments() {
		if !ref.GetIvfList() || len(ref.GetCentroid()) != dim || ref.GetRadius() <= 0 || ref.GetRows() > 500 {
			t.Fatalf("manifest segment %v: want an IVF list of ≤ 500 rows with a centroid of %d values and a radius", ref, dim)
		}
		rows += ref.GetRows()
	}
	if rows != 2400 {
		t.Fatalf("the lists hold %d rows, want 2,400", rows)
	}

	check := func(c clients, label string) {
		t.Helper()
		for i, center := range centers {
			q := make([]float32, dim)
			for j := range q {
				q[j] = center[j] + float32(r.NormFloat64())
			}
			want := reference(all, q, 10, weftv1.Metric_METRIC_L2, nil)
			exact := query(t, c, &weftv1.QueryRequest{Namespace: "ivf", Vector: q, TopK: 10, Search: &weftv1.SearchParams{RecallTarget: 1}, Explain: true})
			checkResults(t, exact.GetResults(), want)
			probed, bound := 0, 0
			for _, s := range exact.GetExplain().GetShards() {
				if s.GetProbed() {
					probed++
				} else if s.GetSkipped() == "bound" {
					bound++
					if s.GetBound() <= 0 {
						t.Fatalf("%s: shard %s skipped with bound %v", label, s.GetShard(), s.GetBound())
					}
				}
			}
			if probed != 1 || bound != 5 || exact.GetStats().GetShardsProbed() != 1 {
				t.Fatalf("%s: query near cluster %d searched %d lists (%d skipped by bound, stats %d): want 1 and 5\n%v",
					label, i, probed, bound, exact.GetStats().GetShardsProbed(), exact.GetExplain().GetShards())
			}
			// Between two clusters, nprobe 2 searches exactly the two nearest.
			mid := make([]float32, dim)
			for j := range mid {
				mid[j] = (center[j] + centers[(i+1)%len(centers)][j]) / 2
			}
			got := query(t, c, &weftv1.QueryRequest{Namespace: "ivf", Vector: mid, TopK: 10, Search: &weftv1.SearchParams{Nprobe: 2}, Explain: true})
			nprobe := 0
			for _, s := range got.GetExplain().GetShards() {
				if s.GetSkipped() == "nprobe" {
					nprobe++
				}
			}
			if got.GetStats().GetShardsProbed() != 2 || nprobe != 4 || len(got.GetResults()) != 10 {
				t.Fatalf("%s: nprobe 2 searched %d lists, skipped %d for nprobe, %d results", label, got.GetStats().GetShardsProbed(), nprobe, len(got.GetResults()))
			}
		}
	}
	check(c, "serving")

	_, err := c.query.Query(context.Background(), connect.NewRequest(&weftv1.QueryRequest{Namespace: "ivf", Vector: make([]float32, dim), TopK: 1,
		Search: &weftv1.SearchParams{Nprobe: 2, RecallTarget: 0.9}}))
	if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), "nprobe") {
		t.Fatalf("nprobe with recall_target: %v, want InvalidArgument naming nprobe", err)
	}

	// Idle: no more folds (a partition is not merged with itself).
	v := man.GetVersion()
	time.Sleep(20 * eagerIndex.Idle)
	if got := newestManifest(t, bucket, "ivf").GetVersion(); got != v {
		t.Fatalf("an idle namespace went from manifest %d to %d", v, got)
	}
	check(serveFabric(t, cfg), "restarted")
}

// newestManifest reads namespace ns's newest manifest from the bucket.
func newestManifest(t *testing.T, bucket objstore.Bucket, ns string) *storagev1.Manifest {
	t.Helper()
	ctx := context.Background()
	names, err := bucket.List(ctx, objstore.NamespacePrefix(ns))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		rest := strings.TrimPrefix(n, objstore.NamespacePrefix(ns))
		gen, _, ok := strings.Cut(rest, "/manifests/")
		if !ok {
			continue
		}
		_, payload, err := objstore.NewManifests(bucket, objstore.Generation{Namespace: ns, ID: gen}).Latest(ctx)
		if err != nil {
			t.Fatal(err)
		}
		man := &storagev1.Manifest{}
		if err := proto.Unmarshal(payload, man); err != nil {
			t.Fatal(err)
		}
		return man
	}
	t.Fatalf("no manifest of %s in the bucket", ns)
	return nil
}

// A process that does not index (weft serve --index.disabled) and one that
// only indexes (weft indexer: IndexBucket) share a bucket: the indexer
// finds the namespace and folds what the other writes; the other serves
// the indexer's segments soon after, without writing again, and never
// returns a deleted document.
func TestIndexerProcess(t *testing.T) {
	bucket := objstore.NewInMemory()
	disabled := eagerIndex
	disabled.Disabled = true
	w := serveFabric(t, fabric.Config{Bucket: bucket, Index: disabled, WriteLease: testLease})
	bucketIndexer(t, fabric.Config{Bucket: bucket, Index: eagerIndex, WriteLease: testLease}, 20*time.Millisecond)

	createNamespace(t, w, "split", 8, weftv1.Metric_METRIC_L2)
	r := rand.New(rand.NewPCG(9, 10))
	docs := randomDocs(r, 1200, 8, "d")
	all := map[string]*weftv1.Document{}
	for i := 0; i < len(docs); i += 400 {
		upsert(t, w, "split", docs[i:i+400])
	}
	for _, d := range docs {
		all[d.Id] = d
	}
	indexedBy := func(want int) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			got, err := w.ns.GetNamespace(context.Background(), connect.NewRequest(&weftv1.GetNamespaceRequest{Name: "split"}))
			if err != nil {
				t.Fatal(err)
			}
			st := got.Msg.GetStats()
			if st.GetIndexedDocuments() == uint64(want) && st.GetUnindexedDocuments() == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the writer does not serve the indexer's segments after 30 s: %v", st)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	indexedBy(1200)
	q := docs[3].GetVector()
	got := query(t, w, &weftv1.QueryRequest{Namespace: "split", Vector: q, TopK: 10})
	if got.GetStats().GetDocumentsScanned() != 0 || got.GetResults()[0].GetId() != "d3" {
		t.Fatalf("query after indexing elsewhere: scanned %d documents exactly, nearest %s", got.GetStats().GetDocumentsScanned(), got.GetResults()[0].GetId())
	}
	if rec := recallOf(got.GetResults(), reference(all, q, 10, weftv1.Metric_METRIC_L2, nil)); rec < 0.9 {
		t.Fatalf("recall@10 %.2f", rec)
	}
	// Deletes fold elsewhere too; the deleted document never comes back.
	if _, err := w.docs.Delete(context.Background(), connect.NewRequest(&weftv1.DeleteRequest{Namespace: "split", Ids: []string{"d3"}})); err != nil {
		t.Fatal(err)
	}
	delete(all, "d3")
	for range 20 {
		got := query(t, w, &weftv1.QueryRequest{Namespace: "split", Vector: q, TopK: 10, Search: &weftv1.SearchParams{RecallTarget: 1}})
		checkResults(t, got.GetResults(), reference(all, q, 10, weftv1.Metric_METRIC_L2, nil))
		time.Sleep(10 * time.Millisecond)
	}
	indexedBy(1199)
	checkResults(t, query(t, w, &weftv1.QueryRequest{Namespace: "split", Vector: q, TopK: 10, Search: &weftv1.SearchParams{RecallTarget: 1}}).GetResults(),
		reference(all, q, 10, weftv1.Metric_METRIC_L2, nil))
}

// A server that does not index sees its own acknowledged writes in every
// STRONG query while it adopts the manifests an indexer publishes under
// it: it must never serve a manifest's state before the writes after it.
func TestWriterReadsItsWritesWhileAdopting(t *testing.T) {
	bucket := objstore.NewInMemory()
	disabled := eagerIndex
	disabled.Disabled, disabled.Idle = true, 2*time.Millisecond
	w := serveFabric(t, fabric.Config{Bucket: bucket, Index: disabled, WriteLease: time.Minute})
	fast := eagerIndex
	fast.Idle = 2 * time.Millisecond
	bucketIndexer(t, fabric.Config{Bucket: bucket, Index: fast, WriteLease: -1}, 2*time.Millisecond)

	createNamespace(t, w, "own", 2, weftv1.Metric_METRIC_L2)
	r := rand.New(rand.NewPCG(13, 14))
	upsert(t, w, "own", randomDocs(r, 200, 2, "bg"))
	deadline := time.Now().Add(5 * time.Second)
	adopted := uint64(0)
	for i := 0; i < 400 && time.Now().Before(deadline); i++ {
		v := []float32{1000 + float32(i), 7}
		upsert(t, w, "own", []*weftv1.Document{{Id: "x", Vector: v}})
		got := query(t, w, &weftv1.QueryRequest{Namespace: "own", Vector: v, TopK: 1, IncludeVectors: true, Search: &weftv1.SearchParams{RecallTarget: 1}})
		if res := got.GetResults(); len(res) != 1 || res[0].GetId() != "x" || res[0].GetVector()[0] != v[0] {
			t.Fatalf("write %d: a STRONG query after it returned %v", i, res)
		}
		if i%20 == 0 {
			st, err := w.ns.GetNamespace(context.Background(), connect.NewRequest(&weftv1.GetNamespaceRequest{Name: "own"}))
			if err == nil {
				adopted = st.Msg.GetStats().GetManifestVersion()
			}
		}
	}
	if adopted < 2 {
		t.Fatalf("the writer adopted only manifest %d: the test did not exercise adoption", adopted)
	}
}

// An idle, fully indexed namespace is dropped from memory (its goroutines
// end, its mapped segments are unmapped) and loads again, with everything
// it held, on the next request.
func TestIdleNamespaceUnloads(t *testing.T) {
	dir := t.TempDir()
	bucket, err := objstore.NewFilesystem(dir)
	if err != nil {
		t.Fatal(err)
	}
	mapped := func() int { return mappings(t, dir) }
	// a writes and indexes (its segment is built in memory); b loads the
	// namespace as a restarted process does, mapping the segment.
	regA, regB := prometheus.NewRegistry(), prometheus.NewRegistry()
	a := serveFabric(t, fabric.Config{Bucket: bucket, Index: eagerIndex, WriteLease: testLease, UnloadIdle: 300 * time.Millisecond, Registerer: regA})
	b := serveFabric(t, fabric.Config{Bucket: bucket, Index: eagerIndex, WriteLease: testLease, UnloadIdle: 300 * time.Millisecond, Registerer: regB})
	ctx := context.Background()
	for _, c := range []clients{a, b} {
		if _, err := c.ns.ListNamespaces(ctx, connect.NewRequest(&weftv1.ListNamespacesRequest{})); err != nil {
			t.Fatal(err) // a connection and the servers' own goroutines first
		}
	}
	base := runtime.NumGoroutine()
	createNamespace(t, a, "idle", 4, weftv1.Metric_METRIC_L2)
	r := rand.New(rand.NewPCG(21, 22))
	docs := randomDocs(r, 300, 4, "d")
	upsert(t, a, "idle", docs)
	waitIndexed(t, a, "idle")
	_ = query(t, b, &weftv1.QueryRequest{Namespace: "idle", Vector: docs[1].GetVector(), TopK: 1})
	loaded, maps := runtime.NumGoroutine(), mapped()
	if loaded <= base || maps == 0 {
		t.Fatalf("loaded: %d goroutines (%d before), %d mappings: the test cannot see them go", loaded, base, maps)
	}
	unloads := func() float64 {
		n := 0.0
		for _, reg := range []*prometheus.Registry{regA, regB} {
			mfs, err := reg.Gather()
			if err != nil {
				t.Fatal(err)
			}
			for _, mf := range mfs {
				if mf.GetName() == "weft_namespaces_unloaded_total" {
					n += mf.GetMetric()[0].GetCounter().GetValue()
				}
			}
		}
		return n
	}
	deadline := time.Now().Add(10 * time.Second)
	for unloads() < 2 || runtime.NumGoroutine() > base || mapped() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("after 10 s: %v unloads, %d goroutines (%d before the namespace, %d loaded), %d segment mappings (%d loaded)",
				unloads(), runtime.NumGoroutine(), base, loaded, mapped(), maps)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, c := range []clients{a, b} {
		got := query(t, c, &weftv1.QueryRequest{Namespace: "idle", Vector: docs[7].GetVector(), TopK: 1, Search: &weftv1.SearchParams{RecallTarget: 1}})
		if got.GetResults()[0].GetId() != "d7" {
			t.Fatalf("after reloading: nearest to d7 is %v", got.GetResults())
		}
		st, err := c.ns.GetNamespace(ctx, connect.NewRequest(&weftv1.GetNamespaceRequest{Name: "idle"}))
		if err != nil || st.Msg.GetStats().GetDocumentCount() != 300 || st.Msg.GetStats().GetUnindexedDocuments() != 0 {
			t.Fatalf("after reloading: %v, %v", st.Msg.GetStats(), err)
		}
	}
}

// A segment the newest manifest names that cannot be read (damaged, then
// missing): a restarted process answers queries that allow partial
// answers from the other shards (saying one failed, naming it in explain),
// refuses full answers and writes naming the object, and becomes whole by
// itself once the object is readable again.
func TestUnreadableSegment(t *testing.T) {
	ctx := context.Background()
	bucket := objstore.NewInMemory()
	cfg := fabric.Config{Bucket: bucket, Index: eagerIndex, WriteLease: testLease}
	cfg.Index.ShardRows = 400
	a := serveFabric(t, cfg)
	createNamespace(t, a, "hurt", 4, weftv1.Metric_METRIC_L2)
	r := rand.New(rand.NewPCG(41, 42))
	docs := randomDocs(r, 1500, 4, "d")
	all := map[string]*weftv1.Document{}
	for _, d := range docs {
		all[d.Id] = d
	}
	upsert(t, a, "hurt", docs)
	waitIndexed(t, a, "hurt")
	man := newestManifest(t, bucket, "hurt")
	if len(man.GetSegments()) < 3 {
		t.Fatalf("%d segments: want several lists", len(man.GetSegments()))
	}
	var key string
	names, _ := bucket.List(ctx, objstore.NamespacePrefix("hurt"))
	for _, n := range names {
		if strings.HasSuffix(n, "/segments/"+man.GetSegments()[1].GetId()) {
			key = n
		}
	}
	good, err := bucket.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	q := docs[0].GetVector()
	full := &weftv1.QueryRequest{Namespace: "hurt", Vector: q, TopK: 10, Search: &weftv1.SearchParams{RecallTarget: 1}}
	for _, damage := range []string{"damaged", "missing"} {
		if damage == "damaged" {
			bad := slices.Clone(good)
			bad[len(bad)/2] ^= 0xff
			if err := bucket.Upload(ctx, key, bad); err != nil {
				t.Fatal(err)
			}
		} else if err := bucket.Delete(ctx, key); err != nil {
			t.Fatal(err)
		}
		b := serveFabric(t, cfg) // a restarted process
		_, err := b.query.Query(ctx, connect.NewRequest(full))
		if connect.CodeOf(err) != connect.CodeUnavailable || !strings.Contains(err.Error(), key) || !strings.Contains(err.Error(), "allow_partial") {
			t.Fatalf("%s: a full query: %v", damage, err)
		}
		partial := proto.CloneOf(full)
		partial.AllowPartial, partial.Explain = true, true
		got := query(t, b, partial)
		if got.GetStats().GetShardsFailed() != 1 || len(got.GetResults()) != 10 {
			t.Fatalf("%s: a partial query: %d results, %d shards failed", damage, len(got.GetResults()), got.GetStats().GetShardsFailed())
		}
		named := false
		for _, s := range got.GetExplain().GetShards() {
			named = named || s.GetShard() == key && strings.HasPrefix(s.GetSkipped(), "unreadable")
		}
		if !named {
			t.Fatalf("%s: explain does not name the unreadable segment: %v", damage, got.GetExplain().GetShards())
		}
		_, err = b.docs.Upsert(ctx, connect.NewRequest(&weftv1.UpsertRequest{Namespace: "hurt", Documents: []*weftv1.Document{{Id: "new", Vector: q}}}))
		if connect.CodeOf(err) != connect.CodeUnavailable || !strings.Contains(err.Error(), "cannot take writes") {
			t.Fatalf("%s: a write: %v", damage, err)
		}
		_, err = b.docs.Get(ctx, connect.NewRequest(&weftv1.GetRequest{Namespace: "hurt", Ids: []string{"no-such-id"}}))
		if connect.CodeOf(err) != connect.CodeUnavailable {
			t.Fatalf("%s: a read of an id it cannot find: %v", damage, err)
		}
		// Readable again: whole within a couple of heal periods.
		if err := bucket.Upload(ctx, key, good); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			resp, err := b.query.Query(ctx, connect.NewRequest(full))
			if err == nil {
				checkResults(t, resp.Msg.GetResults(), reference(all, q, 10, weftv1.Metric_METRIC_L2, nil))
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: still partial 10 s after the segment came back: %v", damage, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		added := &weftv1.Document{Id: "new-" + damage, Vector: q}
		upsert(t, b, "hurt", []*weftv1.Document{added})
		all[added.Id] = added
	}
}

// An indexer drops a namespace nobody writes once it is indexed, and loads
// it again, and folds, when its WAL grows.
func TestIndexerUnloadsIdleNamespaces(t *testing.T) {
	bucket := objstore.NewInMemory()
	disabled := eagerIndex
	disabled.Disabled = true
	w := serveFabric(t, fabric.Config{Bucket: bucket, Index: disabled, WriteLease: testLease})
	reg := prometheus.NewRegistry()
	bucketIndexer(t, fabric.Config{Bucket: bucket, Index: eagerIndex, WriteLease: -1, UnloadIdle: 200 * time.Millisecond, Registerer: reg}, 20*time.Millisecond)
	unloads := func() float64 {
		mfs, _ := reg.Gather()
		for _, mf := range mfs {
			if mf.GetName() == "weft_namespaces_unloaded_total" {
				return mf.GetMetric()[0].GetCounter().GetValue()
			}
		}
		return 0
	}
	indexed := func(want uint64) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			got, err := w.ns.GetNamespace(context.Background(), connect.NewRequest(&weftv1.GetNamespaceRequest{Name: "quiet"}))
			if err != nil {
				t.Fatal(err)
			}
			if st := got.Msg.GetStats(); st.GetIndexedDocuments() == want && st.GetUnindexedDocuments() == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("not indexed to %d after 20 s: %v", want, got.Msg.GetStats())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	createNamespace(t, w, "quiet", 4, weftv1.Metric_METRIC_L2)
	r := rand.New(rand.NewPCG(51, 52))
	upsert(t, w, "quiet", randomDocs(r, 200, 4, "a"))
	indexed(200)
	deadline := time.Now().Add(10 * time.Second)
	for unloads() < 1 {
		if time.Now().After(deadline) {
			t.Fatal("the indexer kept an idle, indexed namespace loaded for 10 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	upsert(t, w, "quiet", randomDocs(r, 100, 4, "b"))
	indexed(300)
}

// When deletes empty a quarter of the IVF lists' rows, an idle namespace
// is partitioned again: new centroids, lists holding only live rows.
func TestIVFListsRetrainAfterDeletes(t *testing.T) {
	const dim, perCluster = 8, 400
	r := rand.New(rand.NewPCG(61, 62))
	var centers [][]float32
	for c := range 6 {
		v := make([]float32, dim)
		v[c%dim] = 60
		centers = append(centers, v)
	}
	bucket := objstore.NewInMemory()
	cfg := fabric.Config{Bucket: bucket, Index: eagerIndex, WriteLease: testLease}
	cfg.Index.ShardRows = 500
	c := serveFabric(t, cfg)
	createNamespace(t, c, "re", dim, weftv1.Metric_METRIC_L2)
	docs := clustered(r, centers, perCluster, "d")
	upsert(t, c, "re", docs)
	waitIndexed(t, c, "re")
	before := newestManifest(t, bucket, "re")
	// Delete 40 % of every cluster: no list is mostly dead, the lists are.
	var ids []string
	for i, d := range docs {
		if i%5 < 2 {
			ids = append(ids, d.GetId())
		}
	}
	if _, err := c.docs.Delete(context.Background(), connect.NewRequest(&weftv1.DeleteRequest{Namespace: "re", Ids: ids})); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		man := newestManifest(t, bucket, "re")
		rows, dead, lists := uint64(0), 0, 0
		for _, ref := range man.GetSegments() {
			rows += ref.GetRows()
			if len(ref.GetDeleted()) > 0 {
				dead++
			}
			if ref.GetIvfList() {
				lists++
			}
		}
		if man.GetVersion() > before.GetVersion() && rows == uint64(len(docs)-len(ids)) && dead == 0 && lists == len(man.GetSegments()) {
			break // partitioned again over the live rows
		}
		if time.Now().After(deadline) {
			t.Fatalf("20 s after deleting 40 %%: manifest %d holds %d rows in %d segments (%d lists, %d with deletes)", man.GetVersion(), rows, len(man.GetSegments()), lists, dead)
		}
		time.Sleep(20 * time.Millisecond)
	}
	st := waitIndexed(t, c, "re")
	if st.GetDocumentCount() != uint64(len(docs)-len(ids)) {
		t.Fatalf("documents after re-partitioning: %v", st)
	}
}

// --index.codes and search.refine: segments carry RaBitQ codes; a query
// with refine walks them and scores only the refine best exactly (stats
// and explain say so), with recall near a full-precision search's on real
// data (the Fashion-MNIST subset); without refine, or with a filter, the
// full vectors are searched.
func TestCodesSearch(t *testing.T) {
	base, qs, dim := indextest.FashionMNIST()
	cfg := fabric.Config{Bucket: objstore.NewInMemory(), Index: eagerIndex, WriteLease: testLease}
	cfg.Index.Codes = true
	c := serveFabric(t, cfg)
	createNamespace(t, c, "codes", uint32(dim), weftv1.Metric_METRIC_L2)
	all := map[string]*weftv1.Document{}
	var docs []*weftv1.Document
	for i := range len(base) / dim {
		d := &weftv1.Document{Id: fmt.Sprint("f", i), Vector: base[i*dim : (i+1)*dim],
			Attributes: map[string]*weftv1.AttributeValue{"odd": {Kind: &weftv1.AttributeValue_BoolValue{BoolValue: i%2 == 1}}}}
		docs = append(docs, d)
		all[d.Id] = d
	}
	upsert(t, c, "codes", docs)
	waitIndexed(t, c, "codes")
	const nq = 50
	var recall, recallFull float64
	for i := range nq {
		q := qs[i*dim : (i+1)*dim]
		want := reference(all, q, 10, weftv1.Metric_METRIC_L2, nil)
		got := query(t, c, &weftv1.QueryRequest{Namespace: "codes", Vector: q, TopK: 10, Search: &weftv1.SearchParams{Ef: 64, Refine: 40}, Explain: true})
		sh := got.GetExplain().GetShards()
		if len(sh) != 1 || sh[0].GetStrategy() != "codes" || sh[0].GetScoredExactly() == 0 || sh[0].GetScoredExactly() > 40 ||
			got.GetStats().GetDocumentsScanned() != sh[0].GetScoredExactly() {
			t.Fatalf("query %d with refine: shards %v, stats %v", i, sh, got.GetStats())
		}
		recall += recallOf(got.GetResults(), want)
		full := query(t, c, &weftv1.QueryRequest{Namespace: "codes", Vector: q, TopK: 10, Search: &weftv1.SearchParams{Ef: 64}, Explain: true})
		if s := full.GetExplain().GetShards()[0].GetStrategy(); s != "graph" {
			t.Fatalf("without refine the strategy is %q", s)
		}
		recallFull += recallOf(full.GetResults(), want)
	}
	recall, recallFull = recall/nq, recallFull/nq
	t.Logf("recall@10 with codes (ef 64, refine 40) %.3f; full precision %.3f", recall, recallFull)
	if recall < 0.95 || recall < recallFull-0.03 {
		t.Fatalf("recall@10 with codes %.3f, full precision %.3f", recall, recallFull)
	}
	odd := &weftv1.Filter{Op: &weftv1.Filter_Eq{Eq: &weftv1.Comparison{Attribute: "odd", Value: &weftv1.AttributeValue{Kind: &weftv1.AttributeValue_BoolValue{BoolValue: true}}}}}
	got := query(t, c, &weftv1.QueryRequest{Namespace: "codes", Vector: qs[:dim], TopK: 10, Filter: odd, Search: &weftv1.SearchParams{Ef: 64, Refine: 40}, Explain: true})
	if s := got.GetExplain().GetShards()[0].GetStrategy(); s == "codes" {
		t.Fatal("a filtered query walked the codes")
	}
	_, err := c.query.Query(context.Background(), connect.NewRequest(&weftv1.QueryRequest{Namespace: "codes", Vector: qs[:dim], TopK: 1, Search: &weftv1.SearchParams{Refine: 10001}}))
	if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), "refine") {
		t.Fatalf("refine over the limit: %v", err)
	}
}

// bucketIndexer runs cfg's server as `weft indexer` does (IndexBucket,
// polling every poll) until the test ends.
func bucketIndexer(t *testing.T, cfg fabric.Config, poll time.Duration) {
	t.Helper()
	ix, err := fabric.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); ix.IndexBucket(ctx, poll) }()
	t.Cleanup(func() { cancel(); <-done; ix.Close() })
}
