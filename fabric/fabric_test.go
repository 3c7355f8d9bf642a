package fabric_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/weftdb/weft/fabric"
	"github.com/weftdb/weft/objstore"
	weftv1 "github.com/weftdb/weft/proto/gen/weft/v1"
	"github.com/weftdb/weft/proto/gen/weft/v1/weftv1connect"
	"github.com/weftdb/weft/proto/gen/weft/worker/v1/workerv1connect"
)

// clients are Connect clients of one test server.
type clients struct {
	ns      weftv1connect.NamespaceServiceClient
	docs    weftv1connect.DocumentServiceClient
	query   weftv1connect.QueryServiceClient
	plugins weftv1connect.PluginServiceClient
	worker  workerv1connect.WorkerServiceClient
}

// startServer serves a fabric over bucket on a loopback port.
func startServer(t testing.TB, bucket objstore.Bucket) clients {
	t.Helper()
	return serveFabric(t, fabric.Config{Bucket: bucket, WriteLease: testLease})
}

// testLease is the write lease of test servers: short, so that a test in
// which two processes write waits little for a lease to end.
const testLease = 50 * time.Millisecond

// serveFabric serves a fabric configured by cfg on a loopback port until
// the test ends.
func serveFabric(t testing.TB, cfg fabric.Config) clients {
	t.Helper()
	srv, err := fabric.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close) // after the HTTP server closes
	mux := http.NewServeMux()
	srv.Handle(mux)
	hs := httptest.NewServer(mux) // binds 127.0.0.1
	t.Cleanup(hs.Close)
	return clients{
		ns:      weftv1connect.NewNamespaceServiceClient(hs.Client(), hs.URL),
		docs:    weftv1connect.NewDocumentServiceClient(hs.Client(), hs.URL),
		query:   weftv1connect.NewQueryServiceClient(hs.Client(), hs.URL),
		plugins: weftv1connect.NewPluginServiceClient(hs.Client(), hs.URL),
		worker:  workerv1connect.NewWorkerServiceClient(hs.Client(), hs.URL),
	}
}

func createNamespace(t *testing.T, c clients, name string, dim uint32, metric weftv1.Metric) {
	t.Helper()
	_, err := c.ns.CreateNamespace(context.Background(), connect.NewRequest(&weftv1.CreateNamespaceRequest{
		Namespace: &weftv1.Namespace{Name: name, Dimension: dim, Metric: metric},
	}))
	if err != nil {
		t.Fatal(err)
	}
}

func randomDocs(r *rand.Rand, n, dim int, prefix string) []*weftv1.Document {
	docs := make([]*weftv1.Document, n)
	colors := []string{"red", "green", "blue"}
	for i := range docs {
		v := make([]float32, dim)
		for j := range v {
			v[j] = float32(r.NormFloat64())
		}
		docs[i] = &weftv1.Document{
			Id:     fmt.Sprintf("%s%d", prefix, i),
			Vector: v,
			Attributes: map[string]*weftv1.AttributeValue{
				"color": {Kind: &weftv1.AttributeValue_StringValue{StringValue: colors[i%3]}},
				"n":     {Kind: &weftv1.AttributeValue_IntValue{IntValue: int64(i)}},
			},
		}
	}
	return docs
}

func upsert(t *testing.T, c clients, ns string, docs []*weftv1.Document) *weftv1.UpsertResponse {
	t.Helper()
	resp, err := c.docs.Upsert(context.Background(), connect.NewRequest(&weftv1.UpsertRequest{Namespace: ns, Documents: docs}))
	if err != nil {
		t.Fatal(err)
	}
	return resp.Msg
}

// reference is an independent brute force in float64: the k nearest of docs
// passing keep, as (id, distance) pairs nearest first, ties by id.
type scored struct {
	id   string
	dist float64
}

func reference(docs map[string]*weftv1.Document, q []float32, k int, metric weftv1.Metric, keep func(*weftv1.Document) bool) []scored {
	var all []scored
	for _, d := range docs {
		if keep != nil && !keep(d) {
			continue
		}
		var dot, qq, vv, l2 float64
		for i := range q {
			a, b := float64(q[i]), float64(d.Vector[i])
			dot += a * b
			qq += a * a
			vv += b * b
			l2 += (a - b) * (a - b)
		}
		var dist float64
		switch metric {
		case weftv1.Metric_METRIC_L2:
			dist = math.Sqrt(l2)
		case weftv1.Metric_METRIC_COSINE:
			dist = 1 - dot/math.Sqrt(qq*vv)
		default:
			dist = -dot
		}
		all = append(all, scored{d.Id, dist})
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].dist != all[j].dist {
			return all[i].dist < all[j].dist
		}
		return all[i].id < all[j].id
	})
	return all[:min(k, len(all))]
}

