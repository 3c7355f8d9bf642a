package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
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
		// A restarted process honours the killed one's write lease before
		// it writes: keep it short.
		p := startServe(t, data, "--write-lease", "200ms")
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

// Writers upsert, replace and delete while `weft serve` folds its WAL into
// segments and merges them as fast as it can, and is killed with SIGKILL
// at random moments. After every restart the newest manifest opens, each
// acknowledged write holds (present with its last vector, or absent when
// deleted), and no deleted or replaced version comes back from a query.
func TestKill9DuringIndexing(t *testing.T) {
	data := t.TempDir()
	ctx := context.Background()
	r := rand.New(rand.NewPCG(9, 10))
	indexFlags := []string{"--write-lease", "200ms", "--index.idle", "20ms", "--index.min-changes", "300", "--index.grace", "300ms", "--index.m", "8", "--index.ef-construction", "40"}
	var mu sync.Mutex
	known := map[string]docState{} // acknowledged, per id
	unsure := map[string]bool{}    // an unacknowledged write may have landed
	rounds := 6
	if testing.Short() { // make flake: many short repetitions instead
		rounds = 3
	}
	var manifests uint64
	for round := range rounds {
		p := startServe(t, data, indexFlags...)
		hc := &http.Client{Timeout: 10 * time.Second}
		docs := weftv1connect.NewDocumentServiceClient(hc, p.addr)
		if round == 0 {
			ns := weftv1connect.NewNamespaceServiceClient(hc, p.addr)
			if _, err := ns.CreateNamespace(ctx, connect.NewRequest(&weftv1.CreateNamespaceRequest{Namespace: &weftv1.Namespace{Name: "k", Dimension: 4, Metric: weftv1.Metric_METRIC_L2}})); err != nil {
				t.Fatal(err)
			}
		} else {
			checkKnown(t, hc, p.addr, known, unsure)
		}
		w := startWriters(ctx, docs, round, &mu, known, unsure)
		time.Sleep(time.Duration(300+r.IntN(700)) * time.Millisecond)
		st, err := weftv1connect.NewNamespaceServiceClient(hc, p.addr).GetNamespace(ctx, connect.NewRequest(&weftv1.GetNamespaceRequest{Name: "k"}))
		if err == nil {
			manifests = max(manifests, st.Msg.GetStats().GetManifestVersion())
		}
		p.kill()
		w.stop()
	}
	p := startServe(t, data, indexFlags...)
	checkKnown(t, &http.Client{Timeout: 10 * time.Second}, p.addr, known, unsure)
	t.Logf("%d ids checked after %d SIGKILLs; up to manifest %d", len(known), rounds, manifests)
	if manifests < 3 {
		t.Fatalf("only %d manifests were published: the loop did not exercise indexing", manifests)
	}
}

// writers are three goroutines that upsert, replace and delete documents
// of namespace "k" until stopped or a request fails, recording each id's
// last acknowledged state in known and the ids of failed writes in unsure.
type writers struct {
	done chan struct{}
	wg   sync.WaitGroup
}

func (w *writers) stop() {
	close(w.done)
	w.wg.Wait()
}

func startWriters(ctx context.Context, docs weftv1connect.DocumentServiceClient, round int, mu *sync.Mutex, known map[string]docState, unsure map[string]bool) *writers {
	ws := &writers{done: make(chan struct{})}
	stop := ws.done
	wg := &ws.wg
	for w := range 3 {
		wr := rand.New(rand.NewPCG(uint64(round), uint64(w)))
		wg.Go(func() {
			for i := 0; i < 3000; i++ {
				select {
				case <-stop:
					return
				default:
				}
				// Each writer owns its ids, so its writes are ordered.
				n := 1 + wr.IntN(30)
				ids := make([]string, n)
				for j := range ids {
					ids[j] = fmt.Sprintf("w%d-%d", w, wr.IntN(600))
				}
				slices.Sort(ids)
				ids = slices.Compact(ids)
				del := wr.IntN(4) == 0
				v := float32(round*10000 + i)
				var err error
				if del {
					_, err = docs.Delete(ctx, connect.NewRequest(&weftv1.DeleteRequest{Namespace: "k", Ids: ids}))
				} else {
					batch := make([]*weftv1.Document, len(ids))
					for j, id := range ids {
						batch[j] = &weftv1.Document{Id: id, Vector: []float32{v, float32(j), float32(w), 1}}
					}
					_, err = docs.Upsert(ctx, connect.NewRequest(&weftv1.UpsertRequest{Namespace: "k", Documents: batch}))
				}
				mu.Lock()
				for _, id := range ids {
					if err != nil {
						unsure[id] = true
						continue
					}
					delete(unsure, id)
					known[id] = docState{v: v, deleted: del}
				}
				mu.Unlock()
				if err != nil {
					return // the server died mid-request
				}
			}
		})
	}
	return ws
}

