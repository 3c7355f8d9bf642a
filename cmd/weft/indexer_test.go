package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	weftv1 "github.com/weftdb/weft/proto/gen/weft/v1"
	"github.com/weftdb/weft/proto/gen/weft/v1/weftv1connect"
)

// `weft serve --index.disabled` and `weft indexer` on one folder: the
// indexer finds the namespace, folds what the server acknowledged, and
// the server answers from the indexer's segments (no exact scan); the
// indexer reports ready and counts the rows it indexed. kill -9 of the
// indexer loses nothing: a new one picks up where it stopped.
func TestIndexerCommand(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	srv := startServe(t, data, "--index.disabled", "--index.idle", "100ms")
	indexerArgs := []string{"--poll", "100ms", "--index.idle", "100ms", "--index.grace", "2s"}
	ix := startProc(t, "indexer", data, indexerArgs...)
	hc := &http.Client{Timeout: 10 * time.Second}
	nsc := weftv1connect.NewNamespaceServiceClient(hc, srv.addr)
	docs := weftv1connect.NewDocumentServiceClient(hc, srv.addr)
	qc := weftv1connect.NewQueryServiceClient(hc, srv.addr)
	if _, err := nsc.CreateNamespace(ctx, connect.NewRequest(&weftv1.CreateNamespaceRequest{Namespace: &weftv1.Namespace{Name: "ix", Dimension: 16, Metric: weftv1.Metric_METRIC_L2}})); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(5, 6))
	vecs := map[string][]float32{}
	upsert := func(from, n int) {
		batch := make([]*weftv1.Document, 0, n)
		for i := from; i < from+n; i++ {
			v := make([]float32, 16)
			for j := range v {
				v[j] = float32(r.NormFloat64())
			}
			id := fmt.Sprintf("d%d", i)
			vecs[id] = v
			batch = append(batch, &weftv1.Document{Id: id, Vector: v})
		}
		if _, err := docs.Upsert(ctx, connect.NewRequest(&weftv1.UpsertRequest{Namespace: "ix", Documents: batch})); err != nil {
			t.Fatal(err)
		}
	}
	waitIndexed := func(want uint64) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			got, err := nsc.GetNamespace(ctx, connect.NewRequest(&weftv1.GetNamespaceRequest{Name: "ix"}))
			if err != nil {
				t.Fatal(err)
			}
			st := got.Msg.GetStats()
			if st.GetIndexedDocuments() == want && st.GetUnindexedDocuments() == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("after 60 s the server serves %v; want %d indexed\nindexer:\n%s", st, want, ix.logs.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	check := func() {
		t.Helper()
		for _, id := range []string{"d1", "d1500", fmt.Sprint("d", len(vecs)-1)} {
			resp, err := qc.Query(ctx, connect.NewRequest(&weftv1.QueryRequest{Namespace: "ix", Vector: vecs[id], TopK: 5}))
			if err != nil {
				t.Fatal(err)
			}
			if resp.Msg.GetResults()[0].GetId() != id || resp.Msg.GetStats().GetDocumentsScanned() != 0 {
				t.Fatalf("nearest to %s: %s, %d documents scanned exactly; want itself from the segments", id, resp.Msg.GetResults()[0].GetId(), resp.Msg.GetStats().GetDocumentsScanned())
			}
		}
	}
	upsert(0, 1000)
	upsert(1000, 1000)
	waitIndexed(2000)
	check()

	resp, err := http.Get(ix.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// Merges count rows again: at least the 2,000.
	var indexed float64
	for _, line := range strings.Split(string(metrics), "\n") {
		if v, ok := strings.CutPrefix(line, "weft_index_rows_total "); ok {
			indexed, _ = strconv.ParseFloat(v, 64)
		}
	}
	if indexed < 2000 {
		t.Fatalf("indexer metrics count %v indexed rows, want ≥ 2,000:\n%s", indexed, metrics)
	}
	if resp, err := http.Get(ix.addr + "/readyz"); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("indexer /readyz: %v %v", resp, err)
	}

	ix.kill()
	upsert(2000, 500)
	startProc(t, "indexer", data, indexerArgs...)
	waitIndexed(2500)
	check()
}
