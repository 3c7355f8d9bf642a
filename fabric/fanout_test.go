package fabric_test

import (
	"context"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/weftdb/weft/fabric"
	"github.com/weftdb/weft/objstore"
	weftv1 "github.com/weftdb/weft/proto/gen/weft/v1"
	"github.com/weftdb/weft/proto/gen/weft/worker/v1/workerv1connect"
)

// testWorker is a worker process in miniature: a server that does not
// index, on its own loopback port, that the test can slow down or stop.
type testWorker struct {
	hs       *httptest.Server
	searches atomic.Int64
	delay    atomic.Int64 // ns added to each shard search
}

func startWorker(t *testing.T, bucket objstore.Bucket) *testWorker {
	t.Helper()
	return startWorkerWith(t, fabric.Config{Bucket: bucket})
}

// startWorkerWith starts a worker of cfg (its index settings made a
// worker's).
func startWorkerWith(t *testing.T, cfg fabric.Config) *testWorker {
	t.Helper()
	cfg.Index = eagerIndex
	cfg.Index.Disabled, cfg.Index.Idle = true, 20*time.Millisecond // adopt new manifests soon
	cfg.WriteLease = testLease
	srv, err := fabric.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	mux := http.NewServeMux()
	srv.Handle(mux)
	w := &testWorker{}
	w.hs = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/"+workerv1connect.WorkerServiceName+"/SearchShards") {
			w.searches.Add(1)
			time.Sleep(time.Duration(w.delay.Load()))
		}
		mux.ServeHTTP(rw, r)
	}))
	t.Cleanup(w.hs.Close)
	return w
}

