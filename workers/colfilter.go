package workers

import (
	"math"
	"slices"

	"github.com/weftdb/weft/index/filter"
	"github.com/weftdb/weft/plugins"
	weftv1 "github.com/weftdb/weft/proto/gen/weft/v1"
)

// compileColumns turns a validated filter into a test of a slot that reads
// the attribute columns instead of each document's map: an int comparison
// costs an array load instead of a map lookup, which made a filter over
// 60,000 documents take milliseconds. It follows compileFilter's rules
// exactly (filter_test.go checks both agree); comparisons it has no column
// shortcut for (bool and string-list ranges, and attributes that hold
// values of several types) read the documents' maps. The caller holds the
// state's lock while the test is used: it captures the columns.
func (s *State) compileColumns(f *weftv1.Filter) AllowFunc {
	switch op := f.GetOp().(type) {
	case *weftv1.Filter_Eq:
		if t := s.eqTest(op.Eq.GetAttribute(), op.Eq.GetValue()); t != nil {
			return t
		}
	case *weftv1.Filter_Ne:
		if t := s.eqTest(op.Ne.GetAttribute(), op.Ne.GetValue()); t != nil {
			return func(slot int) bool { return !t(slot) }
		}
	case *weftv1.Filter_In:
		tests := make([]AllowFunc, 0, len(op.In.GetValues()))
		for _, v := range op.In.GetValues() {
			t := s.eqTest(op.In.GetAttribute(), v)
			if t == nil {
				tests = nil
				break
			}
			tests = append(tests, t)
		}
		if tests != nil {
			return anyOf(tests)
		}
	case *weftv1.Filter_Range:
		if t := s.rangeTest(op.Range); t != nil {
			return t
		}
	case *weftv1.Filter_Exists:
		if c, pure := s.cols.column(op.Exists.GetAttribute()); pure {
			if c == nil {
				return func(int) bool { return false }
			}
			valid := c.Valid
			if valid == nil {
				return func(int) bool { return true }
			}
			return func(slot int) bool { return valid[slot] }
		}
	case *weftv1.Filter_And:
		subs := s.compileList(op.And)
		return func(slot int) bool {
			for _, t := range subs {
				if !t(slot) {
					return false
				}
			}
			return true
		}
	case *weftv1.Filter_Or:
		return anyOf(s.compileList(op.Or))
	case *weftv1.Filter_Not:
		sub := s.compileColumns(op.Not)
		return func(slot int) bool { return !sub(slot) }
	}
	match := compileFilter(f)
	return func(slot int) bool { return match(s.Attrs(slot)) }
}

func (s *State) compileList(l *weftv1.FilterList) []AllowFunc {
	out := make([]AllowFunc, len(l.GetFilters()))
	for i, f := range l.GetFilters() {
		out[i] = s.compileColumns(f)
	}
	return out
}

func anyOf(tests []AllowFunc) AllowFunc {
	return func(slot int) bool {
		for _, t := range tests {
			if t(slot) {
				return true
			}
		}
		return false
	}
}

// present reports whether a column entry holds a value; Valid nil means
// every entry does.
func present(valid []bool, slot int) bool { return valid == nil || valid[slot] }

// eqTest is equalsOrContains(doc[name], want) over the column of name, or
// nil when the column cannot answer it.
func (s *State) eqTest(name string, want *weftv1.AttributeValue) AllowFunc {
	c, pure := s.cols.column(name)
	if !pure {
		return nil
	}
	never := func(int) bool { return false }
	if c == nil {
		return never
	}
	valid := c.Valid
	switch c.Type {
	case plugins.TypeInt64:
		vals := c.Ints
		switch w := want.GetKind().(type) {
		case *weftv1.AttributeValue_IntValue:
			x := w.IntValue
			return func(slot int) bool { return present(valid, slot) && vals[slot] == x }
		case *weftv1.AttributeValue_FloatValue:
			x := w.FloatValue
			return func(slot int) bool { return present(valid, slot) && float64(vals[slot]) == x }
		}
		return never
	case plugins.TypeFloat64:
		vals := c.Floats
		switch w := want.GetKind().(type) {
		case *weftv1.AttributeValue_IntValue:
			x := float64(w.IntValue)
			return func(slot int) bool { return present(valid, slot) && vals[slot] == x }
		case *weftv1.AttributeValue_FloatValue:
			x := w.FloatValue
			return func(slot int) bool { return present(valid, slot) && vals[slot] == x }
		}
		return never
	case plugins.TypeString:
		w, ok := want.GetKind().(*weftv1.AttributeValue_StringValue)
		if !ok {
			return never
		}
		vals, x := c.Strings, w.StringValue
		return func(slot int) bool { return present(valid, slot) && vals[slot] == x }
	case plugins.TypeBool:
		w, ok := want.GetKind().(*weftv1.AttributeValue_BoolValue)
		if !ok {
			return never
		}
		vals, x := c.Bools, w.BoolValue
		return func(slot int) bool { return present(valid, slot) && vals[slot] == x }
	case plugins.TypeStringList:
		w, ok := want.GetKind().(*weftv1.AttributeValue_StringValue)
		if !ok {
			return never
		}
		vals, x := c.Lists, w.StringValue
		return func(slot int) bool { return present(valid, slot) && slices.Contains(vals[slot], x) }
	}
	return nil
}

