package workers

import (
	"slices"

	weftv1 "github.com/weftdb/weft/proto/gen/weft/v1"
)

// Attrs is one document's attributes.
type Attrs = map[string]*weftv1.AttributeValue

// predicate reports whether a document's attributes pass a filter.
type predicate func(Attrs) bool

// compileFilter turns a validated filter into a predicate. A nil filter
// passes everything.
func compileFilter(f *weftv1.Filter) predicate {
	if f == nil {
		return func(Attrs) bool { return true }
	}
	switch op := f.GetOp().(type) {
	case *weftv1.Filter_Eq:
		name, want := op.Eq.GetAttribute(), op.Eq.GetValue()
		return func(a Attrs) bool { return equalsOrContains(a[name], want) }
	case *weftv1.Filter_Ne:
		name, want := op.Ne.GetAttribute(), op.Ne.GetValue()
		return func(a Attrs) bool { return !equalsOrContains(a[name], want) }
	case *weftv1.Filter_In:
		name, wants := op.In.GetAttribute(), op.In.GetValues()
		return func(a Attrs) bool {
			v := a[name]
			for _, w := range wants {
				if equalsOrContains(v, w) {
					return true
				}
			}
			return false
		}
	case *weftv1.Filter_Range:
		r := op.Range
		name := r.GetAttribute()
		return func(a Attrs) bool { return inRange(a[name], r) }
	case *weftv1.Filter_Exists:
		name := op.Exists.GetAttribute()
		return func(a Attrs) bool { _, ok := a[name]; return ok }
	case *weftv1.Filter_And:
		subs := compileList(op.And)
		return func(a Attrs) bool {
			for _, p := range subs {
				if !p(a) {
					return false
				}
			}
			return true
		}
	case *weftv1.Filter_Or:
		subs := compileList(op.Or)
		return func(a Attrs) bool {
			for _, p := range subs {
				if p(a) {
					return true
				}
			}
			return false
		}
	case *weftv1.Filter_Not:
		sub := compileFilter(op.Not)
		return func(a Attrs) bool { return !sub(a) }
	}
	// Unreachable for validated filters; match nothing rather than everything.
	return func(Attrs) bool { return false }
}

func compileList(l *weftv1.FilterList) []predicate {
	ps := make([]predicate, len(l.GetFilters()))
	for i, f := range l.GetFilters() {
		ps[i] = compileFilter(f)
	}
	return ps
}

// equalsOrContains is eq's rule: scalars compare by value (ints and floats
// as numbers); a string list matches when it holds the string.
func equalsOrContains(v, want *weftv1.AttributeValue) bool {
	if v == nil {
		return false
	}
	if l, ok := v.GetKind().(*weftv1.AttributeValue_StringListValue); ok {
		s, ok := want.GetKind().(*weftv1.AttributeValue_StringValue)
		return ok && slices.Contains(l.StringListValue.GetValues(), s.StringValue)
	}
	return compare(v, want) == 0
}

// compare orders two scalar values: -1, 0, 1, or 2 when they are not
// comparable (different kinds, or a bool in an order comparison is fine
// for equality only).
func compare(a, b *weftv1.AttributeValue) int {
	switch x := a.GetKind().(type) {
	case *weftv1.AttributeValue_StringValue:
		y, ok := b.GetKind().(*weftv1.AttributeValue_StringValue)
		if !ok {
			return 2
		}
		return cmp3(x.StringValue, y.StringValue)
	case *weftv1.AttributeValue_BoolValue:
		y, ok := b.GetKind().(*weftv1.AttributeValue_BoolValue)
		if !ok {
			return 2
		}
		if x.BoolValue == y.BoolValue {
			return 0
		}
		return 2
	case *weftv1.AttributeValue_IntValue:
		switch y := b.GetKind().(type) {
		case *weftv1.AttributeValue_IntValue:
			return cmp3(x.IntValue, y.IntValue)
		case *weftv1.AttributeValue_FloatValue:
			return cmp3(float64(x.IntValue), y.FloatValue)
		}
	case *weftv1.AttributeValue_FloatValue:
		switch y := b.GetKind().(type) {
		case *weftv1.AttributeValue_IntValue:
			return cmp3(x.FloatValue, float64(y.IntValue))
		case *weftv1.AttributeValue_FloatValue:
			return cmp3(x.FloatValue, y.FloatValue)
		}
	}
	return 2
}

func cmp3[T int64 | float64 | string](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func inRange(v *weftv1.AttributeValue, r *weftv1.RangeFilter) bool {
	if v == nil {
		return false
	}
	if b := r.GetGt(); b != nil {
		if c := compare(v, b); c != 1 {
			return false
		}
	}
	if b := r.GetGte(); b != nil {
		if c := compare(v, b); c != 0 && c != 1 {
			return false
		}
	}
	if b := r.GetLt(); b != nil {
		if c := compare(v, b); c != -1 {
			return false
		}
	}
	if b := r.GetLte(); b != nil {
		if c := compare(v, b); c != 0 && c != -1 {
			return false
		}
	}
	return true
}
