//go:build wasip1

// Command echo is the ABI conformance module for the host's tests (the C
// twin is testdata/hostile/hostile.c, CASE_ECHO): its rerank scores every
// candidate with an FNV-1a hash of everything the input says about it, in
// a canonical order that plugins/abi_test.go recomputes on the host side.
package main

import (
	"encoding/binary"
	"math"

	weftplugin "github.com/weftdb/weft/sdk/plugin/go"
)

func main() {}

type fnv uint32

func (h *fnv) bytes(b []byte) {
	for _, c := range b {
		*h ^= fnv(c)
		*h *= 16777619
	}
}

func (h *fnv) str(s string) { h.u32(uint32(len(s))); h.bytes([]byte(s)) }

func (h *fnv) u32(v uint32) {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], v)
	h.bytes(b[:])
}

func (h *fnv) u64(v uint64) {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], v)
	h.bytes(b[:])
}

var names = []string{"b", "f", "i", "l", "s", "missing"}

//go:wasmexport weft_rerank
func rerank(ptr, n uint32) uint64 {
	return weftplugin.Rerank(ptr, n, func(in *weftplugin.Input, scores []float32) error {
		for i := range in.Count() {
			h := fnv(2166136261)
			h.str(in.ID(i))
			if d := in.Distances(); d != nil {
				h.u32(math.Float32bits(d[i]))
			}
			for _, name := range names {
				c, ok := in.Column(name)
				if !ok {
					h.u32(0)
					continue
				}
				h.u32(uint32(c.Type()))
				if !c.Valid(i) {
					h.u32(0)
					continue
				}
				h.u32(1)
				switch c.Type() {
				case weftplugin.TypeString:
					h.str(c.String(i))
				case weftplugin.TypeInt64:
					h.u64(uint64(c.Int(i)))
				case weftplugin.TypeFloat64:
					h.u64(math.Float64bits(c.Float(i)))
				case weftplugin.TypeBool:
					if c.Bool(i) {
						h.u32(1)
					} else {
						h.u32(0)
					}
				case weftplugin.TypeStringList:
					h.u32(uint32(c.ListLen(i)))
					for j := range c.ListLen(i) {
						h.str(c.ListItem(i, j))
					}
				}
			}
			for _, x := range in.Vector(i) {
				h.u32(math.Float32bits(x))
			}
			for _, x := range in.Query() {
				h.u32(math.Float32bits(x))
			}
			for _, k := range []string{"k1", "k2", "absent"} {
				v, ok := in.Param(k)
				if ok {
					h.str(v)
				} else {
					h.u32(0xFFFFFFFF)
				}
			}
			h.u32(uint32(in.TopK()))
			h.u32(uint32(in.Metric()))
			scores[i] = float32(uint32(h) & 0xFFFFFF)
		}
		return nil
	})
}