// rangeTest is inRange over the column of the range's attribute, for int,
// float and string columns; nil otherwise.
func (s *State) rangeTest(r *weftv1.RangeFilter) AllowFunc {
	c, pure := s.cols.column(r.GetAttribute())
	if !pure {
		return nil
	}
	if c == nil {
		return func(int) bool { return false }
	}
	valid := c.Valid
	type bound struct {
		v      *weftv1.AttributeValue
		accept func(c int) bool
	}
	bounds := []bound{
		{r.GetGt(), func(c int) bool { return c == 1 }},
		{r.GetGte(), func(c int) bool { return c == 0 || c == 1 }},
		{r.GetLt(), func(c int) bool { return c == -1 }},
		{r.GetLte(), func(c int) bool { return c == 0 || c == -1 }},
	}
	switch c.Type {
	case plugins.TypeInt64, plugins.TypeFloat64:
		// Numbers compare as float64, as compare does for mixed kinds;
		// int64 against int64 stays exact.
		lo, hi := numericBounds(bounds[0].v, bounds[1].v, bounds[2].v, bounds[3].v)
		if lo == nil || hi == nil {
			return func(int) bool { return false } // a non-numeric bound never holds
		}
		if c.Type == plugins.TypeInt64 {
			vals := c.Ints
			a, b, ok := intInterval(*lo, *hi)
			if !ok {
				return func(int) bool { return false }
			}
			if valid == nil {
				return func(slot int) bool { v := vals[slot]; return v >= a && v <= b }
			}
			return func(slot int) bool { v := vals[slot]; return valid[slot] && v >= a && v <= b }
		}
		vals := c.Floats
		return func(slot int) bool {
			return present(valid, slot) && lo.okFloat(vals[slot]) && hi.okFloat(vals[slot])
		}
	case plugins.TypeString:
		vals := c.Strings
		var strs []string
		var accepts []func(int) bool
		for _, b := range bounds {
			if b.v == nil {
				continue
			}
			w, ok := b.v.GetKind().(*weftv1.AttributeValue_StringValue)
			if !ok {
				return func(int) bool { return false }
			}
			strs, accepts = append(strs, w.StringValue), append(accepts, b.accept)
		}
		return func(slot int) bool {
			if !present(valid, slot) {
				return false
			}
			for i, x := range strs {
				if !accepts[i](cmp3(vals[slot], x)) {
					return false
				}
			}
			return true
		}
	}
	return nil
}

// numBound is one side of a numeric range: no bound, or a value that rows
// must be above (below), maybe equal to.
type numBound struct {
	set, isInt, inclusive, upper bool
	i                            int64
	f                            float64
}

func (b *numBound) okFloat(x float64) bool {
	if !b.set {
		return true
	}
	y := b.f
	if b.isInt {
		y = float64(b.i)
	}
	if b.upper {
		return x < y || b.inclusive && x == y
	}
	return x > y || b.inclusive && x == y
}

