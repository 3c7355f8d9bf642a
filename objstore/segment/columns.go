package segment

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"unsafe"
)

// ColumnType is the type of a column's values. The codes are those of the
// plugin ABI's attribute types, so a column converts without a table.
type ColumnType uint8

// Column types.
const (
	ColumnString     ColumnType = 1
	ColumnInt64      ColumnType = 2
	ColumnFloat64    ColumnType = 3
	ColumnBool       ColumnType = 4
	ColumnStringList ColumnType = 5
)

// Column is one typed attribute over every row of a shard. Present says
// which rows have a value; the slice that matches Type holds one entry per
// row, the zero value where absent. An attribute whose rows hold values
// of several types has one column per type, each present where its type
// is.
type Column struct {
	Name    string
	Type    ColumnType
	Present []bool
	Strings []string
	Ints    []int64
	Floats  []float64
	Bools   []bool
	Lists   [][]string
}

func (c *Column) values() int {
	switch c.Type {
	case ColumnString:
		return len(c.Strings)
	case ColumnInt64:
		return len(c.Ints)
	case ColumnFloat64:
		return len(c.Floats)
	case ColumnBool:
		return len(c.Bools)
	case ColumnStringList:
		return len(c.Lists)
	}
	return -1
}

// EncodeColumns encodes the columns of a shard of rows rows, the contents
// of a KindColumns section:
//
//	offset  size  field
//	0       4     rows n
//	4       4     column count c
//	8       ...   c entries: name length (2), name, type (1)
//	              zero padding to a multiple of 8
//	...           per column, in entry order, each part padded with zeros to
//	              a multiple of 8:
//	                present: n bytes, 0 or 1
//	                values:  int64, float64: 8n bytes; bool: n bytes, 0 or 1;
//	                         string: a string table (EncodeStrings) of n;
//	                         string_list: n item ends (4 each, counted in
//	                         items), then a string table of every item
//
// Columns are sorted by name, then type, and unique; absent entries hold
// the zero value, so the encoding of a set of columns is canonical. Numbers
// land 8-byte aligned within the section, which DecodeColumns uses to read
// them in place.
func EncodeColumns(rows int, cols []Column) ([]byte, error) {
	if uint64(rows) > math.MaxUint32 || uint64(len(cols)) > math.MaxUint32 {
		return nil, fmt.Errorf("segment: %d rows and %d columns do not fit the column encoding", rows, len(cols))
	}
	for i := range cols {
		c := &cols[i]
		if len(c.Name) > math.MaxUint16 {
			return nil, fmt.Errorf("segment: column name of %d bytes, at most %d", len(c.Name), math.MaxUint16)
		}
		if c.Type < ColumnString || c.Type > ColumnStringList {
			return nil, fmt.Errorf("segment: column %q has type %d", c.Name, c.Type)
		}
		if len(c.Present) != rows || c.values() != rows {
			return nil, fmt.Errorf("segment: column %q has %d presence flags and %d values, want %d of each", c.Name, len(c.Present), c.values(), rows)
		}
		if i > 0 && compareColumns(&cols[i-1], c) >= 0 {
			return nil, fmt.Errorf("segment: columns %q (%d) and %q (%d) are not sorted by name and type, or repeat", cols[i-1].Name, cols[i-1].Type, c.Name, c.Type)
		}
	}
	le := binary.LittleEndian
	out := le.AppendUint32(nil, uint32(rows))
	out = le.AppendUint32(out, uint32(len(cols)))
	for _, c := range cols {
		out = le.AppendUint16(out, uint16(len(c.Name)))
		out = append(out, c.Name...)
		out = append(out, byte(c.Type))
	}
	out = pad8(out)
	for _, c := range cols {
		out = pad8(appendBools(out, c.Present))
		switch c.Type {
		case ColumnInt64:
			for _, v := range c.Ints {
				out = le.AppendUint64(out, uint64(v))
			}
		case ColumnFloat64:
			for _, v := range c.Floats {
				out = le.AppendUint64(out, math.Float64bits(v))
			}
		case ColumnBool:
			out = appendBools(out, c.Bools)
		case ColumnString:
			out = append(out, EncodeStrings(c.Strings)...)
		case ColumnStringList:
			var items []string
			for _, l := range c.Lists {
				items = append(items, l...)
				out = le.AppendUint32(out, uint32(len(items)))
			}
			out = append(out, EncodeStrings(items)...)
		}
		out = pad8(out)
	}
	return out, nil
}

