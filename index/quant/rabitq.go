package quant

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"

	"github.com/weftdb/weft/index/distance"
)

// RaBitQ is 1-bit RaBitQ (Gao and Long, SIGMOD 2024) for squared L2: a
// vector's residual from a centre is randomly rotated, normalised, and kept as
// the signs of its coordinates (one bit per dimension) plus three floats. The
// estimator of the squared distance is unbiased, with an error that shrinks
// as 1/√dim; callers refine the best candidates with exact distances.
//
// The rotation is three rounds of random sign flips and a normalised
// Walsh-Hadamard transform over the dimension padded to a power of two, so
// it costs O(D log D) per vector instead of a dense D×D product.
//
// Scoring needs one lookup table per query, not per centre: the code's bits
// select rotated query coordinates (summed with distance.PQAccumulate over
// 8-bit groups), and the centre's share of that sum is stored per vector.
type RaBitQ struct {
	dim, d int      // input dimension, padded power-of-two dimension
	signs  []uint64 // 3 rounds × d bits: 1 flips the sign
}

const rabitqRounds = 3

// NewRaBitQ returns a quantiser for vectors of dim values; seed picks the
// rotation, which encoders and searchers must share.
func NewRaBitQ(dim int, seed uint64) *RaBitQ {
	d := 8
	for d < dim {
		d *= 2
	}
	r := rand.New(rand.NewPCG(seed, 0x7ab17))
	q := &RaBitQ{dim: dim, d: d, signs: make([]uint64, rabitqRounds*d/64+1)}
	for i := range q.signs {
		q.signs[i] = r.Uint64()
	}
	return q
}

// Dim returns the input dimension.
func (q *RaBitQ) Dim() int { return q.dim }

// RotatedDim returns the padded dimension D that Rotate outputs.
func (q *RaBitQ) RotatedDim() int { return q.d }

// CodeSize returns the code bytes per vector: D/8.
func (q *RaBitQ) CodeSize() int { return q.d / 8 }

// Rotate writes the rotation of v (padded with zeros to D) to out (D
// floats). The rotation is orthonormal: it keeps norms and inner products.
func (q *RaBitQ) Rotate(v, out []float32) {
	out = out[:q.d]
	copy(out, v[:q.dim])
	clear(out[q.dim:])
	scale := float32(1 / math.Sqrt(float64(q.d)))
	for r := range rabitqRounds {
		base := r * q.d
		for i := range out {
			b := base + i
			if q.signs[b>>6]&(1<<(b&63)) != 0 {
				out[i] = -out[i]
			}
		}
		fwht(out)
		for i := range out {
			out[i] *= scale
		}
	}
}

// fwht is the in-place unnormalised Walsh-Hadamard transform; len(v) is a
// power of two.
func fwht(v []float32) {
	n := len(v)
	for h := 1; h < n; h *= 2 {
		for i := 0; i < n; i += 2 * h {
			a, b := v[i:i+h], v[i+h:i+2*h]
			for j := range a {
				x, y := a[j], b[j]
				a[j], b[j] = x+y, x-y
			}
		}
	}
}

// RaBitQFactors are the three floats stored with each code.
type RaBitQFactors struct {
	NormSq float32 // ‖o − c‖²
	Scale  float32 // 2‖o − c‖ / (⟨x̄, x⟩ √D)
	Centre float32 // Σ over set bits of the rotated centre's coordinates
}

// Encode writes the code of o relative to centre c, given the rotated centre
// rc (Rotate(c)), into code (CodeSize bytes) and returns its factors. tmp is
// scratch of D floats.
func (q *RaBitQ) Encode(o, c, rc []float32, code []byte, tmp []float32) RaBitQFactors {
	tmp = tmp[:q.d]
	// Rotate(o) − Rotate(c) = Rotate(o − c).
	q.Rotate(o, tmp)
	var norm2, abs float64
	for i := range tmp {
		tmp[i] -= rc[i]
		norm2 += float64(tmp[i]) * float64(tmp[i])
	}
	code = code[:q.d/8]
	clear(code)
	var centre float64
	for i, x := range tmp {
		abs += math.Abs(float64(x))
		if x > 0 {
			code[i>>3] |= 1 << (i & 7)
			centre += float64(rc[i])
		}
	}
	f := RaBitQFactors{NormSq: float32(norm2), Centre: float32(centre)}
	if norm2 > 0 && abs > 0 {
		norm := math.Sqrt(norm2)
		// ⟨x̄, x⟩ = Σ|x_i| / (‖o − c‖ √D) for the unit vector x.
		ip := abs / (norm * math.Sqrt(float64(q.d)))
		f.Scale = float32(2 * norm / (ip * math.Sqrt(float64(q.d))))
	}
	return f
}

