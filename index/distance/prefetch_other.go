//go:build !amd64 || purego

package distance

// Prefetch is a no-op on this build; see the amd64 version.
func Prefetch[E float32 | uint32](v []E) {}
