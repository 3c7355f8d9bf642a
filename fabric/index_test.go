package fabric_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/weftdb/weft/fabric"
	"github.com/weftdb/weft/objstore"
	weftv1 "github.com/weftdb/weft/proto/gen/weft/v1"
)

// eagerIndex folds after every short pause in writes, and collects garbage
// soon after.
var eagerIndex = fabric.IndexConfig{Idle: 20 * time.Millisecond, MinRows: 1, MinChanges: 1 << 30, Grace: 50 * time.Millisecond, M: 12, EfConstruction: 100}

func startIndexing(t testing.TB, bucket objstore.Bucket) clients {
	t.Helper()
	return serveFabric(t, fabric.Config{Bucket: bucket, Index: eagerIndex, WriteLease: testLease})
}

// waitIndexed waits until every write the server applied is folded into
// segments, and returns the namespace's stats.
func waitIndexed(t testing.TB, c clients, ns string) *weftv1.NamespaceStats {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := c.ns.GetNamespace(context.Background(), connect.NewRequest(&weftv1.GetNamespaceRequest{Name: ns}))
		if err != nil {
			t.Fatal(err)
		}
		st := got.Msg.GetStats()
		if st.GetManifestVersion() > 0 && st.GetIndexedWalSequence() == st.GetWalSequence() && st.GetUnindexedDocuments() == 0 && !st.GetIndexing() {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("namespace %s not indexed after 30 s: %v", ns, st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func query(t *testing.T, c clients, req *weftv1.QueryRequest) *weftv1.QueryResponse {
	t.Helper()
	resp, err := c.query.Query(context.Background(), connect.NewRequest(req))
	if err != nil {
		t.Fatal(err)
	}
	return resp.Msg
}

func recallOf(got []*weftv1.QueryResult, want []scored) float64 {
	ids := map[string]bool{}
	for _, w := range want {
		ids[w.id] = true
	}
	hits := 0
	for _, g := range got {
		if ids[g.GetId()] {
			hits++
		}
	}
	return float64(hits) / float64(len(want))
}

// Once indexed, queries go through the segments' graphs: recall against
// brute force stays high, with and without filters, a recall target of 1
// is exact, and every result passes the filter.
func TestIndexedSearch(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, metric := range []weftv1.Metric{weftv1.Metric_METRIC_L2, weftv1.Metric_METRIC_COSINE, weftv1.Metric_METRIC_DOT} {
		t.Run(metric.String(), func(t *testing.T) {
			c := startIndexing(t, objstore.NewInMemory())
			createNamespace(t, c, "ix", 16, metric)
			all := map[string]*weftv1.Document{}
			docs := randomDocs(r, 3000, 16, "d")
			for i := 0; i < len(docs); i += 500 {
				upsert(t, c, "ix", docs[i:i+500])
			}
			for _, d := range docs {
				all[d.Id] = d
			}
			st := waitIndexed(t, c, "ix")
			if st.GetIndexedDocuments() != 3000 || st.GetDocumentCount() != 3000 {
				t.Fatalf("stats after indexing: %v", st)
			}
			red := func(d *weftv1.Document) bool { s, _ := attrString(d, "color"); return s == "red" }
			redFilter := &weftv1.Filter{Op: &weftv1.Filter_Eq{Eq: &weftv1.Comparison{Attribute: "color", Value: &weftv1.AttributeValue{Kind: &weftv1.AttributeValue_StringValue{StringValue: "red"}}}}}
			var recall, recallFiltered float64
			const queries = 40
			for range queries {
				q := randomDocs(r, 1, 16, "q")[0].Vector
				want := reference(all, q, 10, metric, nil)
				got := query(t, c, &weftv1.QueryRequest{Namespace: "ix", Vector: q, TopK: 10})
				if len(got.GetResults()) != 10 {
					t.Fatalf("%d results, want 10", len(got.GetResults()))
				}
				if got.GetStats().GetDocumentsScanned() != 0 || got.GetStats().GetShardsProbed() == 0 || got.GetStats().GetGraphDistances() < 10 {
					t.Fatalf("an indexed query scanned %d documents exactly over %d shards, %d graph distances: want 0 over ≥ 1, ≥ 10",
						got.GetStats().GetDocumentsScanned(), got.GetStats().GetShardsProbed(), got.GetStats().GetGraphDistances())
				}
				recall += recallOf(got.GetResults(), want)
				exact := query(t, c, &weftv1.QueryRequest{Namespace: "ix", Vector: q, TopK: 10, Search: &weftv1.SearchParams{RecallTarget: 1}})
				checkResults(t, exact.GetResults(), want)

				wantF := reference(all, q, 10, metric, red)
				gotF := query(t, c, &weftv1.QueryRequest{Namespace: "ix", Vector: q, TopK: 10, Filter: redFilter, IncludeAttributes: true})
				if len(gotF.GetResults()) != 10 {
					t.Fatalf("filtered: %d results, want 10", len(gotF.GetResults()))
				}
				for _, res := range gotF.GetResults() {
					if res.GetAttributes()["color"].GetStringValue() != "red" {
						t.Fatalf("filtered result %s has color %v", res.GetId(), res.GetAttributes()["color"])
					}
				}
				recallFiltered += recallOf(gotF.GetResults(), wantF)
			}
			recall /= queries
			recallFiltered /= queries
			t.Logf("recall@10 %.3f, filtered to a third %.3f", recall, recallFiltered)
			if recall < 0.9 || recallFiltered < 0.9 {
				t.Fatalf("recall@10 %.3f, filtered %.3f: want ≥ 0.9", recall, recallFiltered)
			}
		})
	}
}

// Deleted and replaced documents never come back: not from a segment that
// still holds them, not after the next fold, not after a restart; an
// EVENTUAL query searches segments only.
func TestIndexedDeletesAndReplacements(t *testing.T) {
	ctx := context.Background()
	bucket := objstore.NewInMemory()
	c := startIndexing(t, bucket)
	createNamespace(t, c, "dr", 4, weftv1.Metric_METRIC_L2)
	r := rand.New(rand.NewPCG(5, 6))
	docs := randomDocs(r, 400, 4, "d")
	upsert(t, c, "dr", docs)
	first := waitIndexed(t, c, "dr")

	// The query point is far from every document; "d7" moves onto it and
	// "d8" is deleted after being moved next to it.
	target := []float32{100, 100, 100, 100}
	upsert(t, c, "dr", []*weftv1.Document{{Id: "d8", Vector: []float32{99, 100, 100, 100}}})
	waitIndexed(t, c, "dr")
	upsert(t, c, "dr", []*weftv1.Document{{Id: "d7", Vector: target}})
	if _, err := c.docs.Delete(ctx, connect.NewRequest(&weftv1.DeleteRequest{Namespace: "dr", Ids: []string{"d8", "d9"}})); err != nil {
		t.Fatal(err)
	}
	fresh := &weftv1.Document{Id: "new", Vector: []float32{100, 100, 100, 99.5}}
	upsert(t, c, "dr", []*weftv1.Document{fresh})

	check := func(t *testing.T, c clients, tailFolded bool) {
		t.Helper()
		strong := query(t, c, &weftv1.QueryRequest{Namespace: "dr", Vector: target, TopK: 3, Search: &weftv1.SearchParams{Ef: 400}})
		ids := resultIDs(strong.GetResults())
		if ids[0] != "d7" || ids[1] != "new" || slices.Contains(ids, "d8") || slices.Contains(ids, "d9") {
			t.Fatalf("STRONG query: %v, want d7, new, then neither d8 nor d9", ids)
		}
		if strong.GetResults()[0].GetDistance() != 0 {
			t.Fatalf("d7 at distance %v, want 0 (its new vector)", strong.GetResults()[0].GetDistance())
		}
		eventual := query(t, c, &weftv1.QueryRequest{Namespace: "dr", Vector: target, TopK: 3, Consistency: weftv1.Consistency_CONSISTENCY_EVENTUAL, Search: &weftv1.SearchParams{Ef: 400}})
		ids = resultIDs(eventual.GetResults())
		if slices.Contains(ids, "d8") || slices.Contains(ids, "d9") {
			t.Fatalf("EVENTUAL query returned a deleted document: %v", ids)
		}
		if !tailFolded && slices.Contains(ids, "new") {
			t.Fatalf("EVENTUAL query saw the unindexed tail: %v", ids)
		}
		if tailFolded && (ids[0] != "d7" || ids[1] != "new") {
			t.Fatalf("EVENTUAL query after the fold: %v, want d7, new first", ids)
		}
		if len(eventual.GetResults()) != 3 {
			t.Fatalf("EVENTUAL query: %d results, want 3 (no short answers)", len(eventual.GetResults()))
		}
		got, err := c.docs.Get(ctx, connect.NewRequest(&weftv1.GetRequest{Namespace: "dr", Ids: []string{"d7", "d8", "d9", "d10"}, IncludeVectors: true}))
		if err != nil {
			t.Fatal(err)
		}
		if n := len(got.Msg.GetDocuments()); n != 2 || !slices.Equal(got.Msg.GetDocuments()[0].GetVector(), target) || !slices.Equal(got.Msg.GetDocuments()[1].GetVector(), docs[10].GetVector()) {
			t.Fatalf("Get: %v", got.Msg.GetDocuments())
		}
	}
	st := waitIndexed(t, c, "dr")
	if st.GetManifestVersion() <= first.GetManifestVersion() || st.GetDocumentCount() != 399 {
		t.Fatalf("stats after the second fold: %v", st)
	}
	check(t, c, true)
	// A new process loads the newest manifest and the WAL after it.
	c2 := startIndexing(t, bucket)
	check(t, c2, true)
	// (The first process may have renewed its write lease meanwhile: an
	// empty entry.)
	if st2 := waitIndexed(t, c2, "dr"); st2.GetManifestVersion() != st.GetManifestVersion() || st2.GetWalSequence() < st.GetWalSequence() || st2.GetDocumentCount() != st.GetDocumentCount() {
		t.Fatalf("a restarted server serves %v, the first %v", st2, st)
	}
	// Folded WAL entries, older manifests and merged segments are gone
	// after the grace period. (Write lease renewals after the fold stay
	// until enough of them gather.)
	meta, err := c.ns.GetNamespace(ctx, connect.NewRequest(&weftv1.GetNamespaceRequest{Name: "dr"}))
	if err != nil {
		t.Fatal(err)
	}
	gen := objstore.Generation{Namespace: "dr", ID: meta.Msg.GetNamespace().GetGeneration()}
	deadline := time.Now().Add(10 * time.Second)
	for {
		wal, _ := bucket.List(ctx, gen.WALPrefix())
		mans, _ := bucket.List(ctx, gen.ManifestPrefix())
		folded := objstore.NewWAL(bucket, gen.WALPrefix()).Key(st.GetWalSequence())
		if (len(wal) == 0 || wal[0] > folded) && len(mans) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("garbage left after the grace period: WAL %v, manifests %v", wal, mans)
		}
		time.Sleep(20 * time.Millisecond)
	}
	check(t, startIndexing(t, bucket), true)
}

// Before anything is folded, EVENTUAL queries see no document; the tail
// is scanned exactly by STRONG ones.
func TestUnindexedTail(t *testing.T) {
	c := serveFabric(t, fabric.Config{Bucket: objstore.NewInMemory(), Index: fabric.IndexConfig{Disabled: true}})
	createNamespace(t, c, "t", 2, weftv1.Metric_METRIC_L2)
	upsert(t, c, "t", []*weftv1.Document{{Id: "a", Vector: []float32{1, 1}}})
	strong := query(t, c, &weftv1.QueryRequest{Namespace: "t", Vector: []float32{1, 1}, TopK: 1})
	if ids := resultIDs(strong.GetResults()); !slices.Equal(ids, []string{"a"}) || strong.GetStats().GetDocumentsScanned() != 1 {
		t.Fatalf("STRONG: %v (stats %v)", ids, strong.GetStats())
	}
	eventual := query(t, c, &weftv1.QueryRequest{Namespace: "t", Vector: []float32{1, 1}, TopK: 1, Consistency: weftv1.Consistency_CONSISTENCY_EVENTUAL})
	if len(eventual.GetResults()) != 0 {
		t.Fatalf("EVENTUAL before any fold: %v, want nothing", resultIDs(eventual.GetResults()))
	}
}

// Search knobs: ef and recall_target are exclusive, and ef is bounded.
func TestSearchParams(t *testing.T) {
	c := startIndexing(t, objstore.NewInMemory())
	createNamespace(t, c, "p", 2, weftv1.Metric_METRIC_L2)
	for _, sp := range []*weftv1.SearchParams{{Ef: 10001}, {Ef: 10, RecallTarget: 0.9}} {
		_, err := c.query.Query(context.Background(), connect.NewRequest(&weftv1.QueryRequest{Namespace: "p", Vector: []float32{1, 1}, TopK: 1, Search: sp}))
		if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), "ef") {
			t.Fatalf("search %v: %v, want InvalidArgument naming ef", sp, err)
		}
	}
}

