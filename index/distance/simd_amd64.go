//go:build goexperiment.simd && amd64 && !purego

package distance

import (
	"simd/archsimd"
	"unsafe"
)

// The kernel is chosen once; tests flip these to exercise every path the CPU
// supports.
var (
	useAVX512 = archsimd.X86.AVX512()
	useAVX2   = archsimd.X86.AVX2() && archsimd.X86.FMA()
)

func impl() string {
	switch {
	case useAVX512:
		return "avx512"
	case useAVX2:
		return "avx2"
	}
	return "generic"
}

func l2Sq(a, b []float32) float32 {
	if useAVX512 {
		return l2SqAVX512(a, b)
	}
	if useAVX2 {
		return l2SqAVX2(a, b)
	}
	return l2SqGeneric(a, b)
}

func dot(a, b []float32) float32 {
	if useAVX512 {
		return dotAVX512(a, b)
	}
	if useAVX2 {
		return dotAVX2(a, b)
	}
	return dotGeneric(a, b)
}

func l2Kernel() Func {
	switch {
	case useAVX512:
		return l2SqAVX512
	case useAVX2:
		return l2SqAVX2
	}
	return l2SqGeneric
}

func dotKernel() Func {
	switch {
	case useAVX512:
		return dotAVX512
	case useAVX2:
		return dotAVX2
	}
	return dotGeneric
}

func pqAccumulate(lut []float32, code []byte) float32 { return pqAccumulateGeneric(lut, code) }

func sq8Dot(q []float32, code []byte) float32 {
	if useAVX512 {
		return sq8DotAVX512(q, code)
	}
	return sq8DotGeneric(q, code)
}

// at16 and at8 view 16 or 8 floats starting at element i of p without a
// bounds check; callers guarantee i+16 (or i+8) ≤ the slice length.
func at16(p unsafe.Pointer, i int) *[16]float32 { return (*[16]float32)(unsafe.Add(p, i*4)) }
func at8(p unsafe.Pointer, i int) *[8]float32   { return (*[8]float32)(unsafe.Add(p, i*4)) }

func sum16(s archsimd.Float32x16) float32 {
	h := s.GetLo().Add(s.GetHi())
	q := h.GetLo().Add(h.GetHi())
	q = q.AddPairs(q)
	q = q.AddPairs(q)
	return q.GetElem(0)
}

func sum8(s archsimd.Float32x8) float32 {
	q := s.GetLo().Add(s.GetHi())
	q = q.AddPairs(q)
	q = q.AddPairs(q)
	return q.GetElem(0)
}

func l2SqAVX512(a, b []float32) float32 {
	n := len(a)
	b = b[:n]
	pa, pb := unsafe.Pointer(unsafe.SliceData(a)), unsafe.Pointer(unsafe.SliceData(b))
	var s0, s1 archsimd.Float32x16
	i := 0
	for ; i+32 <= n; i += 32 {
		d0 := archsimd.LoadFloat32x16(at16(pa, i)).Sub(archsimd.LoadFloat32x16(at16(pb, i)))
		d1 := archsimd.LoadFloat32x16(at16(pa, i+16)).Sub(archsimd.LoadFloat32x16(at16(pb, i+16)))
		s0 = d0.MulAdd(d0, s0)
		s1 = d1.MulAdd(d1, s1)
	}
	if i+16 <= n {
		d := archsimd.LoadFloat32x16(at16(pa, i)).Sub(archsimd.LoadFloat32x16(at16(pb, i)))
		s0 = d.MulAdd(d, s0)
		i += 16
	}
	// The tail goes 8 wide, then scalar: a masked 16-wide load past the end
	// is safe for the CPU but trips checkptr (-race) in archsimd. No scalar
	// float instruction may run before ClearAVXUpperBits: legacy SSE code
	// with dirty upper halves pays a transition penalty on every call.
	acc := s0.Add(s1)
	h := acc.GetLo().Add(acc.GetHi())
	if i+8 <= n {
		d := archsimd.LoadFloat32x8(at8(pa, i)).Sub(archsimd.LoadFloat32x8(at8(pb, i)))
		h = d.MulAdd(d, h)
		i += 8
	}
	r := sum8(h)
	archsimd.ClearAVXUpperBits()
	for ; i < n; i++ {
		d := a[i] - b[i]
		r += d * d
	}
	return r
}