// numericBounds folds gt/gte and lt/lte into one lower and one upper bound
// each. A range may set both gt and gte (validation allows it): then both
// must hold, so the lower bound is a conjunction; it returns nil for a
// bound that is not a number, which no value satisfies.
func numericBounds(gt, gte, lt, lte *weftv1.AttributeValue) (*conj, *conj) {
	mk := func(v *weftv1.AttributeValue, inclusive, upper bool) (numBound, bool) {
		if v == nil {
			return numBound{}, true
		}
		switch k := v.GetKind().(type) {
		case *weftv1.AttributeValue_IntValue:
			return numBound{set: true, isInt: true, inclusive: inclusive, upper: upper, i: k.IntValue}, true
		case *weftv1.AttributeValue_FloatValue:
			return numBound{set: true, inclusive: inclusive, upper: upper, f: k.FloatValue}, true
		}
		return numBound{}, false
	}
	var lo, hi conj
	for _, x := range []struct {
		v                *weftv1.AttributeValue
		inclusive, upper bool
	}{{gt, false, false}, {gte, true, false}, {lt, false, true}, {lte, true, true}} {
		b, ok := mk(x.v, x.inclusive, x.upper)
		if !ok {
			return nil, nil
		}
		if x.upper {
			hi = append(hi, b)
		} else {
			lo = append(lo, b)
		}
	}
	return &lo, &hi
}

// conj is bounds that must all hold.
type conj []numBound

func (c *conj) okFloat(x float64) bool {
	for i := range *c {
		if !(*c)[i].okFloat(x) {
			return false
		}
	}
	return true
}

// intInterval turns numeric bounds into the closed interval [a, b] of the
// int64 values that satisfy them all; ok is false when none does.
func intInterval(lo, hi conj) (a, b int64, ok bool) {
	a, b = math.MinInt64, math.MaxInt64
	for _, x := range append(lo, hi...) {
		if !x.set {
			continue
		}
		var v int64
		exact := true
		if x.isInt {
			v = x.i
		} else {
			switch {
			case x.f >= math.MaxInt64:
				v, exact = math.MaxInt64, false
			case x.f < math.MinInt64:
				v, exact = math.MinInt64, false
			case x.upper:
				v = int64(math.Floor(x.f))
				exact = float64(v) == x.f
			default:
				v = int64(math.Ceil(x.f))
				exact = float64(v) == x.f
			}
		}
		// Now "value op x" for an integer value is "value op' v".
		switch {
		case x.upper && (x.inclusive || !exact):
			if x.f < math.MinInt64 && !x.isInt {
				return 0, 0, false
			}
			b = min(b, v)
		case x.upper:
			if v == math.MinInt64 {
				return 0, 0, false
			}
			b = min(b, v-1)
		case x.inclusive || !exact:
			if x.f >= math.MaxInt64 && !x.isInt {
				return 0, 0, false
			}
			a = max(a, v)
		default:
			if v == math.MaxInt64 {
				return 0, 0, false
			}
			a = max(a, v+1)
		}
	}
	return a, b, a <= b
}

// BulkFilter returns, for the common filter shapes (an int equality or
// range on an int column that holds every value of its attribute), a
// function that marks the live rows of slots [base, base+n) that pass it
// in one tight loop: a per-slot test through closures costs several times
// more per row, which dominated selective filtered queries. nil for other
// filters. The caller holds the state's lock.
func (s *State) BulkFilter(f *weftv1.Filter) func(base, n int, bits *filter.Bitset) {
	var name string
	var lo, hi *conj
	switch op := f.GetOp().(type) {
	case *weftv1.Filter_Eq:
		if _, ok := op.Eq.GetValue().GetKind().(*weftv1.AttributeValue_IntValue); !ok {
			return nil
		}
		name = op.Eq.GetAttribute()
		lo, hi = numericBounds(nil, op.Eq.GetValue(), nil, op.Eq.GetValue())
	case *weftv1.Filter_Range:
		name = op.Range.GetAttribute()
		r := op.Range
		lo, hi = numericBounds(r.GetGt(), r.GetGte(), r.GetLt(), r.GetLte())
	default:
		return nil
	}
	c, pure := s.cols.column(name)
	if !pure || c == nil || c.Type != plugins.TypeInt64 || lo == nil {
		return nil
	}
	a, b, ok := intInterval(*lo, *hi)
	vals, valid, ids := c.Ints, c.Valid, s.IDs
	return func(base, n int, bits *filter.Bitset) {
		if !ok {
			return
		}
		for i, v := range vals[base : base+n] {
			if v >= a && v <= b && present(valid, base+i) && ids[base+i] != "" {
				bits.Set(uint32(i))
			}
		}
	}
}
