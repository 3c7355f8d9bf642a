package meter

import (
	"errors"
	"fmt"
)

var errShort = errors.New("unexpected end of section")

// reader reads the binary format; the first error sticks and later reads
// return zeros.
type reader struct {
	b   []byte
	pos int
	err error
}

func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
	r.pos = len(r.b)
}

func (r *reader) byte() byte {
	if r.pos >= len(r.b) {
		r.fail(errShort)
		return 0
	}
	c := r.b[r.pos]
	r.pos++
	return c
}

func (r *reader) bytes(n int) []byte {
	if n < 0 || n > len(r.b)-r.pos {
		r.fail(errShort)
		return nil
	}
	s := r.b[r.pos : r.pos+n]
	r.pos += n
	return s
}

func (r *reader) rest() []byte {
	s := r.b[r.pos:]
	r.pos = len(r.b)
	return s
}

// leb reads an LEB128 of at most maxBytes bytes and returns its low 64 bits.
func (r *reader) leb(maxBytes int) uint64 {
	var v uint64
	for i := range maxBytes {
		c := r.byte()
		if r.err != nil {
			return 0
		}
		if i < 10 {
			v |= uint64(c&0x7F) << (7 * i)
		}
		if c&0x80 == 0 {
			return v
		}
	}
	r.fail(errors.New("LEB128 number too long"))
	return 0
}

func (r *reader) u32() uint32 {
	v := r.leb(5)
	if v > 1<<32-1 {
		r.fail(errors.New("u32 out of range"))
	}
	return uint32(v)
}

// count reads a vector's length, refusing one longer than the bytes left
// (every item takes at least one), so that a corrupt length does not make
// a loop run billions of times.
func (r *reader) count() uint32 {
	n := r.u32()
	if int(n) > len(r.b)-r.pos {
		r.fail(errShort)
		return 0
	}
	return n
}

func (r *reader) name() string { return string(r.bytes(int(r.u32()))) }

func (r *reader) limits() {
	flags := r.byte()
	if flags&0x04 != 0 { // memory64: u64 bounds
		r.leb(10)
		if flags&1 != 0 {
			r.leb(10)
		}
		return
	}
	r.u32()
	if flags&1 != 0 {
		r.u32()
	}
}

type writer struct{ b []byte }

func (w *writer) byte(c byte)  { w.b = append(w.b, c) }
func (w *writer) raw(p []byte) { w.b = append(w.b, p...) }

func (w *writer) u32(v uint32) {
	for {
		c := byte(v & 0x7F)
		v >>= 7
		if v == 0 {
			w.b = append(w.b, c)
			return
		}
		w.b = append(w.b, c|0x80)
	}
}

func (w *writer) s64(v int64) {
	for {
		c := byte(v & 0x7F)
		v >>= 7
		if v == 0 && c&0x40 == 0 || v == -1 && c&0x40 != 0 {
			w.b = append(w.b, c)
			return
		}
		w.b = append(w.b, c|0x80)
	}
}

func (w *writer) name(s string) {
	w.u32(uint32(len(s)))
	w.b = append(w.b, s...)
}

// instr is one decoded instruction: its opcode (the prefix byte for
// prefixed ones), where it starts, and for those that name a function or a
// global, the index and where its immediate starts.
type instr struct {
	op    byte
	start int
	imm   int
	idx   uint32
	fn    bool // idx is a function index (call, ref.func)
	// bulk marks an instruction whose cost grows with its count operand,
	// on top of the stack: budget units are that count shifted left by
	// shift (right by −shift when negative).
	bulk  bool
	shift int8
}

