package workers

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/weftdb/weft/index/filter"
	"github.com/weftdb/weft/objstore/segment"
	storagev1 "github.com/weftdb/weft/proto/gen/weft/storage/v1"
	weftv1 "github.com/weftdb/weft/proto/gen/weft/v1"
)

// randomValue draws a small-domain value of the kind k (0 int, 1 float,
// 2 string, 3 bool, 4 string list), so equal values and boundaries are
// common.
func randomValue(r *rand.Rand, k int) *weftv1.AttributeValue {
	strs := []string{"a", "b", "c", "d"}
	switch k {
	case 0:
		return &weftv1.AttributeValue{Kind: &weftv1.AttributeValue_IntValue{IntValue: int64(r.IntN(7) - 3)}}
	case 1:
		return &weftv1.AttributeValue{Kind: &weftv1.AttributeValue_FloatValue{FloatValue: float64(r.IntN(13)-6) / 2}}
	case 2:
		return &weftv1.AttributeValue{Kind: &weftv1.AttributeValue_StringValue{StringValue: strs[r.IntN(4)]}}
	case 3:
		return &weftv1.AttributeValue{Kind: &weftv1.AttributeValue_BoolValue{BoolValue: r.IntN(2) == 0}}
	}
	l := &weftv1.StringList{}
	for range r.IntN(3) {
		l.Values = append(l.Values, strs[r.IntN(4)])
	}
	return &weftv1.AttributeValue{Kind: &weftv1.AttributeValue_StringListValue{StringListValue: l}}
}

// Attribute "iN" holds ints, "f" floats, "s" strings, "b" bools, "l"
// lists, and "m" any kind: the mixed column reads the maps.
var testAttrs = []struct {
	name  string
	kinds []int
}{{"i", []int{0}}, {"f", []int{1}}, {"s", []int{2}}, {"b", []int{3}}, {"l", []int{4}}, {"m", []int{0, 1, 2, 3}}}

func randomFilter(r *rand.Rand, depth int) *weftv1.Filter {
	a := testAttrs[r.IntN(len(testAttrs))]
	name := a.name
	if r.IntN(10) == 0 {
		name = "absent"
	}
	val := func() *weftv1.AttributeValue {
		if r.IntN(4) == 0 { // a value of another kind than the attribute's
			return randomValue(r, r.IntN(4))
		}
		return randomValue(r, a.kinds[r.IntN(len(a.kinds))])
	}
	n := r.IntN(8)
	if depth > 2 {
		n = r.IntN(5)
	}
	switch n {
	case 0:
		return &weftv1.Filter{Op: &weftv1.Filter_Eq{Eq: &weftv1.Comparison{Attribute: name, Value: val()}}}
	case 1:
		return &weftv1.Filter{Op: &weftv1.Filter_Ne{Ne: &weftv1.Comparison{Attribute: name, Value: val()}}}
	case 2:
		return &weftv1.Filter{Op: &weftv1.Filter_In{In: &weftv1.InFilter{Attribute: name, Values: []*weftv1.AttributeValue{val(), val()}}}}
	case 3:
		rf := &weftv1.RangeFilter{Attribute: name}
		for range 1 + r.IntN(3) {
			switch r.IntN(4) {
			case 0:
				rf.Gt = val()
			case 1:
				rf.Gte = val()
			case 2:
				rf.Lt = val()
			default:
				rf.Lte = val()
			}
		}
		return &weftv1.Filter{Op: &weftv1.Filter_Range{Range: rf}}
	case 4:
		return &weftv1.Filter{Op: &weftv1.Filter_Exists{Exists: &weftv1.ExistsFilter{Attribute: name}}}
	case 5:
		return &weftv1.Filter{Op: &weftv1.Filter_And{And: &weftv1.FilterList{Filters: []*weftv1.Filter{randomFilter(r, depth+1), randomFilter(r, depth+1)}}}}
	case 6:
		return &weftv1.Filter{Op: &weftv1.Filter_Or{Or: &weftv1.FilterList{Filters: []*weftv1.Filter{randomFilter(r, depth+1), randomFilter(r, depth+1)}}}}
	}
	return &weftv1.Filter{Op: &weftv1.Filter_Not{Not: randomFilter(r, depth+1)}}
}

