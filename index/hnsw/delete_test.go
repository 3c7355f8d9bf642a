package hnsw

import (
	"testing"

	"github.com/weftdb/weft/index/indextest"
)

func TestDeletesNeverReturned(t *testing.T) {
	base, qs, dim := indextest.FashionMNIST()
	idx, err := Build(t.Context(), base, dim, DefaultConfig(), 2)
	if err != nil {
		t.Fatal(err)
	}
	// Delete each query's exact nearest neighbours, the ids a search would
	// most like to return, plus every third node.
	for i := 0; i < 100; i++ {
		q := qs[i*dim : (i+1)*dim]
		for _, n := range indextest.BruteForce(base, q, idx.Metric(), 3, nil) {
			_ = idx.Delete(n.ID)
		}
	}
	for id := uint32(0); id < uint32(idx.Len()); id += 3 {
		_ = idx.Delete(id)
	}
	live := func(id uint32) bool { return !idx.Deleted(id) }
	check := func(stage string) {
		for i := 0; i < 100; i++ {
			q := qs[i*dim : (i+1)*dim]
			res := idx.Search(q, 10, 64)
			if len(res) != 10 {
				t.Fatalf("%s: query %d got %d results", stage, i, len(res))
			}
			for _, r := range res {
				if idx.Deleted(r.ID) {
					t.Fatalf("%s: query %d returned deleted id %d", stage, i, r.ID)
				}
			}
		}
		if r := recallOf(t, idx, base, qs, 10, 64, live); r < 0.95 {
			t.Errorf("%s: recall@10 over live nodes = %.4f, want ≥ 0.95", stage, r)
		}
	}
	check("tombstoned")
	idx.Repair()
	check("repaired")
	// After repair no live node links to a deleted one.
	for u := uint32(0); u < uint32(idx.Len()); u++ {
		for l := 0; l <= int(idx.levels[u]); l++ {
			lst := idx.links(u, l)
			for _, v := range lst[1 : lst[0]+1] {
				if idx.Deleted(v) || idx.Deleted(u) {
					t.Fatalf("node %d layer %d still links %d after repair", u, l, v)
				}
			}
		}
	}
	if err := idx.Delete(uint32(idx.Len())); err == nil {
		t.Error("Delete accepted an id past the end")
	}
}

func TestFilteredSearch(t *testing.T) {
	base, qs, dim := indextest.FashionMNIST()
	idx, err := Build(t.Context(), base, dim, DefaultConfig(), 2)
	if err != nil {
		t.Fatal(err)
	}
	half := func(id uint32) bool { return id%2 == 1 }
	if r := recallOf(t, idx, base, qs, 10, 64, half); r < 0.95 {
		t.Errorf("50%% filter: recall@10 = %.4f, want ≥ 0.95", r)
	}
	exact := idx.ExactSearch(qs[:dim], 5, nil, allowFunc(half))
	want := indextest.BruteForce(base, qs[:dim], idx.Metric(), 5, half)
	for i := range want {
		if exact[i].ID != want[i].ID {
			t.Fatalf("ExactSearch = %v, want %v", exact, want)
		}
	}
}

func TestEmptyAndTiny(t *testing.T) {
	empty, err := Build(t.Context(), nil, 4, DefaultConfig(), 2)
	if err != nil {
		t.Fatal(err)
	}
	if got := empty.Search(make([]float32, 4), 5, 10); len(got) != 0 {
		t.Fatalf("empty index returned %v", got)
	}
	one, err := Build(t.Context(), []float32{1, 2, 3, 4}, 4, DefaultConfig(), 2)
	if err != nil {
		t.Fatal(err)
	}
	if got := one.Search([]float32{0, 0, 0, 0}, 5, 10); len(got) != 1 || got[0].ID != 0 || got[0].Dist != 30 {
		t.Fatalf("one-node index returned %v", got)
	}
	if _, err := Build(t.Context(), make([]float32, 7), 4, DefaultConfig(), 1); err == nil {
		t.Error("Build accepted 7 floats of dimension 4")
	}
	if err := (Config{M: 1}).Validate(); err == nil {
		t.Error("Validate accepted M 1 and no metric")
	}
}
