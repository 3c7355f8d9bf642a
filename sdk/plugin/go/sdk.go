//go:build wasip1

package weftplugin

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"unsafe"
)

// ABIVersion is the plugin ABI version this SDK speaks.
const ABIVersion = 1

const (
	magic         = 0x54464557
	inHeaderSize  = 96
	outHeaderSize = 24
)

// Hooks, as Input.Hook reports them.
const (
	HookRoute  = 1
	HookFilter = 2
	HookRerank = 3
)

// Metrics, as Input.Metric reports them.
const (
	MetricCosine = 1
	MetricL2     = 2
	MetricDot    = 3
)

// Attribute types, as Column.Type reports them.
const (
	TypeString     = 1
	TypeInt64      = 2
	TypeFloat64    = 3
	TypeBool       = 4
	TypeStringList = 5
)

var le = binary.LittleEndian

// Buffers are backed by []uint64 so they are 8-byte aligned, as the ABI
// asks.
var inWords, outWords []uint64

func words(n int) []uint64 { return make([]uint64, (n+7)/8) }

func bytesOf(w []uint64) []byte {
	if len(w) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&w[0])), 8*len(w))
}

//go:wasmexport weft_abi_version
func abiVersion() uint32 { return ABIVersion }

//go:wasmexport weft_alloc
func alloc(n uint32) uint32 {
	// 8 bytes of slack past the input: MatchString loads 8 bytes at a time.
	if int(n)+8 > 8*len(inWords) {
		inWords = words(int(n) + 8)
	}
	return uint32(uintptr(unsafe.Pointer(&inWords[0])))
}

// Input is one hook call's input.
type Input struct {
	b     []byte
	count int
	ids   strCol
}

// strCol is a string column: offsets and bytes, as views of the input.
// Its accessors are small enough to be inlined: in a Wasm guest every
// function call and loop costs a check of the host's deadline.
type strCol struct {
	offs []uint32
	data []byte
}

func (in *Input) strCol(off, n int) strCol {
	if off == 0 {
		return strCol{}
	}
	offs := unsafe.Slice((*uint32)(unsafe.Pointer(&in.b[off])), n+1)
	start := off + 4*(n+1)
	return strCol{offs: offs, data: in.b[start : start+int(offs[n])]}
}

func (c strCol) at(i int) string {
	a, b := c.offs[i], c.offs[i+1]
	if a == b {
		return ""
	}
	return unsafe.String(&c.data[a], b-a)
}

func (in *Input) u32(off int) uint32 { return le.Uint32(in.b[off:]) }

// Hook returns the hook being called.
func (in *Input) Hook() int { return int(in.u32(8)) }

// Count returns the number of candidates (route: shards).
func (in *Input) Count() int { return in.count }

// Dim returns the vector dimension, 0 without vectors or query.
func (in *Input) Dim() int { return int(in.u32(20)) }

// Metric returns the namespace's metric (MetricCosine...), 0 if unknown.
func (in *Input) Metric() int { return int(in.u32(24)) }

// TopK returns the query's top_k.
func (in *Input) TopK() int { return int(in.u32(28)) }

// NowUnixMilli returns the host's clock (the guest's own clock is fake).
func (in *Input) NowUnixMilli() int64 { return int64(le.Uint64(in.b[32:])) }

// NProbe returns the planner's number of shards to probe (route), 0 = all.
func (in *Input) NProbe() int { return int(in.u32(40)) }

// PreANN reports a pre-ANN filter call over documents (no distances).
func (in *Input) PreANN() bool { return in.u32(12)&4 != 0 }

func (in *Input) str(col, n, i int) string {
	data := col + 4*(n+1)
	a, b := int(in.u32(col+4*i)), int(in.u32(col+4*(i+1)))
	if a == b {
		return ""
	}
	return unsafe.String(&in.b[data+a], b-a)
}

// ID returns candidate i's id (route: shard i's key).
func (in *Input) ID(i int) string { return in.ids.at(i) }

