package weft

import (
	weftv1 "github.com/weftdb/weft/proto/gen/weft/v1"
)

// Eq matches documents whose attribute equals v.
func Eq(attr string, v *Value) *weftv1.Filter {
	return &weftv1.Filter{Op: &weftv1.Filter_Eq{Eq: &weftv1.Comparison{Attribute: attr, Value: v}}}
}

// Ne matches documents whose attribute is absent or differs from v.
func Ne(attr string, v *Value) *weftv1.Filter {
	return &weftv1.Filter{Op: &weftv1.Filter_Ne{Ne: &weftv1.Comparison{Attribute: attr, Value: v}}}
}

// In matches documents whose attribute equals one of vs.
func In(attr string, vs ...*Value) *weftv1.Filter {
	return &weftv1.Filter{Op: &weftv1.Filter_In{In: &weftv1.InFilter{Attribute: attr, Values: vs}}}
}

// Bounds are the bounds of a [Range]; nil bounds are open. Bounds are all
// numbers or all strings.
type Bounds struct {
	Gt, Gte, Lt, Lte *Value
}

// Range matches documents whose attribute lies within b, e.g.
// Range("year", Bounds{Gte: Int(2020), Lt: Int(2025)}).
func Range(attr string, b Bounds) *weftv1.Filter {
	return &weftv1.Filter{Op: &weftv1.Filter_Range{Range: &weftv1.RangeFilter{
		Attribute: attr, Gt: b.Gt, Gte: b.Gte, Lt: b.Lt, Lte: b.Lte,
	}}}
}

// Gt matches documents whose attribute is greater than v.
func Gt(attr string, v *Value) *weftv1.Filter { return Range(attr, Bounds{Gt: v}) }

// Gte matches documents whose attribute is at least v.
func Gte(attr string, v *Value) *weftv1.Filter { return Range(attr, Bounds{Gte: v}) }

// Lt matches documents whose attribute is less than v.
func Lt(attr string, v *Value) *weftv1.Filter { return Range(attr, Bounds{Lt: v}) }

// Lte matches documents whose attribute is at most v.
func Lte(attr string, v *Value) *weftv1.Filter { return Range(attr, Bounds{Lte: v}) }

// Exists matches documents that have the attribute.
func Exists(attr string) *weftv1.Filter {
	return &weftv1.Filter{Op: &weftv1.Filter_Exists{Exists: &weftv1.ExistsFilter{Attribute: attr}}}
}

// And matches documents that match every filter (at least one).
func And(fs ...*weftv1.Filter) *weftv1.Filter {
	return &weftv1.Filter{Op: &weftv1.Filter_And{And: &weftv1.FilterList{Filters: fs}}}
}

// Or matches documents that match at least one of the filters.
func Or(fs ...*weftv1.Filter) *weftv1.Filter {
	return &weftv1.Filter{Op: &weftv1.Filter_Or{Or: &weftv1.FilterList{Filters: fs}}}
}

// Not matches documents that do not match f.
func Not(f *weftv1.Filter) *weftv1.Filter {
	return &weftv1.Filter{Op: &weftv1.Filter_Not{Not: f}}
}