// next decodes the instruction at r.pos, WebAssembly 2.0 (with the
// threads proposal's atomics, which only add memory immediates).
func next(r *reader) (instr, error) {
	in := instr{start: r.pos}
	in.op = r.byte()
	switch op := in.op; {
	case op == 0x00, op == 0x01, op == 0x05, op == 0x0B, op == 0x0F, op == 0x1A, op == 0x1B,
		op >= 0x45 && op <= 0xC4, op == 0xD1:
	case op >= 0x02 && op <= 0x04: // block, loop, if: blocktype
		blockType(r)
	case op == 0x0C, op == 0x0D: // br, br_if
		r.u32()
	case op == 0x0E: // br_table
		n := r.count()
		for range n {
			r.u32()
		}
		r.u32()
	case op == 0x10: // call
		in.imm = r.pos
		in.idx = r.u32()
		in.fn = true
	case op == 0x11: // call_indirect: type, table
		r.u32()
		r.u32()
	case op == 0x1C: // select t*
		n := r.count()
		for range n {
			r.byte()
		}
	case op >= 0x20 && op <= 0x26: // locals, globals, table.get/set
		in.imm = r.pos
		in.idx = r.u32()
	case op >= 0x28 && op <= 0x3E: // loads and stores
		memarg(r)
	case op == 0x3F, op == 0x40: // memory.size, memory.grow
		r.u32()
		if op == 0x40 {
			in.bulk, in.shift = true, pageShift
		}
	case op == 0x41:
		r.leb(5)
	case op == 0x42:
		r.leb(10)
	case op == 0x43:
		r.bytes(4)
	case op == 0x44:
		r.bytes(8)
	case op == 0xD0: // ref.null heaptype
		r.leb(5)
	case op == 0xD2: // ref.func
		in.imm = r.pos
		in.idx = r.u32()
		in.fn = true
	case op == 0xFC:
		in.bulk, in.shift = prefixedFC(r)
	case op == 0xFD:
		simd(r)
	case op == 0xFE:
		if sub := r.u32(); sub == 0x03 { // atomic.fence
			r.byte()
		} else {
			memarg(r)
		}
	default:
		return in, fmt.Errorf("opcode %#x at byte %d is not WebAssembly 2.0", op, in.start)
	}
	return in, r.err
}

func blockType(r *reader) {
	c := r.b[min(r.pos, len(r.b)-1)]
	if c == 0x40 || c >= 0x6F && c <= 0x7F { // empty or a value type
		r.byte()
		return
	}
	r.leb(5) // s33 type index
}

func memarg(r *reader) {
	align := r.u32()
	if align&0x40 != 0 { // multi-memory: memory index
		r.u32()
	}
	r.leb(10)
}

// Budget units per element of a bulk instruction's count: a page grown is
// 1,024 units, 64 bytes copied or filled one, a table element one.
const (
	pageShift  = 10
	byteShift  = -6
	tableShift = 0
)

// prefixedFC decodes the 0xFC instructions (saturating conversions, bulk
// memory and tables) and returns their bulk weighting.
func prefixedFC(r *reader) (bulk bool, shift int8) {
	switch sub := r.u32(); sub {
	case 0, 1, 2, 3, 4, 5, 6, 7: // trunc_sat
	case 8, 10: // memory.init data mem, memory.copy mem mem
		r.u32()
		r.u32()
		return true, byteShift
	case 11: // memory.fill mem
		r.u32()
		return true, byteShift
	case 9, 13, 16: // data.drop, elem.drop, table.size
		r.u32()
	case 12, 14: // table.init, table.copy: two indices
		r.u32()
		r.u32()
		return true, tableShift
	case 15, 17: // table.grow, table.fill
		r.u32()
		return true, tableShift
	default:
		r.fail(fmt.Errorf("instruction 0xFC %d is not WebAssembly 2.0", sub))
	}
	return false, 0
}

func simd(r *reader) {
	switch sub := r.u32(); {
	case sub <= 11, sub == 92, sub == 93: // loads, store
		memarg(r)
	case sub == 12, sub == 13: // v128.const, i8x16.shuffle
		r.bytes(16)
	case sub >= 21 && sub <= 34: // extract and replace lane
		r.byte()
	case sub >= 84 && sub <= 91: // load and store lane
		memarg(r)
		r.byte()
	}
}