func (in *Input) f32s(off, n int) []float32 {
	if off == 0 || n == 0 {
		return nil
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&in.b[off])), n)
}

// Distances returns the candidates' distances (smaller is closer), nil
// for a pre-ANN filter.
func (in *Input) Distances() []float32 { return in.f32s(int(in.u32(56)), in.Count()) }

// Query returns the query vector, or nil.
func (in *Input) Query() []float32 { return in.f32s(int(in.u32(60)), in.Dim()) }

// Vector returns candidate i's vector, or nil when vectors were not sent.
func (in *Input) Vector(i int) []float32 {
	off := int(in.u32(64))
	if off == 0 {
		return nil
	}
	d := in.Dim()
	return in.f32s(off+4*d*i, d)
}

// ShardSize returns the number of documents in shard i (route).
func (in *Input) ShardSize(i int) int64 {
	off := int(in.u32(68))
	if off == 0 {
		return 0
	}
	return int64(le.Uint64(in.b[off+8*i:]))
}

// Param returns a per-query parameter.
func (in *Input) Param(key string) (string, bool) {
	n, col := int(in.u32(44)), int(in.u32(48))
	for i := range n {
		if in.str(col, 2*n, 2*i) == key {
			return in.str(col, 2*n, 2*i+1), true
		}
	}
	return "", false
}

// ParamFloat returns a numeric parameter, or def when absent or not a
// number.
func (in *Input) ParamFloat(key string, def float64) float64 {
	s, ok := in.Param(key)
	if !ok {
		return def
	}
	if v, ok := parseFast(s); ok {
		return v
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return def
	}
	return v
}

var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// parseFast parses plain decimals ("-12", "0.25", "1700000000") whose
// digits fit in 2^53 and whose scale is within 10^±22: then one exact
// multiplication or division by a power of ten rounds correctly, as
// strconv would, for a fraction of its calls (each costs a deadline check
// in a guest). Anything else reports false.
func parseFast(s string) (float64, bool) {
	i, neg := 0, false
	if len(s) > 0 && (s[0] == '-' || s[0] == '+') {
		neg, i = s[0] == '-', 1
	}
	var m uint64
	digits, scale := 0, 0
	dot := false
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			if digits == 18 {
				return 0, false
			}
			m = m*10 + uint64(c-'0')
			digits++
			if dot {
				scale--
			}
		case c == '.' && !dot:
			dot = true
		default:
			return 0, false
		}
	}
	if digits == 0 || m >= 1<<53 || scale < -22 {
		return 0, false
	}
	v := float64(m) / pow10[-scale]
	if neg {
		v = -v
	}
	return v, true
}

// Column is one attribute over all candidates.
type Column struct {
	in    *Input
	name  string
	typ   int
	data  int
	valid []byte // nil: every candidate has the attribute
	strs  strCol // string columns
	nums  []uint64
}

// Column returns the attribute column called name.
func (in *Input) Column(name string) (Column, bool) {
	n, off := int(in.u32(72)), int(in.u32(76))
	for i := range n {
		d := off + 24*i
		no, nl := int(in.u32(d)), int(in.u32(d+4))
		if nl == len(name) && string(in.b[no:no+nl]) == name {
			c := Column{in: in, name: name, typ: int(in.u32(d + 8)), data: int(in.u32(d + 12))}
			if v := int(in.u32(d + 16)); v != 0 {
				c.valid = in.b[v : v+in.count]
			}
			switch c.typ {
			case TypeString:
				c.strs = in.strCol(c.data, in.count)
			case TypeInt64, TypeFloat64:
				if in.count > 0 {
					c.nums = unsafe.Slice((*uint64)(unsafe.Pointer(&in.b[c.data])), in.count)
				}
			}
			return c, true
		}
	}
	return Column{}, false
}

// Name returns the attribute's name.
func (c Column) Name() string { return c.name }

// Type returns the attribute's type (TypeString...).
func (c Column) Type() int { return c.typ }

