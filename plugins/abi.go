package plugins

import (
	"encoding/binary"
	"math"
	"slices"
	"sort"
	"unsafe"
)

// ABI v1 constants. docs/plugins.md is the reference; these values must match
// sdk/plugin/go and sdk/plugin/c/weft_plugin.h.
const (
	// ABIVersion is the plugin ABI version this host speaks. A module's
	// weft_abi_version export must return it.
	ABIVersion = 1

	abiMagic      = 0x54464557 // "WEFT" little-endian
	inHeaderSize  = 96
	outHeaderSize = 24
	attrDescSize  = 24
	maxErrMsg     = 1024 // bytes of a guest error message kept

	flagDistances = 1 << 0
	flagVectors   = 1 << 1
	flagPreANN    = 1 << 2
)

// Input header field offsets.
const (
	hMagic      = 0
	hVersion    = 4
	hHook       = 8
	hFlags      = 12
	hCount      = 16
	hDim        = 20
	hMetric     = 24
	hTopK       = 28
	hNow        = 32
	hNProbe     = 40
	hNParams    = 44
	hParamsOff  = 48
	hIDsOff     = 52
	hDistOff    = 56
	hQueryOff   = 60
	hVectorsOff = 64
	hSizesOff   = 68
	hNAttrs     = 72
	hAttrsOff   = 76
	hTotalLen   = 80
)

// Output header field offsets.
const (
	oMagic  = 0
	oStatus = 4
	oCount  = 8
	oNProbe = 12
	oMsgLen = 16
)

var le = binary.LittleEndian

func align8(n int) int { return (n + 7) &^ 7 }

// stringColumnSize is the size of a string column of the given strings:
// u32 offsets[n+1] then the bytes.
func stringColumnSize(n, bytes int) int { return 4*(n+1) + bytes }

// layout holds the section offsets of one encoded input.
type layout struct {
	total                                 int
	params, ids, dist, query, vecs, sizes int
	attrs                                 int
	attrData, attrValid, attrName         []int
	paramKeys                             []string
	paramBytes, idBytes                   int
}

// input is everything one hook call sends to the guest.
type input struct {
	hook    Hook
	flags   uint32
	count   int
	dim     int
	metric  Metric
	topK    int
	nowMS   int64
	nprobe  int
	params  map[string]string
	ids     []string
	dist    []float32
	query   []float32
	vectors []float32
	sizes   []int64
	attrs   []Column
}

func (in *input) plan() layout {
	var l layout
	off := inHeaderSize
	l.paramKeys = make([]string, 0, len(in.params))
	for k, v := range in.params {
		l.paramKeys = append(l.paramKeys, k)
		l.paramBytes += len(k) + len(v)
	}
	sort.Strings(l.paramKeys)
	l.params = off
	off = align8(off + stringColumnSize(2*len(l.paramKeys), l.paramBytes))
	for _, id := range in.ids {
		l.idBytes += len(id)
	}
	l.ids = off
	off = align8(off + stringColumnSize(in.count, l.idBytes))
	if in.dist != nil {
		l.dist = off
		off = align8(off + 4*in.count)
	}
	if len(in.query) > 0 {
		l.query = off
		off = align8(off + 4*len(in.query))
	}
	if in.vectors != nil {
		l.vecs = off
		off = align8(off + 4*len(in.vectors))
	}
	if in.sizes != nil {
		l.sizes = off
		off = align8(off + 8*in.count)
	}
	if len(in.attrs) > 0 {
		l.attrs = off
		off = align8(off + attrDescSize*len(in.attrs))
		l.attrData = make([]int, len(in.attrs))
		l.attrValid = make([]int, len(in.attrs))
		l.attrName = make([]int, len(in.attrs))
		for i := range in.attrs {
			c := &in.attrs[i]
			l.attrName[i] = off
			off = align8(off + len(c.Name))
			l.attrData[i] = off
			off = align8(off + c.dataSize(in.count))
			// A validity array only when some value is missing: guests
			// skip the check for a zero offset.
			if slices.Contains(c.Valid[:min(len(c.Valid), in.count)], false) {
				l.attrValid[i] = off
				off = align8(off + in.count)
			}
		}
	}
	l.total = off
	return l
}

