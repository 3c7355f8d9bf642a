package weft_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	weftv1 "github.com/weftdb/weft/proto/gen/weft/v1"
	"github.com/weftdb/weft/proto/gen/weft/v1/weftv1connect"
	"github.com/weftdb/weft/sdk/weft"
)

// fake implements the four public services: it records what arrives and
// answers with responses computed from the request. A namespace called
// "bad" makes every call fail with InvalidArgument.
type fake struct {
	weftv1connect.UnimplementedNamespaceServiceHandler
	weftv1connect.UnimplementedDocumentServiceHandler
	weftv1connect.UnimplementedQueryServiceHandler
	weftv1connect.UnimplementedPluginServiceHandler

	mu   sync.Mutex
	last map[string]proto.Message // procedure → last request message
	hdr  map[string]http.Header   // procedure → its request headers
	http map[string]string        // procedure → "HTTP/1.1" or "HTTP/2.0"
}

func newFake() *fake {
	return &fake{last: map[string]proto.Message{}, hdr: map[string]http.Header{}, http: map[string]string{}}
}

func (f *fake) record(spec connect.Spec, h http.Header, m proto.Message) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.last[spec.Procedure] = m
	f.hdr[spec.Procedure] = h.Clone()
}

func (f *fake) lastRequest(procedure string) (proto.Message, http.Header, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last[procedure], f.hdr[procedure], f.http[procedure]
}

func badNamespace(name string) error {
	if name == "bad" {
		return connect.NewError(connect.CodeInvalidArgument, errors.New(`namespace "bad": dimension 3 does not match 4 (field vector)`))
	}
	return nil
}

func (f *fake) CreateNamespace(_ context.Context, r *connect.Request[weftv1.CreateNamespaceRequest]) (*connect.Response[weftv1.CreateNamespaceResponse], error) {
	f.record(r.Spec(), r.Header(), r.Msg)
	if err := badNamespace(r.Msg.GetNamespace().GetName()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&weftv1.CreateNamespaceResponse{Namespace: r.Msg.GetNamespace()}), nil
}

func (f *fake) GetNamespace(_ context.Context, r *connect.Request[weftv1.GetNamespaceRequest]) (*connect.Response[weftv1.GetNamespaceResponse], error) {
	f.record(r.Spec(), r.Header(), r.Msg)
	if r.Msg.GetName() != "docs" {
		return nil, connect.NewError(connect.CodeNotFound, fmt.Errorf("namespace %q does not exist", r.Msg.GetName()))
	}
	return connect.NewResponse(&weftv1.GetNamespaceResponse{
		Namespace: &weftv1.Namespace{Name: "docs", Dimension: 3, Metric: weftv1.Metric_METRIC_L2},
		Stats:     &weftv1.NamespaceStats{DocumentCount: 7},
	}), nil
}

// ListNamespaces serves names n0..n4 two per page.
func (f *fake) ListNamespaces(_ context.Context, r *connect.Request[weftv1.ListNamespacesRequest]) (*connect.Response[weftv1.ListNamespacesResponse], error) {
	f.record(r.Spec(), r.Header(), r.Msg)
	start := 0
	if t := r.Msg.GetPageToken(); t != "" {
		fmt.Sscanf(t, "p%d", &start)
	}
	resp := &weftv1.ListNamespacesResponse{}
	for i := start; i < min(start+2, 5); i++ {
		resp.Namespaces = append(resp.Namespaces, &weftv1.Namespace{Name: fmt.Sprintf("n%d", i)})
	}
	if start+2 < 5 {
		resp.NextPageToken = fmt.Sprintf("p%d", start+2)
	}
	return connect.NewResponse(resp), nil
}

func (f *fake) DeleteNamespace(_ context.Context, r *connect.Request[weftv1.DeleteNamespaceRequest]) (*connect.Response[weftv1.DeleteNamespaceResponse], error) {
	f.record(r.Spec(), r.Header(), r.Msg)
	return connect.NewResponse(&weftv1.DeleteNamespaceResponse{}), nil
}