// Valid reports whether candidate i has the attribute.
func (c Column) Valid(i int) bool { return c.valid == nil || c.valid[i] != 0 }

// String returns candidate i's value of a string column.
func (c Column) String(i int) string { return c.strs.at(i) }

// Int returns candidate i's value of an int64 column.
func (c Column) Int(i int) int64 { return int64(c.nums[i]) }

// Float returns candidate i's value of a float64 column.
func (c Column) Float(i int) float64 { return math.Float64frombits(c.nums[i]) }

// Bool returns candidate i's value of a bool column.
func (c Column) Bool(i int) bool { return c.in.b[c.data+i] != 0 }

// MatchString sets keep[i] for every candidate: whether its value equals
// s (string column) or its list contains s (string-list column); missing
// for candidates without the attribute. It is the fast way to filter on a
// string: one unrolled loop without calls, where a loop over String(i)
// pays the host's per-iteration deadline check and a runtime call per
// comparison.
func (c Column) MatchString(s string, missing bool, keep []bool) {
	n := c.in.count
	switch c.typ {
	case TypeString:
		offs := c.strs.offs
		var base unsafe.Pointer
		if len(c.strs.data) > 0 {
			base = unsafe.Pointer(&c.strs.data[0])
		}
		if len(s) <= 8 {
			matchShort(base, offs, n, s, keep)
			break
		}
		for i := range n {
			a, b := offs[i], offs[i+1]
			keep[i] = b-a == uint32(len(s)) && eqAt(base, a, b, s)
		}
	case TypeStringList:
		for i := range n {
			keep[i] = c.ListContains(i, s)
		}
	default:
		for i := range n {
			keep[i] = false
		}
	}
	if c.valid != nil {
		for i, v := range c.valid[:n] {
			if v == 0 {
				keep[i] = missing
			}
		}
	}
}

// matchShort is MatchString for a string of at most 8 bytes: one masked
// 8-byte load and compare per candidate (the input has 8 bytes of slack),
// no calls, a loop unrolled 16 times. In a Go Wasm guest every call and
// loop iteration costs a check of the host's deadline.
func matchShort(base unsafe.Pointer, offs []uint32, n int, s string, keep []bool) {
	var pad [8]byte
	copy(pad[:], s)
	needle := le.Uint64(pad[:])
	mask := ^uint64(0)
	if len(s) < 8 {
		mask = 1<<(8*len(s)) - 1
	}
	l := uint32(len(s))
	if base == nil { // every value is empty
		for i := range n {
			keep[i] = l == 0
		}
		return
	}
	eq := func(a, b uint32) bool {
		return b-a == l && *(*uint64)(unsafe.Add(base, a))&mask == needle
	}
	i := 0
	for ; i+16 <= n; i += 16 {
		o := offs[i : i+17 : i+17]
		k := keep[i : i+16 : i+16]
		k[0], k[1], k[2], k[3] = eq(o[0], o[1]), eq(o[1], o[2]), eq(o[2], o[3]), eq(o[3], o[4])
		k[4], k[5], k[6], k[7] = eq(o[4], o[5]), eq(o[5], o[6]), eq(o[6], o[7]), eq(o[7], o[8])
		k[8], k[9], k[10], k[11] = eq(o[8], o[9]), eq(o[9], o[10]), eq(o[10], o[11]), eq(o[11], o[12])
		k[12], k[13], k[14], k[15] = eq(o[12], o[13]), eq(o[13], o[14]), eq(o[14], o[15]), eq(o[15], o[16])
	}
	for ; i < n; i++ {
		keep[i] = eq(offs[i], offs[i+1])
	}
}

