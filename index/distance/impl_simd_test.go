//go:build goexperiment.simd && amd64 && !purego

package distance

// withEachImpl runs f once per kernel path this CPU supports.
func withEachImpl(f func(name string)) {
	a512, a2 := useAVX512, useAVX2
	defer func() { useAVX512, useAVX2 = a512, a2 }()
	if a512 {
		useAVX512, useAVX2 = true, a2
		f("avx512")
	}
	if a2 {
		useAVX512, useAVX2 = false, true
		f("avx2")
	}
	useAVX512, useAVX2 = false, false
	f("generic")
}
