package distance

import (
	"fmt"
	"math"
)

// Metric names how two vectors are compared.
type Metric uint8

// The metrics. Their numeric values are part of index encodings; do not reorder.
const (
	L2     Metric = 1 // squared Euclidean distance
	Dot    Metric = 2 // negated inner product (maximum inner product search)
	Cosine Metric = 3 // 1 − cosine similarity, over vectors normalised with Normalize
)

// ParseMetric maps the names used in configs and dataset metadata ("l2",
// "euclidean", "dot", "ip", "cosine", "angular") to a Metric.
func ParseMetric(s string) (Metric, error) {
	switch s {
	case "l2", "L2", "euclidean":
		return L2, nil
	case "dot", "ip", "inner_product":
		return Dot, nil
	case "cosine", "angular":
		return Cosine, nil
	}
	return 0, fmt.Errorf("unknown metric %q: want l2, dot or cosine", s)
}

// String returns the metric's config name.
func (m Metric) String() string {
	switch m {
	case L2:
		return "l2"
	case Dot:
		return "dot"
	case Cosine:
		return "cosine"
	}
	return fmt.Sprintf("metric(%d)", uint8(m))
}

// Valid reports whether m is one of the defined metrics.
func (m Metric) Valid() bool { return m >= L2 && m <= Cosine }

// Func is a distance kernel; smaller is closer. Both slices have the same length.
type Func func(a, b []float32) float32

// Func returns the kernel for m. For Cosine the kernel assumes both vectors are
// already normalised (see Normalize) and returns 1 − a·b.
func (m Metric) Func() Func {
	switch m {
	case Dot:
		return negDot
	case Cosine:
		return cosineNormalized
	default:
		return L2Sq
	}
}

// Distance returns the distance between a and b under m (see Func).
func (m Metric) Distance(a, b []float32) float32 {
	switch m {
	case Dot:
		return -DotProduct(a, b)
	case Cosine:
		return 1 - DotProduct(a, b)
	default:
		return L2Sq(a, b)
	}
}

// NeedsNormalize reports whether vectors must go through Normalize before
// they are stored or searched under m.
func (m Metric) NeedsNormalize() bool { return m == Cosine }

func negDot(a, b []float32) float32           { return -DotProduct(a, b) }
func cosineNormalized(a, b []float32) float32 { return 1 - DotProduct(a, b) }

// L2Sq returns the squared Euclidean distance between a and b.
// b must be at least as long as a.
func L2Sq(a, b []float32) float32 { return l2Sq(a, b) }

// DotProduct returns the inner product of a and b. b must be at least as long as a.
func DotProduct(a, b []float32) float32 { return dot(a, b) }

// CosineDistance returns 1 − cos(a, b) for vectors that need not be
// normalised. A zero vector is at distance 1 from everything.
func CosineDistance(a, b []float32) float32 {
	ab := DotProduct(a, b)
	na := DotProduct(a, a)
	nb := DotProduct(b, b)
	if na == 0 || nb == 0 {
		return 1
	}
	return 1 - ab/float32(math.Sqrt(float64(na)*float64(nb)))
}

// Normalize scales v to unit length in place. A zero vector is left as is.
func Normalize(v []float32) {
	n := DotProduct(v, v)
	if n == 0 {
		return
	}
	inv := float32(1 / math.Sqrt(float64(n)))
	for i := range v {
		v[i] *= inv
	}
}

// L2SqBatch writes to out[i] the squared L2 distance between q and the
// vector of data (rows of len(q) floats) with row number ids[i].
func L2SqBatch(q, data []float32, ids []uint32, out []float32) {
	dim := len(q)
	out = out[:len(ids)]
	for i, id := range ids {
		o := int(id) * dim
		out[i] = l2Sq(q, data[o:o+dim])
	}
}

// DotBatch writes to out[i] the inner product of q and row ids[i] of data.
func DotBatch(q, data []float32, ids []uint32, out []float32) {
	dim := len(q)
	out = out[:len(ids)]
	for i, id := range ids {
		o := int(id) * dim
		out[i] = dot(q, data[o:o+dim])
	}
}

// L2SqRange writes to out[i] the squared L2 distance between q and row i of
// data, for every row (len(data)/len(q) of them): an exhaustive scan.
func L2SqRange(q, data []float32, out []float32) {
	dim := len(q)
	n := len(data) / dim
	out = out[:n]
	for i := range n {
		out[i] = l2Sq(q, data[i*dim:(i+1)*dim])
	}
}

// Kernel returns the raw kernel behind m and the affine map that turns its
// value into m's distance: Distance = scale·kernel(a, b) + offset. The kernel
// is the implementation chosen for this CPU, called directly, which saves the
// dispatch of L2Sq and DotProduct in the innermost loops of graph searches.
// For L2 it is squared L2 (scale 1, offset 0); for Dot and Cosine the inner
// product (scale −1, offset 0 or 1).
func (m Metric) Kernel() (kernel Func, scale, offset float32) {
	switch m {
	case Dot:
		return dotKernel(), -1, 0
	case Cosine:
		return dotKernel(), -1, 1
	}
	return l2Kernel(), 1, 0
}

// Impl names the kernel implementation in use: "avx512", "avx2" or "generic".
func Impl() string { return impl() }
