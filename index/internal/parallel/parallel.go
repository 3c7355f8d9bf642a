package parallel

import (
	"runtime"
	"sync"
)

// For runs f(i) for every i in [0, n), in contiguous chunks on threads
// goroutines (GOMAXPROCS when threads ≤ 0), and returns when all are done.
func For(n, threads int, f func(i int)) {
	if n <= 0 {
		return
	}
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	var wg sync.WaitGroup
	chunk := (n + threads - 1) / threads
	for lo := 0; lo < n; lo += chunk {
		hi := min(n, lo+chunk)
		wg.Go(func() {
			for i := lo; i < hi; i++ {
				f(i)
			}
		})
	}
	wg.Wait()
}