// A fabric fans a query out to three workers by rendezvous hashing and
// merges their candidates into the exact answer; attributes, filters and
// the STRONG tail (a write the workers learn of from the fabric's WAL
// head) come through. A stopped worker's shards are retried on the next
// worker at once, and after the breaker opens, routed around without a
// retry; a slow worker's requests are hedged. With every worker gone a
// query is Unavailable naming the shards, or, with allow_partial, answers
// empty and lists them in stats.
func TestFabricFansOutToWorkers(t *testing.T) {
	ctx := context.Background()
	bucket := objstore.NewInMemory()
	ws := []*testWorker{startWorker(t, bucket), startWorker(t, bucket), startWorker(t, bucket)}
	var urls fabric.StaticMembers
	for _, w := range ws {
		urls = append(urls, w.hs.URL)
	}
	cfg := eagerIndex
	cfg.ShardRows, cfg.MinChanges, cfg.Idle = 50, 2000, time.Hour // ~48 lists: each worker owns some
	c := serveFabric(t, fabric.Config{Bucket: bucket, Index: cfg, WriteLease: testLease,
		Cluster: fabric.ClusterConfig{Members: urls, HedgeAfter: -1, BreakerFailures: 2, BreakerCooldown: time.Hour}})
	createNamespace(t, c, "f", 8, weftv1.Metric_METRIC_L2)
	r := rand.New(rand.NewPCG(21, 22))
	docs := randomDocs(r, 2000, 8, "d")
	all := map[string]*weftv1.Document{}
	for _, d := range docs {
		all[d.Id] = d
	}
	upsert(t, c, "f", docs)
	st := waitIndexed(t, c, "f")
	if st.GetSegments() < 40 {
		t.Fatalf("%d segments; want the IVF lists of 2,000 rows at 50 a list", st.GetSegments())
	}
	exact := &weftv1.SearchParams{RecallTarget: 1}
	check := func(want int) (*weftv1.QueryStats, uint32) { // exact answers for 5 queries; the stats of the last, the retries of all
		t.Helper()
		var stats *weftv1.QueryStats
		retries := uint32(0)
		for range 5 {
			q := randomDocs(r, 1, 8, "q")[0].Vector
			resp := query(t, c, &weftv1.QueryRequest{Namespace: "f", Vector: q, TopK: 10, Search: exact, IncludeAttributes: true})
			checkResults(t, resp.GetResults(), reference(all, q, 10, weftv1.Metric_METRIC_L2, nil))
			for _, res := range resp.GetResults() {
				if got, _ := attrString(&weftv1.Document{Attributes: res.GetAttributes()}, "color"); got != all[res.GetId()].GetAttributes()["color"].GetStringValue() {
					t.Fatalf("result %s: color %q, want the document's", res.GetId(), got)
				}
			}
			stats = resp.GetStats()
			retries += stats.GetRetries()
			if int(stats.GetWorkers()) > want || stats.GetShardsFailed() != 0 {
				t.Fatalf("stats %v: want ≤ %d workers and no failed shard", stats, want)
			}
		}
		return stats, retries
	}
	stats, _ := check(3)
	for i, w := range ws {
		if w.searches.Load() == 0 {
			t.Fatalf("worker %d got no shard request: rendezvous hashing should spread %d shards", i, st.GetSegments())
		}
	}
	if stats.GetShardsProbed() == 0 || stats.GetRetries() != 0 {
		t.Fatalf("stats %v: want shards probed and no retry", stats)
	}

	// A filter and a write just acknowledged (the STRONG tail).
	tail := randomDocs(r, 20, 8, "t")
	upsert(t, c, "f", tail)
	for _, d := range tail {
		all[d.Id] = d
	}
	resp := query(t, c, &weftv1.QueryRequest{Namespace: "f", Vector: tail[3].Vector, TopK: 1})
	if len(resp.GetResults()) != 1 || resp.GetResults()[0].GetId() != tail[3].Id {
		t.Fatalf("a STRONG query for a document just written: %v", resp.GetResults())
	}
	red := func(d *weftv1.Document) bool { s, _ := attrString(d, "color"); return s == "red" }
	redFilter := &weftv1.Filter{Op: &weftv1.Filter_Eq{Eq: &weftv1.Comparison{Attribute: "color", Value: &weftv1.AttributeValue{Kind: &weftv1.AttributeValue_StringValue{StringValue: "red"}}}}}
	q := randomDocs(r, 1, 8, "q")[0].Vector
	resp = query(t, c, &weftv1.QueryRequest{Namespace: "f", Vector: q, TopK: 10, Search: exact, Filter: redFilter})
	checkResults(t, resp.GetResults(), reference(all, q, 10, weftv1.Metric_METRIC_L2, red))

	// Worker 0 stops: its shards go to the next worker at once, then
	// (breaker open after 2 failures) straight to the others.
	ws[0].hs.Close()
	if _, retried := check(2); retried == 0 {
		t.Fatal("no retry after a worker stopped: its shards were never asked for")
	}
	if s, retried := check(2); retried != 0 {
		t.Fatalf("stats %v: the stopped worker's breaker should be open (no retry)", s)
	}

	// Worker 1 turns slow: its requests are hedged on worker 2.
	c2 := serveFabric(t, fabric.Config{Bucket: bucket, Index: fabric.IndexConfig{Disabled: true}, WriteLease: testLease,
		Cluster: fabric.ClusterConfig{Members: urls[1:], HedgeAfter: 20 * time.Millisecond}})
	ws[1].delay.Store(int64(300 * time.Millisecond))
	start := time.Now()
	resp = query(t, c2, &weftv1.QueryRequest{Namespace: "f", Vector: q, TopK: 10, Search: exact})
	checkResults(t, resp.GetResults(), reference(all, q, 10, weftv1.Metric_METRIC_L2, nil))
	if resp.GetStats().GetHedges() == 0 || time.Since(start) > 250*time.Millisecond {
		t.Fatalf("stats %v after %v: want the slow worker's request hedged and answered before it", resp.GetStats(), time.Since(start))
	}
	ws[1].delay.Store(0)

	// No worker left.
	ws[1].hs.Close()
	ws[2].hs.Close()
	_, err := c.query.Query(ctx, connect.NewRequest(&weftv1.QueryRequest{Namespace: "f", Vector: q, TopK: 10}))
	if connect.CodeOf(err) != connect.CodeUnavailable || !strings.Contains(err.Error(), "allow_partial") {
		t.Fatalf("a query with every worker gone: %v; want Unavailable that names allow_partial", err)
	}
	partial, err := c.query.Query(ctx, connect.NewRequest(&weftv1.QueryRequest{Namespace: "f", Vector: q, TopK: 10, AllowPartial: true}))
	if err != nil {
		t.Fatal(err)
	}
	ps := partial.Msg.GetStats()
	if len(partial.Msg.GetResults()) != 0 || int(ps.GetShardsFailed()) < int(st.GetSegments()) || len(ps.GetFailedShardIds()) != int(ps.GetShardsFailed()) ||
		!slices.Contains(ps.GetFailedShardIds(), "wal-tail") {
		t.Fatalf("allow_partial with every worker gone: %d results, stats %v; want none and every shard (tail too) listed failed", len(partial.Msg.GetResults()), ps)
	}
}

