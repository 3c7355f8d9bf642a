package quant

import (
	"bytes"
	"context"
	"testing"

	"github.com/weftdb/weft/index/distance"
	"github.com/weftdb/weft/index/indextest"
)

func TestPQ(t *testing.T) {
	base, qs, dim := indextest.FashionMNIST()
	p, err := TrainPQ(context.Background(), base, dim, PQConfig{M: dim / 8, Seed: 1, Iterations: 6})
	if err != nil {
		t.Fatal(err)
	}
	codes := p.EncodeAll(base, 2)
	if len(codes) != 2000*p.M() {
		t.Fatalf("codes %d bytes", len(codes))
	}
	// Reconstruction error well below the data's spread.
	var errSum, norm float64
	rec := make([]float32, dim)
	for i := range 200 {
		v := base[i*dim : (i+1)*dim]
		p.Reconstruct(codes[i*p.M():(i+1)*p.M()], rec)
		errSum += float64(distance.L2Sq(v, rec))
		norm += float64(distance.DotProduct(v, v))
	}
	if errSum/norm > 0.05 {
		t.Errorf("relative reconstruction error %.3f", errSum/norm)
	}
	// The LUT estimate equals the distance to the reconstruction.
	lut := make([]float32, p.LUTSize())
	q := qs[:dim]
	for _, m := range []distance.Metric{distance.L2, distance.Dot} {
		p.LUT(q, m, lut)
		for i := range 20 {
			code := codes[i*p.M() : (i+1)*p.M()]
			p.Reconstruct(code, rec)
			want := m.Distance(q, rec)
			got := distance.PQAccumulate(lut, code)
			if d := got - want; d > 1e-3*abs(want)+1e-3 || -d > 1e-3*abs(want)+1e-3 {
				t.Fatalf("%v: LUT estimate %v, reconstruction distance %v", m, got, want)
			}
		}
	}
	// Round trip.
	enc := p.AppendEncoding([]byte("x"))[1:]
	if len(enc) != p.EncodedSize() {
		t.Fatalf("EncodedSize %d, encoding %d", p.EncodedSize(), len(enc))
	}
	got, rest, err := DecodePQ(append(enc, 7))
	if err != nil || !bytes.Equal(rest, []byte{7}) {
		t.Fatalf("DecodePQ: %v, rest %v", err, rest)
	}
	if !bytes.Equal(got.AppendEncoding(nil), enc) {
		t.Fatal("re-encoding differs")
	}
	if _, err := TrainPQ(context.Background(), base, dim, PQConfig{M: 5}); err == nil {
		t.Error("accepted M that does not divide the dimension")
	}
}

func abs(x float32) float32 {
	if x < 0 {
		return -x
	}
	return x
}

func FuzzDecodePQ(f *testing.F) {
	data := indextest.Gaussian(1, 300, 4)
	p, err := TrainPQ(context.Background(), data, 4, PQConfig{M: 2, Iterations: 2})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(p.AppendEncoding(nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, _, err := DecodePQ(b)
		if err != nil {
			return
		}
		q := make([]float32, p.Dim())
		lut := make([]float32, p.LUTSize())
		p.LUT(q, distance.L2, lut)
		code := make([]byte, p.M())
		p.Encode(q, code)
		_ = distance.PQAccumulate(lut, code)
	})
}
