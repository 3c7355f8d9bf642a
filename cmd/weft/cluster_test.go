//go:build cluster

package main

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"

	weftv1 "github.com/weftdb/weft/proto/gen/weft/v1"
	"github.com/weftdb/weft/proto/gen/weft/v1/weftv1connect"
)

// The cluster (make test-cluster): 3 `weft worker`, 1 `weft indexer` and 2
// `weft fabric` processes on loopback over one folder bucket, workers found
// by their heartbeats in the bucket. Fashion-MNIST goes in through one
// fabric and is indexed into ≥ 16 IVF lists; queries through either fabric
// keep recall@10 ≥ 0.95; the nprobe that reaches it touches ≤ 25 % of the
// shards. A worker killed with SIGKILL under steady query load fails no
// query (its shards are retried on the next worker), recall holds, and once
// the membership drops it queries need no retry and miss no shard. The
// fabric that writes is killed with SIGKILL under writes: the other takes
// the writes over within the write lease, and no acknowledged write is
// lost.
func TestCluster(t *testing.T) {
	train := readIDX(t, fashionDir+"/train-images-idx3-ubyte.gz")
	test := readIDX(t, fashionDir+"/t10k-images-idx3-ubyte.gz")[:200]
	ctx := context.Background()
	data := t.TempDir()
	var workers []*serveProc
	for range 3 {
		workers = append(workers, startProc(t, "worker", data, "--heartbeat", "200ms"))
	}
	startProc(t, "indexer", data, "--poll", "200ms", "--index.shard-rows", "3500", "--index.min-changes", "70000")
	fabrics := []*serveProc{
		startProc(t, "fabric", data, "--workers", "bucket", "--workers.poll", "200ms"),
		startProc(t, "fabric", data, "--workers", "bucket", "--workers.poll", "200ms"),
	}
	start := time.Now()
	runWeft(t, ctx, "import", "--addr", fabrics[0].addr, "--namespace", "fashion", "--create", "--dim", "784", "--metric", "l2",
		"--file", fashionDir+"/train-images-idx3-ubyte.gz")
	t.Logf("imported %d images through a fabric in %.1f s", len(train), time.Since(start).Seconds())
	ns := weftv1connect.NewNamespaceServiceClient(http.DefaultClient, fabrics[1].addr)
	var stats *weftv1.NamespaceStats
	for {
		got, err := ns.GetNamespace(ctx, connect.NewRequest(&weftv1.GetNamespaceRequest{Name: "fashion"}))
		if err != nil {
			t.Fatal(err)
		}
		stats = got.Msg.GetStats()
		if stats.GetDocumentCount() == uint64(len(train)) && stats.GetUnindexedDocuments() == 0 && stats.GetSegments() >= 16 {
			break
		}
		if time.Since(start) > 10*time.Minute {
			t.Fatalf("not indexed into ≥ 16 lists after 10 minutes: %v", stats)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("indexed after %.1f s: %v", time.Since(start).Seconds(), stats)
	tenth := tenthDistances(train, test, nil)
	vec := func(img []uint8) []float32 {
		v := make([]float32, len(img))
		for i, x := range img {
			v[i] = float32(x)
		}
		return v
	}
	// hits counts the results within the exact tenth distance.
	hits := func(qi int, rs []*weftv1.QueryResult) int {
		n := 0
		for _, r := range rs {
			row, err := strconv.Atoi(r.GetId())
			if err == nil && float64(l2sq(test[qi], train[row], math.MaxInt32)) <= float64(tenth[qi])*(1+1e-6) {
				n++
			}
		}
		return n
	}
	queries := []weftv1connect.QueryServiceClient{
		weftv1connect.NewQueryServiceClient(http.DefaultClient, fabrics[0].addr),
		weftv1connect.NewQueryServiceClient(http.DefaultClient, fabrics[1].addr),
	}
	// recall runs every test query through the fabrics in turn.
	recall := func(search *weftv1.SearchParams) (float64, float64, *weftv1.QueryStats) {
		t.Helper()
		found, probed := 0, 0
		var last *weftv1.QueryStats
		for qi, img := range test {
			resp, err := queries[qi%2].Query(ctx, connect.NewRequest(&weftv1.QueryRequest{Namespace: "fashion", Vector: vec(img), TopK: 10, Search: search}))
			if err != nil {
				t.Fatalf("query %d: %v", qi, err)
			}
			found += hits(qi, resp.Msg.GetResults())
			last = resp.Msg.GetStats()
			probed += int(last.GetShardsProbed())
			if last.GetShardsFailed() != 0 {
				t.Fatalf("query %d: stats %v: no shard may fail", qi, last)
			}
		}
		return float64(found) / float64(10*len(test)), float64(probed) / float64(len(test)), last
	}
	r, probed, last := recall(nil)
	t.Logf("default search: recall@10 %.4f, %.1f of %d shards probed, last stats %v", r, probed, stats.GetSegments(), last)
	if r < 0.95 {
		t.Fatalf("recall@10 %.4f through the fabrics, want ≥ 0.95", r)
	}
	for nprobe := uint32(1); ; nprobe++ {
		r, probed, _ := recall(&weftv1.SearchParams{Nprobe: nprobe})
		share := probed / float64(stats.GetSegments())
		t.Logf("nprobe %d: recall@10 %.4f, %.2f shards probed on average (%.1f %% of %d)", nprobe, r, probed, 100*share, stats.GetSegments())
		if r >= 0.95 {
			if share > 0.25 {
				t.Fatalf("recall@10 ≥ 0.95 first at nprobe %d, which touches %.1f %% of the shards: want ≤ 25 %%", nprobe, 100*share)
			}
			break
		}
		if nprobe == uint32(stats.GetSegments()) {
			t.Fatalf("recall@10 never reached 0.95 with nprobe")
		}
	}

	// Steady load from 2 clients for 6 s; at 1.5 s, stop is called.
	type outcome struct {
		at    time.Duration
		err   error
		hits  int
		stats *weftv1.QueryStats
	}
	underLoad := func(what string, stop func()) (retried int) {
		t.Helper()
		var mu sync.Mutex
		var outcomes []outcome
		loadStart := time.Now()
		var wg sync.WaitGroup
		for c := range 2 {
			wg.Go(func() {
				for i := c; time.Since(loadStart) < 6*time.Second && i < 100_000; i += 2 {
					qi := i % len(test)
					resp, err := queries[c].Query(ctx, connect.NewRequest(&weftv1.QueryRequest{Namespace: "fashion", Vector: vec(test[qi]), TopK: 10}))
					o := outcome{at: time.Since(loadStart), err: err}
					if err == nil {
						o.hits, o.stats = hits(qi, resp.Msg.GetResults()), resp.Msg.GetStats()
					}
					mu.Lock()
					outcomes = append(outcomes, o)
					mu.Unlock()
				}
			})
		}
		time.Sleep(1500 * time.Millisecond)
		stop()
		stoppedAt := time.Since(loadStart)
		wg.Wait()
		failed, found := 0, 0
		for _, o := range outcomes {
			if o.err != nil {
				failed++
				t.Errorf("query at %v (%s at %v): %v", o.at, what, stoppedAt, o.err)
				continue
			}
			found += o.hits
			if o.stats.GetRetries() > 0 {
				retried++
			}
		}
		r := float64(found) / float64(10*(len(outcomes)-failed))
		t.Logf("%s under load: %d queries, %d failed, %d retried on another worker, recall@10 %.4f", what, len(outcomes), failed, retried, r)
		if failed > 0 || r < 0.95 {
			t.Fatalf("%s under load: %d of %d queries failed, recall@10 %.4f: want none failed and recall ≥ 0.95", what, failed, len(outcomes), r)
		}
		return retried
	}
	if underLoad("worker 0 killed (SIGKILL)", workers[0].kill) == 0 {
		t.Fatal("no query retried the killed worker's shards on another worker")
	}
	// Once its heartbeats stop moving, the fabrics route around it.
	time.Sleep(2 * time.Second)
	r, _, last = recall(nil)
	if r < 0.95 || last.GetRetries() != 0 || last.GetWorkers() > 2 {
		t.Fatalf("after the membership dropped the killed worker: recall@10 %.4f, stats %v: want ≥ 0.95, no retry, ≤ 2 workers", r, last)
	}
	t.Logf("after reassignment: recall@10 %.4f, last stats %v", r, last)
	// SIGTERM drains a worker: it removes its heartbeat, finishes what it
	// has in flight, and the fabrics route around it.
	underLoad("worker 1 stopped (SIGTERM)", func() { _ = workers[1].cmd.Process.Signal(syscall.SIGTERM) })
	<-workers[1].done
	if code := workers[1].cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("worker 1 exited with %d after SIGTERM:\n%s", code, workers[1].logs.String())
	}
	r, _, last = recall(nil)
	if r < 0.95 || last.GetRetries() != 0 || last.GetWorkers() != 1 {
		t.Fatalf("after worker 1 drained: recall@10 %.4f, stats %v: want ≥ 0.95, no retry, 1 worker", r, last)
	}

	// Writes through both fabrics: fabric 0 writes first and takes the
	// write lease, fabric 1 forwards its writes there. Then SIGKILL fabric
	// 0 under writes; the client moves on to fabric 1, which takes over.
	docs := []weftv1connect.DocumentServiceClient{
		weftv1connect.NewDocumentServiceClient(http.DefaultClient, fabrics[0].addr),
		weftv1connect.NewDocumentServiceClient(http.DefaultClient, fabrics[1].addr),
	}
	rng := rand.New(rand.NewPCG(5, 6))
	var acked []string
	var killed time.Time
	var takeover time.Duration
	target, forwarded := 0, 0
	for batch := 0; batch < 10_000 && (killed.IsZero() || time.Since(killed) < 10*time.Second) && takeover == 0; batch++ {
		if killed.IsZero() {
			target = min(batch, 1) * (batch % 2) // the first to fabric 0, then both in turn
		}
		if killed.IsZero() && batch == 20 {
			fabrics[0].kill()
			killed = time.Now()
		}
		var ds []*weftv1.Document
		for i := range 10 {
			v := make([]float32, 784)
			for j := range v {
				v[j] = float32(rng.IntN(256))
			}
			ds = append(ds, &weftv1.Document{Id: fmt.Sprintf("w%d-%d", batch, i), Vector: v})
		}
		resp, err := docs[target].Upsert(ctx, connect.NewRequest(&weftv1.UpsertRequest{Namespace: "fashion", Documents: ds}))
		if err == nil && killed.IsZero() && target == 1 && resp.Header().Get("Weft-Forwarded-By") != "" {
			forwarded++
		}
		if err != nil {
			if killed.IsZero() {
				t.Fatalf("write %d before any kill: %v", batch, err)
			}
			t.Logf("write %d to fabric %d, %v after the kill: %v", batch, target, time.Since(killed), err)
			target = 1
			continue
		}
		for _, d := range ds {
			acked = append(acked, d.Id)
		}
		if !killed.IsZero() && target == 1 {
			takeover = time.Since(killed)
		}
	}
	t.Logf("%d of fabric 1's writes forwarded to the lease holder; the writing fabric killed: the other acknowledged its first write %v later; %d documents acknowledged", forwarded, takeover, len(acked))
	if forwarded < 10 {
		t.Fatalf("%d of fabric 1's 10 writes before the kill were forwarded to fabric 0, which held the write lease: want all", forwarded)
	}
	if takeover == 0 || takeover > 3*time.Second+time.Second {
		t.Fatalf("takeover after %v: want within the 3 s write lease (and the bucket's round trips)", takeover)
	}
	get := weftv1connect.NewDocumentServiceClient(http.DefaultClient, fabrics[1].addr)
	for i := 0; i < len(acked); i += 1000 {
		ids := acked[i:min(i+1000, len(acked))]
		resp, err := get.Get(ctx, connect.NewRequest(&weftv1.GetRequest{Namespace: "fashion", Ids: ids}))
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Msg.GetDocuments()) != len(ids) {
			t.Fatalf("%d of %d acknowledged documents found after the writer fabric was killed", len(resp.Msg.GetDocuments()), len(ids))
		}
	}
}
