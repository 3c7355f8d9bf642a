package fabric_test

import (
	"cmp"
	"context"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/weftdb/weft/fabric"
	"github.com/weftdb/weft/objstore"
	weftv1 "github.com/weftdb/weft/proto/gen/weft/v1"
	workerv1 "github.com/weftdb/weft/proto/gen/weft/worker/v1"
)

// WorkerService over Connect: searching every shard answers what Query
// answers; searching the shards one request each and merging the
// candidates by distance, as a fabric fanning out would, gives the same
// exact top k; a shard the worker does not hold is reported failed; a
// filter and an EVENTUAL read are honoured.
func TestWorkerSearchShards(t *testing.T) {
	ctx := context.Background()
	// The first 1,500 documents fold at once (min-changes); the 50 after
	// them stay in the tail (no idle fold within the test).
	cfg := eagerIndex
	cfg.ShardRows, cfg.MinChanges, cfg.Idle = 400, 1500, time.Hour
	c := serveFabric(t, fabric.Config{Bucket: objstore.NewInMemory(), Index: cfg, WriteLease: testLease})
	createNamespace(t, c, "w", 8, weftv1.Metric_METRIC_L2)
	r := rand.New(rand.NewPCG(11, 12))
	docs := randomDocs(r, 1500, 8, "d")
	all := map[string]*weftv1.Document{}
	for _, d := range docs {
		all[d.Id] = d
	}
	upsert(t, c, "w", docs)
	waitIndexed(t, c, "w")
	tail := randomDocs(r, 50, 8, "t") // unindexed: the WAL tail
	upsert(t, c, "w", tail)
	for _, d := range tail {
		all[d.Id] = d
	}
	exact := &weftv1.SearchParams{RecallTarget: 1}
	search := func(req *workerv1.SearchShardsRequest) *workerv1.SearchShardsResponse {
		t.Helper()
		resp, err := c.worker.SearchShards(ctx, connect.NewRequest(req))
		if err != nil {
			t.Fatal(err)
		}
		return resp.Msg
	}
	for range 5 {
		q := randomDocs(r, 1, 8, "q")[0].Vector
		want := reference(all, q, 10, weftv1.Metric_METRIC_L2, nil)
		whole := search(&workerv1.SearchShardsRequest{Namespace: "w", Vector: q, TopK: 10, Search: exact, Explain: true})
		if len(whole.GetShards()) < 3 {
			t.Fatalf("%d shards explained; want the IVF lists and the tail", len(whole.GetShards()))
		}
		checkCandidates(t, whole.GetCandidates(), want)
		approx := search(&workerv1.SearchShardsRequest{Namespace: "w", Vector: q, TopK: 10, Explain: true})
		graph := uint64(0)
		for _, s := range approx.GetShards() {
			graph += s.GetGraphDistances()
		}
		if approx.GetGraphDistances() == 0 || graph != approx.GetGraphDistances() {
			t.Fatalf("graph distances %d, shards' sum %d: want equal and > 0", approx.GetGraphDistances(), graph)
		}
		got := query(t, c, &weftv1.QueryRequest{Namespace: "w", Vector: q, TopK: 10, Search: exact})
		checkResults(t, got.GetResults(), want)

		// One request per shard, merged by distance.
		var merged []*workerv1.Candidate
		for _, s := range whole.GetShards() {
			part := search(&workerv1.SearchShardsRequest{Namespace: "w", Vector: q, TopK: 10, Search: exact, ShardIds: []string{s.GetShard()}})
			for _, cand := range part.GetCandidates() {
				if cand.GetShardId() != s.GetShard() {
					t.Fatalf("asked for shard %s, got a candidate of %s", s.GetShard(), cand.GetShardId())
				}
			}
			merged = append(merged, part.GetCandidates()...)
		}
		slices.SortFunc(merged, func(a, b *workerv1.Candidate) int {
			return cmp.Or(cmp.Compare(a.GetDistance(), b.GetDistance()), cmp.Compare(a.GetId(), b.GetId()))
		})
		checkCandidates(t, merged[:10], want)
	}
	// Failed shards, filters, EVENTUAL.
	q := tail[0].Vector
	resp := search(&workerv1.SearchShardsRequest{Namespace: "w", Vector: q, TopK: 3, ShardIds: []string{"no-such-segment", "wal-tail"}, IncludeVectors: true})
	if !slices.Equal(resp.GetFailedShardIds(), []string{"no-such-segment"}) || resp.GetCandidates()[0].GetId() != tail[0].Id ||
		!slices.Equal(resp.GetCandidates()[0].GetVector(), tail[0].Vector) || resp.GetShardsProbed() != 1 {
		t.Fatalf("tail-only search: %v", resp)
	}
	eventual := search(&workerv1.SearchShardsRequest{Namespace: "w", Vector: q, TopK: 3, Consistency: weftv1.Consistency_CONSISTENCY_EVENTUAL})
	for _, cand := range eventual.GetCandidates() {
		if cand.GetShardId() == "wal-tail" {
			t.Fatalf("an EVENTUAL search returned tail document %s", cand.GetId())
		}
	}
	red := func(d *weftv1.Document) bool { s, _ := attrString(d, "color"); return s == "red" }
	redFilter := &weftv1.Filter{Op: &weftv1.Filter_Eq{Eq: &weftv1.Comparison{Attribute: "color", Value: &weftv1.AttributeValue{Kind: &weftv1.AttributeValue_StringValue{StringValue: "red"}}}}}
	filtered := search(&workerv1.SearchShardsRequest{Namespace: "w", Vector: q, TopK: 10, Search: exact, Filter: redFilter})
	checkCandidates(t, filtered.GetCandidates(), reference(all, q, 10, weftv1.Metric_METRIC_L2, red))
	_, err := c.worker.SearchShards(ctx, connect.NewRequest(&workerv1.SearchShardsRequest{Namespace: "w", Vector: []float32{1}, TopK: 3}))
	if connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Fatalf("a vector of the wrong dimension: %v, want InvalidArgument", err)
	}
}

// checkCandidates checks ids and distances against the brute-force answer.
func checkCandidates(t *testing.T, got []*workerv1.Candidate, want []scored) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d candidates, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].GetId() != want[i].id || abs(float64(got[i].GetDistance())-want[i].dist) > 1e-3 {
			t.Fatalf("candidate %d: %s at %v, want %s at %v", i, got[i].GetId(), got[i].GetDistance(), want[i].id, want[i].dist)
		}
	}
}

func abs(x float64) float64 { return max(x, -x) }
