package filter

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/weftdb/weft/index/hnsw"
	"github.com/weftdb/weft/index/indextest"
)

func randomBitset(seed uint64, n int, share float64) *Bitset {
	r := rand.New(rand.NewPCG(seed, 1))
	b := NewBitset(n)
	for i := range n {
		if r.Float64() < share {
			b.Set(uint32(i))
		}
	}
	return b
}

func TestFilteredRecallEverySelectivity(t *testing.T) {
	base, qs, dim := indextest.FashionMNIST()
	idx, err := hnsw.Build(t.Context(), base, dim, hnsw.DefaultConfig(), 2)
	if err != nil {
		t.Fatal(err)
	}
	n := idx.Len()
	planners := map[string]Planner{
		"default":      {},
		"forced-graph": {ExactBias: 1e-9}, // exercise Traverse and PostFilter
	}
	for name, p := range planners {
		for _, share := range []float64{0.95, 0.5, 0.1, 0.01, 0.001} {
			allow := randomBitset(uint64(share*1e4), n, share)
			allowed := int(allow.Cardinality())
			var sum float64
			nq := len(qs) / dim
			strategies := map[Strategy]int{}
			for i := range nq {
				q := qs[i*dim : (i+1)*dim]
				res, plan := p.Search(idx, q, 10, 64, allow)
				strategies[plan.Strategy]++
				if want := min(10, allowed); len(res) != want {
					t.Fatalf("%s %.3f: query %d got %d results, want %d", name, share, i, len(res), want)
				}
				ids := make([]uint32, len(res))
				for j, r := range res {
					if !allow.Contains(r.ID) {
						t.Fatalf("%s %.3f: id %d does not pass the filter", name, share, r.ID)
					}
					ids[j] = r.ID
				}
				truth := indextest.BruteForce(base, q, idx.Metric(), 10, allow.Contains)
				sum += indextest.Recall(ids, truth, func(id uint32) float32 {
					return idx.Metric().Distance(q, base[int(id)*dim:int(id+1)*dim])
				})
			}
			recall := sum / float64(nq)
			t.Logf("%s: share %.3f (%d allowed): recall@10 %.4f, plans %v", name, share, allowed, recall, strategies)
			if name == "forced-graph" && share < 0.05 {
				continue // graph plans are not meant for these; the default planner scans
			}
			if recall < 0.95 {
				t.Errorf("%s: share %.3f: recall@10 = %.4f, want ≥ 0.95", name, share, recall)
			}
		}
	}
}

func TestPlannerChoices(t *testing.T) {
	var p Planner
	cases := []struct {
		n, allowed int
		want       Strategy
	}{
		{1_000_000, 1_000, Exact},
		{1_000_000, 10_000, Exact},
		{1_000_000, 100_000, Traverse},
		{1_000_000, 500_000, Traverse},
		{1_000_000, 950_000, PostFilter},
		{1_000_000, 0, Exact},
		{100, 50, Exact},
	}
	for _, c := range cases {
		if got := p.Choose(c.n, 16, c.allowed, 10, 64); got.Strategy != c.want {
			t.Errorf("Choose(n %d, allowed %d) = %v, want %v", c.n, c.allowed, got.Strategy, c.want)
		}
	}
}

func TestDeletedNeverReturnedAndShortAnswers(t *testing.T) {
	data := indextest.Clustered(5, 3000, 16, 10)
	idx, err := hnsw.Build(t.Context(), data, 16, hnsw.DefaultConfig(), 2)
	if err != nil {
		t.Fatal(err)
	}
	rb := roaring.New()
	for id := uint32(0); id < 3000; id += 2 {
		rb.Add(id)
	}
	// Delete half of the allowed ids: at most 750 can come back.
	for id := uint32(0); id < 3000; id += 4 {
		_ = idx.Delete(id)
	}
	for _, p := range []Planner{{}, {ExactBias: 1e-9}} {
		res, _ := p.Search(idx, data[:16], 10, 32, Roaring{rb})
		if len(res) != 10 {
			t.Fatalf("got %d results", len(res))
		}
		for _, r := range res {
			if r.ID%2 != 0 || idx.Deleted(r.ID) {
				t.Fatalf("returned id %d (filtered out or deleted)", r.ID)
			}
		}
	}
	// Fewer than k pass: all of them come back.
	few := roaring.BitmapOf(1, 3, 5)
	res, _ := Search(idx, data[:16], 10, 32, Roaring{few})
	ids := []uint32{}
	for _, r := range res {
		ids = append(ids, r.ID)
	}
	slices.Sort(ids)
	if !slices.Equal(ids, []uint32{1, 3, 5}) {
		t.Fatalf("got %v, want [1 3 5]", ids)
	}
}

func TestBitsetAndRoaring(t *testing.T) {
	b := NewBitset(130)
	for _, id := range []uint32{0, 63, 64, 129, 64} {
		b.Set(id)
	}
	if b.Cardinality() != 4 || !b.Contains(129) || b.Contains(1) || b.Contains(5000) {
		t.Fatal("bitset membership")
	}
	if got := b.AppendIDs(nil); !slices.Equal(got, []uint32{0, 63, 64, 129}) {
		t.Fatalf("AppendIDs = %v", got)
	}
	r := Roaring{roaring.BitmapOf(3, 70000, 9)}
	if got := r.AppendIDs(nil); !slices.Equal(got, []uint32{3, 9, 70000}) || r.Cardinality() != 3 {
		t.Fatalf("roaring AppendIDs = %v", got)
	}
}