// eqAt reports whether the bytes [a, b) at base equal s, 8 bytes at a
// time. It indexes nothing: without bounds checks it calls nothing, so the
// Go compiler does not wrap it in the resumable loop that costs a deadline
// check per call.
func eqAt(base unsafe.Pointer, a, b uint32, s string) bool {
	n := uintptr(len(s))
	if uintptr(b-a) != n {
		return false
	}
	p := unsafe.Add(base, a)
	q := unsafe.Pointer(unsafe.StringData(s))
	var i uintptr
	for ; i+8 <= n; i += 8 {
		if *(*uint64)(unsafe.Add(p, i)) != *(*uint64)(unsafe.Add(q, i)) {
			return false
		}
	}
	if i+4 <= n {
		if *(*uint32)(unsafe.Add(p, i)) != *(*uint32)(unsafe.Add(q, i)) {
			return false
		}
		i += 4
	}
	if i+2 <= n {
		if *(*uint16)(unsafe.Add(p, i)) != *(*uint16)(unsafe.Add(q, i)) {
			return false
		}
		i += 2
	}
	return i == n || *(*byte)(unsafe.Add(p, i)) == *(*byte)(unsafe.Add(q, i))
}

// Ints returns an int64 column's values, one per candidate, as a view of
// the input (nil for other types). Missing values are 0: see Valid.
func (c Column) Ints() []int64 {
	if c.typ != TypeInt64 || c.nums == nil {
		return nil
	}
	return unsafe.Slice((*int64)(unsafe.Pointer(&c.nums[0])), len(c.nums))
}

// Floats returns a float64 column's values, one per candidate, as a view
// of the input (nil for other types). Missing values are 0: see Valid.
func (c Column) Floats() []float64 {
	if c.typ != TypeFloat64 || c.nums == nil {
		return nil
	}
	return unsafe.Slice((*float64)(unsafe.Pointer(&c.nums[0])), len(c.nums))
}

// AllValid reports whether every candidate has the attribute.
func (c Column) AllValid() bool { return c.valid == nil }

// Number returns candidate i's value of an int64 or float64 column as a
// float64, and false for other types.
func (c Column) Number(i int) (float64, bool) {
	switch c.typ {
	case TypeInt64:
		return float64(c.Int(i)), true
	case TypeFloat64:
		return c.Float(i), true
	}
	return 0, false
}

// ListLen returns the number of items of candidate i's string list.
func (c Column) ListLen(i int) int {
	return int(c.in.u32(c.data+4*(i+1)) - c.in.u32(c.data+4*i))
}

// ListItem returns item j of candidate i's string list.
func (c Column) ListItem(i, j int) string {
	n := c.in.Count()
	total := int(c.in.u32(c.data + 4*n))
	return c.in.str(c.data+4*(n+1), total, int(c.in.u32(c.data+4*i))+j)
}

// ListContains reports whether candidate i's string list contains s.
func (c Column) ListContains(i int, s string) bool {
	for j := range c.ListLen(i) {
		if c.ListItem(i, j) == s {
			return true
		}
	}
	return false
}

var current Input

// begin checks the input and prepares an output whose payload has elem
// bytes per candidate.
func begin(ptr, n uint32, hook, elem int) (*Input, []byte, error) {
	in := bytesOf(inWords)
	if len(in) == 0 || uint32(uintptr(unsafe.Pointer(&in[0]))) != ptr || int(n) > len(in) {
		return nil, nil, errors.New("weftplugin: input is not in the weft_alloc buffer")
	}
	// One Input per module, reused: calls into an instance never overlap,
	// and a call that allocates nothing leaves the guest's GC idle.
	x := &current
	*x = Input{b: in[:n]}
	if n < inHeaderSize || x.u32(0) != magic || x.u32(4) != ABIVersion || x.Hook() != hook {
		return nil, nil, errors.New("weftplugin: unexpected input header")
	}
	x.count = int(x.u32(16))
	x.ids = x.strCol(int(x.u32(52)), x.count)
	size := outHeaderSize + elem*x.Count()
	if size > 8*len(outWords) {
		outWords = words(size)
	}
	out := bytesOf(outWords)[:size]
	clear(out[:outHeaderSize])
	le.PutUint32(out[0:], magic)
	le.PutUint32(out[8:], uint32(x.Count()))
	return x, out, nil
}

