package hnsw

import (
	"context"
	"testing"

	"github.com/weftdb/weft/index/distance"
	"github.com/weftdb/weft/index/indextest"
	"github.com/weftdb/weft/index/topk"
)

// recallOf measures recall@k of idx against brute force over data for qs.
func recallOf(t *testing.T, idx *Index, data, qs []float32, k, ef int, allow func(uint32) bool) float64 {
	t.Helper()
	dim := idx.Dim()
	nq := len(qs) / dim
	var sum float64
	for i := range nq {
		q := qs[i*dim : (i+1)*dim]
		truth := indextest.BruteForce(data, q, idx.Metric(), k, allow)
		var got []topk.Result
		if allow == nil {
			got = idx.Search(q, k, ef)
		} else {
			got = idx.SearchFiltered(q, k, ef, allowFunc(allow))
		}
		ids := make([]uint32, len(got))
		for j, r := range got {
			ids[j] = r.ID
			if allow != nil && !allow(r.ID) {
				t.Fatalf("query %d: id %d does not pass the filter", i, r.ID)
			}
		}
		sum += indextest.Recall(ids, truth, func(id uint32) float32 {
			return idx.Metric().Distance(q, data[int(id)*dim:int(id+1)*dim])
		})
	}
	return sum / float64(nq)
}

type allowFunc func(uint32) bool

func (f allowFunc) Contains(id uint32) bool { return f(id) }

func TestRecallFashionMNIST(t *testing.T) {
	base, qs, dim := indextest.FashionMNIST()
	idx, err := Build(context.Background(), base, dim, DefaultConfig(), 2)
	if err != nil {
		t.Fatal(err)
	}
	if r := recallOf(t, idx, base, qs, 10, 64, nil); r < 0.98 {
		t.Errorf("recall@10 at ef 64 = %.4f, want ≥ 0.98", r)
	}
}

func TestRecallCosineAndDot(t *testing.T) {
	const dim = 24
	data := indextest.Clustered(3, 3000, dim, 30)
	qs := indextest.Clustered(4, 50, dim, 30)
	for _, m := range []distance.Metric{distance.Cosine, distance.Dot} {
		cfg := DefaultConfig()
		cfg.Metric = m
		idx, err := Build(context.Background(), data, dim, cfg, 2)
		if err != nil {
			t.Fatal(err)
		}
		ref := data
		if m == distance.Cosine {
			ref = idx.Vectors()
		}
		// Inner product is not a metric, so greedy graph search finds
		// fewer of the true neighbours at the same beam width.
		want := map[distance.Metric]float64{distance.Cosine: 0.95, distance.Dot: 0.9}[m]
		if r := recallOf(t, idx, ref, normalized(qs, dim, m), 10, 200, nil); r < want {
			t.Errorf("%v: recall@10 = %.4f, want ≥ %v", m, r, want)
		}
	}
}

func normalized(qs []float32, dim int, m distance.Metric) []float32 {
	if m != distance.Cosine {
		return qs
	}
	out := append([]float32(nil), qs...)
	for i := 0; i < len(out); i += dim {
		distance.Normalize(out[i : i+dim])
	}
	return out
}

// SearchCounted returns Search's results and counts the distances it
// computed: at least one per result, more with a wider beam, never more
// than the nodes times the layers walked.
func TestSearchCounted(t *testing.T) {
	const dim, n = 16, 2000
	data := indextest.Clustered(5, n, dim, 20)
	idx, err := Build(context.Background(), data, dim, DefaultConfig(), 2)
	if err != nil {
		t.Fatal(err)
	}
	q := data[7*dim : 8*dim]
	prev := 0
	for _, ef := range []int{10, 50, 400} {
		got, scored := idx.SearchCounted(q, 10, ef, nil)
		want := idx.Search(q, 10, ef)
		if len(got) != len(want) {
			t.Fatalf("ef %d: %d results, Search gives %d", ef, len(got), len(want))
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("ef %d: result %d is %v, Search gives %v", ef, i, got[i], want[i])
			}
		}
		if scored < ef || scored <= prev || scored > n*(idx.maxLevel+1) {
			t.Fatalf("ef %d: %d distances (%d at the narrower beam)", ef, scored, prev)
		}
		prev = scored
	}
}
