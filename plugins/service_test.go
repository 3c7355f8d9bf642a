package plugins

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	weftv1 "github.com/weftdb/weft/proto/gen/weft/v1"
	"github.com/weftdb/weft/proto/gen/weft/v1/weftv1connect"
)

// protocols are the client protocols every RPC case runs with.
var protocols = []struct {
	name string
	opts []connect.ClientOption
}{
	{"connect", nil},
	{"grpc", []connect.ClientOption{connect.WithGRPC()}},
	{"grpcweb", []connect.ClientOption{connect.WithGRPCWeb()}},
}

// serve starts the store's service on 127.0.0.1 over TLS with HTTP/2 (gRPC
// needs it) and returns a client per protocol.
func serve(t *testing.T, s *Store) map[string]weftv1connect.PluginServiceClient {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle(NewService(s, nil).Handler())
	srv := httptest.NewUnstartedServer(mux)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	clients := map[string]weftv1connect.PluginServiceClient{}
	for _, p := range protocols {
		clients[p.name] = weftv1connect.NewPluginServiceClient(srv.Client(), srv.URL, p.opts...)
	}
	return clients
}

func TestServiceRegisterListDelete(t *testing.T) {
	ctx := context.Background()
	b := newMemBucket()
	s := newTestStore(t, b, time.Hour)
	c := serve(t, s)["connect"]

	router, filter, recency, mmr := example(t, "router", "c"), example(t, "attrfilter", "c"), example(t, "recency", "c"), example(t, "mmr", "c")
	start := time.Now().Add(-time.Second)
	regs := []struct {
		req   *weftv1.RegisterPluginRequest
		hooks []weftv1.Hook
		want  weftv1.FailurePolicy
	}{
		{&weftv1.RegisterPluginRequest{Name: "router", Wasm: router, Description: "tenant routing"}, []weftv1.Hook{weftv1.Hook_HOOK_ROUTE}, weftv1.FailurePolicy_FAILURE_POLICY_FAIL_CLOSED},
		{&weftv1.RegisterPluginRequest{Name: "gold", Wasm: filter, FailurePolicy: weftv1.FailurePolicy_FAILURE_POLICY_FAIL_OPEN, DeadlineMs: 20}, []weftv1.Hook{weftv1.Hook_HOOK_FILTER}, weftv1.FailurePolicy_FAILURE_POLICY_FAIL_OPEN},
		{&weftv1.RegisterPluginRequest{Name: "Rank", Wasm: recency, FailurePolicy: weftv1.FailurePolicy_FAILURE_POLICY_FAIL_CLOSED}, []weftv1.Hook{weftv1.Hook_HOOK_RERANK}, weftv1.FailurePolicy_FAILURE_POLICY_FAIL_CLOSED},
	}
	var registered []*weftv1.Plugin
	for _, r := range regs {
		resp, err := c.RegisterPlugin(ctx, connect.NewRequest(r.req))
		if err != nil {
			t.Fatalf("register %s: %v", r.req.GetName(), err)
		}
		p := resp.Msg.GetPlugin()
		want := &weftv1.Plugin{
			Name: r.req.GetName(), Sha256: Digest(r.req.GetWasm()), SizeBytes: uint64(len(r.req.GetWasm())), Hooks: r.hooks,
			FailurePolicy: r.want, DeadlineMs: r.req.GetDeadlineMs(), Description: r.req.GetDescription(), CreateTime: p.GetCreateTime(),
		}
		if !proto.Equal(p, want) {
			t.Fatalf("registered %v, want %v", p, want)
		}
		if ct := p.GetCreateTime().AsTime(); ct.Before(start) || ct.After(time.Now()) {
			t.Fatalf("create_time %v is not now", ct)
		}
		registered = append(registered, p)
	}
	list := func() []*weftv1.Plugin {
		t.Helper()
		resp, err := c.ListPlugins(ctx, connect.NewRequest(&weftv1.ListPluginsRequest{}))
		if err != nil {
			t.Fatal(err)
		}
		return resp.Msg.GetPlugins()
	}
	// Name order: "Rank" < "gold" < "router" bytewise.
	if got, want := list(), []*weftv1.Plugin{registered[2], registered[1], registered[0]}; !slices.EqualFunc(got, want, func(a, b *weftv1.Plugin) bool { return proto.Equal(a, b) }) {
		t.Fatalf("list %v, want %v", got, want)
	}

	// Same bytes, second name: refused, naming the first.
	_, err := c.RegisterPlugin(ctx, connect.NewRequest(&weftv1.RegisterPluginRequest{Name: "copy", Wasm: router}))
	if connect.CodeOf(err) != connect.CodeAlreadyExists || !strings.Contains(err.Error(), `already registered as plugin "router"`) {
		t.Fatalf("same bytes under a second name: %v", err)
	}

	// Re-registering a name replaces its module; the old one leaves the
	// bucket.
	resp, err := c.RegisterPlugin(ctx, connect.NewRequest(&weftv1.RegisterPluginRequest{Name: "Rank", Wasm: mmr}))
	if err != nil {
		t.Fatal(err)
	}
	if p := resp.Msg.GetPlugin(); p.GetSha256() != Digest(mmr) || !slices.Equal(p.GetHooks(), []weftv1.Hook{weftv1.Hook_HOOK_RERANK}) {
		t.Fatalf("replaced: %v", p)
	}
	if got := list(); len(got) != 3 || got[0].GetName() != "Rank" || got[0].GetSha256() != Digest(mmr) {
		t.Fatalf("list after replace: %v", got)
	}
	p, err := s.Resolve(ctx, "Rank")
	if err != nil {
		t.Fatal(err)
	}
	// mmr with λ=1 keeps the query-similarity order: scores count−rank.
	rr, err := p.Rerank(ctx, map[string]string{"lambda": "1"}, &Batch{
		IDs: []string{"far", "near"}, Distances: []float32{0.9, 0.1}, Metric: MetricCosine, Dim: 2,
		Query: []float32{1, 0}, Vectors: []float32{0, 1, 1, 0.1},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rr.Order, []int{1, 0}) {
		t.Fatalf("mmr order %v (scores %v), want [1 0]", rr.Order, rr.Scores)
	}

	// Delete, then NotFound.
	if _, err := c.DeletePlugin(ctx, connect.NewRequest(&weftv1.DeletePluginRequest{Name: "router"})); err != nil {
		t.Fatal(err)
	}
	_, err = c.DeletePlugin(ctx, connect.NewRequest(&weftv1.DeletePluginRequest{Name: "router"}))
	if connect.CodeOf(err) != connect.CodeNotFound || !strings.Contains(err.Error(), `plugin "router" is not registered`) {
		t.Fatalf("delete twice: %v", err)
	}
	if got := list(); len(got) != 2 || got[0].GetName() != "Rank" || got[1].GetName() != "gold" {
		t.Fatalf("list after delete: %v", got)
	}
	if got, want := b.names(), objectsOf(filter, mmr); !slices.Equal(got, want) {
		t.Fatalf("bucket holds %v, want %v", got, want)
	}
}

func TestServiceBadInputs(t *testing.T) {
	b := newMemBucket()
	s := newTestStore(t, b, time.Hour)
	clients := serve(t, s)
	good := example(t, "recency", "c")
	cases := []struct {
		name string
		req  *weftv1.RegisterPluginRequest
		code connect.Code
		msg  string
	}{
		{"not wasm", &weftv1.RegisterPluginRequest{Name: "p", Wasm: []byte("#!/bin/sh\necho hi\n")}, connect.CodeInvalidArgument, "wasm is not a valid WebAssembly module"},
		{"empty", &weftv1.RegisterPluginRequest{Name: "p"}, connect.CodeInvalidArgument, "wasm is empty"},
		{"no abi version", &weftv1.RegisterPluginRequest{Name: "p", Wasm: hostile(t, "abi_missing")}, connect.CodeInvalidArgument, "not a Weft plugin (ABI version 1): module does not export weft_abi_version"},
		{"other abi version", &weftv1.RegisterPluginRequest{Name: "p", Wasm: hostile(t, "abi_wrong")}, connect.CodeInvalidArgument, "ABI version 99"},
		{"bad hook type", &weftv1.RegisterPluginRequest{Name: "p", Wasm: hostile(t, "abi_bad_signature")}, connect.CodeInvalidArgument, "export weft_rerank has type (i32, i32) -> (i32)"},
		{"no hooks", &weftv1.RegisterPluginRequest{Name: "p", Wasm: hostile(t, "no_hooks")}, connect.CodeInvalidArgument, "exports no hook"},
		{"foreign import", &weftv1.RegisterPluginRequest{Name: "p", Wasm: hostile(t, "foreign_import")}, connect.CodeInvalidArgument, "imports env.steal"},
		{"huge memory", &weftv1.RegisterPluginRequest{Name: "p", Wasm: hostile(t, "memory_min_huge")}, connect.CodeInvalidArgument, "cannot be instantiated"},
		{"too large", &weftv1.RegisterPluginRequest{Name: "p", Wasm: append(slices.Clone(good), make([]byte, 256<<10)...)}, connect.CodeResourceExhausted, "the limit is 262144 (--plugins.max-module-bytes)"},
		{"empty name", &weftv1.RegisterPluginRequest{Wasm: good}, connect.CodeInvalidArgument, "name is empty"},
		{"bad name", &weftv1.RegisterPluginRequest{Name: "my plugin", Wasm: good}, connect.CodeInvalidArgument, `name "my plugin": byte 2 (' ') is not allowed`},
		{"leading dash", &weftv1.RegisterPluginRequest{Name: "-p", Wasm: good}, connect.CodeInvalidArgument, "starting with a letter or digit"},
		{"long name", &weftv1.RegisterPluginRequest{Name: strings.Repeat("p", 65), Wasm: good}, connect.CodeInvalidArgument, "name is 65 bytes long: the limit is 64"},
		{"huge deadline", &weftv1.RegisterPluginRequest{Name: "p", Wasm: good, DeadlineMs: 1 << 31}, connect.CodeInvalidArgument, "deadline_ms is 2147483648: use 0 for the server default (1s) or 1..10000"},
		{"deadline just over", &weftv1.RegisterPluginRequest{Name: "p", Wasm: good, DeadlineMs: 10001}, connect.CodeInvalidArgument, "deadline_ms is 10001"},
		{"unknown policy", &weftv1.RegisterPluginRequest{Name: "p", Wasm: good, FailurePolicy: 7}, connect.CodeInvalidArgument, "failure_policy 7 is unknown"},
		{"long description", &weftv1.RegisterPluginRequest{Name: "p", Wasm: good, Description: strings.Repeat("d", 1025)}, connect.CodeInvalidArgument, "description is 1025 bytes long"},
	}
	for _, pr := range protocols {
		c := clients[pr.name]
		t.Run(pr.name, func(t *testing.T) {
			for _, tc := range cases {
				_, err := c.RegisterPlugin(context.Background(), connect.NewRequest(tc.req))
				if connect.CodeOf(err) != tc.code || !strings.Contains(err.Error(), tc.msg) {
					t.Errorf("%s: %v, want %v containing %q", tc.name, err, tc.code, tc.msg)
				}
			}
			_, err := c.DeletePlugin(context.Background(), connect.NewRequest(&weftv1.DeletePluginRequest{Name: "a/b"}))
			if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), "byte 1 ('/') is not allowed") {
				t.Errorf("delete bad name: %v", err)
			}
			_, err = c.DeletePlugin(context.Background(), connect.NewRequest(&weftv1.DeletePluginRequest{Name: "nope"}))
			if connect.CodeOf(err) != connect.CodeNotFound || !strings.Contains(err.Error(), "ListPlugins shows the registered names") {
				t.Errorf("delete unknown: %v", err)
			}
		})
	}
	if got := b.names(); len(got) != 0 {
		t.Fatalf("bucket holds %v after refused requests, want nothing", got)
	}
	// A bucket failure is Internal, with no details for the client.
	b.setFail(func(string, string) error { return errors.New("s3: access denied for key AKIA…") })
	_, err := clients["connect"].ListPlugins(context.Background(), connect.NewRequest(&weftv1.ListPluginsRequest{}))
	if connect.CodeOf(err) != connect.CodeInternal || strings.Contains(err.Error(), "AKIA") {
		t.Fatalf("bucket failure: %v", err)
	}
}

func TestServiceReadLimit(t *testing.T) {
	s := newTestStore(t, newMemBucket(), time.Hour)
	c := serve(t, s)["connect"]
	big := bytes.Repeat([]byte{0}, storeHostConfig().MaxModuleBytes+128<<10)
	_, err := c.RegisterPlugin(context.Background(), connect.NewRequest(&weftv1.RegisterPluginRequest{Name: "p", Wasm: big}))
	if connect.CodeOf(err) != connect.CodeResourceExhausted {
		t.Fatalf("oversized request: %v", err)
	}
}