// Upsert returns the ids, assigning "gen-<i>" to documents without one, and
// the number of documents as the WAL sequence.
func (f *fake) Upsert(_ context.Context, r *connect.Request[weftv1.UpsertRequest]) (*connect.Response[weftv1.UpsertResponse], error) {
	f.record(r.Spec(), r.Header(), r.Msg)
	if err := badNamespace(r.Msg.GetNamespace()); err != nil {
		return nil, err
	}
	resp := &weftv1.UpsertResponse{WalSequence: uint64(len(r.Msg.GetDocuments()))}
	for i, d := range r.Msg.GetDocuments() {
		id := d.GetId()
		if id == "" {
			id = fmt.Sprintf("gen-%d", i)
		}
		resp.Ids = append(resp.Ids, id)
	}
	return connect.NewResponse(resp), nil
}

func (f *fake) Delete(_ context.Context, r *connect.Request[weftv1.DeleteRequest]) (*connect.Response[weftv1.DeleteResponse], error) {
	f.record(r.Spec(), r.Header(), r.Msg)
	return connect.NewResponse(&weftv1.DeleteResponse{DeletedCount: uint64(len(r.Msg.GetIds()))}), nil
}

func (f *fake) Get(_ context.Context, r *connect.Request[weftv1.GetRequest]) (*connect.Response[weftv1.GetResponse], error) {
	f.record(r.Spec(), r.Header(), r.Msg)
	resp := &weftv1.GetResponse{}
	for _, id := range r.Msg.GetIds() {
		resp.Documents = append(resp.Documents, weft.Doc(id, []float32{1, 2, 3}, weft.Attributes{"id": weft.String(id)}))
	}
	return connect.NewResponse(resp), nil
}

func (f *fake) UpdateAttributes(_ context.Context, r *connect.Request[weftv1.UpdateAttributesRequest]) (*connect.Response[weftv1.UpdateAttributesResponse], error) {
	f.record(r.Spec(), r.Header(), r.Msg)
	return connect.NewResponse(&weftv1.UpdateAttributesResponse{MissingIds: []string{"missing"}}), nil
}

// Query returns top_k results r0, r1, … whose distance is the index plus
// the query vector's first component, echoing the vector when asked.
func (f *fake) Query(_ context.Context, r *connect.Request[weftv1.QueryRequest]) (*connect.Response[weftv1.QueryResponse], error) {
	f.record(r.Spec(), r.Header(), r.Msg)
	if err := badNamespace(r.Msg.GetNamespace()); err != nil {
		return nil, err
	}
	resp := &weftv1.QueryResponse{Stats: &weftv1.QueryStats{DocumentsScanned: 42}}
	for i := range r.Msg.GetTopK() {
		res := &weftv1.QueryResult{Id: fmt.Sprintf("r%d", i), Distance: float32(i) + r.Msg.GetVector()[0]}
		if r.Msg.GetIncludeVectors() {
			res.Vector = r.Msg.GetVector()
		}
		resp.Results = append(resp.Results, res)
	}
	return connect.NewResponse(resp), nil
}

func (f *fake) ListPlugins(_ context.Context, r *connect.Request[weftv1.ListPluginsRequest]) (*connect.Response[weftv1.ListPluginsResponse], error) {
	f.record(r.Spec(), r.Header(), r.Msg)
	return connect.NewResponse(&weftv1.ListPluginsResponse{Plugins: []*weftv1.Plugin{{Name: "rerank"}}}), nil
}

// startFake serves f on 127.0.0.1 over HTTP/1.1 and unencrypted HTTP/2.
func startFake(t *testing.T, f *fake) string {
	t.Helper()
	mux := http.NewServeMux()
	for _, h := range []func() (string, http.Handler){
		func() (string, http.Handler) { return weftv1connect.NewNamespaceServiceHandler(f) },
		func() (string, http.Handler) { return weftv1connect.NewDocumentServiceHandler(f) },
		func() (string, http.Handler) { return weftv1connect.NewQueryServiceHandler(f) },
		func() (string, http.Handler) { return weftv1connect.NewPluginServiceHandler(f) },
	} {
		path, handler := h()
		mux.Handle(path, handler)
	}
	// Note the HTTP version each procedure arrived over.
	outer := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.http[r.URL.Path] = r.Proto
		f.mu.Unlock()
		mux.ServeHTTP(w, r)
	})
	srv := httptest.NewUnstartedServer(outer)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.Listener.Close()
	srv.Listener = l
	var p http.Protocols
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	srv.Config.Protocols = &p
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.URL
}