func compareColumns(a, b *Column) int {
	if c := cmp.Compare(a.Name, b.Name); c != 0 {
		return c
	}
	return cmp.Compare(a.Type, b.Type)
}

func pad8(b []byte) []byte {
	for len(b)%8 != 0 {
		b = append(b, 0)
	}
	return b
}

func appendBools(out []byte, v []bool) []byte {
	for _, x := range v {
		if x {
			out = append(out, 1)
		} else {
			out = append(out, 0)
		}
	}
	return out
}

// DecodeColumns decodes a KindColumns section. Presence flags, bools and,
// on a little-endian machine when b is 8-byte aligned (as a section of a
// buffer read by this package is), numbers alias b: b must not change
// while the columns are in use. Strings share one copy per column. Errors
// wrap objstore.ErrCorrupt.
func DecodeColumns(b []byte) (rows int, cols []Column, err error) {
	d := decoder{b: b}
	n := int(d.u32())
	count := int(d.u32())
	if d.err != nil {
		return 0, nil, d.err
	}
	// Each column takes at least 3 bytes of entry and n of presence.
	if uint64(count) > uint64(len(b))/3 {
		return 0, nil, corrupt("columns: %d columns in %d bytes", count, len(b))
	}
	cols = make([]Column, count)
	for i := range cols {
		l := int(d.u16())
		cols[i].Name = string(d.bytes(l))
		cols[i].Type = ColumnType(d.u8())
		if d.err != nil {
			return 0, nil, d.err
		}
		if t := cols[i].Type; t < ColumnString || t > ColumnStringList {
			return 0, nil, corrupt("columns: column %q has type %d", cols[i].Name, t)
		}
		if i > 0 && compareColumns(&cols[i-1], &cols[i]) >= 0 {
			return 0, nil, corrupt("columns: %q (%d) and %q (%d) are not sorted, or repeat", cols[i-1].Name, cols[i-1].Type, cols[i].Name, cols[i].Type)
		}
	}
	d.align()
	le := binary.LittleEndian
	for i := range cols {
		c := &cols[i]
		c.Present = d.bools(n, c.Name)
		d.align()
		switch c.Type {
		case ColumnInt64, ColumnFloat64:
			raw := d.bytes(8 * n)
			if d.err != nil {
				break
			}
			aligned := nativeLittleEndian && uintptr(unsafe.Pointer(unsafe.SliceData(raw)))%8 == 0
			if c.Type == ColumnInt64 {
				if aligned && n > 0 {
					c.Ints = unsafe.Slice((*int64)(unsafe.Pointer(unsafe.SliceData(raw))), n)
				} else {
					c.Ints = make([]int64, n)
					for j := range c.Ints {
						c.Ints[j] = int64(le.Uint64(raw[8*j:]))
					}
				}
			} else {
				if aligned && n > 0 {
					c.Floats = unsafe.Slice((*float64)(unsafe.Pointer(unsafe.SliceData(raw))), n)
				} else {
					c.Floats = make([]float64, n)
					for j := range c.Floats {
						c.Floats[j] = math.Float64frombits(le.Uint64(raw[8*j:]))
					}
				}
			}
		case ColumnBool:
			c.Bools = d.bools(n, c.Name)
		case ColumnString:
			c.Strings = d.strings(n, c.Name)
		case ColumnStringList:
			ends := d.bytes(4 * n)
			if d.err != nil {
				break
			}
			items := d.strings(-1, c.Name)
			if d.err != nil {
				break
			}
			c.Lists = make([][]string, n)
			prev := uint32(0)
			for j := range c.Lists {
				end := le.Uint32(ends[4*j:])
				if end < prev || uint64(end) > uint64(len(items)) {
					return 0, nil, corrupt("columns: %q row %d: items end at %d, after %d and within %d", c.Name, j, end, prev, len(items))
				}
				if end > prev {
					c.Lists[j] = items[prev:end:end]
				}
				prev = end
			}
			if int(prev) != len(items) {
				return 0, nil, corrupt("columns: %q: lists hold %d items of %d", c.Name, prev, len(items))
			}
		}
		d.align()
		if d.err != nil {
			return 0, nil, d.err
		}
		if err := checkAbsentZero(c); err != nil {
			return 0, nil, err
		}
	}
	if d.off != len(b) {
		return 0, nil, corrupt("columns: %d bytes after the last column", len(b)-d.off)
	}
	return n, cols, nil
}

