package ivf

import (
	"bytes"
	"context"
	"slices"
	"testing"

	"github.com/weftdb/weft/index/distance"
	"github.com/weftdb/weft/index/indextest"
	"github.com/weftdb/weft/index/quant"
	"github.com/weftdb/weft/index/topk"
)

func recall(t *testing.T, base, qs []float32, dim int, search func(q []float32) []topk.Result) float64 {
	t.Helper()
	nq := len(qs) / dim
	var sum float64
	for i := range nq {
		q := qs[i*dim : (i+1)*dim]
		truth := indextest.BruteForce(base, q, distance.L2, 10, nil)
		var ids []uint32
		for _, r := range search(q) {
			ids = append(ids, r.ID)
		}
		sum += indextest.Recall(ids, truth, func(id uint32) float32 {
			return distance.L2Sq(q, base[int(id)*dim:int(id+1)*dim])
		})
	}
	return sum / float64(nq)
}

func TestIVFFlat(t *testing.T) {
	base, qs, dim := indextest.FashionMNIST()
	for _, balanced := range []bool{false, true} {
		x, err := Train(context.Background(), base, dim, Config{NList: 32, Balanced: balanced, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		if x.Len() != 2000 || x.NList() != 32 {
			t.Fatalf("len %d nlist %d", x.Len(), x.NList())
		}
		seen := make([]bool, 2000)
		for c := range x.NList() {
			l := x.List(c)
			if balanced && len(l) > 69 { // ceil(2000/32·1.1)
				t.Errorf("balanced list %d holds %d ids", c, len(l))
			}
			for _, id := range l {
				if seen[id] {
					t.Fatalf("id %d in two lists", id)
				}
				seen[id] = true
			}
		}
		r := recall(t, base, qs, dim, func(q []float32) []topk.Result { return x.Search(q, base, 10, 8) })
		if r < 0.9 {
			t.Errorf("balanced %v: IVF-Flat nprobe 8 of 32: recall@10 %.4f, want ≥ 0.9", balanced, r)
		}
		if all := recall(t, base, qs, dim, func(q []float32) []topk.Result { return x.Search(q, base, 10, 32) }); all != 1 {
			t.Errorf("probing every list: recall %.4f, want 1", all)
		}
	}
}

func TestPQIndexRecallAndSize(t *testing.T) {
	base, qs, dim := indextest.FashionMNIST()
	x, err := BuildPQ(context.Background(), base, dim, Config{NList: 16, Seed: 1}, quant.PQConfig{M: dim / 8, Iterations: 6})
	if err != nil {
		t.Fatal(err)
	}
	if c := x.CodeBytesPerVector(); c > float64(4*dim)/8 {
		t.Errorf("code bytes per vector %.1f above 1/8 of %d", c, 4*dim)
	}
	r := recall(t, base, qs, dim, func(q []float32) []topk.Result { return x.Search(q, 10, 8, 100, base) })
	if r < 0.95 {
		t.Errorf("IVF-PQ with refine: recall@10 %.4f, want ≥ 0.95", r)
	}
	noRefine := recall(t, base, qs, dim, func(q []float32) []topk.Result { return x.Search(q, 10, 8, 0, nil) })
	t.Logf("recall@10: refine 100 %.4f, no refine %.4f", r, noRefine)

	enc := x.AppendEncoding(nil)
	y, err := DecodePQIndex(enc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(y.AppendEncoding(nil), enc) {
		t.Fatal("re-encoding differs")
	}
	for i := range 10 {
		q := qs[i*dim : (i+1)*dim]
		if a, b := x.Search(q, 10, 4, 50, base), y.Search(q, 10, 4, 50, base); !slices.Equal(a, b) {
			t.Fatalf("decoded index answers differently: %v vs %v", a, b)
		}
	}
	if _, err := DecodePQIndex(enc[:len(enc)-1]); err == nil {
		t.Error("accepted a truncated encoding")
	}
}

func TestProbeCosine(t *testing.T) {
	data := indextest.Clustered(1, 500, 8, 4)
	for i := 0; i < len(data); i += 8 {
		distance.Normalize(data[i : i+8])
	}
	x, err := Train(context.Background(), data, 8, Config{NList: 4, Metric: distance.Cosine})
	if err != nil {
		t.Fatal(err)
	}
	got := x.Probe(data[:8], 4, nil)
	if len(got) != 4 {
		t.Fatalf("Probe = %v", got)
	}
	res := x.Search(data[:8], data, 1, 4)
	if len(res) != 1 || res[0].ID != 0 {
		t.Fatalf("self search = %v", res)
	}
	if _, err := KMeans(context.Background(), data, 8, 3, 1, 2); err != nil {
		t.Fatal(err)
	}
}

func FuzzDecodePQIndex(f *testing.F) {
	data := indextest.Gaussian(2, 400, 4)
	x, err := BuildPQ(context.Background(), data, 4, Config{NList: 3, Iterations: 2}, quant.PQConfig{M: 2, Iterations: 2})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(x.AppendEncoding(nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		y, err := DecodePQIndex(b)
		if err != nil {
			return
		}
		q := make([]float32, y.IVF().Dim())
		y.Search(q, 3, 2, 5, data)
		y.IVF().Search(q, data, 3, 2)
	})
}