func dotAVX512(a, b []float32) float32 {
	n := len(a)
	b = b[:n]
	pa, pb := unsafe.Pointer(unsafe.SliceData(a)), unsafe.Pointer(unsafe.SliceData(b))
	var s0, s1 archsimd.Float32x16
	i := 0
	for ; i+32 <= n; i += 32 {
		s0 = archsimd.LoadFloat32x16(at16(pa, i)).MulAdd(archsimd.LoadFloat32x16(at16(pb, i)), s0)
		s1 = archsimd.LoadFloat32x16(at16(pa, i+16)).MulAdd(archsimd.LoadFloat32x16(at16(pb, i+16)), s1)
	}
	if i+16 <= n {
		s0 = archsimd.LoadFloat32x16(at16(pa, i)).MulAdd(archsimd.LoadFloat32x16(at16(pb, i)), s0)
		i += 16
	}
	acc := s0.Add(s1)
	h := acc.GetLo().Add(acc.GetHi())
	if i+8 <= n {
		h = archsimd.LoadFloat32x8(at8(pa, i)).MulAdd(archsimd.LoadFloat32x8(at8(pb, i)), h)
		i += 8
	}
	r := sum8(h)
	archsimd.ClearAVXUpperBits()
	for ; i < n; i++ {
		r += a[i] * b[i]
	}
	return r
}

func l2SqAVX2(a, b []float32) float32 {
	n := len(a)
	b = b[:n]
	pa, pb := unsafe.Pointer(unsafe.SliceData(a)), unsafe.Pointer(unsafe.SliceData(b))
	var s0, s1 archsimd.Float32x8
	i := 0
	for ; i+16 <= n; i += 16 {
		d0 := archsimd.LoadFloat32x8(at8(pa, i)).Sub(archsimd.LoadFloat32x8(at8(pb, i)))
		d1 := archsimd.LoadFloat32x8(at8(pa, i+8)).Sub(archsimd.LoadFloat32x8(at8(pb, i+8)))
		s0 = d0.MulAdd(d0, s0)
		s1 = d1.MulAdd(d1, s1)
	}
	if i+8 <= n {
		d := archsimd.LoadFloat32x8(at8(pa, i)).Sub(archsimd.LoadFloat32x8(at8(pb, i)))
		s0 = d.MulAdd(d, s0)
		i += 8
	}
	r := sum8(s0.Add(s1))
	archsimd.ClearAVXUpperBits()
	for ; i < n; i++ {
		d := a[i] - b[i]
		r += d * d
	}
	return r
}

func dotAVX2(a, b []float32) float32 {
	n := len(a)
	b = b[:n]
	pa, pb := unsafe.Pointer(unsafe.SliceData(a)), unsafe.Pointer(unsafe.SliceData(b))
	var s0, s1 archsimd.Float32x8
	i := 0
	for ; i+16 <= n; i += 16 {
		s0 = archsimd.LoadFloat32x8(at8(pa, i)).MulAdd(archsimd.LoadFloat32x8(at8(pb, i)), s0)
		s1 = archsimd.LoadFloat32x8(at8(pa, i+8)).MulAdd(archsimd.LoadFloat32x8(at8(pb, i+8)), s1)
	}
	if i+8 <= n {
		s0 = archsimd.LoadFloat32x8(at8(pa, i)).MulAdd(archsimd.LoadFloat32x8(at8(pb, i)), s0)
		i += 8
	}
	r := sum8(s0.Add(s1))
	archsimd.ClearAVXUpperBits()
	for ; i < n; i++ {
		r += a[i] * b[i]
	}
	return r
}

func sq8DotAVX512(q []float32, code []byte) float32 {
	n := len(q)
	code = code[:n]
	pq, pc := unsafe.Pointer(unsafe.SliceData(q)), unsafe.Pointer(unsafe.SliceData(code))
	var s archsimd.Float32x16
	i := 0
	for ; i+16 <= n; i += 16 {
		c := archsimd.LoadUint8x16((*[16]uint8)(unsafe.Add(pc, i))).ExtendToUint32().ConvertToFloat32()
		s = archsimd.LoadFloat32x16(at16(pq, i)).MulAdd(c, s)
	}
	r := sum16(s)
	archsimd.ClearAVXUpperBits()
	for ; i < n; i++ {
		r += q[i] * float32(code[i])
	}
	return r
}