var protocols = []struct {
	name        string
	opt         []weft.Option
	contentType string // prefix of the request content type
	http        string
}{
	{"connect", nil, "application/proto", "HTTP/1.1"},
	{"grpc", []weft.Option{weft.WithGRPC()}, "application/grpc", "HTTP/2.0"},
	{"grpcweb", []weft.Option{weft.WithGRPCWeb()}, "application/grpc-web", "HTTP/1.1"},
}

func newClient(t *testing.T, url string, opts ...weft.Option) *weft.Client {
	t.Helper()
	c, err := weft.New(url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func wantRequest(t *testing.T, f *fake, procedure string, want proto.Message, contentType, httpVersion string) {
	t.Helper()
	got, hdr, proto_ := f.lastRequest(procedure)
	if !proto.Equal(got, want) {
		t.Errorf("%s: server got %v, want %v", procedure, got, want)
	}
	if ct := hdr.Get("Content-Type"); !strings.HasPrefix(ct, contentType) {
		t.Errorf("%s: content type %q, want %s…", procedure, ct, contentType)
	}
	if proto_ != httpVersion {
		t.Errorf("%s: arrived over %s, want %s", procedure, proto_, httpVersion)
	}
	if a := hdr.Get("Authorization"); a != "Bearer s3cret" {
		t.Errorf("%s: Authorization %q, want the WithHeader value", procedure, a)
	}
}

func TestProtocolsRoundTrip(t *testing.T) {
	f := newFake()
	url := startFake(t, f)
	ctx := context.Background()
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			c := newClient(t, url, append(p.opt, weft.WithHeader("Authorization", "Bearer s3cret"))...)
			ns := c.Namespace("docs")

			docs := []*weft.Document{
				weft.Doc("a", []float32{1, 2, 3}, weft.Attributes{
					"lang": weft.String("en"), "year": weft.Int(2024), "score": weft.Float(0.5),
					"draft": weft.Bool(false), "tags": weft.Strings("x", "y"),
				}),
				weft.Doc("", []float32{4, 5, 6}, nil),
			}
			up, err := ns.Upsert(ctx, docs...)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(up.GetIds(), ","); got != "a,gen-1" || up.GetWalSequence() != 2 {
				t.Fatalf("upsert response: ids %s, wal %d", got, up.GetWalSequence())
			}
			wantRequest(t, f, weftv1connect.DocumentServiceUpsertProcedure,
				&weftv1.UpsertRequest{Namespace: "docs", Documents: docs}, p.contentType, p.http)

			filter := weft.And(weft.Eq("lang", weft.String("en")), weft.Range("year", weft.Bounds{Gte: weft.Int(2020), Lt: weft.Int(2025)}))
			res, err := ns.Query(ctx, []float32{0.5, 0, 1}, 3,
				weft.Filter(filter), weft.IncludeVectors(), weft.IncludeAttributes(),
				weft.Consistency(weft.Eventual), weft.Search(8, 64), weft.UsePlugin("rerank", map[string]string{"boost": "2"}),
				weft.AllowPartial())
			if err != nil {
				t.Fatal(err)
			}
			if n := len(res.GetResults()); n != 3 {
				t.Fatalf("%d results, want 3", n)
			}
			if r := res.GetResults()[2]; r.GetId() != "r2" || r.GetDistance() != 2.5 || len(r.GetVector()) != 3 || res.GetStats().GetDocumentsScanned() != 42 {
				t.Fatalf("third result %v, stats %v", r, res.GetStats())
			}
			wantRequest(t, f, weftv1connect.QueryServiceQueryProcedure, &weftv1.QueryRequest{
				Namespace: "docs", Vector: []float32{0.5, 0, 1}, TopK: 3,
				Filter: &weftv1.Filter{Op: &weftv1.Filter_And{And: &weftv1.FilterList{Filters: []*weftv1.Filter{
					{Op: &weftv1.Filter_Eq{Eq: &weftv1.Comparison{Attribute: "lang", Value: &weftv1.AttributeValue{Kind: &weftv1.AttributeValue_StringValue{StringValue: "en"}}}}},
					{Op: &weftv1.Filter_Range{Range: &weftv1.RangeFilter{Attribute: "year",
						Gte: &weftv1.AttributeValue{Kind: &weftv1.AttributeValue_IntValue{IntValue: 2020}},
						Lt:  &weftv1.AttributeValue{Kind: &weftv1.AttributeValue_IntValue{IntValue: 2025}}}}},
				}}}},
				Consistency: weftv1.Consistency_CONSISTENCY_EVENTUAL, IncludeVectors: true, IncludeAttributes: true,
				Search:       &weftv1.SearchParams{Nprobe: 8, Ef: 64},
				Plugins:      []*weftv1.PluginCall{{Name: "rerank", Params: map[string]string{"boost": "2"}}},
				AllowPartial: true,
			}, p.contentType, p.http)

			// A server error arrives with its code and message unchanged.
			_, err = c.Namespace("bad").Query(ctx, []float32{1, 2, 3}, 1)
			if code := connect.CodeOf(err); code != connect.CodeInvalidArgument {
				t.Fatalf("error %v has code %v, want invalid_argument", err, code)
			}
			var ce *connect.Error
			if !errors.As(err, &ce) || ce.Message() != `namespace "bad": dimension 3 does not match 4 (field vector)` {
				t.Fatalf("error message %q", ce.Message())
			}
			if _, err := c.Namespace("bad").Upsert(ctx, docs...); connect.CodeOf(err) != connect.CodeInvalidArgument {
				t.Fatalf("upsert error %v, want invalid_argument", err)
			}
		})
	}
}

