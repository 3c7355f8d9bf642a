//go:build !goexperiment.simd || !amd64 || purego

package distance

func withEachImpl(f func(name string)) { f("generic") }
