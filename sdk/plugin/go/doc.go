// Package weftplugin is the Go guest SDK for Weft plugins (ABI version 1):
// WebAssembly modules that route, filter and rerank inside Weft queries.
// docs/plugins.md specifies the ABI; this package hides it.
//
// A plugin is a main package built with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o plugin.wasm .
//
// Importing this package exports weft_abi_version and weft_alloc. The
// plugin exports each hook it implements and hands the call to Route,
// Filter or Rerank:
//
//	//go:wasmexport weft_rerank
//	func rerank(ptr, n uint32) uint64 {
//		return weftplugin.Rerank(ptr, n, func(in *weftplugin.Input, scores []float32) error {
//			for i := range in.Count() {
//				if in.ID(i) == "pinned" {
//					scores[i] += 10
//				}
//			}
//			return nil
//		})
//	}
//
// Everything an Input returns (ids, strings, float slices) points into the
// call's input buffer: valid until the hook returns, never to be kept.
// Everything but this file builds only for GOOS=wasip1.
package weftplugin
