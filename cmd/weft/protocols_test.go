package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"connectrpc.com/connect"

	"github.com/weftdb/weft/sdk/weft"
)

// euclidean is the exact distance of a and b, in float64.
func euclidean(a, b []float32) float64 {
	var s float64
	for i := range a {
		d := float64(a[i]) - float64(b[i])
		s += d * d
	}
	return math.Sqrt(s)
}

// bruteForce returns the ids of the k vectors nearest to q by Euclidean
// distance among those keep passes, nearest first, with their distances.
func bruteForce(vecs map[string][]float32, q []float32, k int, keep func(id string) bool) ([]string, []float64) {
	type scored struct {
		id string
		d  float64
	}
	var all []scored
	for id, v := range vecs {
		if keep != nil && !keep(id) {
			continue
		}
		all = append(all, scored{id, euclidean(v, q)})
	}
	slices.SortFunc(all, func(a, b scored) int {
		if a.d != b.d {
			if a.d < b.d {
				return -1
			}
			return 1
		}
		return strings.Compare(a.id, b.id)
	})
	all = all[:min(k, len(all))]
	ids, ds := make([]string, len(all)), make([]float64, len(all))
	for i, s := range all {
		ids[i], ds[i] = s.id, s.d
	}
	return ids, ds
}

// newClient is a Go SDK client of p, closed when the test ends.
func newClient(t *testing.T, p *serveProc, opts ...weft.Option) *weft.Client {
	t.Helper()
	c, err := weft.New(p.addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// The Go SDK drives one `weft serve` over Connect, gRPC and gRPC-web: every
// protocol creates, writes, queries (with and without a filter), reads and
// deletes, and the answers are the exact ones.
func TestServeSDKProtocols(t *testing.T) {
	p := startServe(t, t.TempDir())
	ctx := context.Background()
	protocols := []struct {
		name string
		opts []weft.Option
	}{
		{"connect", nil},
		{"grpc", []weft.Option{weft.WithGRPC()}},
		{"grpcweb", []weft.Option{weft.WithGRPCWeb()}},
	}
	for pi, proto := range protocols {
		t.Run(proto.name, func(t *testing.T) {
			c := newClient(t, p, proto.opts...)
			name := "sdk-" + proto.name
			if _, err := c.CreateNamespace(ctx, name, 8, weft.L2, weft.WithAttribute("color", weft.TypeString)); err != nil {
				t.Fatal(err)
			}
			ns := c.Namespace(name)
			r := rand.New(rand.NewPCG(uint64(pi), 1))
			vecs := map[string][]float32{}
			colors := map[string]string{}
			var docs []*weft.Document
			for i := range 500 {
				v := make([]float32, 8)
				for j := range v {
					v[j] = float32(r.NormFloat64())
				}
				id := fmt.Sprintf("doc-%d", i)
				color := []string{"red", "green", "blue"}[i%3]
				vecs[id], colors[id] = v, color
				docs = append(docs, weft.Doc(id, v, weft.Attributes{"color": weft.String(color)}))
			}
			if _, err := ns.Upsert(ctx, docs...); err != nil {
				t.Fatal(err)
			}
			// A document without an id gets a UUIDv7.
			resp, err := ns.Upsert(ctx, weft.Doc("", []float32{9, 9, 9, 9, 9, 9, 9, 9}, nil))
			if err != nil {
				t.Fatal(err)
			}
			assigned := resp.GetIds()[0]
			if len(assigned) != 36 || assigned[14] != '7' {
				t.Fatalf("assigned id %q is not a UUIDv7", assigned)
			}
			vecs[assigned] = []float32{9, 9, 9, 9, 9, 9, 9, 9}

			for qi := range 20 {
				q := make([]float32, 8)
				for j := range q {
					q[j] = float32(r.NormFloat64())
				}
				var keep func(string) bool
				var opts []weft.QueryOption
				if qi%2 == 1 {
					keep = func(id string) bool { return colors[id] == "blue" }
					opts = append(opts, weft.Filter(weft.Eq("color", weft.String("blue"))))
				}
				got, err := ns.Query(ctx, q, 10, opts...)
				if err != nil {
					t.Fatal(err)
				}
				ids, ds := bruteForce(vecs, q, 10, keep)
				if len(got.GetResults()) != len(ids) {
					t.Fatalf("query %d: %d results, want %d", qi, len(got.GetResults()), len(ids))
				}
				for i, res := range got.GetResults() {
					if res.GetId() != ids[i] || math.Abs(float64(res.GetDistance())-ds[i]) > 1e-4*max(1, ds[i]) {
						t.Fatalf("query %d result %d: %s at %v, want %s at %v", qi, i, res.GetId(), res.GetDistance(), ids[i], ds[i])
					}
				}
				if n := got.GetStats().GetDocumentsScanned(); keep == nil && n != uint64(len(vecs)) {
					t.Fatalf("query %d scanned %d documents, want %d", qi, n, len(vecs))
				}
			}

			got, err := ns.Get(ctx, "doc-7", assigned, "absent")
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 2 || got[0].GetId() != "doc-7" || !slices.Equal(got[0].GetVector(), vecs["doc-7"]) || got[1].GetId() != assigned {
				t.Fatalf("get: %v", got)
			}
			del, err := ns.Delete(ctx, "doc-7", "absent")
			if err != nil {
				t.Fatal(err)
			}
			if del.GetDeletedCount() != 1 {
				t.Fatalf("deleted %d, want 1", del.GetDeletedCount())
			}
			after, err := ns.Query(ctx, vecs["doc-7"], 1)
			if err != nil {
				t.Fatal(err)
			}
			if after.GetResults()[0].GetId() == "doc-7" {
				t.Fatal("a deleted document came back")
			}
			_, err = ns.Query(ctx, []float32{1}, 10)
			if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), "dimension is 8") {
				t.Fatalf("wrong dimension over %s: %v", proto.name, err)
			}
		})
	}
}

