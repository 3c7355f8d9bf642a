//go:build wasip1

// Command goloop is a hostile Go plugin for the host's tests: its rerank
// never returns; its filter is sound (keeps ids not starting with "x"), to
// show the pool recovers after a deadline.
package main

import weftplugin "github.com/weftdb/weft/sdk/plugin/go"

func main() {}

var sink int

//go:wasmexport weft_rerank
func rerank(ptr, n uint32) uint64 {
	return weftplugin.Rerank(ptr, n, func(in *weftplugin.Input, scores []float32) error {
		for i := 0; ; i++ {
			sink += i
		}
	})
}

//go:wasmexport weft_filter
func filter(ptr, n uint32) uint64 {
	return weftplugin.Filter(ptr, n, func(in *weftplugin.Input, keep []bool) error {
		for i := range in.Count() {
			id := in.ID(i)
			keep[i] = !(len(id) > 0 && id[0] == 'x')
		}
		return nil
	})
}
