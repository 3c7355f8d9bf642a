package hnsw

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"sync/atomic"
	"unsafe"

	"github.com/weftdb/weft/index/distance"
	"github.com/weftdb/weft/index/internal/parallel"
)

// The encoding is a 64-byte header followed by flat little-endian sections,
// each starting on an 8-byte boundary:
//
//	header   magic "WEFTHNSW", then uint32s: version, metric, dim, n, M,
//	         efConstruction, maxLevel, entry, upper words, deleted count;
//	         zero padding to 64 bytes
//	levels   n bytes: each node's top layer
//	upperOff n uint32: each node's first word in upper
//	links0   n × (2M+1) uint32: count, then neighbour ids
//	upper    uint32 blocks of M+1 words for layers 1..level of each node
//	deleted  ⌈n/64⌉ uint64: the tombstone bitset
//	vectors  n × dim float32
//
// Decode checks every count, id and offset, so a corrupt buffer is an error
// and never a panic or an out-of-range read later.
const (
	magic         = "WEFTHNSW"
	formatVersion = 1
	headerSize    = 64
)

type layout struct {
	levels, upperOff, links0, upper, deleted, vectors, end int
}

func pad8(n int) int { return (n + 7) &^ 7 }

func makeLayout(n, dim, m0, upperWords int) layout {
	var l layout
	l.levels = headerSize
	l.upperOff = pad8(l.levels + n)
	l.links0 = pad8(l.upperOff + 4*n)
	l.upper = pad8(l.links0 + 4*n*(m0+1))
	l.deleted = pad8(l.upper + 4*upperWords)
	l.vectors = l.deleted + 8*bitsetWords(n)
	l.end = l.vectors + 4*n*dim
	return l
}

// EncodedVectorsOffset returns where the vectors start in the index's
// encoding: row i's dim float32s are at EncodedVectorsOffset() + 4·dim·i,
// so a reader can fetch some rows' vectors by range without the rest.
func (x *Index) EncodedVectorsOffset() int {
	return makeLayout(x.n, x.dim, x.m0, len(x.upper)).vectors
}

// EncodedSize returns the number of bytes WriteTo writes.
func (x *Index) EncodedSize() int {
	return makeLayout(x.n, x.dim, x.m0, len(x.upper)).end
}

// AppendEncoding appends the index's encoding to dst.
func (x *Index) AppendEncoding(dst []byte) []byte {
	l := makeLayout(x.n, x.dim, x.m0, len(x.upper))
	start := len(dst)
	dst = append(dst, make([]byte, l.end)...)
	b := dst[start:]
	copy(b, magic)
	le := binary.LittleEndian
	for i, v := range []int{formatVersion, int(x.metric), x.dim, x.n, x.m, x.efc, x.maxLevel, int(x.entry), len(x.upper), x.deletedCount()} {
		le.PutUint32(b[8+4*i:], uint32(v))
	}
	copy(b[l.levels:], x.levels)
	for i, v := range x.upperOff {
		le.PutUint32(b[l.upperOff+4*i:], v)
	}
	for i, v := range x.links0 {
		le.PutUint32(b[l.links0+4*i:], v)
	}
	for i, v := range x.upper {
		le.PutUint32(b[l.upper+4*i:], v)
	}
	for i, v := range x.deleted {
		le.PutUint64(b[l.deleted+8*i:], v)
	}
	for i, v := range x.vectors {
		le.PutUint32(b[l.vectors+4*i:], math.Float32bits(v))
	}
	return dst
}

// WriteTo writes the index's encoding to w.
func (x *Index) WriteTo(w io.Writer) (int64, error) {
	n, err := w.Write(x.AppendEncoding(nil))
	return int64(n), err
}

var errCorrupt = errors.New("hnsw: corrupt encoding")

func corrupt(format string, a ...any) error {
	return fmt.Errorf("%w: %s", errCorrupt, fmt.Sprintf(format, a...))
}

// Decode returns the index encoded in buf. On little-endian machines, when
// buf is 4-byte aligned, the vectors and links alias buf (no copy and no
// per-node allocation), so buf must stay unchanged while the index is in
// use; the tombstones are copied so Delete never writes to buf. Otherwise
// the sections are copied.
func Decode(buf []byte) (*Index, error) { return decode(buf, true) }

// DecodeLinks decodes an encoding cut before its vectors (its first
// EncodedVectorsOffset bytes): an index that can be searched on codes
// (SearchCodes, with the refine vectors supplied by the caller) until
// AttachVectors gives it its vectors. Search, ExactSearch and Vector need
// them.
func DecodeLinks(buf []byte) (*Index, error) { return decode(buf, false) }

// HasVectors reports whether the index holds its vectors.
func (x *Index) HasVectors() bool { return x.vectors != nil || x.n == 0 }

// AttachVectors gives an index decoded by DecodeLinks its vectors, n rows
// of dim float32s in node order, as the full encoding holds them. It must
// happen before any use that needs vectors, and not concurrently with
// searches.
func (x *Index) AttachVectors(v []float32) error {
	if len(v) != x.n*x.dim {
		return corrupt("%d vector values for %d nodes of dimension %d", len(v), x.n, x.dim)
	}
	x.vectors = v
	return nil
}

