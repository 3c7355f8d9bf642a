package ivf

import (
	"bytes"
	"context"
	"slices"
	"testing"

	"github.com/weftdb/weft/index/distance"
	"github.com/weftdb/weft/index/indextest"
	"github.com/weftdb/weft/index/topk"
)

func TestRaBitQIndex(t *testing.T) {
	base, qs, dim := indextest.FashionMNIST()
	x, err := BuildRaBitQ(context.Background(), base, dim, Config{NList: 16, Seed: 1}, 7)
	if err != nil {
		t.Fatal(err)
	}
	if c := x.CodeBytesPerVector(); c > float64(4*dim)/8 {
		t.Errorf("code bytes per vector %.1f above 1/8 of %d", c, 4*dim)
	}
	r := recall(t, base, qs, dim, func(q []float32) []topk.Result { return x.Search(q, 10, 8, 100, base) })
	noRefine := recall(t, base, qs, dim, func(q []float32) []topk.Result { return x.Search(q, 10, 8, 0, nil) })
	t.Logf("recall@10: refine 100 %.4f, no refine %.4f", r, noRefine)
	if r < 0.95 {
		t.Errorf("IVF-RaBitQ with refine: recall@10 %.4f, want ≥ 0.95", r)
	}
	enc := x.AppendEncoding(nil)
	y, err := DecodeRaBitQIndex(enc)
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
	if _, err := BuildRaBitQ(context.Background(), base, dim, Config{NList: 4, Metric: distance.Dot}, 1); err == nil {
		t.Error("accepted metric dot")
	}
}

func FuzzDecodeRaBitQIndex(f *testing.F) {
	data := indextest.Gaussian(2, 300, 6)
	x, err := BuildRaBitQ(context.Background(), data, 6, Config{NList: 3, Iterations: 2}, 1)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(x.AppendEncoding(nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		y, err := DecodeRaBitQIndex(b)
		if err != nil {
			return
		}
		y.Search(make([]float32, y.IVF().Dim()), 3, 2, 5, data)
	})
}
