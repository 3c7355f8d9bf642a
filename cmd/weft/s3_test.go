package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	weftv1 "github.com/weftdb/weft/proto/gen/weft/v1"
	"github.com/weftdb/weft/proto/gen/weft/v1/weftv1connect"
)

// weft serve on a real S3-compatible server (make test-s3 starts one and
// sets WEFT_TEST_S3 to "host:port,access,secret,bucket"): writes, indexing
// into segments in the bucket, exact answers, and after kill -9 a new
// process answers the same from the bucket alone.
func TestServeS3(t *testing.T) {
	spec := os.Getenv("WEFT_TEST_S3")
	if spec == "" {
		t.Skip("no S3 server: make test-s3 runs this against one")
	}
	parts := strings.Split(spec, ",")
	if len(parts) != 4 {
		t.Fatalf("WEFT_TEST_S3=%q: want host:port,access,secret,bucket", spec)
	}
	cfg := filepath.Join(t.TempDir(), "s3.yaml")
	yaml := fmt.Sprintf("type: S3\nconfig:\n  bucket: %s\n  endpoint: %s\n  access_key: %s\n  secret_key: %s\n  insecure: true\n  bucket_lookup_type: path\n  region: us-east-1\n",
		parts[3], parts[0], parts[1], parts[2])
	// A namespace of its own, so runs on one bucket never meet.
	ns := fmt.Sprintf("s3-%d", time.Now().UnixNano())
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	flags := []string{"--objstore-config", cfg, "--index.idle", "100ms", "--write-lease", "200ms"}
	p := startServe(t, t.TempDir(), flags...)
	ctx := context.Background()
	hc := &http.Client{Timeout: 30 * time.Second}
	nsc := weftv1connect.NewNamespaceServiceClient(hc, p.addr)
	if _, err := nsc.CreateNamespace(ctx, connect.NewRequest(&weftv1.CreateNamespaceRequest{Namespace: &weftv1.Namespace{Name: ns, Dimension: 8, Metric: weftv1.Metric_METRIC_L2}})); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(31, 32))
	vecs := map[string][]float32{}
	var docs []*weftv1.Document
	for i := range 2000 {
		v := make([]float32, 8)
		for j := range v {
			v[j] = float32(r.NormFloat64())
		}
		id := fmt.Sprintf("d%d", i)
		vecs[id] = v
		docs = append(docs, &weftv1.Document{Id: id, Vector: v})
	}
	dc := weftv1connect.NewDocumentServiceClient(hc, p.addr)
	for i := 0; i < len(docs); i += 500 {
		if _, err := dc.Upsert(ctx, connect.NewRequest(&weftv1.UpsertRequest{Namespace: ns, Documents: docs[i : i+500]})); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		got, err := nsc.GetNamespace(ctx, connect.NewRequest(&weftv1.GetNamespaceRequest{Name: ns}))
		if err != nil {
			t.Fatal(err)
		}
		if st := got.Msg.GetStats(); st.GetIndexedDocuments() == 2000 && st.GetUnindexedDocuments() == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not indexed on S3 after 60 s: %v", got.Msg.GetStats())
		}
		time.Sleep(100 * time.Millisecond)
	}
	check := func(addr, when string) {
		t.Helper()
		qc := weftv1connect.NewQueryServiceClient(hc, addr)
		for _, id := range []string{"d0", "d999", "d1999"} {
			want, _ := bruteForce(vecs, vecs[id], 5, nil)
			resp, err := qc.Query(ctx, connect.NewRequest(&weftv1.QueryRequest{Namespace: ns, Vector: vecs[id], TopK: 5, Search: &weftv1.SearchParams{RecallTarget: 1}}))
			if err != nil {
				t.Fatalf("%s: %v", when, err)
			}
			for i, res := range resp.Msg.GetResults() {
				if res.GetId() != want[i] {
					t.Fatalf("%s: result %d for %s is %s, want %s", when, i, id, res.GetId(), want[i])
				}
			}
		}
	}
	check(p.addr, "serving")
	p.kill()
	check(startServe(t, t.TempDir(), flags...).addr, "after kill -9, from the bucket")
}
