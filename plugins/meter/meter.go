package meter

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// The import Instrument adds: a function () -> i32 that checks the
// deadline and returns the next budget.
const (
	Module = "weft_meter"
	Func   = "tick"
)

// Budget is the number of instructions a guest runs between two calls of
// the import, about 20–500 µs of guest work: rare enough to cost nothing
// measurable, often enough that a deadline overshoots by well under 10 ms.
const Budget = 1 << 16

var magic = []byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00}

// Section ids.
const (
	secCustom   = 0
	secType     = 1
	secImport   = 2
	secFunction = 3
	secGlobal   = 6
	secExport   = 7
	secStart    = 8
	secElement  = 9
	secCode     = 10
	secTag      = 13
)

// order is a section's position in a module (custom sections aside).
var order = map[byte]int{1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 13: 6, 6: 7, 7: 8, 8: 9, 9: 10, 12: 11, 10: 12, 11: 13}

type section struct {
	id   byte
	body []byte
}

// Instrument returns wasm with the budget counter and its checks added; see
// the package doc.
func Instrument(wasm []byte) ([]byte, error) {
	if len(wasm) < 8 || !bytes.Equal(wasm[:8], magic) {
		return nil, errors.New("not a WebAssembly 1.0 binary module (bad magic or version)")
	}
	var secs []section
	r := &reader{b: wasm, pos: 8}
	for r.pos < len(r.b) {
		id := r.byte()
		n := r.u32()
		body := r.bytes(int(n))
		if r.err != nil {
			return nil, fmt.Errorf("section %d: %w", id, r.err)
		}
		secs = append(secs, section{id, body})
	}

	m := &module{}
	for _, s := range secs {
		var err error
		switch s.id {
		case secType:
			err = m.scanTypes(s.body)
		case secFunction:
			err = m.scanFunctions(s.body)
		case secImport:
			err = m.scanImports(s.body)
		case secGlobal:
			m.globals, err = count(s.body)
		}
		if err != nil {
			return nil, fmt.Errorf("section %d: %w", s.id, err)
		}
	}
	m.counter = m.importedGlobals + m.globals
	m.tick = m.importedFuncs

	var out []section
	added := map[byte]bool{}
	addMissing := func(before int) {
		for _, id := range []byte{secType, secImport, secGlobal} {
			if !m.has(secs, id) && !added[id] && order[id] < before {
				out = append(out, section{id, m.newSection(id)})
				added[id] = true
			}
		}
	}
	for _, s := range secs {
		if s.id != secCustom {
			addMissing(order[s.id])
		}
		body, keep, err := m.rewrite(s)
		if err != nil {
			return nil, fmt.Errorf("section %d: %w", s.id, err)
		}
		if keep {
			out = append(out, section{s.id, body})
		}
	}
	addMissing(100)

	var w writer
	w.raw(magic)
	for _, s := range out {
		w.byte(s.id)
		w.u32(uint32(len(s.body)))
		w.raw(s.body)
	}
	return w.b, nil
}

// module is what the rewrite needs to know of the original.
type module struct {
	types, globals                 uint32
	paramCounts                    []uint32 // per type
	funcTypes                      []uint32 // per defined function
	importedFuncs, importedGlobals uint32
	counter                        uint32 // index of the added global
	tick                           uint32 // index of the added import
}

func (m *module) has(secs []section, id byte) bool {
	for _, s := range secs {
		if s.id == id {
			return true
		}
	}
	return false
}

func count(b []byte) (uint32, error) {
	r := &reader{b: b}
	n := r.u32()
	return n, r.err
}

func (m *module) scanTypes(b []byte) error {
	r := &reader{b: b}
	m.types = r.u32()
	for range m.types {
		if form := r.byte(); form != 0x60 && r.err == nil {
			return fmt.Errorf("type of form %#x is not a function type", form)
		}
		n := r.u32()
		r.bytes(int(n))
		m.paramCounts = append(m.paramCounts, n)
		r.bytes(int(r.u32()))
		if r.err != nil {
			return r.err
		}
	}
	return r.err
}