// Two processes index one namespace: each adopts what the other
// publishes, and both serve every acknowledged write.
func TestTwoIndexersShareABucket(t *testing.T) {
	ctx := context.Background()
	bucket := objstore.NewInMemory()
	a, b := startIndexing(t, bucket), startIndexing(t, bucket)
	createNamespace(t, a, "two", 4, weftv1.Metric_METRIC_L2)
	r := rand.New(rand.NewPCG(7, 8))
	want := map[string]bool{}
	for round := range 6 {
		for w, c := range []clients{a, b} {
			docs := randomDocs(r, 50, 4, fmt.Sprintf("r%d-w%d-", round, w))
			upsert(t, c, "two", docs)
			for _, d := range docs {
				want[d.Id] = true
			}
		}
		time.Sleep(30 * time.Millisecond) // let a fold start
	}
	for _, c := range []clients{a, b} {
		waitIndexed(t, c, "two")
		resp := query(t, c, &weftv1.QueryRequest{Namespace: "two", Vector: []float32{0, 0, 0, 0}, TopK: 1000, Search: &weftv1.SearchParams{RecallTarget: 1}})
		if len(resp.GetResults()) != len(want) {
			t.Fatalf("found %d documents, want %d", len(resp.GetResults()), len(want))
		}
		for _, res := range resp.GetResults() {
			if !want[res.GetId()] {
				t.Fatalf("unexpected id %s", res.GetId())
			}
		}
	}
	_ = ctx
}