// RaBitQQuery is a query prepared for scoring codes: its rotation's lookup
// table and sum.
type RaBitQQuery struct {
	lut  []float32 // D/8 × 256: sums of rotated query coordinates per byte value
	sumQ float32   // Σ of the rotated query's coordinates
}

// PrepareQuery rotates qv and builds its lookup table into pq, reusing pq's
// storage. tmp is scratch of D floats.
func (q *RaBitQ) PrepareQuery(qv []float32, pq *RaBitQQuery, tmp []float32) {
	tmp = tmp[:q.d]
	q.Rotate(qv, tmp)
	m := q.d / 8
	if cap(pq.lut) < m*256 {
		pq.lut = make([]float32, m*256)
	}
	pq.lut = pq.lut[:m*256]
	var s float32
	for j := range m {
		row := pq.lut[j*256 : (j+1)*256]
		x := tmp[j*8 : j*8+8]
		row[0] = 0
		for b := 1; b < 256; b++ {
			row[b] = row[b&(b-1)] + x[bits.TrailingZeros8(uint8(b))]
		}
		for _, v := range x {
			s += v
		}
	}
	pq.sumQ = s
}

// CentreTerm returns the per-centre constant of the estimator: Σ of the
// rotated query minus Σ of the rotated centre rc.
func (pq *RaBitQQuery) CentreTerm(rc []float32) float32 {
	var s float32
	for _, v := range rc {
		s += v
	}
	return pq.sumQ - s
}

// Distance estimates ‖q − o‖² for the code with factors f, where qcSq is
// ‖q − c‖² for o's centre c and centreTerm is CentreTerm(Rotate(c)).
func (pq *RaBitQQuery) Distance(code []byte, f RaBitQFactors, qcSq, centreTerm float32) float32 {
	sel := distance.PQAccumulate(pq.lut, code) - f.Centre
	return f.NormSq + qcSq - f.Scale*(2*sel-centreTerm)
}

const rabitqMagic = "WEFTRBQ1"

// AppendEncoding appends q's encoding: magic, dim and D as uint32, then the
// sign bits as uint64.
func (q *RaBitQ) AppendEncoding(dst []byte) []byte {
	dst = append(dst, rabitqMagic...)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(q.dim))
	dst = binary.LittleEndian.AppendUint32(dst, uint32(q.d))
	for _, w := range q.signs {
		dst = binary.LittleEndian.AppendUint64(dst, w)
	}
	return dst
}

// DecodeRaBitQ decodes an encoding made by AppendEncoding and returns the
// bytes after it.
func DecodeRaBitQ(b []byte) (*RaBitQ, []byte, error) {
	if len(b) < 16 || string(b[:8]) != rabitqMagic {
		return nil, nil, errors.New("quant: not a RaBitQ encoding")
	}
	dim := int(binary.LittleEndian.Uint32(b[8:]))
	d := int(binary.LittleEndian.Uint32(b[12:]))
	if dim <= 0 || dim > 1<<16 || d < 8 || d&(d-1) != 0 || d < dim || d >= 2*dim && d > 8 {
		return nil, nil, fmt.Errorf("quant: RaBitQ encoding with dimension %d padded to %d", dim, d)
	}
	words := rabitqRounds*d/64 + 1
	if len(b)-16 < 8*words {
		return nil, nil, errors.New("quant: truncated RaBitQ encoding")
	}
	q := &RaBitQ{dim: dim, d: d, signs: make([]uint64, words)}
	for i := range q.signs {
		q.signs[i] = binary.LittleEndian.Uint64(b[16+8*i:])
	}
	return q, b[16+8*words:], nil
}