// checkAbsentZero keeps the encoding canonical: an absent entry holds the
// zero value.
func checkAbsentZero(c *Column) error {
	for j, ok := range c.Present {
		if ok {
			continue
		}
		zero := true
		switch c.Type {
		case ColumnString:
			zero = c.Strings[j] == ""
		case ColumnInt64:
			zero = c.Ints[j] == 0
		case ColumnFloat64:
			zero = math.Float64bits(c.Floats[j]) == 0
		case ColumnBool:
			zero = !c.Bools[j]
		case ColumnStringList:
			zero = len(c.Lists[j]) == 0
		}
		if !zero {
			return corrupt("columns: %q row %d is absent but holds a value", c.Name, j)
		}
	}
	return nil
}

// decoder reads a section front to back; the first error sticks.
type decoder struct {
	b   []byte
	off int
	err error
}

func (d *decoder) bytes(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b)-d.off {
		d.err = corrupt("columns: %d bytes wanted at offset %d of %d", n, d.off, len(d.b))
		return nil
	}
	out := d.b[d.off : d.off+n : d.off+n]
	d.off += n
	return out
}

func (d *decoder) u8() uint8 {
	if b := d.bytes(1); b != nil {
		return b[0]
	}
	return 0
}

func (d *decoder) u16() uint16 {
	if b := d.bytes(2); b != nil {
		return binary.LittleEndian.Uint16(b)
	}
	return 0
}

func (d *decoder) u32() uint32 {
	if b := d.bytes(4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

// align skips the zero padding to the next multiple of 8.
func (d *decoder) align() {
	if pad := (8 - d.off%8) % 8; pad > 0 {
		for _, x := range d.bytes(pad) {
			if x != 0 {
				d.err = corrupt("columns: non-zero padding at offset %d", d.off-pad)
			}
		}
	}
}

// bools reads n bytes that must each be 0 or 1, as []bool in place.
func (d *decoder) bools(n int, name string) []bool {
	raw := d.bytes(n)
	if d.err != nil {
		return nil
	}
	for j, x := range raw {
		if x > 1 {
			d.err = corrupt("columns: %q row %d: flag byte %d", name, j, x)
			return nil
		}
	}
	if n == 0 {
		return []bool{}
	}
	return unsafe.Slice((*bool)(unsafe.Pointer(unsafe.SliceData(raw))), n)
}

// strings reads a string table of n strings (any count when n < 0).
func (d *decoder) strings(n int, name string) []string {
	if d.err != nil {
		return nil
	}
	rest := d.b[d.off:]
	if len(rest) < 4 {
		d.err = corrupt("columns: %q: no string table at offset %d", name, d.off)
		return nil
	}
	count := binary.LittleEndian.Uint32(rest)
	if n >= 0 && uint64(count) != uint64(n) {
		d.err = corrupt("columns: %q: %d strings for %d rows", name, count, n)
		return nil
	}
	if uint64(count) > uint64(len(rest)-4)/4 {
		d.err = corrupt("columns: %q: %d strings in %d bytes", name, count, len(rest))
		return nil
	}
	size := 4 + 4*int(count)
	if count > 0 {
		size += int(binary.LittleEndian.Uint32(rest[4*count:]))
	}
	table := d.bytes(size)
	if d.err != nil {
		return nil
	}
	ss, err := DecodeStrings(table)
	if err != nil {
		d.err = fmt.Errorf("columns: %q: %w", name, err)
		return nil
	}
	return ss
}

// SortColumns sorts columns into the order EncodeColumns wants.
func SortColumns(cols []Column) {
	slices.SortFunc(cols, func(a, b Column) int { return compareColumns(&a, &b) })
}