// A namespace deleted and re-created by one process while another still
// serves it: the other answers from the new generation from its next
// request on, never with a row of the old one, and a write it acknowledges
// is in the new generation.
func TestDeleteAndRecreateWhileAnotherServes(t *testing.T) {
	ctx := context.Background()
	bucket := objstore.NewInMemory()
	a, b := startIndexing(t, bucket), startIndexing(t, bucket)
	createNamespace(t, a, "re", 2, weftv1.Metric_METRIC_L2)
	upsert(t, a, "re", []*weftv1.Document{{Id: "old", Vector: []float32{1, 1}}})
	waitIndexed(t, a, "re")
	// b serves the namespace too.
	if got := query(t, b, &weftv1.QueryRequest{Namespace: "re", Vector: []float32{1, 1}, TopK: 5}); !slices.Equal(resultIDs(got.GetResults()), []string{"old"}) {
		t.Fatalf("b before the delete: %v", resultIDs(got.GetResults()))
	}
	if _, err := a.ns.DeleteNamespace(ctx, connect.NewRequest(&weftv1.DeleteNamespaceRequest{Name: "re"})); err != nil {
		t.Fatal(err)
	}
	// Deleted: b says so too.
	_, err := b.query.Query(ctx, connect.NewRequest(&weftv1.QueryRequest{Namespace: "re", Vector: []float32{1, 1}, TopK: 5}))
	if connect.CodeOf(err) != connect.CodeNotFound {
		t.Fatalf("b after the delete: %v, want NotFound", err)
	}
	createNamespace(t, a, "re", 2, weftv1.Metric_METRIC_L2)
	upsert(t, a, "re", []*weftv1.Document{{Id: "new-a", Vector: []float32{2, 2}}})
	// b writes and reads the new generation.
	upsert(t, b, "re", []*weftv1.Document{{Id: "new-b", Vector: []float32{3, 3}}})
	for _, c := range []clients{a, b} {
		got := query(t, c, &weftv1.QueryRequest{Namespace: "re", Vector: []float32{1, 1}, TopK: 5})
		if ids := resultIDs(got.GetResults()); !slices.Equal(ids, []string{"new-a", "new-b"}) {
			t.Fatalf("after the re-create: %v, want [new-a new-b]", ids)
		}
	}

	// The same with b still holding the old generation in memory when the
	// delete and re-create both happen: its next write must not land in the
	// old generation, and its next query must not return old rows.
	upsert(t, b, "re", []*weftv1.Document{{Id: "gen2", Vector: []float32{5, 5}}})
	if _, err := a.ns.DeleteNamespace(ctx, connect.NewRequest(&weftv1.DeleteNamespaceRequest{Name: "re"})); err != nil {
		t.Fatal(err)
	}
	createNamespace(t, a, "re", 2, weftv1.Metric_METRIC_L2)
	_, err = b.docs.Upsert(ctx, connect.NewRequest(&weftv1.UpsertRequest{Namespace: "re", Documents: []*weftv1.Document{{Id: "late", Vector: []float32{4, 4}}}}))
	if err != nil && connect.CodeOf(err) != connect.CodeAborted {
		t.Fatalf("b's write into a replaced generation: %v, want success or Aborted", err)
	}
	acked := err == nil
	if err != nil { // Aborted says retry: the retry lands in the new generation
		upsert(t, b, "re", []*weftv1.Document{{Id: "late", Vector: []float32{4, 4}}})
		acked = true
	}
	for _, c := range []clients{a, b} {
		got := query(t, c, &weftv1.QueryRequest{Namespace: "re", Vector: []float32{1, 1}, TopK: 5})
		ids := resultIDs(got.GetResults())
		if acked && !slices.Equal(ids, []string{"late"}) {
			t.Fatalf("after the second re-create: %v, want [late] (no row of an older generation)", ids)
		}
	}
}