// The column filters agree with the map filters on every document, for
// random filters over every attribute type, absent and mixed attributes,
// values of other kinds and deleted slots.
func TestColumnFiltersMatchMapFilters(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	s := NewState(1, weftv1.Metric_METRIC_L2)
	for i := range 400 {
		a := Attrs{}
		for _, at := range testAttrs {
			if r.IntN(5) > 0 {
				a[at.name] = randomValue(r, at.kinds[r.IntN(len(at.kinds))])
			}
		}
		s.put(&weftv1.Document{Id: fmt.Sprint(i), Vector: []float32{1}, Attributes: a})
	}
	for i := 0; i < 400; i += 7 {
		s.remove(fmt.Sprint(i))
	}
	for i := 400; i < 420; i++ { // reuse freed slots
		s.put(&weftv1.Document{Id: fmt.Sprint(i), Vector: []float32{1}, Attributes: Attrs{"i": randomValue(r, 0)}})
	}
	for range 3000 {
		f := randomFilter(r, 0)
		cols, maps := s.compileColumns(f), compileFilter(f)
		for slot, id := range s.IDs {
			if id == "" {
				continue
			}
			if got, want := cols(slot), maps(s.attrs[slot]); got != want {
				t.Fatalf("filter %v on document %s %v: columns say %v, maps %v", f, id, s.attrs[slot], got, want)
			}
		}
	}
}

func TestIntIntervalEdges(t *testing.T) {
	i := func(v int64) *weftv1.AttributeValue {
		return &weftv1.AttributeValue{Kind: &weftv1.AttributeValue_IntValue{IntValue: v}}
	}
	f := func(v float64) *weftv1.AttributeValue {
		return &weftv1.AttributeValue{Kind: &weftv1.AttributeValue_FloatValue{FloatValue: v}}
	}
	for _, c := range []struct {
		gt, gte, lt, lte *weftv1.AttributeValue
		a, b             int64
		ok               bool
	}{
		{gt: i(math.MaxInt64), ok: false},
		{lt: i(math.MinInt64), ok: false},
		{gte: i(math.MaxInt64), a: math.MaxInt64, b: math.MaxInt64, ok: true},
		{gt: f(1e30), ok: false},
		{lt: f(-1e30), ok: false},
		{lte: f(1e30), a: math.MinInt64, b: math.MaxInt64, ok: true},
		{gt: f(2.5), lt: f(4), a: 3, b: 3, ok: true},
		{gte: f(-2.5), lte: f(-0.5), a: -2, b: -1, ok: true},
		{gt: i(3), lt: i(4), ok: false},
	} {
		lo, hi := numericBounds(c.gt, c.gte, c.lt, c.lte)
		a, b, ok := intInterval(*lo, *hi)
		if ok != c.ok || ok && (a != c.a || b != c.b) {
			t.Errorf("gt %v gte %v lt %v lte %v: [%d, %d] %v, want [%d, %d] %v", c.gt, c.gte, c.lt, c.lte, a, b, ok, c.a, c.b, c.ok)
		}
	}
}

// bulkFilter marks exactly the live slots the per-slot test passes.
func TestBulkFilterMatchesTest(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	s := NewState(1, weftv1.Metric_METRIC_L2)
	for i := range 700 {
		a := Attrs{}
		if r.IntN(6) > 0 {
			a["i"] = randomValue(r, 0)
		}
		s.put(&weftv1.Document{Id: fmt.Sprint(i), Vector: []float32{1}, Attributes: a})
	}
	for i := 0; i < 700; i += 5 {
		s.remove(fmt.Sprint(i))
	}
	bulks := 0
	for range 6000 {
		f := randomFilter(r, 3)
		bulk := s.BulkFilter(f)
		if bulk == nil {
			continue
		}
		bulks++
		test := s.compileColumns(f)
		base, n := 33, 600
		bits := filter.NewBitset(n)
		bulk(base, n, bits)
		for row := range n {
			slot := base + row
			if want := s.IDs[slot] != "" && test(slot); bits.Contains(uint32(row)) != want {
				t.Fatalf("filter %v, slot %d (%v): bulk %v, test %v", f, slot, s.attrs[slot], !want, want)
			}
		}
	}
	if bulks < 100 {
		t.Fatalf("only %d of the random filters took the bulk path", bulks)
	}
}

