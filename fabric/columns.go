package fabric

import (
	"slices"
	"strings"

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
}

// grow adds an empty slot.
func (a *attrColumns) grow() {
	a.n++
	for i := range a.cols {
		c := &a.cols[i]
		c.Valid = append(c.Valid, false)
		switch c.Type {
		case plugins.TypeString:
			c.Strings = append(c.Strings, "")
		case plugins.TypeInt64:
			c.Ints = append(c.Ints, 0)
		case plugins.TypeFloat64:
			c.Floats = append(c.Floats, 0)
		case plugins.TypeBool:
			c.Bools = append(c.Bools, false)
		case plugins.TypeStringList:
			c.Lists = append(c.Lists, nil)
		}
	}
}

// clear marks slot absent in every column.
func (a *attrColumns) clear(slot int) {
	for i := range a.cols {
		c := &a.cols[i]
		c.Valid[slot] = false
		switch c.Type { // drop references so freed strings can be collected
		case plugins.TypeString:
			c.Strings[slot] = ""
		case plugins.TypeStringList:
			c.Lists[slot] = nil
		}
	}
}

// set replaces slot's attributes with attrs.
func (a *attrColumns) set(slot int, attrs attrs) {
	a.clear(slot)
	for name, v := range attrs {
		i, ok := a.index[name]
		if !ok {
			t, ok := abiType(v)
			if !ok {
				continue
			}
			i = a.add(name, t)
		}
		c := &a.cols[i]
		switch k := v.GetKind().(type) {
		case *weftv1.AttributeValue_StringValue:
			if c.Type == plugins.TypeString {
				c.Strings[slot], c.Valid[slot] = k.StringValue, true
			}
		case *weftv1.AttributeValue_IntValue:
			if c.Type == plugins.TypeInt64 {
				c.Ints[slot], c.Valid[slot] = k.IntValue, true
			}
		case *weftv1.AttributeValue_FloatValue:
			if c.Type == plugins.TypeFloat64 {
				c.Floats[slot], c.Valid[slot] = k.FloatValue, true
			}
		case *weftv1.AttributeValue_BoolValue:
			if c.Type == plugins.TypeBool {
				c.Bools[slot], c.Valid[slot] = k.BoolValue, true
			}
		case *weftv1.AttributeValue_StringListValue:
			if c.Type == plugins.TypeStringList {
				c.Lists[slot], c.Valid[slot] = k.StringListValue.GetValues(), true
			}
		}
	}
}

// add creates an all-absent column and returns its position.
func (a *attrColumns) add(name string, t plugins.AttrType) int {
	c := plugins.Column{Name: name, Type: t, Valid: make([]bool, a.n)}
	switch t {
	case plugins.TypeString:
		c.Strings = make([]string, a.n)
	case plugins.TypeInt64:
		c.Ints = make([]int64, a.n)
	case plugins.TypeFloat64:
		c.Floats = make([]float64, a.n)
	case plugins.TypeBool:
		c.Bools = make([]bool, a.n)
	case plugins.TypeStringList:
		c.Lists = make([][]string, a.n)
	}
	at, _ := slices.BinarySearchFunc(a.cols, name, func(c plugins.Column, name string) int { return strings.Compare(c.Name, name) })
	a.cols = slices.Insert(a.cols, at, c)
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

func abiType(v *weftv1.AttributeValue) (plugins.AttrType, bool) {
	switch v.GetKind().(type) {
	case *weftv1.AttributeValue_StringValue:
		return plugins.TypeString, true
	case *weftv1.AttributeValue_IntValue:
		return plugins.TypeInt64, true
	case *weftv1.AttributeValue_FloatValue:
		return plugins.TypeFloat64, true
	case *weftv1.AttributeValue_BoolValue:
		return plugins.TypeBool, true
	case *weftv1.AttributeValue_StringListValue:
		return plugins.TypeStringList, true
	}
	return 0, false
}
