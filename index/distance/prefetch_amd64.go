//go:build amd64 && !purego

package distance

import "unsafe"

//go:noescape
func prefetchLines(p unsafe.Pointer, lines int)

// Prefetch asks the CPU to start loading v into cache; it does not wait and
// has no other effect. Graph searches call it on the next vector they will
// score so its memory latency overlaps the current distance computation.
func Prefetch(v []float32) {
	if len(v) > 0 {
		prefetchLines(unsafe.Pointer(unsafe.SliceData(v)), (len(v)*4+63)/64)
	}
}
