// Package plugins is Weft's WebAssembly plugin host (wazero). See doc.go's
// full text in a later commit and docs/plugins.md for the ABI.
package plugins