// Writes are refused with ResourceExhausted while too many changes wait
// for the indexer, and accepted again once it caught up.
func TestWritesWaitForABackloggedIndexer(t *testing.T) {
	cfg := eagerIndex
	cfg.MaxUnindexed = 100
	cfg.Idle = 300 * time.Millisecond
	c := serveFabric(t, fabric.Config{Bucket: objstore.NewInMemory(), Index: cfg})
	createNamespace(t, c, "slow", 2, weftv1.Metric_METRIC_L2)
	r := rand.New(rand.NewPCG(1, 1))
	upsert(t, c, "slow", randomDocs(r, 100, 2, "a"))
	_, err := c.docs.Upsert(context.Background(), connect.NewRequest(&weftv1.UpsertRequest{Namespace: "slow", Documents: randomDocs(r, 1, 2, "b")}))
	if connect.CodeOf(err) != connect.CodeResourceExhausted || !strings.Contains(err.Error(), "retry") {
		t.Fatalf("write past the backlog limit: %v, want ResourceExhausted saying to retry", err)
	}
	waitIndexed(t, c, "slow")
	upsert(t, c, "slow", randomDocs(r, 1, 2, "b"))
}

// A process that stayed idle while another wrote, folded and collected the
// WAL entries behind its state must neither answer without those writes
// nor append at a sequence the newer manifest already covers (every reader
// would skip that write). The window in which a process trusts its last
// read of the manifest head is short here, so the test sees both sides of
// it.
func TestIdleProcessAfterCollectedWAL(t *testing.T) {
	bucket := objstore.NewInMemory()
	cfg := fabric.Config{Bucket: bucket, Index: eagerIndex, BucketTimeout: 10 * time.Millisecond, WriteLease: 20 * time.Millisecond}
	cfg.Index.Grace = 150 * time.Millisecond // trusts a head read for (150 − 10 − 2 × 20) / 2 = 50 ms
	a, b := serveFabric(t, cfg), serveFabric(t, cfg)
	createNamespace(t, a, "idle", 2, weftv1.Metric_METRIC_L2)
	upsert(t, a, "idle", []*weftv1.Document{{Id: "a1", Vector: []float32{1, 1}}})
	waitIndexed(t, a, "idle")
	ids := func(c clients) []string {
		got := query(t, c, &weftv1.QueryRequest{Namespace: "idle", Vector: []float32{0, 0}, TopK: 10, Search: &weftv1.SearchParams{RecallTarget: 1}})
		ids := resultIDs(got.GetResults())
		slices.Sort(ids)
		return ids
	}
	if got := ids(b); !slices.Equal(got, []string{"a1"}) {
		t.Fatalf("b before: %v", got)
	}
	// b writes twice and folds; its collector deletes the entries after
	// Grace. a reads nothing meanwhile.
	for _, id := range []string{"b1", "b2"} {
		upsert(t, b, "idle", []*weftv1.Document{{Id: id, Vector: []float32{2, 2}}})
		waitIndexed(t, b, "idle")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		keys, err := bucket.List(context.Background(), "namespaces/idle/")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(keys, func(k string) bool { return strings.Contains(k, "/wal/") }) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("WAL entries not collected after 10 s: %v", keys)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := ids(a); !slices.Equal(got, []string{"a1", "b1", "b2"}) {
		t.Fatalf("a after b's collected writes: %v, want [a1 b1 b2]", got)
	}
	// The same for a write: a stays idle past its window again.
	upsert(t, b, "idle", []*weftv1.Document{{Id: "b3", Vector: []float32{3, 3}}})
	waitIndexed(t, b, "idle")
	time.Sleep(400 * time.Millisecond)
	upsert(t, a, "idle", []*weftv1.Document{{Id: "a2", Vector: []float32{4, 4}}})
	fresh := serveFabric(t, cfg)
	want := []string{"a1", "a2", "b1", "b2", "b3"}
	for name, c := range map[string]clients{"a": a, "b": b, "a new process": fresh} {
		if got := ids(c); !slices.Equal(got, want) {
			t.Fatalf("%s after a's write: %v, want %v", name, got, want)
		}
	}
}

// An attribute update of a row in a segment that the next fold keeps (the
// tail is too small to merge everything) survives a restart: the row's
// vector is in the segment, its new attributes are not.
func TestUpdatedAttributesOfKeptSegmentRows(t *testing.T) {
	ctx := context.Background()
	bucket := objstore.NewInMemory()
	c := startIndexing(t, bucket)
	createNamespace(t, c, "upd", 2, weftv1.Metric_METRIC_L2)
	r := rand.New(rand.NewPCG(9, 9))
	docs := randomDocs(r, 200, 2, "d")
	for i, d := range docs {
		d.Attributes = map[string]*weftv1.AttributeValue{"n": {Kind: &weftv1.AttributeValue_IntValue{IntValue: int64(i)}}}
	}
	upsert(t, c, "upd", docs)
	first := waitIndexed(t, c, "upd")
	_, err := c.docs.UpdateAttributes(ctx, connect.NewRequest(&weftv1.UpdateAttributesRequest{Namespace: "upd", Updates: []*weftv1.AttributeUpdate{
		{Id: "d3", Set: map[string]*weftv1.AttributeValue{"n": {Kind: &weftv1.AttributeValue_IntValue{IntValue: 1000}}, "tag": {Kind: &weftv1.AttributeValue_StringValue{StringValue: "new"}}}},
		{Id: "d4", Remove: []string{"n"}},
	}}))
	if err != nil {
		t.Fatal(err)
	}
	upsert(t, c, "upd", []*weftv1.Document{{Id: "extra", Vector: []float32{0, 0}}})
	if st := waitIndexed(t, c, "upd"); st.GetManifestVersion() <= first.GetManifestVersion() {
		t.Fatalf("no fold after the update: %v", st)
	}
	check := func(name string, c clients) {
		t.Helper()
		got, err := c.docs.Get(ctx, connect.NewRequest(&weftv1.GetRequest{Namespace: "upd", Ids: []string{"d3", "d4", "d5"}, IncludeAttributes: true}))
		if err != nil {
			t.Fatal(err)
		}
		ds := got.Msg.GetDocuments()
		if len(ds) != 3 || ds[0].GetAttributes()["n"].GetIntValue() != 1000 || ds[0].GetAttributes()["tag"].GetStringValue() != "new" ||
			len(ds[1].GetAttributes()) != 0 || ds[2].GetAttributes()["n"].GetIntValue() != 5 {
			t.Fatalf("%s: %v", name, ds)
		}
		// Filters see the new values too.
		q := query(t, c, &weftv1.QueryRequest{Namespace: "upd", Vector: []float32{0, 0}, TopK: 10, Filter: &weftv1.Filter{Op: &weftv1.Filter_Eq{Eq: &weftv1.Comparison{Attribute: "n", Value: &weftv1.AttributeValue{Kind: &weftv1.AttributeValue_IntValue{IntValue: 1000}}}}}})
		if ids := resultIDs(q.GetResults()); !slices.Equal(ids, []string{"d3"}) {
			t.Fatalf("%s: filter n = 1000 found %v, want [d3]", name, ids)
		}
	}
	check("the writer", c)
	check("a new process", startIndexing(t, bucket))
}

// mappings counts this process's memory mappings of files under the
// namespaces of the folder bucket in dir.
func mappings(t *testing.T, dir string) int {
	t.Helper()
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(maps), filepath.Join(dir, "namespaces"))
}

