//go:build amd64 && !purego

package distance

import "unsafe"

//go:noescape
func prefetchLines(p unsafe.Pointer, lines int)

// Prefetch asks the CPU to start loading v into cache; it does not wait and
// has no other effect. Graph searches call it on the vectors and link lists
// they will read next, so their memory latency overlaps the current work.
func Prefetch[E float32 | uint32](v []E) {
	if len(v) > 0 {
		prefetchLines(unsafe.Pointer(unsafe.SliceData(v)), (len(v)*4+63)/64)
	}
}
