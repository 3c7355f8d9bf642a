package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	weftv1 "github.com/weftdb/weft/proto/gen/weft/v1"
	"github.com/weftdb/weft/proto/gen/weft/v1/weftv1connect"
)

// A client writes while `weft serve` is killed with SIGKILL at random
// moments; after every restart each acknowledged id is there with its
// vector, and the namespace loads (no corrupt WAL).
func TestKill9KeepsAcknowledgedWrites(t *testing.T) {
	data := t.TempDir()
	ctx := context.Background()
	r := rand.New(rand.NewPCG(7, 9))
	acked := map[string]float32{} // id → first vector component
	var mu sync.Mutex
	const rounds = 6
	for round := range rounds {
		p := startServe(t, data)
		hc := &http.Client{Timeout: 10 * time.Second}
		docs := weftv1connect.NewDocumentServiceClient(hc, p.addr)
		if round == 0 {
			ns := weftv1connect.NewNamespaceServiceClient(hc, p.addr)
			if _, err := ns.CreateNamespace(ctx, connect.NewRequest(&weftv1.CreateNamespaceRequest{Namespace: &weftv1.Namespace{Name: "k", Dimension: 4, Metric: weftv1.Metric_METRIC_L2}})); err != nil {
				t.Fatal(err)
			}
		} else {
			checkAcked(t, docs, acked)
		}
		// Four writers until the kill; bounded by count as well as time.
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Go(func() {
				for i := 0; i < 2000; i++ {
					select {
					case <-stop:
						return
					default:
					}
					batch := make([]*weftv1.Document, 1+i%20)
					for j := range batch {
						id := fmt.Sprintf("r%d-w%d-%d-%d", round, w, i, j)
						batch[j] = &weftv1.Document{Id: id, Vector: []float32{float32(i), float32(j), float32(w), float32(round)}}
					}
					_, err := docs.Upsert(ctx, connect.NewRequest(&weftv1.UpsertRequest{Namespace: "k", Documents: batch}))
					if err != nil {
						return // the server died mid-request: not acknowledged
					}
					mu.Lock()
					for _, d := range batch {
						acked[d.Id] = d.Vector[0]
					}
					mu.Unlock()
				}
			})
		}
		time.Sleep(time.Duration(150+r.IntN(500)) * time.Millisecond)
		p.kill()
		close(stop)
		wg.Wait()
	}
	p := startServe(t, data)
	docs := weftv1connect.NewDocumentServiceClient(http.DefaultClient, p.addr)
	checkAcked(t, docs, acked)
	t.Logf("%d acknowledged documents survived %d SIGKILLs", len(acked), rounds)
	if len(acked) < 100 {
		t.Fatalf("only %d writes were acknowledged: the loop did not exercise the write path", len(acked))
	}
}

func checkAcked(t *testing.T, docs weftv1connect.DocumentServiceClient, acked map[string]float32) {
	t.Helper()
	ids := make([]string, 0, len(acked))
	for id := range acked {
		ids = append(ids, id)
	}
	for lo := 0; lo < len(ids); lo += 1000 {
		chunk := ids[lo:min(lo+1000, len(ids))]
		resp, err := docs.Get(context.Background(), connect.NewRequest(&weftv1.GetRequest{Namespace: "k", Ids: chunk, IncludeVectors: true}))
		if err != nil {
			t.Fatalf("get after restart: %v", err)
		}
		found := map[string]float32{}
		for _, d := range resp.Msg.GetDocuments() {
			found[d.GetId()] = d.GetVector()[0]
		}
		for _, id := range chunk {
			v, ok := found[id]
			if !ok {
				t.Fatalf("acknowledged id %s is missing after a restart", id)
			}
			if v != acked[id] {
				t.Fatalf("id %s has vector[0]=%v, want %v", id, v, acked[id])
			}
		}
	}
}
