package distance

import (
	"math"
	"math/rand/v2"
	"testing"
)

func refL2(a, b []float32) float64 {
	var s float64
	for i := range a {
		d := float64(a[i]) - float64(b[i])
		s += d * d
	}
	return s
}

func refDot(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}

func randVec(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

// close reports whether got matches want within a float32 summation tolerance
// scaled by the magnitude of the terms.
func closeTo(got float32, want, scale float64) bool {
	return math.Abs(float64(got)-want) <= 1e-5*scale+1e-6
}

var lengths = []int{0, 1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 63, 64, 65, 100, 127, 128, 129, 300, 784, 785, 1536}

func TestKernelsMatchReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	withEachImpl(func(name string) {
		for _, n := range lengths {
			a, b := randVec(r, n), randVec(r, n)
			// Give b spare capacity past n: kernels must not read it.
			b = append(b, 1e30, 1e30)[:n]
			scale := refDot(a, a) + refDot(b, b)
			if got, want := L2Sq(a, b), refL2(a, b); !closeTo(got, want, scale) {
				t.Errorf("%s: L2Sq len %d = %v, want %v", name, n, got, want)
			}
			if got, want := DotProduct(a, b), refDot(a, b); !closeTo(got, want, scale) {
				t.Errorf("%s: Dot len %d = %v, want %v", name, n, got, want)
			}
			code := make([]byte, n)
			for i := range code {
				code[i] = byte(r.IntN(256))
			}
			var want, sc float64
			for i := range a {
				want += float64(a[i]) * float64(code[i])
				sc += math.Abs(float64(a[i])) * float64(code[i])
			}
			if got := SQ8Dot(a, code); !closeTo(got, want, sc) {
				t.Errorf("%s: SQ8Dot len %d = %v, want %v", name, n, got, want)
			}
		}
	})
}

func TestZeroAndIdentical(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	withEachImpl(func(name string) {
		for _, n := range lengths {
			z := make([]float32, n)
			v := randVec(r, n)
			if got := L2Sq(z, z); got != 0 {
				t.Errorf("%s: L2Sq(0,0) len %d = %v", name, n, got)
			}
			if got := L2Sq(v, v); got != 0 {
				t.Errorf("%s: L2Sq(v,v) len %d = %v", name, n, got)
			}
			if got := DotProduct(z, v); got != 0 {
				t.Errorf("%s: Dot(0,v) len %d = %v", name, n, got)
			}
			if got := CosineDistance(z, v); got != 1 {
				t.Errorf("%s: CosineDistance(0,v) len %d = %v, want 1", name, n, got)
			}
			nz := append([]float32(nil), z...)
			Normalize(nz)
			for _, x := range nz {
				if x != 0 {
					t.Fatalf("%s: Normalize changed a zero vector", name)
				}
			}
		}
	})
}

func TestMetricDistance(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	a, b := randVec(r, 37), randVec(r, 37)
	if got, want := L2.Distance(a, b), refL2(a, b); !closeTo(got, want, 100) {
		t.Errorf("L2 = %v want %v", got, want)
	}
	if got, want := Dot.Distance(a, b), -refDot(a, b); !closeTo(got, want, 100) {
		t.Errorf("Dot = %v want %v", got, want)
	}
	want := 1 - refDot(a, b)/math.Sqrt(refDot(a, a)*refDot(b, b))
	if got := CosineDistance(a, b); !closeTo(got, want, 1) {
		t.Errorf("CosineDistance = %v want %v", got, want)
	}
	Normalize(a)
	Normalize(b)
	if got := Cosine.Distance(a, b); !closeTo(got, want, 1) {
		t.Errorf("Cosine.Distance = %v want %v", got, want)
	}
	if got := Cosine.Func()(a, b); !closeTo(got, want, 1) {
		t.Errorf("Cosine.Func = %v want %v", got, want)
	}
	for _, s := range []string{"l2", "dot", "cosine"} {
		m, err := ParseMetric(s)
		if err != nil || m.String() != s {
			t.Errorf("ParseMetric(%q) = %v, %v", s, m, err)
		}
	}
	if _, err := ParseMetric("hamming"); err == nil {
		t.Error("ParseMetric accepted hamming")
	}
}

func TestKernel(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	withEachImpl(func(name string) {
		for _, n := range []int{3, 16, 33, 784} {
			a, b := randVec(r, n), randVec(r, n)
			Normalize(a)
			Normalize(b)
			for _, m := range []Metric{L2, Dot, Cosine} {
				k, sc, off := m.Kernel()
				got, want := sc*k(a, b)+off, m.Distance(a, b)
				if !closeTo(got, float64(want), 4) {
					t.Errorf("%s: %v kernel len %d = %v, Distance %v", name, m, n, got, want)
				}
			}
		}
	})
}

func TestBatchKernels(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	const dim, n = 19, 50
	data := randVec(r, dim*n)
	q := randVec(r, dim)
	ids := []uint32{0, 49, 7, 7, 23}
	out := make([]float32, len(ids))
	L2SqBatch(q, data, ids, out)
	for i, id := range ids {
		if want := L2Sq(q, data[int(id)*dim:(int(id)+1)*dim]); out[i] != want {
			t.Errorf("L2SqBatch[%d] = %v want %v", i, out[i], want)
		}
	}
	DotBatch(q, data, ids, out)
	for i, id := range ids {
		if want := DotProduct(q, data[int(id)*dim:(int(id)+1)*dim]); out[i] != want {
			t.Errorf("DotBatch[%d] = %v want %v", i, out[i], want)
		}
	}
	all := make([]float32, n)
	L2SqRange(q, data, all)
	for i := range n {
		if want := L2Sq(q, data[i*dim:(i+1)*dim]); all[i] != want {
			t.Errorf("L2SqRange[%d] = %v want %v", i, all[i], want)
		}
	}
}

func TestPQAccumulate(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, m := range []int{1, 3, 4, 7, 16, 98} {
		lut := randVec(r, m*256)
		const n = 9
		codes := make([]byte, n*m)
		for i := range codes {
			codes[i] = byte(r.IntN(256))
		}
		out := make([]float32, n)
		PQAccumulateBatch(lut, codes, m, out)
		for i := range n {
			var want float64
			for j := range m {
				want += float64(lut[j*256+int(codes[i*m+j])])
			}
			if !closeTo(out[i], want, float64(m)*4) {
				t.Errorf("m %d code %d = %v want %v", m, i, out[i], want)
			}
			if got := PQAccumulate(lut, codes[i*m:(i+1)*m]); got != out[i] {
				t.Errorf("PQAccumulate %v != batch %v", got, out[i])
			}
		}
	}
}

func BenchmarkL2Sq784(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	x, y := randVec(r, 784), randVec(r, 784)
	withEachImpl(func(name string) {
		b.Run(name, func(b *testing.B) {
			var s float32
			for b.Loop() {
				s += L2Sq(x, y)
			}
			_ = s
		})
	})
}