func decode(buf []byte, withVectors bool) (*Index, error) {
	if len(buf) < headerSize || string(buf[:8]) != magic {
		return nil, corrupt("bad magic or short header")
	}
	le := binary.LittleEndian
	h := func(i int) int { return int(le.Uint32(buf[8+4*i:])) }
	if v := h(0); v != formatVersion {
		return nil, corrupt("unsupported version %d", v)
	}
	x := &Index{
		metric:   distance.Metric(h(1)),
		dim:      h(2),
		n:        h(3),
		m:        h(4),
		efc:      h(5),
		maxLevel: h(6),
		entry:    uint32(h(7)),
	}
	ndeleted := h(9)
	upperWords := h(8)
	x.m0 = 2 * x.m
	switch {
	case !x.metric.Valid():
		return nil, corrupt("unknown metric %d", x.metric)
	case x.dim <= 0 || x.dim > 1<<16:
		return nil, corrupt("dimension %d", x.dim)
	case x.m < 2 || x.m > 256:
		return nil, corrupt("M %d", x.m)
	case x.maxLevel > maxLevelCap:
		return nil, corrupt("max level %d", x.maxLevel)
	case x.n < 0 || x.n > math.MaxInt32:
		return nil, corrupt("node count %d", x.n)
	}
	// Bound n by the buffer before computing section sizes.
	perNode := 4*(x.m0+1) + 5
	if withVectors {
		perNode += 4 * x.dim
	}
	if uint64(x.n)*uint64(perNode) > uint64(len(buf)) || upperWords > len(buf)/4 {
		return nil, corrupt("sizes exceed the buffer")
	}
	l := makeLayout(x.n, x.dim, x.m0, upperWords)
	want := l.end
	if !withVectors {
		want = l.vectors
	}
	if len(buf) != want {
		return nil, corrupt("length %d, want %d", len(buf), want)
	}
	x.levels = buf[l.levels : l.levels+x.n : l.levels+x.n]
	x.upperOff = u32s(buf[l.upperOff:], x.n)
	x.links0 = u32s(buf[l.links0:], x.n*(x.m0+1))
	x.upper = u32s(buf[l.upper:], upperWords)
	if withVectors {
		x.vectors = f32s(buf[l.vectors:], x.n*x.dim)
	}
	x.deleted = make([]uint64, bitsetWords(x.n))
	for i := range x.deleted {
		x.deleted[i] = le.Uint64(buf[l.deleted+8*i:])
	}
	x.setKernel()
	x.ndeleted.Store(int64(ndeleted))
	if err := x.check(); err != nil {
		return nil, err
	}
	x.borrowed = true
	return x, nil
}

// check validates a decoded index's structure.
func (x *Index) check() error {
	if x.n == 0 {
		if x.entry != 0 || x.maxLevel != 0 || len(x.upper) != 0 || x.deletedCount() != 0 {
			return corrupt("empty index with entry data")
		}
		return nil
	}
	if int(x.entry) >= x.n || int(x.levels[x.entry]) != x.maxLevel {
		return corrupt("entry point %d", x.entry)
	}
	total := 0
	for i, lv := range x.levels {
		if int(lv) > maxLevelCap {
			return corrupt("node %d level %d", i, lv)
		}
		if int(x.upperOff[i]) != total {
			return corrupt("node %d upper offset", i)
		}
		total += int(lv) * (x.m + 1)
	}
	if total != len(x.upper) {
		return corrupt("upper layer size")
	}
	// Every neighbour on layer l must exist on layer l, or a search would
	// read another node's block.
	n := uint32(x.n)
	checkBlock := func(b []uint32, maxM, layer int) bool {
		c := int(b[0])
		if c > maxM {
			return false
		}
		for _, id := range b[1 : c+1] {
			if id >= n || int(x.levels[id]) < layer {
				return false
			}
		}
		return true
	}
	checkNode := func(i int) error {
		if !checkBlock(x.links0[i*(x.m0+1):(i+1)*(x.m0+1)], x.m0, 0) {
			return corrupt("node %d layer 0 links", i)
		}
		for l := 1; l <= int(x.levels[i]); l++ {
			if !checkBlock(x.links(uint32(i), l), x.m, l) {
				return corrupt("node %d layer %d links", i, l)
			}
		}
		return nil
	}
	// A million nodes take a tenth of a second: on every core for large
	// graphs, reporting the first bad node in order.
	threads := 1
	if x.n >= 1<<17 {
		threads = 0 // GOMAXPROCS
	}
	firstBad := atomic.Int64{}
	firstBad.Store(int64(x.n))
	parallel.For(x.n, threads, func(i int) {
		if checkNode(i) != nil {
			for cur := firstBad.Load(); int64(i) < cur && !firstBad.CompareAndSwap(cur, int64(i)); cur = firstBad.Load() {
			}
		}
	})
	if bad := int(firstBad.Load()); bad < x.n {
		return checkNode(bad)
	}
	if rem := x.n % 64; rem != 0 && x.deleted[len(x.deleted)-1]>>rem != 0 {
		return corrupt("tombstones past the last node")
	}
	if popcount(x.deleted) != x.deletedCount() {
		return corrupt("tombstone count")
	}
	return nil
}

var littleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

// u32s views (or, when it cannot, copies) n little-endian uint32s at b.
func u32s(b []byte, n int) []uint32 {
	if n == 0 {
		return nil
	}
	b = b[:4*n]
	if littleEndian && uintptr(unsafe.Pointer(&b[0]))%4 == 0 {
		return unsafe.Slice((*uint32)(unsafe.Pointer(&b[0])), n)
	}
	out := make([]uint32, n)
	for i := range out {
		out[i] = binary.LittleEndian.Uint32(b[4*i:])
	}
	return out
}

func f32s(b []byte, n int) []float32 {
	if n == 0 {
		return nil
	}
	b = b[:4*n]
	if littleEndian && uintptr(unsafe.Pointer(&b[0]))%4 == 0 {
		return unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), n)
	}
	out := make([]float32, n)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}
