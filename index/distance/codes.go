package distance

// PQAccumulate returns the asymmetric distance of one product-quantised code:
// the sum over sub-quantiser j of lut[j*256 + code[j]], where lut holds, for
// each of the len(code) sub-quantisers, the distances from the query's
// sub-vector to the 256 centroids.
func PQAccumulate(lut []float32, code []byte) float32 { return pqAccumulate(lut, code) }

// PQAccumulateBatch scores n = len(out) codes of m bytes each, stored back to
// back in codes, writing each code's PQAccumulate to out.
func PQAccumulateBatch(lut []float32, codes []byte, m int, out []float32) {
	codes = codes[:len(out)*m]
	for i := range out {
		out[i] = pqAccumulate(lut, codes[i*m:(i+1)*m])
	}
}

// SQ8Dot returns Σ q[i]·float32(code[i]): the core of scalar-quantised
// (8 bits per dimension) distance estimates, where the caller folds in the
// per-dimension scale and offset.
func SQ8Dot(q []float32, code []byte) float32 { return sq8Dot(q, code) }