// Plain HTTP JSON, as curl sends it (the README's example), reaches the same
// handlers; errors come back as Connect JSON with the code's HTTP status.
func TestServeRawJSON(t *testing.T) {
	p := startServe(t, t.TempDir())
	call := func(procedure, body string, wantStatus int) map[string]any {
		t.Helper()
		code, out := postJSON(t, p.addr, procedure, body)
		if code != wantStatus {
			t.Fatalf("%s: HTTP %d, want %d: %s", procedure, code, wantStatus, out)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(out), &m); err != nil {
			t.Fatalf("%s: %v in %s", procedure, err, out)
		}
		return m
	}
	call("/weft.v1.NamespaceService/CreateNamespace", `{"namespace":{"name":"docs","dimension":3,"metric":"METRIC_COSINE"}}`, 200)
	call("/weft.v1.DocumentService/Upsert", `{"namespace":"docs","documents":[
		{"id":"a","vector":[1,0,0],"attributes":{"lang":{"stringValue":"en"}}},
		{"id":"b","vector":[0.9,0.1,0],"attributes":{"lang":{"stringValue":"de"}}},
		{"id":"c","vector":[0,1,0],"attributes":{"lang":{"stringValue":"en"}}}]}`, 200)
	m := call("/weft.v1.QueryService/Query", `{"namespace":"docs","vector":[1,0.05,0],"topK":2,
		"filter":{"eq":{"attribute":"lang","value":{"stringValue":"en"}}},"includeAttributes":true}`, 200)
	results := m["results"].([]any)
	if len(results) != 2 {
		t.Fatalf("results: %v", m)
	}
	first, second := results[0].(map[string]any), results[1].(map[string]any)
	if first["id"] != "a" || second["id"] != "c" {
		t.Fatalf("want a then c (b is filtered out): %v", m)
	}
	if lang := first["attributes"].(map[string]any)["lang"].(map[string]any)["stringValue"]; lang != "en" {
		t.Fatalf("attributes of a: %v", first)
	}
	// cosine distance of (1,0.05,0) and (1,0,0)
	want := 1 - 1/math.Sqrt(1+0.05*0.05)
	if d := first["distance"].(float64); math.Abs(d-want) > 1e-6 {
		t.Fatalf("distance of a: %v, want %v", d, want)
	}
	stats := m["stats"].(map[string]any)
	if stats["documentsScanned"] != "2" || len(stats["timings"].([]any)) == 0 {
		t.Fatalf("stats: %v", stats)
	}

	e := call("/weft.v1.QueryService/Query", `{"namespace":"docs","vector":[1,0,0],"topK":0}`, 400)
	if e["code"] != "invalid_argument" || !strings.Contains(e["message"].(string), "top_k is 0") {
		t.Fatalf("top_k 0: %v", e)
	}
	e = call("/weft.v1.QueryService/Query", `{"namespace":"nope","vector":[1,0,0],"topK":1}`, 404)
	if e["code"] != "not_found" {
		t.Fatalf("unknown namespace: %v", e)
	}
	e = call("/weft.v1.NamespaceService/CreateNamespace", `{"namespace":{"name":"docs","dimension":3,"metric":"METRIC_COSINE"}}`, 409)
	if e["code"] != "already_exists" {
		t.Fatalf("duplicate namespace: %v", e)
	}
}