func (m *module) scanFunctions(b []byte) error {
	r := &reader{b: b}
	n := r.u32()
	for range n {
		m.funcTypes = append(m.funcTypes, r.u32())
		if r.err != nil {
			return r.err
		}
	}
	return r.err
}

// params is the parameter count of type t, 0 for a bad index (which
// compiling the module then reports).
func (m *module) params(t uint32) uint32 {
	if int(t) < len(m.paramCounts) {
		return m.paramCounts[t]
	}
	return 0
}

func (m *module) scanImports(b []byte) error {
	r := &reader{b: b}
	n := r.u32()
	for range n {
		mod := r.name()
		r.name()
		if mod == Module {
			return fmt.Errorf("module imports from %q, a name the host reserves", Module)
		}
		switch kind := r.byte(); kind {
		case 0x00: // function
			r.u32()
			m.importedFuncs++
		case 0x01: // table: reftype, limits
			r.byte()
			r.limits()
		case 0x02: // memory
			r.limits()
		case 0x03: // global: valtype, mutability
			r.byte()
			r.byte()
			m.importedGlobals++
		case 0x04: // tag
			r.byte()
			r.u32()
		default:
			return fmt.Errorf("import of unknown kind %#x", kind)
		}
		if r.err != nil {
			return r.err
		}
	}
	return r.err
}

// newSection is a section the module lacked, holding only what Instrument
// adds.
func (m *module) newSection(id byte) []byte {
	var w writer
	w.u32(1)
	m.appendNew(&w, id)
	return w.b
}

// appendNew writes the entry Instrument adds to section id.
func (m *module) appendNew(w *writer, id byte) {
	switch id {
	case secType: // () -> i32
		w.raw([]byte{0x60, 0x00, 0x01, 0x7F})
	case secImport:
		w.name(Module)
		w.name(Func)
		w.byte(0x00)
		w.u32(m.types) // the type appended above
	case secGlobal: // mutable i32 = Budget
		w.raw([]byte{0x7F, 0x01, 0x41})
		w.s64(Budget)
		w.byte(0x0B)
	}
}

// rewrite returns the new body of s, or keep false to drop it.
func (m *module) rewrite(s section) ([]byte, bool, error) {
	switch s.id {
	case secCustom:
		r := &reader{b: s.body}
		name := r.name()
		if r.err != nil {
			return nil, false, r.err
		}
		drop := name == "name" || strings.HasPrefix(name, ".debug")
		return s.body, !drop, nil
	case secType, secImport, secGlobal:
		return m.extend(s)
	case secExport:
		return m.exports(s.body)
	case secStart:
		r := &reader{b: s.body}
		f := r.u32()
		var w writer
		w.u32(m.fn(f))
		return w.b, true, r.err
	case secElement:
		return m.elements(s.body)
	case secCode:
		return m.code(s.body)
	}
	return s.body, true, nil
}

// fn maps an original function index to the rewritten module's.
func (m *module) fn(i uint32) uint32 {
	if i >= m.importedFuncs {
		return i + 1
	}
	return i
}

// extend appends the added entry to a type, import or global section,
// rewriting the global initialisers (which may name functions).
func (m *module) extend(s section) ([]byte, bool, error) {
	r := &reader{b: s.body}
	n := r.u32()
	var w writer
	w.u32(n + 1)
	if s.id == secGlobal {
		for range n {
			start := r.pos
			r.byte() // valtype
			r.byte() // mutability
			w.raw(r.b[start:r.pos])
			if err := m.expr(r, &w); err != nil {
				return nil, false, err
			}
		}
	} else {
		w.raw(r.rest())
	}
	if r.err != nil {
		return nil, false, r.err
	}
	m.appendNew(&w, s.id)
	return w.b, true, nil
}

