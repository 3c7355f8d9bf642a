//go:build wasip1

// Command gobomb is a hostile Go plugin for the host's tests: its filter
// allocates until the Go runtime dies of "out of memory" (a fatal error
// that recover cannot catch); its rerank panics (recovered by the SDK into
// an error output).
package main

import weftplugin "github.com/weftdb/weft/sdk/plugin/go"

func main() {}

var hoard [][]byte

//go:wasmexport weft_filter
func filter(ptr, n uint32) uint64 {
	return weftplugin.Filter(ptr, n, func(in *weftplugin.Input, keep []bool) error {
		for {
			b := make([]byte, 1<<20)
			for i := 0; i < len(b); i += 4096 {
				b[i] = 1
			}
			hoard = append(hoard, b)
		}
	})
}

//go:wasmexport weft_rerank
func rerank(ptr, n uint32) uint64 {
	return weftplugin.Rerank(ptr, n, func(in *weftplugin.Input, scores []float32) error {
		var m map[string]int
		m[in.ID(0)] = 1 // nil map write
		return nil
	})
}