func TestNamespaceAndDocumentCalls(t *testing.T) {
	f := newFake()
	url := startFake(t, f)
	ctx := context.Background()
	c := newClient(t, url, weft.WithHeader("Authorization", "Bearer s3cret"))
	const ct, h1 = "application/proto", "HTTP/1.1"

	created, err := c.CreateNamespace(ctx, "docs", 3, weft.Cosine,
		weft.WithAttribute("lang", weft.TypeString), weft.WithShardKey("tenant"),
		weft.WithDefaultPlugin("boost", nil), weft.WithDefaultSearch(4, 32))
	if err != nil {
		t.Fatal(err)
	}
	wantNS := &weftv1.Namespace{
		Name: "docs", Dimension: 3, Metric: weftv1.Metric_METRIC_COSINE,
		Schema:         []*weftv1.AttributeSchema{{Name: "lang", Type: weftv1.AttributeType_ATTRIBUTE_TYPE_STRING}},
		ShardKey:       "tenant",
		DefaultPlugins: []*weftv1.PluginCall{{Name: "boost"}},
		DefaultSearch:  &weftv1.SearchParams{Nprobe: 4, Ef: 32},
	}
	if !proto.Equal(created, wantNS) {
		t.Fatalf("created %v", created)
	}
	wantRequest(t, f, weftv1connect.NamespaceServiceCreateNamespaceProcedure, &weftv1.CreateNamespaceRequest{Namespace: wantNS}, ct, h1)

	got, err := c.GetNamespace(ctx, "docs")
	if err != nil || got.GetStats().GetDocumentCount() != 7 {
		t.Fatalf("get namespace: %v, %v", got, err)
	}
	if _, err := c.GetNamespace(ctx, "nope"); connect.CodeOf(err) != connect.CodeNotFound {
		t.Fatalf("get of a missing namespace: %v", err)
	}
	list, err := c.ListNamespaces(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, ns := range list {
		names = append(names, ns.GetName())
	}
	if strings.Join(names, ",") != "n0,n1,n2,n3,n4" {
		t.Fatalf("listed %v: pages were not all fetched", names)
	}
	if err := c.DeleteNamespace(ctx, "docs"); err != nil {
		t.Fatal(err)
	}
	wantRequest(t, f, weftv1connect.NamespaceServiceDeleteNamespaceProcedure, &weftv1.DeleteNamespaceRequest{Name: "docs"}, ct, h1)

	ns := c.Namespace("docs")
	if ns.Name() != "docs" {
		t.Fatal(ns.Name())
	}
	if _, err := ns.Delete(ctx, "a", "b"); err != nil {
		t.Fatal(err)
	}
	wantRequest(t, f, weftv1connect.DocumentServiceDeleteProcedure, &weftv1.DeleteRequest{Namespace: "docs", Ids: []string{"a", "b"}}, ct, h1)
	if _, err := ns.DeleteWhere(ctx, weft.Not(weft.Exists("keep"))); err != nil {
		t.Fatal(err)
	}
	wantRequest(t, f, weftv1connect.DocumentServiceDeleteProcedure, &weftv1.DeleteRequest{Namespace: "docs",
		Filter: &weftv1.Filter{Op: &weftv1.Filter_Not{Not: &weftv1.Filter{Op: &weftv1.Filter_Exists{Exists: &weftv1.ExistsFilter{Attribute: "keep"}}}}}}, ct, h1)

	docs, err := ns.Get(ctx, "x", "y")
	if err != nil || len(docs) != 2 || docs[1].GetAttributes()["id"].GetStringValue() != "y" {
		t.Fatalf("get: %v, %v", docs, err)
	}
	wantRequest(t, f, weftv1connect.DocumentServiceGetProcedure, &weftv1.GetRequest{Namespace: "docs", Ids: []string{"x", "y"}, IncludeVectors: true, IncludeAttributes: true}, ct, h1)

	up, err := ns.UpdateAttributes(ctx, weft.Update("x", weft.Attributes{"lang": weft.String("de")}, "draft"))
	if err != nil || len(up.GetMissingIds()) != 1 {
		t.Fatalf("update attributes: %v, %v", up, err)
	}
	wantRequest(t, f, weftv1connect.DocumentServiceUpdateAttributesProcedure, &weftv1.UpdateAttributesRequest{Namespace: "docs",
		Updates: []*weftv1.AttributeUpdate{{Id: "x", Set: weft.Attributes{"lang": weft.String("de")}, Remove: []string{"draft"}}}}, ct, h1)

	plugins, err := c.ListPlugins(ctx)
	if err != nil || len(plugins) != 1 {
		t.Fatalf("list plugins: %v, %v", plugins, err)
	}
	// Calls the fake does not implement come back as Unimplemented.
	if _, err := c.WarmNamespace(ctx, "docs"); connect.CodeOf(err) != connect.CodeUnimplemented {
		t.Fatalf("warm: %v", err)
	}
}

func TestFilterBuilders(t *testing.T) {
	v := weft.Int(1)
	for _, tc := range []struct {
		got  *weftv1.Filter
		want *weftv1.Filter
	}{
		{weft.Ne("a", v), &weftv1.Filter{Op: &weftv1.Filter_Ne{Ne: &weftv1.Comparison{Attribute: "a", Value: v}}}},
		{weft.In("a", v, weft.Int(2)), &weftv1.Filter{Op: &weftv1.Filter_In{In: &weftv1.InFilter{Attribute: "a", Values: []*weftv1.AttributeValue{v, weft.Int(2)}}}}},
		{weft.Gt("a", v), &weftv1.Filter{Op: &weftv1.Filter_Range{Range: &weftv1.RangeFilter{Attribute: "a", Gt: v}}}},
		{weft.Gte("a", v), &weftv1.Filter{Op: &weftv1.Filter_Range{Range: &weftv1.RangeFilter{Attribute: "a", Gte: v}}}},
		{weft.Lt("a", v), &weftv1.Filter{Op: &weftv1.Filter_Range{Range: &weftv1.RangeFilter{Attribute: "a", Lt: v}}}},
		{weft.Lte("a", v), &weftv1.Filter{Op: &weftv1.Filter_Range{Range: &weftv1.RangeFilter{Attribute: "a", Lte: v}}}},
		{weft.Or(weft.Exists("a")), &weftv1.Filter{Op: &weftv1.Filter_Or{Or: &weftv1.FilterList{Filters: []*weftv1.Filter{{Op: &weftv1.Filter_Exists{Exists: &weftv1.ExistsFilter{Attribute: "a"}}}}}}}},
	} {
		if !proto.Equal(tc.got, tc.want) {
			t.Errorf("got %v, want %v", tc.got, tc.want)
		}
	}
}

func TestNewRejectsBadAddresses(t *testing.T) {
	for _, addr := range []string{"", "127.0.0.1:7600", "ftp://host", "http://", "http://%zz"} {
		if _, err := weft.New(addr); err == nil {
			t.Errorf("New(%q) succeeded", addr)
		}
	}
}

func TestTimeout(t *testing.T) {
	// A server that never answers: the client's timeout ends the call.
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(block)
	c := newClient(t, srv.URL, weft.WithTimeout(50*time.Millisecond))
	start := time.Now()
	_, err := c.Namespace("docs").Query(context.Background(), []float32{1}, 1)
	if connect.CodeOf(err) != connect.CodeDeadlineExceeded {
		t.Fatalf("error %v, want deadline_exceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("the call took %v", d)
	}
}
