//go:build wasip1

// Command leak is a plugin written to leak: its rerank scores every
// candidate with a fingerprint of the first candidate of the batch it saw
// before (0 on its first call), kept in a global. If the host ever handed
// one instance to two namespaces, one namespace's answers would carry the
// other's data; fabric's TestPluginInstancesPerNamespace checks they never
// do. Built by the test (GOOS=wasip1), not committed.
package main

import (
	weftplugin "github.com/weftdb/weft/sdk/plugin/go"
)

func main() {}

// last is the fingerprint of the previous batch's first candidate.
var last float32

//go:wasmexport weft_rerank
func rerank(ptr, n uint32) uint64 {
	return weftplugin.Rerank(ptr, n, func(in *weftplugin.Input, scores []float32) error {
		for i := range scores {
			scores[i] = last
		}
		if in.Count() > 0 {
			last = fingerprint(in.ID(0))
		}
		return nil
	})
}

// fingerprint maps an id to a float in [1, 2^20].
func fingerprint(id string) float32 {
	h := uint32(2166136261)
	for i := 0; i < len(id); i++ {
		h ^= uint32(id[i])
		h *= 16777619
	}
	return float32(h%(1<<20) + 1)
}
