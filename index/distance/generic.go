package distance

// The portable kernels: the fallback on every build without SIMD and the
// reference the SIMD kernels are tested against. Four accumulators let the
// compiler overlap the floating-point adds.

func l2SqGeneric(a, b []float32) float32 {
	n := len(a)
	b = b[:n]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= n; i += 4 {
		d0 := a[i] - b[i]
		d1 := a[i+1] - b[i+1]
		d2 := a[i+2] - b[i+2]
		d3 := a[i+3] - b[i+3]
		s0 += d0 * d0
		s1 += d1 * d1
		s2 += d2 * d2
		s3 += d3 * d3
	}
	for ; i < n; i++ {
		d := a[i] - b[i]
		s0 += d * d
	}
	return (s0 + s1) + (s2 + s3)
}

func dotGeneric(a, b []float32) float32 {
	n := len(a)
	b = b[:n]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= n; i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < n; i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// pqAccumulateGeneric sums lut[j*256+code[j]] over the m sub-quantisers.
func pqAccumulateGeneric(lut []float32, code []byte) float32 {
	m := len(code)
	lut = lut[:m*256]
	var s0, s1, s2, s3 float32
	j := 0
	for ; j+4 <= m; j += 4 {
		s0 += lut[j*256+int(code[j])]
		s1 += lut[(j+1)*256+int(code[j+1])]
		s2 += lut[(j+2)*256+int(code[j+2])]
		s3 += lut[(j+3)*256+int(code[j+3])]
	}
	for ; j < m; j++ {
		s0 += lut[j*256+int(code[j])]
	}
	return (s0 + s1) + (s2 + s3)
}

// sq8DotGeneric returns Σ q[i]·code[i] with code bytes read as unsigned.
func sq8DotGeneric(q []float32, code []byte) float32 {
	n := len(q)
	code = code[:n]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= n; i += 4 {
		s0 += q[i] * float32(code[i])
		s1 += q[i+1] * float32(code[i+1])
		s2 += q[i+2] * float32(code[i+2])
		s3 += q[i+3] * float32(code[i+3])
	}
	for ; i < n; i++ {
		s0 += q[i] * float32(code[i])
	}
	return (s0 + s1) + (s2 + s3)
}