func checkResults(t *testing.T, got []*weftv1.QueryResult, want []scored) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d results, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].GetId() != want[i].id {
			t.Fatalf("result %d: id %s, want %s (dist %v vs %v)", i, got[i].GetId(), want[i].id, got[i].GetDistance(), want[i].dist)
		}
		if d := math.Abs(float64(got[i].GetDistance()) - want[i].dist); d > 1e-4*math.Max(1, math.Abs(want[i].dist)) {
			t.Fatalf("result %d (%s): distance %v, want %v", i, want[i].id, got[i].GetDistance(), want[i].dist)
		}
		if got[i].GetScore() != -got[i].GetDistance() {
			t.Fatalf("result %d: score %v is not -distance %v", i, got[i].GetScore(), got[i].GetDistance())
		}
	}
}

func TestExactSearchMatchesBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, metric := range []weftv1.Metric{weftv1.Metric_METRIC_L2, weftv1.Metric_METRIC_COSINE, weftv1.Metric_METRIC_DOT} {
		t.Run(metric.String(), func(t *testing.T) {
			c := startServer(t, objstore.NewInMemory())
			const dim = 24
			createNamespace(t, c, "ns", dim, metric)
			docs := randomDocs(r, 3000, dim, "d")
			byID := map[string]*weftv1.Document{}
			for i := 0; i < len(docs); i += 700 {
				batch := docs[i:min(i+700, len(docs))]
				upsert(t, c, "ns", batch)
			}
			for _, d := range docs {
				byID[d.Id] = d
			}
			for qi := range 20 {
				q := randomDocs(r, 1, dim, "q")[0].Vector
				k := []int{1, 10, 100}[qi%3]
				resp, err := c.query.Query(context.Background(), connect.NewRequest(&weftv1.QueryRequest{Namespace: "ns", Vector: q, TopK: uint32(k)}))
				if err != nil {
					t.Fatal(err)
				}
				checkResults(t, resp.Msg.GetResults(), reference(byID, q, k, metric, nil))
				if s := resp.Msg.GetStats(); s.GetDocumentsScanned() != 3000 || len(s.GetTimings()) == 0 {
					t.Fatalf("stats %v: want 3000 documents scanned and timings", s)
				}
			}
		})
	}
}

func attrString(d *weftv1.Document, name string) (string, bool) {
	v, ok := d.GetAttributes()[name]
	return v.GetStringValue(), ok && v.GetKind() != nil
}

func TestFiltersMatchBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	c := startServer(t, objstore.NewInMemory())
	const dim = 8
	createNamespace(t, c, "ns", dim, weftv1.Metric_METRIC_L2)
	docs := randomDocs(r, 1000, dim, "d")
	docs[5].Attributes["tags"] = &weftv1.AttributeValue{Kind: &weftv1.AttributeValue_StringListValue{StringListValue: &weftv1.StringList{Values: []string{"a", "b"}}}}
	docs[6].Attributes["tags"] = &weftv1.AttributeValue{Kind: &weftv1.AttributeValue_StringListValue{StringListValue: &weftv1.StringList{Values: []string{"c"}}}}
	upsert(t, c, "ns", docs)
	byID := map[string]*weftv1.Document{}
	for _, d := range docs {
		byID[d.Id] = d
	}
	str := func(s string) *weftv1.AttributeValue {
		return &weftv1.AttributeValue{Kind: &weftv1.AttributeValue_StringValue{StringValue: s}}
	}
	num := func(i int64) *weftv1.AttributeValue {
		return &weftv1.AttributeValue{Kind: &weftv1.AttributeValue_IntValue{IntValue: i}}
	}
	n := func(d *weftv1.Document) int64 { return d.Attributes["n"].GetIntValue() }
	color := func(d *weftv1.Document) string { s, _ := attrString(d, "color"); return s }
	cases := []struct {
		name   string
		filter *weftv1.Filter
		keep   func(*weftv1.Document) bool
	}{
		{"eq", &weftv1.Filter{Op: &weftv1.Filter_Eq{Eq: &weftv1.Comparison{Attribute: "color", Value: str("red")}}}, func(d *weftv1.Document) bool { return color(d) == "red" }},
		{"ne", &weftv1.Filter{Op: &weftv1.Filter_Ne{Ne: &weftv1.Comparison{Attribute: "color", Value: str("red")}}}, func(d *weftv1.Document) bool { return color(d) != "red" }},
		{"in", &weftv1.Filter{Op: &weftv1.Filter_In{In: &weftv1.InFilter{Attribute: "n", Values: []*weftv1.AttributeValue{num(3), num(500), num(999)}}}}, func(d *weftv1.Document) bool { x := n(d); return x == 3 || x == 500 || x == 999 }},
		{"range", &weftv1.Filter{Op: &weftv1.Filter_Range{Range: &weftv1.RangeFilter{Attribute: "n", Gte: num(100), Lt: num(110)}}}, func(d *weftv1.Document) bool { return n(d) >= 100 && n(d) < 110 }},
		{"exists", &weftv1.Filter{Op: &weftv1.Filter_Exists{Exists: &weftv1.ExistsFilter{Attribute: "tags"}}}, func(d *weftv1.Document) bool { return d.Id == "d5" || d.Id == "d6" }},
		{"list-contains", &weftv1.Filter{Op: &weftv1.Filter_Eq{Eq: &weftv1.Comparison{Attribute: "tags", Value: str("b")}}}, func(d *weftv1.Document) bool { return d.Id == "d5" }},
		{"and-or-not", &weftv1.Filter{Op: &weftv1.Filter_And{And: &weftv1.FilterList{Filters: []*weftv1.Filter{
			{Op: &weftv1.Filter_Or{Or: &weftv1.FilterList{Filters: []*weftv1.Filter{
				{Op: &weftv1.Filter_Eq{Eq: &weftv1.Comparison{Attribute: "color", Value: str("green")}}},
				{Op: &weftv1.Filter_Range{Range: &weftv1.RangeFilter{Attribute: "n", Lt: num(30)}}},
			}}}},
			{Op: &weftv1.Filter_Not{Not: &weftv1.Filter{Op: &weftv1.Filter_Range{Range: &weftv1.RangeFilter{Attribute: "n", Gt: num(900)}}}}},
		}}}}, func(d *weftv1.Document) bool { return (color(d) == "green" || n(d) < 30) && !(n(d) > 900) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q := randomDocs(r, 1, dim, "q")[0].Vector
			resp, err := c.query.Query(context.Background(), connect.NewRequest(&weftv1.QueryRequest{Namespace: "ns", Vector: q, TopK: 20, Filter: tc.filter, IncludeAttributes: true}))
			if err != nil {
				t.Fatal(err)
			}
			want := reference(byID, q, 20, weftv1.Metric_METRIC_L2, tc.keep)
			checkResults(t, resp.Msg.GetResults(), want)
			matched := 0
			for _, d := range docs {
				if tc.keep(d) {
					matched++
				}
			}
			if got := resp.Msg.GetStats().GetDocumentsMatched(); got != uint64(matched) {
				t.Fatalf("documents_matched %d, want %d", got, matched)
			}
			for _, res := range resp.Msg.GetResults() {
				if !proto.Equal(res.GetAttributes()["color"], byID[res.GetId()].Attributes["color"]) {
					t.Fatalf("%s: attributes %v, want %v", res.GetId(), res.GetAttributes(), byID[res.GetId()].Attributes)
				}
			}
		})
	}
}