// encode writes the input into buf (len(buf) == l.total), which is usually a
// view of guest memory.
func (in *input) encode(buf []byte, l *layout) {
	clear(buf[:inHeaderSize])
	le.PutUint32(buf[hMagic:], abiMagic)
	le.PutUint32(buf[hVersion:], ABIVersion)
	le.PutUint32(buf[hHook:], uint32(in.hook))
	le.PutUint32(buf[hFlags:], in.flags)
	le.PutUint32(buf[hCount:], uint32(in.count))
	le.PutUint32(buf[hDim:], uint32(in.dim))
	le.PutUint32(buf[hMetric:], uint32(in.metric))
	le.PutUint32(buf[hTopK:], uint32(in.topK))
	le.PutUint64(buf[hNow:], uint64(in.nowMS))
	le.PutUint32(buf[hNProbe:], uint32(in.nprobe))
	le.PutUint32(buf[hNParams:], uint32(len(l.paramKeys)))
	le.PutUint32(buf[hParamsOff:], uint32(l.params))
	le.PutUint32(buf[hIDsOff:], uint32(l.ids))
	le.PutUint32(buf[hDistOff:], uint32(l.dist))
	le.PutUint32(buf[hQueryOff:], uint32(l.query))
	le.PutUint32(buf[hVectorsOff:], uint32(l.vecs))
	le.PutUint32(buf[hSizesOff:], uint32(l.sizes))
	le.PutUint32(buf[hNAttrs:], uint32(len(in.attrs)))
	le.PutUint32(buf[hAttrsOff:], uint32(l.attrs))
	le.PutUint32(buf[hTotalLen:], uint32(l.total))

	// Params: keys and values interleaved, sorted by key.
	{
		n := 2 * len(l.paramKeys)
		offs := buf[l.params : l.params+4*(n+1)]
		data := buf[l.params+4*(n+1):]
		pos := 0
		le.PutUint32(offs, 0)
		for i, k := range l.paramKeys {
			pos += copy(data[pos:], k)
			le.PutUint32(offs[4*(2*i+1):], uint32(pos))
			pos += copy(data[pos:], in.params[k])
			le.PutUint32(offs[4*(2*i+2):], uint32(pos))
		}
	}
	putStrings(buf[l.ids:], in.ids)
	if l.dist != 0 {
		putF32s(buf[l.dist:], in.dist)
	}
	if l.query != 0 {
		putF32s(buf[l.query:], in.query)
	}
	if l.vecs != 0 {
		putF32s(buf[l.vecs:], in.vectors)
	}
	if l.sizes != 0 {
		for i, s := range in.sizes {
			le.PutUint64(buf[l.sizes+8*i:], uint64(s))
		}
	}
	for i := range in.attrs {
		c := &in.attrs[i]
		d := buf[l.attrs+attrDescSize*i:]
		le.PutUint32(d[0:], uint32(l.attrName[i]))
		le.PutUint32(d[4:], uint32(len(c.Name)))
		le.PutUint32(d[8:], uint32(c.Type))
		le.PutUint32(d[12:], uint32(l.attrData[i]))
		le.PutUint32(d[16:], uint32(l.attrValid[i]))
		le.PutUint32(d[20:], 0)
		copy(buf[l.attrName[i]:], c.Name)
		c.encode(buf[l.attrData[i]:], in.count)
		if l.attrValid[i] != 0 {
			v := buf[l.attrValid[i] : l.attrValid[i]+in.count]
			for j, ok := range c.Valid[:in.count] {
				v[j] = b2u8(ok)
			}
		}
	}
}

func b2u8(b bool) byte {
	if b {
		return 1
	}
	return 0
}

func putStrings(buf []byte, ss []string) {
	offs := buf[:4*(len(ss)+1)]
	data := buf[4*(len(ss)+1):]
	pos := 0
	le.PutUint32(offs, 0)
	for i, s := range ss {
		pos += copy(data[pos:], s)
		le.PutUint32(offs[4*(i+1):], uint32(pos))
	}
}

func putF32s(buf []byte, fs []float32) {
	if len(fs) == 0 {
		return
	}
	// Wasm is little-endian, as are the hosts Weft runs on (amd64, arm64):
	// a straight copy is the encoding.
	copy(buf, unsafe.Slice((*byte)(unsafe.Pointer(&fs[0])), 4*len(fs)))
}

func getF32s(buf []byte, dst []float32) {
	if len(dst) == 0 {
		return
	}
	copy(unsafe.Slice((*byte)(unsafe.Pointer(&dst[0])), 4*len(dst)), buf)
}

func (c *Column) dataSize(n int) int {
	switch c.Type {
	case TypeString:
		b := 0
		for _, s := range c.Strings[:n] {
			b += len(s)
		}
		return stringColumnSize(n, b)
	case TypeInt64, TypeFloat64:
		return 8 * n
	case TypeBool:
		return n
	case TypeStringList:
		items, b := 0, 0
		for _, l := range c.Lists[:n] {
			items += len(l)
			for _, s := range l {
				b += len(s)
			}
		}
		return 4*(n+1) + stringColumnSize(items, b)
	}
	return 0
}

func (c *Column) encode(buf []byte, n int) {
	switch c.Type {
	case TypeString:
		putStrings(buf, c.Strings[:n])
	case TypeInt64:
		for i, v := range c.Ints[:n] {
			le.PutUint64(buf[8*i:], uint64(v))
		}
	case TypeFloat64:
		for i, v := range c.Floats[:n] {
			le.PutUint64(buf[8*i:], math.Float64bits(v))
		}
	case TypeBool:
		for i, v := range c.Bools[:n] {
			buf[i] = b2u8(v)
		}
	case TypeStringList:
		items := 0
		le.PutUint32(buf, 0)
		for i, l := range c.Lists[:n] {
			items += len(l)
			le.PutUint32(buf[4*(i+1):], uint32(items))
		}
		col := buf[4*(n+1):]
		offs := col[:4*(items+1)]
		data := col[4*(items+1):]
		pos, k := 0, 0
		le.PutUint32(offs, 0)
		for _, l := range c.Lists[:n] {
			for _, s := range l {
				pos += copy(data[pos:], s)
				k++
				le.PutUint32(offs[4*k:], uint32(pos))
			}
		}
	}
}

// payloadSize is the size of a successful output's payload for n items.
func payloadSize(h Hook, n int) int {
	switch h {
	case HookFilter:
		return n
	default:
		return 4 * n
	}
}