// fillTrue sets every element of b with log2(len) bulk copies rather than
// a loop per element.
func fillTrue(b []bool) {
	if len(b) == 0 {
		return
	}
	b[0] = true
	for k := 1; k < len(b); k *= 2 {
		copy(b[k:], b[:k])
	}
}

// negate sets dst[i] = -src[i], unrolled: each loop iteration of a Go
// guest costs a check of the host's deadline.
func negate(dst, src []float32) {
	i := 0
	for ; i+8 <= len(src); i += 8 {
		d, s := dst[i:i+8:i+8], src[i:i+8:i+8]
		d[0], d[1], d[2], d[3] = -s[0], -s[1], -s[2], -s[3]
		d[4], d[5], d[6], d[7] = -s[4], -s[5], -s[6], -s[7]
	}
	for ; i < len(src); i++ {
		dst[i] = -src[i]
	}
}

// f32view is the f32 payload of out.
func f32view(out []byte, n int) []float32 {
	if n == 0 {
		return nil
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&out[outHeaderSize])), n)
}

func pack(b []byte) uint64 {
	return uint64(uint32(uintptr(unsafe.Pointer(&b[0]))))<<32 | uint64(len(b))
}

func fail(status uint32, err error) uint64 {
	msg := err.Error()
	if len(msg) > 1024 {
		msg = msg[:1024]
	}
	size := outHeaderSize + len(msg)
	if size > 8*len(outWords) {
		outWords = words(size)
	}
	out := bytesOf(outWords)[:size]
	clear(out[:outHeaderSize])
	le.PutUint32(out[0:], magic)
	le.PutUint32(out[4:], status)
	le.PutUint32(out[16:], uint32(len(msg)))
	copy(out[outHeaderSize:], msg)
	return pack(out)
}

// run calls fn, turning a panic into an error output (status 2).
func run(fn func() error) (res uint64, ok bool) {
	defer func() {
		if r := recover(); r != nil {
			res, ok = fail(2, fmt.Errorf("panic: %v", r)), false
		}
	}()
	if err := fn(); err != nil {
		return fail(1, err), false
	}
	return 0, true
}

// Route runs a route hook. weights[i] starts at 1 (probe every shard); set
// 0 to skip shard i, a higher weight to probe it first. A positive nprobe
// caps the number of shards probed.
func Route(ptr, n uint32, fn func(in *Input, weights []float32) (nprobe int, err error)) uint64 {
	in, out, err := begin(ptr, n, HookRoute, 4)
	if err != nil {
		return fail(3, err)
	}
	w := f32view(out, in.Count())
	for i := range w {
		w[i] = 1
	}
	var nprobe int
	if res, ok := run(func() (err error) { nprobe, err = fn(in, w); return err }); !ok {
		return res
	}
	le.PutUint32(out[12:], uint32(max(nprobe, 0)))
	return pack(out)
}

// Filter runs a filter hook. keep[i] starts true; set false to drop
// candidate i. in.PreANN() tells a pre-ANN call over documents.
func Filter(ptr, n uint32, fn func(in *Input, keep []bool) error) uint64 {
	in, out, err := begin(ptr, n, HookFilter, 1)
	if err != nil {
		return fail(3, err)
	}
	keep := unsafe.Slice((*bool)(unsafe.Pointer(&out[0])), len(out))[outHeaderSize:]
	fillTrue(keep)
	if res, ok := run(func() error { return fn(in, keep) }); !ok {
		return res
	}
	return pack(out)
}

// Rerank runs a rerank hook. scores[i] starts at -distance (higher is
// better); the host sorts the candidates by the final scores, descending.
func Rerank(ptr, n uint32, fn func(in *Input, scores []float32) error) uint64 {
	in, out, err := begin(ptr, n, HookRerank, 4)
	if err != nil {
		return fail(3, err)
	}
	s := f32view(out, in.Count())
	negate(s, in.Distances())
	if res, ok := run(func() error { return fn(in, s) }); !ok {
		return res
	}
	return pack(out)
}