func (m *module) exports(b []byte) ([]byte, bool, error) {
	r := &reader{b: b}
	n := r.count()
	var w writer
	w.u32(n)
	for range n {
		w.name(r.name())
		kind := r.byte()
		idx := r.u32()
		if kind == 0x00 {
			idx = m.fn(idx)
		}
		w.byte(kind)
		w.u32(idx)
	}
	return w.b, true, r.err
}

// elements rewrites the function indices of element segments, in each of
// the eight encodings.
func (m *module) elements(b []byte) ([]byte, bool, error) {
	r := &reader{b: b}
	n := r.u32()
	var w writer
	w.u32(n)
	for range n {
		flag := r.u32()
		w.u32(flag)
		if flag > 7 {
			return nil, false, fmt.Errorf("element segment of unknown kind %d", flag)
		}
		if flag == 2 || flag == 6 { // table index
			w.u32(r.u32())
		}
		if flag&1 == 0 { // active: offset expression
			if err := m.expr(r, &w); err != nil {
				return nil, false, err
			}
		}
		if flag&3 != 0 { // elemkind or reftype
			w.byte(r.byte())
		}
		items := r.count()
		w.u32(items)
		for range items {
			if flag&4 == 0 {
				w.u32(m.fn(r.u32()))
			} else if err := m.expr(r, &w); err != nil {
				return nil, false, err
			}
		}
		if r.err != nil {
			return nil, false, r.err
		}
	}
	return w.b, true, r.err
}

// expr copies a constant expression, renumbering ref.func.
func (m *module) expr(r *reader, w *writer) error {
	depth := 0
	for {
		if r.err != nil {
			return r.err
		}
		in, err := next(r)
		if err != nil {
			return err
		}
		m.emit(r, w, in)
		switch in.op {
		case 0x02, 0x03, 0x04:
			depth++
		case 0x0B:
			if depth == 0 {
				return nil
			}
			depth--
		}
	}
}

func (m *module) code(b []byte) ([]byte, bool, error) {
	r := &reader{b: b}
	n := r.u32()
	var w writer
	w.u32(n)
	for i := range n {
		size := r.u32()
		body := r.bytes(int(size))
		if r.err != nil {
			return nil, false, r.err
		}
		if int(i) >= len(m.funcTypes) {
			return nil, false, errors.New("more function bodies than functions")
		}
		nb, err := m.function(body, m.params(m.funcTypes[i]))
		if err != nil {
			return nil, false, fmt.Errorf("function %d: %w", m.importedFuncs+i, err)
		}
		w.u32(uint32(len(nb)))
		w.raw(nb)
	}
	return w.b, true, r.err
}

// function instruments one function body: a check at entry weighted by
// the instructions outside any loop, and one at each loop header weighted
// by the instructions directly inside that loop.
func (m *module) function(body []byte, params uint32) ([]byte, error) {
	r := &reader{b: body}
	groups := r.count()
	groupsEnd := r.pos // the count may be encoded in more bytes than it needs
	declared := uint64(params)
	for range groups {
		declared += uint64(r.u32())
		r.byte() // valtype
	}
	if r.err != nil {
		return nil, r.err
	}
	locals := r.pos
	bulk := false

	// Pass 1: the weight of each region.
	var loops []uint32 // weight per loop, in order of appearance
	var entry uint32
	var stack []int // per open block: its loop number, or -1
	add := func(c uint32) {
		for j := len(stack) - 1; j >= 0; j-- {
			if stack[j] >= 0 {
				loops[stack[j]] = min(loops[stack[j]]+c, Budget)
				return
			}
		}
		entry = min(entry+c, Budget)
	}
	for r.pos < len(r.b) {
		in, err := next(r)
		if err != nil {
			return nil, err
		}
		if in.op == 0x24 && in.idx == m.counter {
			return nil, fmt.Errorf("global.set of global %d, which does not exist", in.idx)
		}
		add(1)
		bulk = bulk || in.bulk
		switch in.op {
		case 0x02, 0x04:
			stack = append(stack, -1)
		case 0x03:
			stack = append(stack, len(loops))
			loops = append(loops, 0)
		case 0x0B:
			if len(stack) == 0 { // the body's end
				if r.pos != len(r.b) {
					return nil, errors.New("code after the end of the body")
				}
				break
			}
			stack = stack[:len(stack)-1]
		}
	}
	if r.err != nil {
		return nil, r.err
	}

	// Pass 2: copy, renumber and insert the checks. A function with bulk
	// instructions gets one more local, to weigh their operand.
	var w writer
	scratch := uint32(declared)
	if bulk {
		if declared >= 50000 { // wazero's limit on locals
			return nil, errors.New("too many locals")
		}
		w.u32(groups + 1)
		w.raw(body[groupsEnd:locals])
		w.raw([]byte{0x01, 0x7F}) // one i32
	} else {
		w.raw(body[:locals])
	}
	m.check(&w, entry)
	r = &reader{b: body, pos: locals}
	loop := 0
	for r.pos < len(r.b) {
		in, _ := next(r)
		if in.bulk {
			m.weigh(&w, scratch, in.shift)
		}
		m.emit(r, &w, in)
		if in.op == 0x03 {
			m.check(&w, max(loops[loop], 1))
			loop++
		}
	}
	return w.b, nil
}

