//go:build !goexperiment.simd || !amd64 || purego

package distance

func l2Sq(a, b []float32) float32                     { return l2SqGeneric(a, b) }
func dot(a, b []float32) float32                      { return dotGeneric(a, b) }
func pqAccumulate(lut []float32, code []byte) float32 { return pqAccumulateGeneric(lut, code) }
func sq8Dot(q []float32, code []byte) float32         { return sq8DotGeneric(q, code) }
func l2Kernel() Func                                  { return l2SqGeneric }
func dotKernel() Func                                 { return dotGeneric }
func impl() string                                    { return "generic" }
