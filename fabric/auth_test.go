package fabric_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/weftdb/weft/auth"
	"github.com/weftdb/weft/fabric"
	"github.com/weftdb/weft/objstore"
	weftv1 "github.com/weftdb/weft/proto/gen/weft/v1"
	"github.com/weftdb/weft/sdk/weft"
)

// serveH2C serves a fabric over HTTP/1.1 and h2c on loopback, so gRPC
// clients reach it too, and returns its URL.
func serveH2C(t *testing.T, cfg fabric.Config) string {
	t.Helper()
	srv, err := fabric.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	mux := http.NewServeMux()
	srv.Handle(mux)
	hs := httptest.NewUnstartedServer(mux)
	hs.Config.Protocols = new(http.Protocols)
	hs.Config.Protocols.SetHTTP1(true)
	hs.Config.Protocols.SetUnencryptedHTTP2(true)
	hs.Start()
	t.Cleanup(hs.Close)
	return hs.URL
}

// API keys over Connect, gRPC and gRPC-web: no key is Unauthenticated; a
// read key reads its namespace and nothing else, and lists only it; a
// write key writes but cannot register plugins or make keys; a key revoked
// on one process stops working on another within a second.
func TestAPIKeys(t *testing.T) {
	ctx := context.Background()
	bucket := objstore.NewInMemory()
	const boot = "bootstrap-secret-for-the-test"
	storeA, err := auth.NewStore(bucket, auth.Options{Bootstrap: boot})
	if err != nil {
		t.Fatal(err)
	}
	storeB, _ := auth.NewStore(bucket, auth.Options{})
	a := serveH2C(t, fabric.Config{Bucket: bucket, Auth: storeA, WriteLease: testLease})
	b := serveH2C(t, fabric.Config{Bucket: bucket, Auth: storeB, WriteLease: testLease})
	client := func(url string, opts ...weft.Option) weft.Raw {
		c, err := weft.New(url, opts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		return c.Raw()
	}
	admin := client(a, weft.WithAPIKey(boot))
	for _, name := range []string{"docs", "other"} {
		if _, err := admin.Namespaces.CreateNamespace(ctx, connect.NewRequest(&weftv1.CreateNamespaceRequest{Namespace: &weftv1.Namespace{Name: name, Dimension: 2, Metric: weftv1.Metric_METRIC_L2}})); err != nil {
			t.Fatal(err)
		}
	}
	newKey := func(name string, grants ...*weftv1.Grant) *weftv1.CreateKeyResponse {
		resp, err := admin.Auth.CreateKey(ctx, connect.NewRequest(&weftv1.CreateKeyRequest{Name: name, Grants: grants}))
		if err != nil {
			t.Fatal(err)
		}
		return resp.Msg
	}
	reader := newKey("reader", &weftv1.Grant{Namespace: "docs", Role: weftv1.Role_ROLE_READ})
	writer := newKey("writer", &weftv1.Grant{Namespace: "doc*", Role: weftv1.Role_ROLE_WRITE})

	expect := func(what string, err error, code connect.Code, words ...string) {
		t.Helper()
		if connect.CodeOf(err) != code {
			t.Fatalf("%s: %v, want %v", what, err, code)
		}
		for _, w := range words {
			if !strings.Contains(err.Error(), w) {
				t.Fatalf("%s: %q does not say %q", what, err, w)
			}
		}
	}
	upsert := &weftv1.UpsertRequest{Namespace: "docs", Documents: []*weftv1.Document{{Id: "x", Vector: []float32{1, 2}}}}
	query := func(ns string) *weftv1.QueryRequest {
		return &weftv1.QueryRequest{Namespace: ns, Vector: []float32{1, 2}, TopK: 1}
	}
	for _, proto := range []struct {
		name string
		opt  []weft.Option
	}{{"connect", nil}, {"grpc", []weft.Option{weft.WithGRPC()}}, {"grpcweb", []weft.Option{weft.WithGRPCWeb()}}} {
		t.Run(proto.name, func(t *testing.T) {
			anon := client(b, proto.opt...)
			_, err := anon.Queries.Query(ctx, connect.NewRequest(query("docs")))
			expect("no key", err, connect.CodeUnauthenticated, "Authorization: Bearer")
			bad := client(b, append(proto.opt, weft.WithAPIKey("wk_0123456789abcdef_nope"))...)
			_, err = bad.Queries.Query(ctx, connect.NewRequest(query("docs")))
			expect("unknown key", err, connect.CodeUnauthenticated, "not recognised")

			w := client(b, append(proto.opt, weft.WithAPIKey(writer.GetSecret()))...)
			if _, err := w.Documents.Upsert(ctx, connect.NewRequest(upsert)); err != nil {
				t.Fatalf("write key upserts: %v", err)
			}
			_, err = w.Plugins.RegisterPlugin(ctx, connect.NewRequest(&weftv1.RegisterPluginRequest{Name: "p"}))
			expect("write key registers a plugin", err, connect.CodePermissionDenied, "admin on every namespace", "write on doc*")
			_, err = w.Auth.CreateKey(ctx, connect.NewRequest(&weftv1.CreateKeyRequest{Name: "mine", Grants: []*weftv1.Grant{{Namespace: "*", Role: weftv1.Role_ROLE_ADMIN}}}))
			expect("write key makes a key", err, connect.CodePermissionDenied, "AuthService.CreateKey")
			_, err = w.Namespaces.DeleteNamespace(ctx, connect.NewRequest(&weftv1.DeleteNamespaceRequest{Name: "docs"}))
			expect("write key deletes a namespace", err, connect.CodePermissionDenied, "needs admin")

			r := client(b, append(proto.opt, weft.WithAPIKey(reader.GetSecret()))...)
			got, err := r.Queries.Query(ctx, connect.NewRequest(query("docs")))
			if err != nil || len(got.Msg.GetResults()) != 1 {
				t.Fatalf("read key queries its namespace: %v, %v", got, err)
			}
			_, err = r.Documents.Upsert(ctx, connect.NewRequest(upsert))
			expect("read key writes", err, connect.CodePermissionDenied, `namespace "docs" needs write`, reader.GetKey().GetId())
			_, err = r.Queries.Query(ctx, connect.NewRequest(query("other")))
			expect("read key reads another namespace", err, connect.CodePermissionDenied, `namespace "other" needs read`)
			list, err := r.Namespaces.ListNamespaces(ctx, connect.NewRequest(&weftv1.ListNamespacesRequest{}))
			if err != nil || len(list.Msg.GetNamespaces()) != 1 || list.Msg.GetNamespaces()[0].GetName() != "docs" {
				t.Fatalf("read key lists %v, %v; want docs alone", list.Msg.GetNamespaces(), err)
			}
		})
	}

	// Revoked on a, refused by b within a second.
	r := client(b, weft.WithAPIKey(reader.GetSecret()))
	if _, err := r.Queries.Query(ctx, connect.NewRequest(query("docs"))); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Auth.RevokeKey(ctx, connect.NewRequest(&weftv1.RevokeKeyRequest{Id: reader.GetKey().GetId()})); err != nil {
		t.Fatal(err)
	}
	revoked := time.Now()
	for {
		_, err := r.Queries.Query(ctx, connect.NewRequest(query("docs")))
		if connect.CodeOf(err) == connect.CodeUnauthenticated {
			expect("revoked key", err, connect.CodeUnauthenticated, "revoked")
			break
		}
		if time.Since(revoked) > time.Second {
			t.Fatalf("the other process still accepts the key %v after its revocation: %v", time.Since(revoked), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	keys, err := admin.Auth.ListKeys(ctx, connect.NewRequest(&weftv1.ListKeysRequest{}))
	if err != nil || len(keys.Msg.GetKeys()) != 2 {
		t.Fatalf("list keys: %v, %v", keys, err)
	}
	ids := []string{keys.Msg.GetKeys()[0].GetId(), keys.Msg.GetKeys()[1].GetId()}
	if !slices.Contains(ids, reader.GetKey().GetId()) || !slices.Contains(ids, writer.GetKey().GetId()) {
		t.Fatalf("listed %v", ids)
	}
	_, err = admin.Auth.CreateKey(ctx, connect.NewRequest(&weftv1.CreateKeyRequest{Name: "empty"}))
	expect("a key without grants", err, connect.CodeInvalidArgument, "grants is empty")
	_, err = admin.Auth.RevokeKey(ctx, connect.NewRequest(&weftv1.RevokeKeyRequest{Id: "nope"}))
	expect("revoke of no key", err, connect.CodeNotFound, "not a key id")
}

// Without keys the server answers AuthService with FailedPrecondition.
func TestAuthOff(t *testing.T) {
	c, err := weft.New(serveH2C(t, fabric.Config{Bucket: objstore.NewInMemory()}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Raw().Auth.ListKeys(context.Background(), connect.NewRequest(&weftv1.ListKeysRequest{}))
	if connect.CodeOf(err) != connect.CodeFailedPrecondition || !strings.Contains(err.Error(), "bootstrap") {
		t.Fatalf("ListKeys without auth: %v", err)
	}
}