// checkKnown checks every id whose last write was acknowledged: Get finds
// it with its vector, or not at all when deleted; an exact query at a
// deleted document's last vector does not return it.
func checkKnown(t *testing.T, hc *http.Client, addr string, known map[string]docState, unsure map[string]bool) {
	t.Helper()
	ctx := context.Background()
	docs := weftv1connect.NewDocumentServiceClient(hc, addr)
	query := weftv1connect.NewQueryServiceClient(hc, addr)
	var ids []string
	for id := range known {
		if !unsure[id] {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for lo := 0; lo < len(ids); lo += 1000 {
		chunk := ids[lo:min(lo+1000, len(ids))]
		resp, err := docs.Get(ctx, connect.NewRequest(&weftv1.GetRequest{Namespace: "k", Ids: chunk, IncludeVectors: true}))
		if err != nil {
			t.Fatalf("get after restart: %v", err)
		}
		found := map[string]float32{}
		for _, d := range resp.Msg.GetDocuments() {
			found[d.GetId()] = d.GetVector()[0]
		}
		for _, id := range chunk {
			v, ok := found[id]
			switch want := known[id]; {
			case want.deleted && ok:
				t.Fatalf("deleted id %s is back after a restart (vector[0] %v)", id, v)
			case !want.deleted && !ok:
				t.Fatalf("acknowledged id %s is missing after a restart", id)
			case !want.deleted && v != want.v:
				t.Fatalf("id %s has vector[0]=%v, want %v: an older version came back", id, v, want.v)
			}
		}
	}
	// Queries: the exact top 20 around some documents' vectors hold no
	// deleted id and no stale version.
	checked := 0
	for _, id := range ids {
		if checked == 50 {
			break
		}
		want := known[id]
		checked++
		var w, j int
		fmt.Sscanf(id, "w%d-%d", &w, &j)
		q := []float32{want.v, 0, float32(w), 1}
		resp, err := query.Query(ctx, connect.NewRequest(&weftv1.QueryRequest{Namespace: "k", Vector: q, TopK: 20, IncludeVectors: true, Search: &weftv1.SearchParams{RecallTarget: 1}}))
		if err != nil {
			t.Fatalf("query after restart: %v", err)
		}
		for _, res := range resp.Msg.GetResults() {
			k, ok := known[res.GetId()]
			if !ok || unsure[res.GetId()] {
				continue
			}
			if k.deleted {
				t.Fatalf("query returned deleted id %s", res.GetId())
			}
			if res.GetVector()[0] != k.v {
				t.Fatalf("query returned id %s with vector[0] %v, want %v", res.GetId(), res.GetVector()[0], k.v)
			}
		}
	}
}

// docState is what the last acknowledged write did to an id.
type docState struct {
	v       float32 // vector[0] of the last acknowledged upsert
	deleted bool
}

// The split deployment: `weft serve --index.disabled` takes the writes
// while `weft indexer` folds and merges as fast as it can and is killed
// with SIGKILL at random moments (the server too, every other round).
// After every kill each acknowledged write holds and no deleted or
// replaced version comes back; the server serves the indexer's manifests.
func TestKill9IndexerProcess(t *testing.T) {
	data := t.TempDir()
	ctx := context.Background()
	r := rand.New(rand.NewPCG(11, 12))
	serveFlags := []string{"--write-lease", "200ms", "--index.disabled", "--index.idle", "50ms"}
	indexerFlags := []string{"--poll", "20ms", "--index.idle", "20ms", "--index.min-changes", "300", "--index.grace", "300ms", "--index.m", "8", "--index.ef-construction", "40"}
	var mu sync.Mutex
	known := map[string]docState{}
	unsure := map[string]bool{}
	rounds := 6
	if testing.Short() {
		rounds = 4
	}
	hc := &http.Client{Timeout: 10 * time.Second}
	srv := startServe(t, data, serveFlags...)
	if _, err := weftv1connect.NewNamespaceServiceClient(hc, srv.addr).CreateNamespace(ctx, connect.NewRequest(&weftv1.CreateNamespaceRequest{
		Namespace: &weftv1.Namespace{Name: "k", Dimension: 4, Metric: weftv1.Metric_METRIC_L2}})); err != nil {
		t.Fatal(err)
	}
	manifest := func() uint64 {
		st, err := weftv1connect.NewNamespaceServiceClient(hc, srv.addr).GetNamespace(ctx, connect.NewRequest(&weftv1.GetNamespaceRequest{Name: "k"}))
		if err != nil {
			return 0
		}
		return st.Msg.GetStats().GetManifestVersion()
	}
	var manifests uint64
	for round := range rounds {
		ix := startProc(t, "indexer", data, indexerFlags...)
		w := startWriters(ctx, weftv1connect.NewDocumentServiceClient(hc, srv.addr), round, &mu, known, unsure)
		time.Sleep(time.Duration(400+r.IntN(700)) * time.Millisecond)
		manifests = max(manifests, manifest())
		ix.kill()
		if round%2 == 1 {
			srv.kill()
		}
		w.stop()
		if round%2 == 1 {
			srv = startServe(t, data, serveFlags...)
		}
		checkKnown(t, hc, srv.addr, known, unsure)
	}
	t.Logf("%d ids checked after %d SIGKILLs of the indexer (%d of the server); the server served up to manifest %d", len(known), rounds, rounds/2, manifests)
	if manifests < 3 {
		t.Fatalf("the server served only %d manifests: the loop did not exercise the indexer", manifests)
	}
}