func TestDocumentLifecycleAndRestart(t *testing.T) {
	ctx := context.Background()
	bucket := objstore.NewInMemory()
	c := startServer(t, bucket)
	createNamespace(t, c, "life", 3, weftv1.Metric_METRIC_COSINE)
	vec := []float32{3, 4, 0} // not unit length: Get must return it as sent
	docs := []*weftv1.Document{
		{Id: "a", Vector: vec, Attributes: map[string]*weftv1.AttributeValue{"k": {Kind: &weftv1.AttributeValue_StringValue{StringValue: "x"}}}},
		{Id: "b", Vector: []float32{0, 1, 0}, Attributes: map[string]*weftv1.AttributeValue{"k": {Kind: &weftv1.AttributeValue_StringValue{StringValue: "y"}}}},
		{Vector: []float32{0, 0, 1}}, // the server assigns a UUIDv7
		{Id: "d", Vector: []float32{1, 1, 1}, Attributes: map[string]*weftv1.AttributeValue{"k": {Kind: &weftv1.AttributeValue_StringValue{StringValue: "y"}}}},
	}
	up := upsert(t, c, "life", docs)
	if len(up.GetIds()) != 4 || up.GetIds()[0] != "a" || len(up.GetIds()[2]) != 36 || up.GetIds()[2][14] != '7' {
		t.Fatalf("ids %v: want a, b, a UUIDv7, d", up.GetIds())
	}
	assigned := up.GetIds()[2]

	// Replace a, delete b by id, d by filter, update attributes of the
	// assigned one.
	upsert(t, c, "life", []*weftv1.Document{{Id: "a", Vector: []float32{1, 0, 0}}})
	del, err := c.docs.Delete(ctx, connect.NewRequest(&weftv1.DeleteRequest{Namespace: "life", Ids: []string{"b", "nope"}}))
	if err != nil || del.Msg.GetDeletedCount() != 1 {
		t.Fatalf("delete by id: %v, %v: want 1 deleted", del, err)
	}
	del, err = c.docs.Delete(ctx, connect.NewRequest(&weftv1.DeleteRequest{Namespace: "life", Filter: &weftv1.Filter{Op: &weftv1.Filter_Eq{Eq: &weftv1.Comparison{Attribute: "k", Value: &weftv1.AttributeValue{Kind: &weftv1.AttributeValue_StringValue{StringValue: "y"}}}}}}))
	if err != nil || del.Msg.GetDeletedCount() != 1 {
		t.Fatalf("delete by filter: %v, %v: want 1 deleted (d)", del, err)
	}
	upd, err := c.docs.UpdateAttributes(ctx, connect.NewRequest(&weftv1.UpdateAttributesRequest{Namespace: "life", Updates: []*weftv1.AttributeUpdate{
		{Id: assigned, Set: map[string]*weftv1.AttributeValue{"tier": {Kind: &weftv1.AttributeValue_IntValue{IntValue: 2}}}},
		{Id: "ghost", Remove: []string{"k"}},
	}}))
	if err != nil || !slices.Equal(upd.Msg.GetMissingIds(), []string{"ghost"}) {
		t.Fatalf("update attributes: %v, %v: want missing [ghost]", upd, err)
	}

	check := func(t *testing.T, c clients) {
		t.Helper()
		got, err := c.docs.Get(ctx, connect.NewRequest(&weftv1.GetRequest{Namespace: "life", Ids: []string{"a", "b", assigned, "d"}, IncludeVectors: true, IncludeAttributes: true}))
		if err != nil {
			t.Fatal(err)
		}
		want := []*weftv1.Document{
			{Id: "a", Vector: []float32{1, 0, 0}},
			{Id: assigned, Vector: []float32{0, 0, 1}, Attributes: map[string]*weftv1.AttributeValue{"tier": {Kind: &weftv1.AttributeValue_IntValue{IntValue: 2}}}},
		}
		if len(got.Msg.GetDocuments()) != len(want) {
			t.Fatalf("get: %v, want %v", got.Msg.GetDocuments(), want)
		}
		for i := range want {
			if !proto.Equal(got.Msg.GetDocuments()[i], want[i]) {
				t.Fatalf("get[%d]: %v, want %v", i, got.Msg.GetDocuments()[i], want[i])
			}
		}
		q, err := c.query.Query(ctx, connect.NewRequest(&weftv1.QueryRequest{Namespace: "life", Vector: []float32{1, 0.1, 0}, TopK: 10}))
		if err != nil {
			t.Fatal(err)
		}
		if ids := resultIDs(q.Msg.GetResults()); !slices.Equal(ids, []string{"a", assigned}) {
			t.Fatalf("query ids %v, want [a %s]", ids, assigned)
		}
	}
	check(t, c)
	// A new process over the same bucket replays the WAL into the same state.
	check(t, startServer(t, bucket))
	// Unknown namespaces are gone after a delete, for new processes too.
	if _, err := c.ns.DeleteNamespace(ctx, connect.NewRequest(&weftv1.DeleteNamespaceRequest{Name: "life"})); err != nil {
		t.Fatal(err)
	}
	// What is left is the generation's close entry, which any process
	// still serving it finds.
	left, err := bucket.List(ctx, "namespaces/life/")
	if err != nil || len(left) != 1 || !strings.Contains(left[0], "/wal/") {
		t.Fatalf("after delete the bucket holds %v (%v), want only the close entry", left, err)
	}
	_, err = startServer(t, bucket).docs.Get(ctx, connect.NewRequest(&weftv1.GetRequest{Namespace: "life", Ids: []string{"a"}}))
	if connect.CodeOf(err) != connect.CodeNotFound {
		t.Fatalf("get after delete: %v, want NotFound", err)
	}
}

func resultIDs(rs []*weftv1.QueryResult) []string {
	ids := make([]string, len(rs))
	for i, r := range rs {
		ids[i] = r.GetId()
	}
	return ids
}