// A process on a folder bucket maps segments instead of reading them;
// once a merge replaces a mapped segment and the collector unmaps it,
// nothing the process serves still points into it: ids, attributes and
// vectors come back intact.
func TestMappedSegmentsAfterMerge(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	bucket, err := objstore.NewFilesystem(dir)
	if err != nil {
		t.Fatal(err)
	}
	mapped := func() int { return mappings(t, dir) }
	a := startIndexing(t, bucket)
	createNamespace(t, a, "mm", 4, weftv1.Metric_METRIC_COSINE)
	r := rand.New(rand.NewPCG(61, 62))
	docs := randomDocs(r, 400, 4, "d")
	upsert(t, a, "mm", docs)
	waitIndexed(t, a, "mm")
	b := startIndexing(t, bucket) // maps the segment a wrote
	check := func(when string) {
		t.Helper()
		got, err := b.docs.Get(ctx, connect.NewRequest(&weftv1.GetRequest{Namespace: "mm", Ids: []string{"d3", "d399"}, IncludeVectors: true, IncludeAttributes: true}))
		if err != nil {
			t.Fatal(err)
		}
		for i, d := range got.Msg.GetDocuments() {
			want := docs[[]int{3, 399}[i]]
			if !slices.Equal(d.GetVector(), want.GetVector()) || d.GetAttributes()["color"].GetStringValue() != want.GetAttributes()["color"].GetStringValue() {
				t.Fatalf("%s: %v, want %v", when, d, want)
			}
		}
		res := query(t, b, &weftv1.QueryRequest{Namespace: "mm", Vector: docs[5].GetVector(), TopK: 1, IncludeAttributes: true, IncludeVectors: true})
		if ids := resultIDs(res.GetResults()); !slices.Equal(ids, []string{"d5"}) || !slices.Equal(res.GetResults()[0].GetVector(), docs[5].GetVector()) {
			t.Fatalf("%s: nearest to d5 is %v", when, res.GetResults())
		}
	}
	check("mapped")
	if n := mapped(); n == 0 {
		t.Fatal("the segment was read, not mapped")
	}
	// b writes as many again: its fold merges everything into a segment
	// it builds in memory, and the mapped one becomes garbage.
	upsert(t, b, "mm", randomDocs(r, 400, 4, "e"))
	if st := waitIndexed(t, b, "mm"); st.GetSegments() != 1 {
		t.Fatalf("after the merge: %v", st)
	}
	for range 3 {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if n := mapped(); n != 0 {
		t.Fatalf("%d mappings left after the merge", n)
	}
	check("after the merge and unmapping")
}
