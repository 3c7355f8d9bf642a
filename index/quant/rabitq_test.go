package quant

import (
	"bytes"
	"math"
	"testing"

	"github.com/weftdb/weft/index/distance"
	"github.com/weftdb/weft/index/indextest"
)

func TestRotateIsOrthonormal(t *testing.T) {
	for _, dim := range []int{1, 7, 8, 100, 128} {
		q := NewRaBitQ(dim, 9)
		a, b := indextest.Gaussian(1, 1, dim), indextest.Gaussian(2, 1, dim)
		ra, rb := make([]float32, q.RotatedDim()), make([]float32, q.RotatedDim())
		q.Rotate(a, ra)
		q.Rotate(b, rb)
		want := float64(distance.DotProduct(a, b))
		got := float64(distance.DotProduct(ra, rb))
		scale := math.Sqrt(float64(distance.DotProduct(a, a)) * float64(distance.DotProduct(b, b)))
		if math.Abs(got-want) > 1e-4*scale {
			t.Errorf("dim %d: rotated inner product %v, want %v", dim, got, want)
		}
	}
}

// The estimator is unbiased with error shrinking as 1/√D: on 256-d
// Gaussian data its mean relative error stays small and it ranks the true
// nearest neighbour near the top.
func TestRaBitQEstimator(t *testing.T) {
	const dim, n = 256, 2000
	data := indextest.Gaussian(3, n, dim)
	centre := make([]float32, dim)
	for i := range n {
		for j := range dim {
			centre[j] += data[i*dim+j] / n
		}
	}
	q := NewRaBitQ(dim, 1)
	D := q.RotatedDim()
	rc, tmp := make([]float32, D), make([]float32, D)
	q.Rotate(centre, rc)
	codes := make([]byte, n*q.CodeSize())
	fs := make([]RaBitQFactors, n)
	for i := range n {
		fs[i] = q.Encode(data[i*dim:(i+1)*dim], centre, rc, codes[i*q.CodeSize():(i+1)*q.CodeSize()], tmp)
	}
	qv := indextest.Gaussian(4, 1, dim)
	var pq RaBitQQuery
	q.PrepareQuery(qv, &pq, tmp)
	qc := distance.L2Sq(qv, centre)
	ct := pq.CentreTerm(rc)
	var relErr, bias float64
	for i := range n {
		est := float64(pq.Distance(codes[i*q.CodeSize():(i+1)*q.CodeSize()], fs[i], qc, ct))
		exact := float64(distance.L2Sq(qv, data[i*dim:(i+1)*dim]))
		relErr += math.Abs(est-exact) / exact
		bias += (est - exact) / exact
	}
	relErr /= n
	bias /= n
	if relErr > 0.05 || math.Abs(bias) > 0.01 {
		t.Errorf("mean relative error %.4f, bias %.4f", relErr, bias)
	}
	enc := q.AppendEncoding(nil)
	got, rest, err := DecodeRaBitQ(enc)
	if err != nil || len(rest) != 0 || !bytes.Equal(got.AppendEncoding(nil), enc) {
		t.Fatalf("round trip: %v", err)
	}
}

func FuzzDecodeRaBitQ(f *testing.F) {
	f.Add(NewRaBitQ(5, 1).AppendEncoding(nil))
	f.Add(NewRaBitQ(300, 2).AppendEncoding(nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		q, _, err := DecodeRaBitQ(b)
		if err != nil {
			return
		}
		v := make([]float32, q.Dim())
		tmp := make([]float32, q.RotatedDim())
		var pq RaBitQQuery
		q.PrepareQuery(v, &pq, tmp)
		code := make([]byte, q.CodeSize())
		rc := make([]float32, q.RotatedDim())
		q.Rotate(v, rc)
		fs := q.Encode(v, v, rc, code, tmp)
		_ = pq.Distance(code, fs, 0, pq.CentreTerm(rc))
	})
}