// A worker scaled from zero answers its first shard request from the
// bucket (the cold path of the cache issue, restricted to the shards the
// fabric named) while its namespace loads: the fabric's answer says COLD
// and is the exact top k when the probed clusters cover the shards; once
// loaded, answers are HOT.
func TestWorkerFromZeroAnswersCold(t *testing.T) {
	bucket := objstore.NewInMemory()
	_, all := indexedNamespace(t, bucket, eagerIndex, "zero", weftv1.Metric_METRIC_L2, randomDocs(rand.New(rand.NewPCG(41, 42)), 3000, 16, "d"))
	slow := objstore.WithLatency(bucket, 30*time.Millisecond) // the load takes a while: the first answers are cold
	worker := startWorkerWith(t, fabric.Config{Bucket: slow, ColdQueries: true})
	f := serveFabric(t, fabric.Config{Bucket: bucket, Index: fabric.IndexConfig{Disabled: true}, WriteLease: testLease,
		Cluster: fabric.ClusterConfig{Members: fabric.StaticMembers{worker.hs.URL}, HedgeAfter: -1}})
	q := randomDocs(rand.New(rand.NewPCG(43, 44)), 1, 16, "q")[0].Vector
	resp := query(t, f, &weftv1.QueryRequest{Namespace: "zero", Vector: q, TopK: 10})
	if st := resp.GetStats(); st.GetCacheTemperature() != weftv1.CacheTemperature_CACHE_TEMPERATURE_COLD || st.GetBucketRequests() == 0 || st.GetBucketRoundTrips() != 3 || st.GetShardsFailed() != 0 {
		t.Fatalf("first query through a worker from zero: stats %v, want COLD in 3 round trips and no failed shard", st)
	}
	// 3,000 rows are 3 clusters of ~1,024: a cold search scores them all.
	checkResults(t, resp.GetResults(), reference(all, q, 10, weftv1.Metric_METRIC_L2, nil))
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp = query(t, f, &weftv1.QueryRequest{Namespace: "zero", Vector: q, TopK: 10})
		if resp.GetStats().GetCacheTemperature() == weftv1.CacheTemperature_CACHE_TEMPERATURE_HOT {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still %v 30 s after the first query", resp.GetStats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	checkResults(t, resp.GetResults(), reference(all, q, 10, weftv1.Metric_METRIC_L2, nil))
}

// A hot shard (past HotShardRate requests a second) is searched by its
// first two workers in turn; a cool one always by its first.
func TestHotShardSpreadsOverTwoWorkers(t *testing.T) {
	bucket := objstore.NewInMemory()
	ws := []*testWorker{startWorker(t, bucket), startWorker(t, bucket)}
	members := fabric.StaticMembers{ws[0].hs.URL, ws[1].hs.URL}
	c := serveFabric(t, fabric.Config{Bucket: bucket, Index: eagerIndex, WriteLease: testLease,
		Cluster: fabric.ClusterConfig{Members: members, HedgeAfter: -1, HotShardRate: -1}})
	createNamespace(t, c, "hot", 8, weftv1.Metric_METRIC_L2)
	r := rand.New(rand.NewPCG(61, 62))
	upsert(t, c, "hot", randomDocs(r, 500, 8, "d"))
	if st := waitIndexed(t, c, "hot"); st.GetSegments() != 1 {
		t.Fatalf("%d segments, want 1", st.GetSegments())
	}
	hot := serveFabric(t, fabric.Config{Bucket: bucket, Index: fabric.IndexConfig{Disabled: true}, WriteLease: testLease,
		Cluster: fabric.ClusterConfig{Members: members, HedgeAfter: -1, HotShardRate: 3}})
	for _, f := range []struct {
		c    clients
		both bool
	}{{c, false}, {hot, true}} {
		before := []int64{ws[0].searches.Load(), ws[1].searches.Load()}
		for range 20 {
			q := randomDocs(r, 1, 8, "q")[0].Vector
			query(t, f.c, &weftv1.QueryRequest{Namespace: "hot", Vector: q, TopK: 5, Consistency: weftv1.Consistency_CONSISTENCY_EVENTUAL})
		}
		got := []int64{ws[0].searches.Load() - before[0], ws[1].searches.Load() - before[1]}
		if f.both && (got[0] < 5 || got[1] < 5) || !f.both && got[0]*got[1] != 0 {
			t.Fatalf("shard requests per worker %v for 20 queries of one shard: want both workers (hot: %v) or one (cool)", got, f.both)
		}
	}
}