// maxWeight bounds what one bulk instruction weighs: 1,024 budgets, so
// that counter minus it cannot overflow an i32.
const maxWeight = 1 << 26

// weigh writes, before a bulk instruction whose count operand is on top of
// the stack: counter -= count scaled by shift (left if positive, right if
// negative), then the usual check. The count is unsigned: scaled up
// unchecked, a large one (a memory.grow or table.grow of 0xFFFFFFFF, which
// fails at once) would weigh as a negative number and add to the budget,
// so it is first capped at maxWeight>>shift.
func (m *module) weigh(w *writer, scratch uint32, shift int8) {
	w.byte(0x22) // local.tee
	w.u32(scratch)
	w.byte(0x23)
	w.u32(m.counter)
	if shift >= 0 { // min_u(count, maxWeight>>shift)
		limit := int64(maxWeight >> shift)
		w.byte(0x20) // local.get
		w.u32(scratch)
		w.byte(0x41)
		w.s64(limit)
		w.byte(0x20)
		w.u32(scratch)
		w.byte(0x41)
		w.s64(limit)
		w.raw([]byte{0x49, 0x1B}) // i32.lt_u; select
	} else {
		w.byte(0x20)
		w.u32(scratch)
	}
	switch {
	case shift > 0:
		w.raw([]byte{0x41, byte(shift), 0x74}) // i32.shl
	case shift < 0:
		w.raw([]byte{0x41, byte(-shift), 0x76}) // i32.shr_u
	}
	w.byte(0x6B) // i32.sub
	w.byte(0x24)
	w.u32(m.counter)
	m.check(w, 0)
}

// check writes: counter -= cost; if counter < 0 { counter = tick() }.
func (m *module) check(w *writer, cost uint32) {
	w.byte(0x23) // global.get
	w.u32(m.counter)
	w.byte(0x41) // i32.const
	w.s64(int64(cost))
	w.byte(0x6B) // i32.sub
	w.byte(0x24) // global.set
	w.u32(m.counter)
	w.byte(0x23)
	w.u32(m.counter)
	w.raw([]byte{0x41, 0x00, 0x48, 0x04, 0x40}) // i32.const 0; i32.lt_s; if
	w.byte(0x10)                                // call
	w.u32(m.tick)
	w.byte(0x24)
	w.u32(m.counter)
	w.byte(0x0B) // end
}

// emit copies the instruction r just read, renumbering a function index.
func (m *module) emit(r *reader, w *writer, in instr) {
	if !in.fn {
		w.raw(r.b[in.start:r.pos])
		return
	}
	w.raw(r.b[in.start:in.imm])
	w.u32(m.fn(in.idx))
}