// A state assembled from segments (typed columns, one attribute stored
// with several types, a first-release segment with per-row protobuf
// attributes) plus a tail gives back every row's attributes as written,
// and its column filters agree with the map filters over them.
func TestSegmentColumnsMatchAttributes(t *testing.T) {
	ctx := t.Context()
	r := rand.New(rand.NewPCG(21, 22))
	want := map[string]Attrs{}
	randomAttrs := func() Attrs {
		a := Attrs{}
		for _, at := range testAttrs {
			if r.IntN(5) > 0 {
				a[at.name] = randomValue(r, at.kinds[r.IntN(len(at.kinds))])
			}
		}
		return a
	}
	meta := &storagev1.SegmentMeta{Namespace: "t", Generation: "g", Dimension: 1, Metric: weftv1.Metric_METRIC_L2}
	var parts []SegmentPart
	for i, legacy := range []bool{false, true, false} {
		rows := &SegmentRows{}
		for j := range 150 {
			id := fmt.Sprintf("s%d-%d", i, j)
			a := randomAttrs()
			if j == 0 && i == 2 {
				a = Attrs{"m": randomValue(r, 4)} // a type no other segment has under "m"
			}
			want[id] = a
			rows.add(id, a, []float32{float32(j)})
		}
		data, err := BuildSegment(ctx, meta, rows, BuildConfig{M: 16, EfConstruction: 100, Threads: 1})
		if err != nil {
			t.Fatal(err)
		}
		if legacy {
			data = asFirstRelease(t, data, meta, rows)
		}
		seg, ids, err := OpenSegment(fmt.Sprint(i), data, meta)
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, SegmentPart{Seg: seg, IDs: ids})
	}
	s := Assemble(1, weftv1.Metric_METRIC_L2, parts, 1)
	for j := range 100 {
		id := fmt.Sprintf("t%d", j)
		want[id] = randomAttrs()
		s.put(&weftv1.Document{Id: id, Vector: []float32{1}, Attributes: want[id]})
	}
	for j := 0; j < 150; j += 9 { // deletes in segments and an update that moves a row to the tail
		s.remove(fmt.Sprintf("s1-%d", j))
		delete(want, fmt.Sprintf("s1-%d", j))
	}
	s.update(&weftv1.AttributeUpdate{Id: "s2-5", Set: Attrs{"i": randomValue(r, 0)}})
	want["s2-5"] = s.Attrs(int(s.slotsForRead()["s2-5"]))
	if int(s.slotsForRead()["s2-5"]) < s.Base {
		t.Fatal("an updated segment row stayed in its segment")
	}
	live := 0
	for slot, id := range s.IDs {
		if id == "" {
			continue
		}
		live++
		got := s.Attrs(slot)
		if len(got) != len(want[id]) {
			t.Fatalf("%s: attributes %v, want %v", id, got, want[id])
		}
		for k, v := range want[id] {
			if !proto.Equal(got[k], v) {
				t.Fatalf("%s.%s = %v, want %v", id, k, got[k], v)
			}
		}
	}
	if live != len(want) {
		t.Fatalf("%d live rows, want %d", live, len(want))
	}
	// Partitions read from the columns are those of the attributes, for
	// every type, a mixed attribute and an absent one.
	for _, name := range []string{"i", "f", "s", "b", "l", "m", "absent"} {
		part := s.partitionOf(name)
		for slot, id := range s.IDs {
			if id != "" && part(slot) != partitionKey(want[id], name) {
				t.Fatalf("%s partition by %q: %q, want %q", id, name, part(slot), partitionKey(want[id], name))
			}
		}
	}
	for range 2000 {
		f := randomFilter(r, 0)
		cols, maps := s.compileColumns(f), compileFilter(f)
		for slot, id := range s.IDs {
			if id == "" {
				continue
			}
			if got, want := cols(slot), maps(want[id]); got != want {
				t.Fatalf("filter %v on %s %v: columns say %v, maps %v", f, id, s.Attrs(slot), got, want)
			}
		}
	}
}

// asFirstRelease rewrites a segment the way the first release wrote it:
// per-row protobuf attributes instead of columns.
func asFirstRelease(t *testing.T, data []byte, meta *storagev1.SegmentMeta, rows *SegmentRows) []byte {
	t.Helper()
	h, err := segment.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	b := segment.NewBuilder(h.Meta)
	for _, sec := range h.Sections {
		body, err := h.SectionBytes(data, sec)
		if err != nil {
			t.Fatal(err)
		}
		if sec.Kind == segment.KindColumns {
			ab := &storagev1.SegmentAttributes{}
			for _, a := range rows.attrs {
				ab.Rows = append(ab.Rows, &storagev1.SegmentRow{Attributes: a})
			}
			if body, err = proto.Marshal(ab); err != nil {
				t.Fatal(err)
			}
			sec.Kind = segment.KindAttributes
		}
		if err := b.Add(sec.Kind, sec.Shard, body); err != nil {
			t.Fatal(err)
		}
	}
	out, err := b.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return out
}