// Two processes share a bucket: a STRONG query on one sees what the other
// acknowledged, and their writes interleave in one WAL without loss.
func TestTwoServersShareABucket(t *testing.T) {
	ctx := context.Background()
	bucket := objstore.NewInMemory()
	a, b := startServer(t, bucket), startServer(t, bucket)
	createNamespace(t, a, "shared", 2, weftv1.Metric_METRIC_L2)
	var wg sync.WaitGroup
	for w, c := range []clients{a, b} {
		wg.Go(func() {
			for i := range 20 {
				_, err := c.docs.Upsert(ctx, connect.NewRequest(&weftv1.UpsertRequest{Namespace: "shared", Documents: []*weftv1.Document{{Id: fmt.Sprintf("w%d-%d", w, i), Vector: []float32{float32(w), float32(i)}}}}))
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	for _, c := range []clients{a, b} {
		resp, err := c.query.Query(ctx, connect.NewRequest(&weftv1.QueryRequest{Namespace: "shared", Vector: []float32{0, 0}, TopK: 100}))
		if err != nil {
			t.Fatal(err)
		}
		if n := len(resp.Msg.GetResults()); n != 40 {
			t.Fatalf("a STRONG query found %d documents, want 40", n)
		}
	}
}

// Concurrent writers share WAL objects and every acknowledged id is there.
func TestGroupCommit(t *testing.T) {
	ctx := context.Background()
	bucket := objstore.WithLatency(objstore.NewInMemory(), 2e6) // 2 ms per bucket call
	c := startServer(t, bucket)
	createNamespace(t, c, "g", 2, weftv1.Metric_METRIC_L2)
	var wg sync.WaitGroup
	const writers, each = 16, 10
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				_, err := c.docs.Upsert(ctx, connect.NewRequest(&weftv1.UpsertRequest{Namespace: "g", Documents: []*weftv1.Document{{Id: fmt.Sprintf("w%d-%d", w, i), Vector: []float32{1, 2}}}}))
				if err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	got, err := c.ns.GetNamespace(ctx, connect.NewRequest(&weftv1.GetNamespaceRequest{Name: "g"}))
	if err != nil {
		t.Fatal(err)
	}
	st := got.Msg.GetStats()
	if st.GetDocumentCount() != writers*each {
		t.Fatalf("%d documents, want %d", st.GetDocumentCount(), writers*each)
	}
	if st.GetWalSequence() >= writers*each {
		t.Fatalf("%d WAL entries for %d concurrent writes: no group commit", st.GetWalSequence(), writers*each)
	}
	t.Logf("%d writes in %d WAL entries", writers*each, st.GetWalSequence())
}

func TestNamespaceAdmin(t *testing.T) {
	ctx := context.Background()
	c := startServer(t, objstore.NewInMemory())
	for _, name := range []string{"b", "a", "c"} {
		createNamespace(t, c, name, 4, weftv1.Metric_METRIC_DOT)
	}
	var names []string
	token := ""
	for {
		resp, err := c.ns.ListNamespaces(ctx, connect.NewRequest(&weftv1.ListNamespacesRequest{PageSize: 2, PageToken: token}))
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range resp.Msg.GetNamespaces() {
			names = append(names, n.GetName())
		}
		if token = resp.Msg.GetNextPageToken(); token == "" {
			break
		}
	}
	if !slices.Equal(names, []string{"a", "b", "c"}) {
		t.Fatalf("listed %v, want [a b c]", names)
	}
	got, err := c.ns.GetNamespace(ctx, connect.NewRequest(&weftv1.GetNamespaceRequest{Name: "a"}))
	if err != nil || got.Msg.GetNamespace().GetDimension() != 4 || got.Msg.GetNamespace().GetMetric() != weftv1.Metric_METRIC_DOT || got.Msg.GetNamespace().GetCreateTime() == nil {
		t.Fatalf("get: %v, %v", got, err)
	}
}

// Every bad input gets its Connect code and a message naming what to fix,
// and nothing is written.
func TestBadInput(t *testing.T) {
	ctx := context.Background()
	bucket := objstore.NewInMemory()
	c := startServer(t, bucket)
	if _, err := c.ns.CreateNamespace(ctx, connect.NewRequest(&weftv1.CreateNamespaceRequest{Namespace: &weftv1.Namespace{
		Name: "ns", Dimension: 3, Metric: weftv1.Metric_METRIC_COSINE,
		Schema: []*weftv1.AttributeSchema{{Name: "year", Type: weftv1.AttributeType_ATTRIBUTE_TYPE_INT}},
	}})); err != nil {
		t.Fatal(err)
	}
	upsert(t, c, "ns", []*weftv1.Document{{Id: "keep", Vector: []float32{1, 2, 3}}})
	before, err := bucket.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	doc := func(id string, v ...float32) *weftv1.Document { return &weftv1.Document{Id: id, Vector: v} }
	ups := func(docs ...*weftv1.Document) error {
		_, err := c.docs.Upsert(ctx, connect.NewRequest(&weftv1.UpsertRequest{Namespace: "ns", Documents: docs}))
		return err
	}
	query := func(q *weftv1.QueryRequest) error {
		if q.Namespace == "" {
			q.Namespace = "ns"
		}
		_, err := c.query.Query(ctx, connect.NewRequest(q))
		return err
	}
	create := func(n *weftv1.Namespace) error {
		_, err := c.ns.CreateNamespace(ctx, connect.NewRequest(&weftv1.CreateNamespaceRequest{Namespace: n}))
		return err
	}
	many := make([]*weftv1.Document, 10001)
	for i := range many {
		many[i] = doc(fmt.Sprint(i), 1, 2, 3)
	}
	huge := make([]float32, 17<<20) // 68 MiB of floats: over the request limit
	str := func(s string) *weftv1.AttributeValue {
		return &weftv1.AttributeValue{Kind: &weftv1.AttributeValue_StringValue{StringValue: s}}
	}
	cases := []struct {
		name string
		err  error
		code connect.Code
		msg  string
	}{
		{"wrong dimension", ups(doc("x", 1, 2)), connect.CodeInvalidArgument, "documents[0].vector: vector has 2 values, the namespace's dimension is 3"},
		{"NaN", ups(doc("x", 1, nan, 3)), connect.CodeInvalidArgument, "value 1 is NaN"},
		{"Inf", ups(doc("x", 1, 2, inf)), connect.CodeInvalidArgument, "value 2 is +Inf"},
		{"empty vector", ups(doc("x")), connect.CodeInvalidArgument, "vector is empty"},
		{"zero vector with cosine", ups(doc("x", 0, 0, 0)), connect.CodeInvalidArgument, "zero vector"},
		{"no documents", ups(), connect.CodeInvalidArgument, "documents is empty"},
		{"too many documents", ups(many...), connect.CodeResourceExhausted, "10001 documents in one request: the limit is 10000"},
		{"oversized request", ups(&weftv1.Document{Id: "big", Vector: huge}), connect.CodeResourceExhausted, ""},
		{"bad id", ups(doc("a b", 1, 2, 3)), connect.CodeInvalidArgument, `id "a b" has byte ' '`},
		{"long id", ups(doc(strings.Repeat("x", 129), 1, 2, 3)), connect.CodeInvalidArgument, "id is 129 bytes long: the limit is 128"},
		{"duplicate id", ups(doc("x", 1, 2, 3), doc("x", 1, 2, 3)), connect.CodeInvalidArgument, "repeats documents[0].id"},
		{"attribute without value", ups(&weftv1.Document{Id: "x", Vector: []float32{1, 2, 3}, Attributes: map[string]*weftv1.AttributeValue{"a": {}}}), connect.CodeInvalidArgument, "value has no type"},
		{"attribute against the schema", ups(&weftv1.Document{Id: "x", Vector: []float32{1, 2, 3}, Attributes: map[string]*weftv1.AttributeValue{"year": str("2024")}}), connect.CodeInvalidArgument, "value is a string, the schema declares int"},
		{"bad attribute name", ups(&weftv1.Document{Id: "x", Vector: []float32{1, 2, 3}, Attributes: map[string]*weftv1.AttributeValue{"": str("a")}}), connect.CodeInvalidArgument, "attributes[]"},
		{"write to unknown namespace", func() error {
			_, err := c.docs.Upsert(ctx, connect.NewRequest(&weftv1.UpsertRequest{Namespace: "nope", Documents: []*weftv1.Document{doc("x", 1, 2, 3)}}))
			return err
		}(), connect.CodeNotFound, `namespace "nope" does not exist`},
		{"schema without type", create(&weftv1.Namespace{Name: "x", Dimension: 3, Metric: weftv1.Metric_METRIC_L2, Schema: []*weftv1.AttributeSchema{{Name: "a"}}}), connect.CodeInvalidArgument, `attribute "a" has no type`},
		{"unknown namespace", query(&weftv1.QueryRequest{Namespace: "nope", Vector: []float32{1, 2, 3}, TopK: 1}), connect.CodeNotFound, `namespace "nope" does not exist`},
		{"bad namespace name", query(&weftv1.QueryRequest{Namespace: "a/b", Vector: []float32{1, 2, 3}, TopK: 1}), connect.CodeInvalidArgument, "is not allowed"},
		{"duplicate namespace", create(&weftv1.Namespace{Name: "ns", Dimension: 3, Metric: weftv1.Metric_METRIC_L2}), connect.CodeAlreadyExists, `namespace "ns" already exists`},
		{"namespace without metric", create(&weftv1.Namespace{Name: "x", Dimension: 3}), connect.CodeInvalidArgument, "metric is unset"},
		{"namespace dimension 0", create(&weftv1.Namespace{Name: "x", Metric: weftv1.Metric_METRIC_L2}), connect.CodeInvalidArgument, "dimension is 0"},
		{"namespace dimension too big", create(&weftv1.Namespace{Name: "x", Dimension: 10001, Metric: weftv1.Metric_METRIC_L2}), connect.CodeInvalidArgument, "dimension is 10001"},
		{"namespace bad name", create(&weftv1.Namespace{Name: "-x", Dimension: 3, Metric: weftv1.Metric_METRIC_L2}), connect.CodeInvalidArgument, "namespace name"},
		{"top_k 0", query(&weftv1.QueryRequest{Vector: []float32{1, 2, 3}}), connect.CodeInvalidArgument, "top_k is 0: use 1..1000"},
		{"top_k 1001", query(&weftv1.QueryRequest{Vector: []float32{1, 2, 3}, TopK: 1001}), connect.CodeInvalidArgument, "top_k is 1001"},
		{"query wrong dimension", query(&weftv1.QueryRequest{Vector: []float32{1}, TopK: 1}), connect.CodeInvalidArgument, "vector: vector has 1 values"},
		{"query NaN", query(&weftv1.QueryRequest{Vector: []float32{nan, 1, 1}, TopK: 1}), connect.CodeInvalidArgument, "is NaN"},
		{"empty filter", query(&weftv1.QueryRequest{Vector: []float32{1, 2, 3}, TopK: 1, Filter: &weftv1.Filter{}}), connect.CodeInvalidArgument, "filter has no operator"},
		{"empty and", query(&weftv1.QueryRequest{Vector: []float32{1, 2, 3}, TopK: 1, Filter: &weftv1.Filter{Op: &weftv1.Filter_And{And: &weftv1.FilterList{}}}}), connect.CodeInvalidArgument, "filter.and: needs at least one filter"},
		{"range mixing types", query(&weftv1.QueryRequest{Vector: []float32{1, 2, 3}, TopK: 1, Filter: &weftv1.Filter{Op: &weftv1.Filter_Range{Range: &weftv1.RangeFilter{Attribute: "n", Gt: str("a"), Lt: &weftv1.AttributeValue{Kind: &weftv1.AttributeValue_IntValue{IntValue: 1}}}}}}), connect.CodeInvalidArgument, "bounds mix numbers and strings"},
		{"range without bounds", query(&weftv1.QueryRequest{Vector: []float32{1, 2, 3}, TopK: 1, Filter: &weftv1.Filter{Op: &weftv1.Filter_Range{Range: &weftv1.RangeFilter{Attribute: "n"}}}}), connect.CodeInvalidArgument, "set at least one of gt, gte, lt, lte"},
		{"comparison without value", query(&weftv1.QueryRequest{Vector: []float32{1, 2, 3}, TopK: 1, Filter: &weftv1.Filter{Op: &weftv1.Filter_Eq{Eq: &weftv1.Comparison{Attribute: "n"}}}}), connect.CodeInvalidArgument, "filter.eq.value: value has no type"},
		{"delete without target", func() error {
			_, err := c.docs.Delete(ctx, connect.NewRequest(&weftv1.DeleteRequest{Namespace: "ns"}))
			return err
		}(), connect.CodeInvalidArgument, "set ids or filter"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if connect.CodeOf(tc.err) != tc.code {
				t.Fatalf("error %v: code %v, want %v", tc.err, connect.CodeOf(tc.err), tc.code)
			}
			var ce *connect.Error
			if !errors.As(tc.err, &ce) || !strings.Contains(ce.Message(), tc.msg) {
				t.Fatalf("message %q does not say %q", ce.Message(), tc.msg)
			}
		})
	}
	after, err := bucket.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(before, after) {
		t.Fatalf("bad input wrote to the bucket: before %v, after %v", before, after)
	}
}

// Config.MaxDocuments: an upsert that would add documents past the limit
// is refused saying so; replacing documents at the limit still works.
func TestMaxDocuments(t *testing.T) {
	c := serveFabric(t, fabric.Config{Bucket: objstore.NewInMemory(), MaxDocuments: 3, WriteLease: testLease})
	createNamespace(t, c, "full", 2, weftv1.Metric_METRIC_L2)
	doc := func(id string, x float32) *weftv1.Document { return &weftv1.Document{Id: id, Vector: []float32{x, 1}} }
	upsert(t, c, "full", []*weftv1.Document{doc("a", 1), doc("b", 2), doc("c", 3)})
	_, err := c.docs.Upsert(context.Background(), connect.NewRequest(&weftv1.UpsertRequest{Namespace: "full", Documents: []*weftv1.Document{doc("a", 4), doc("d", 5)}}))
	if connect.CodeOf(err) != connect.CodeResourceExhausted || !strings.Contains(err.Error(), "holds 3 documents and this upsert adds 1: the limit is 3") {
		t.Fatalf("an upsert past the limit: %v", err)
	}
	upsert(t, c, "full", []*weftv1.Document{doc("a", 6), doc("c", 7)}) // replacements add nothing
	if _, err := c.docs.Delete(context.Background(), connect.NewRequest(&weftv1.DeleteRequest{Namespace: "full", Ids: []string{"b"}})); err != nil {
		t.Fatal(err)
	}
	upsert(t, c, "full", []*weftv1.Document{doc("d", 8)})
}

// overwritingBucket is a store that ignores create-if-absent, as an
// S3-compatible server without If-None-Match does.
type overwritingBucket struct{ objstore.Bucket }

func (b overwritingBucket) Create(ctx context.Context, name string, data []byte) error {
	return b.Upload(ctx, name, data)
}

// A process refuses to write to a store whose second create of one object
// succeeds, saying why, and leaves nothing behind; reads still work.
func TestRefusesStoreWithoutConditionalWrites(t *testing.T) {
	inner := objstore.NewInMemory()
	c := serveFabric(t, fabric.Config{Bucket: overwritingBucket{inner}})
	for range 2 {
		_, err := c.ns.CreateNamespace(context.Background(), connect.NewRequest(&weftv1.CreateNamespaceRequest{
			Namespace: &weftv1.Namespace{Name: "n", Dimension: 2, Metric: weftv1.Metric_METRIC_L2}}))
		if connect.CodeOf(err) != connect.CodeFailedPrecondition || !strings.Contains(err.Error(), "If-None-Match") {
			t.Fatalf("create on a store without conditional writes: %v", err)
		}
	}
	if names, err := inner.List(context.Background(), ""); err != nil || len(names) != 0 {
		t.Fatalf("objects left behind: %v, %v", names, err)
	}
	if _, err := c.ns.ListNamespaces(context.Background(), connect.NewRequest(&weftv1.ListNamespacesRequest{})); err != nil {
		t.Fatalf("a read: %v", err)
	}
}

// downBucket fails every call with ErrUnavailable while down is set.
type downBucket struct {
	objstore.Bucket
	down *atomic.Bool
}

func (b downBucket) err(op string) error {
	return fmt.Errorf("%s: %w: connection refused", op, objstore.ErrUnavailable)
}

func (b downBucket) Get(ctx context.Context, name string) ([]byte, error) {
	if b.down.Load() {
		return nil, b.err("get")
	}
	return b.Bucket.Get(ctx, name)
}

func (b downBucket) GetRange(ctx context.Context, name string, off, n int64) ([]byte, error) {
	if b.down.Load() {
		return nil, b.err("get range")
	}
	return b.Bucket.GetRange(ctx, name, off, n)
}

func (b downBucket) Exists(ctx context.Context, name string) (bool, error) {
	if b.down.Load() {
		return false, b.err("exists")
	}
	return b.Bucket.Exists(ctx, name)
}

func (b downBucket) Create(ctx context.Context, name string, data []byte) error {
	if b.down.Load() {
		return b.err("create")
	}
	return b.Bucket.Create(ctx, name, data)
}

// A bucket outage: a reader's STRONG queries and a writer's writes get
// Unavailable (not Internal) at once, and both recover by themselves when
// the bucket is back.
func TestBucketOutage(t *testing.T) {
	inner := objstore.NewInMemory()
	down := new(atomic.Bool)
	w := serveFabric(t, fabric.Config{Bucket: downBucket{inner, down}, WriteLease: testLease})
	r := serveFabric(t, fabric.Config{Bucket: downBucket{inner, down}, WriteLease: testLease})
	createNamespace(t, w, "o", 2, weftv1.Metric_METRIC_L2)
	upsert(t, w, "o", []*weftv1.Document{{Id: "a", Vector: []float32{1, 1}}})
	q := &weftv1.QueryRequest{Namespace: "o", Vector: []float32{1, 1}, TopK: 1}
	query(t, r, q)
	time.Sleep(2 * testLease) // the writer's lease ends: the reader checks the bucket
	down.Store(true)
	start := time.Now()
	_, err := r.query.Query(context.Background(), connect.NewRequest(q))
	if connect.CodeOf(err) != connect.CodeUnavailable || !strings.Contains(err.Error(), "retry") {
		t.Fatalf("a STRONG query during the outage: %v", err)
	}
	_, err = w.docs.Upsert(context.Background(), connect.NewRequest(&weftv1.UpsertRequest{Namespace: "o", Documents: []*weftv1.Document{{Id: "b", Vector: []float32{2, 2}}}}))
	if connect.CodeOf(err) != connect.CodeUnavailable {
		t.Fatalf("a write during the outage: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("the outage took %v to show", d)
	}
	down.Store(false)
	upsert(t, w, "o", []*weftv1.Document{{Id: "b", Vector: []float32{2, 2}}})
	got := query(t, r, &weftv1.QueryRequest{Namespace: "o", Vector: []float32{2, 2}, TopK: 1})
	if got.GetResults()[0].GetId() != "b" {
		t.Fatalf("after the outage the reader answers %v", got.GetResults())
	}
}
