package workers

import (
	"slices"
	"strings"

	"github.com/weftdb/weft/objstore/segment"
	"github.com/weftdb/weft/plugins"
	weftv1 "github.com/weftdb/weft/proto/gen/weft/v1"
)

// attrColumns keeps every attribute of a namespace as a plugin ABI column
// over all slots, updated with each write, so a filter or rerank hook's
// batch is a gather of the slots it covers instead of a walk over
// per-document maps (which cost about 0.3 µs a document: 3 ms for a
// 10,000-document filter). A column's type is that of the first value
// stored under its name; a value of another type counts as absent, as the
// ABI has one type per column.
type attrColumns struct {
	n     int              // slots
	cols  []plugins.Column // sorted by name; each has n entries
	index map[string]int   // name → position in cols
	// mixed names the columns that a value of another type than the
	// column's was left out of: filters on them read the documents' maps.
	mixed map[string]bool
}

// grow adds an empty slot.
func (a *attrColumns) grow() {
	a.n++
	for i := range a.cols {
		a.cols[i].Append()
	}
}

// clear marks slot absent in every column.
func (a *attrColumns) clear(slot int) {
	for i := range a.cols {
		a.cols[i].Clear(slot)
	}
}

// set replaces slot's attributes with attrs.
func (a *attrColumns) set(slot int, attrs Attrs) {
	a.clear(slot)
	for name, v := range attrs {
		x := abiValue(v)
		i, ok := a.index[name]
		if !ok {
			t, err := plugins.TypeOf(x)
			if err != nil {
				continue
			}
			i = a.add(name, t)
		}
		if err := a.cols[i].Set(slot, x); err != nil { // another type than the column's: absent
			a.markMixed(name)
		}
	}
}

// markMixed records that a value of name was left out of its column.
func (a *attrColumns) markMixed(name string) {
	if a.mixed == nil {
		a.mixed = make(map[string]bool)
	}
	a.mixed[name] = true
}

// add creates an all-absent column and returns its position.
func (a *attrColumns) add(name string, t plugins.AttrType) int {
	at, _ := slices.BinarySearchFunc(a.cols, name, func(c plugins.Column, name string) int { return strings.Compare(c.Name, name) })
	a.cols = slices.Insert(a.cols, at, plugins.NewColumn(name, t, a.n))
	if a.index == nil {
		a.index = make(map[string]int)
	}
	for i := at; i < len(a.cols); i++ {
		a.index[a.cols[i].Name] = i
	}
	return at
}

// batch returns the slots' ids and attribute columns, copied, in the order
// given. ids is the state's slot → id table.
func (a *attrColumns) batch(ids []string, slots []int) *plugins.Batch {
	all := plugins.Batch{IDs: ids, Attributes: a.cols}
	return all.Select(slots)
}

// abiValue is an attribute value as the Go value plugins.Column takes; nil
// for a value without a type.
func abiValue(v *weftv1.AttributeValue) any {
	switch k := v.GetKind().(type) {
	case *weftv1.AttributeValue_StringValue:
		return k.StringValue
	case *weftv1.AttributeValue_IntValue:
		return k.IntValue
	case *weftv1.AttributeValue_FloatValue:
		return k.FloatValue
	case *weftv1.AttributeValue_BoolValue:
		return k.BoolValue
	case *weftv1.AttributeValue_StringListValue:
		return k.StringListValue.GetValues()
	}
	return nil
}

// column returns the column of name and whether it holds every value
// stored under name (no value of another type was left out).
func (a *attrColumns) column(name string) (*plugins.Column, bool) {
	i, ok := a.index[name]
	if !ok {
		return nil, !a.mixed[name]
	}
	return &a.cols[i], !a.mixed[name]
}

// copyIn copies the rows of c, a column of the same type, into slots
// [base, base+len) of the column of c's name, which must exist.
func (a *attrColumns) copyIn(base int, c *plugins.Column) {
	dst := &a.cols[a.index[c.Name]]
	n := 0
	switch c.Type {
	case plugins.TypeString:
		n = copy(dst.Strings[base:], c.Strings)
	case plugins.TypeInt64:
		n = copy(dst.Ints[base:], c.Ints)
	case plugins.TypeFloat64:
		n = copy(dst.Floats[base:], c.Floats)
	case plugins.TypeBool:
		n = copy(dst.Bools[base:], c.Bools)
	case plugins.TypeStringList:
		n = copy(dst.Lists[base:], c.Lists)
	}
	if c.Valid == nil {
		for i := range n {
			dst.Valid[base+i] = true
		}
		return
	}
	copy(dst.Valid[base:], c.Valid)
}

// rowAttrs builds the attributes of one row of cols, nil when it has none.
func rowAttrs(cols []plugins.Column, row int) Attrs {
	var a Attrs
	for i := range cols {
		c := &cols[i]
		if c.Valid != nil && !c.Valid[row] {
			continue
		}
		v := &weftv1.AttributeValue{}
		switch c.Type {
		case plugins.TypeString:
			v.Kind = &weftv1.AttributeValue_StringValue{StringValue: c.Strings[row]}
		case plugins.TypeInt64:
			v.Kind = &weftv1.AttributeValue_IntValue{IntValue: c.Ints[row]}
		case plugins.TypeFloat64:
			v.Kind = &weftv1.AttributeValue_FloatValue{FloatValue: c.Floats[row]}
		case plugins.TypeBool:
			v.Kind = &weftv1.AttributeValue_BoolValue{BoolValue: c.Bools[row]}
		case plugins.TypeStringList:
			v.Kind = &weftv1.AttributeValue_StringListValue{StringListValue: &weftv1.StringList{Values: c.Lists[row]}}
		default:
			continue
		}
		if a == nil {
			a = make(Attrs)
		}
		a[c.Name] = v
	}
	return a
}

// encodeColumns returns the typed columns of rows' attributes, as a
// segment stores them: one column per name and type.
func encodeColumns(rows []Attrs) []segment.Column {
	type key struct {
		name string
		t    plugins.AttrType
	}
	byKey := map[key]*plugins.Column{}
	for row, a := range rows {
		for name, v := range a {
			x := abiValue(v)
			t, err := plugins.TypeOf(x)
			if err != nil {
				continue
			}
			c := byKey[key{name, t}]
			if c == nil {
				nc := plugins.NewColumn(name, t, len(rows))
				c = &nc
				byKey[key{name, t}] = c
			}
			_ = c.Set(row, x) // of type t
		}
	}
	out := make([]segment.Column, 0, len(byKey))
	for _, c := range byKey {
		out = append(out, segment.Column{Name: c.Name, Type: segment.ColumnType(c.Type), Present: c.Valid,
			Strings: c.Strings, Ints: c.Ints, Floats: c.Floats, Bools: c.Bools, Lists: c.Lists})
	}
	segment.SortColumns(out)
	return out
}

// decodedColumns turns a segment's columns into plugin ABI columns,
// sharing their slices.
func decodedColumns(cols []segment.Column) []plugins.Column {
	out := make([]plugins.Column, len(cols))
	for i, c := range cols {
		out[i] = plugins.Column{Name: c.Name, Type: plugins.AttrType(c.Type), Valid: c.Present,
			Strings: c.Strings, Ints: c.Ints, Floats: c.Floats, Bools: c.Bools, Lists: c.Lists}
	}
	return out
}
