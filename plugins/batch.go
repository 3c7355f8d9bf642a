package plugins

import (
	"fmt"
	"sort"
)

// Hook is a query stage a plugin can take part in.
type Hook uint32

// Hooks. The values are the ABI's hook codes.
const (
	HookRoute  Hook = 1
	HookFilter Hook = 2
	HookRerank Hook = 3
)

// String returns the hook's name as used in metrics and errors.
func (h Hook) String() string {
	switch h {
	case HookRoute:
		return "route"
	case HookFilter:
		return "filter"
	case HookRerank:
		return "rerank"
	}
	return fmt.Sprintf("hook(%d)", uint32(h))
}

func (h Hook) export() string { return "weft_" + h.String() }

var allHooks = [...]Hook{HookRoute, HookFilter, HookRerank}

// Metric is a namespace's distance metric, as the ABI codes it.
type Metric uint32

// Metrics. Distances are "smaller is closer": Euclidean for l2, 1−cos for
// cosine, −dot for dot.
const (
	MetricUnknown Metric = 0
	MetricCosine  Metric = 1
	MetricL2      Metric = 2
	MetricDot     Metric = 3
)

// AttrType is an attribute column's type, as the ABI codes it.
type AttrType uint32

// Attribute types.
const (
	TypeString     AttrType = 1
	TypeInt64      AttrType = 2
	TypeFloat64    AttrType = 3
	TypeBool       AttrType = 4
	TypeStringList AttrType = 5
)

// String returns the type's name.
func (t AttrType) String() string {
	switch t {
	case TypeString:
		return "string"
	case TypeInt64:
		return "int64"
	case TypeFloat64:
		return "float64"
	case TypeBool:
		return "bool"
	case TypeStringList:
		return "string_list"
	}
	return fmt.Sprintf("type(%d)", uint32(t))
}

// Column is one attribute over all candidates of a Batch. Exactly the slice
// that matches Type is set, with one entry per candidate; Valid, when not
// nil, marks which candidates have the attribute (the others hold the zero
// value).
type Column struct {
	Name    string
	Type    AttrType
	Valid   []bool
	Strings []string
	Ints    []int64
	Floats  []float64
	Bools   []bool
	Lists   [][]string
}

func (c *Column) len() int {
	switch c.Type {
	case TypeString:
		return len(c.Strings)
	case TypeInt64:
		return len(c.Ints)
	case TypeFloat64:
		return len(c.Floats)
	case TypeBool:
		return len(c.Bools)
	case TypeStringList:
		return len(c.Lists)
	}
	return -1
}

// Batch is the columnar set of candidates one filter or rerank call sees.
type Batch struct {
	// IDs has one entry per candidate; its length is the batch size.
	IDs []string
	// Distances to the query, smaller is closer; nil for a pre-ANN filter
	// over documents (no query has been run yet).
	Distances []float32
	// Attributes, one column per attribute name.
	Attributes []Column
	// Dim and Vectors (row-major, len(IDs)*Dim) are optional.
	Dim     int
	Vectors []float32
	// Query is the query vector, optional.
	Query  []float32
	Metric Metric
	TopK   int
}

// Len returns the number of candidates.
func (b *Batch) Len() int { return len(b.IDs) }

func (b *Batch) validate() error {
	n := len(b.IDs)
	if b.Distances != nil && len(b.Distances) != n {
		return fmt.Errorf("batch has %d distances for %d ids", len(b.Distances), n)
	}
	if b.Vectors != nil && (b.Dim <= 0 || len(b.Vectors) != n*b.Dim) {
		return fmt.Errorf("batch has %d vector values for %d ids of dimension %d", len(b.Vectors), n, b.Dim)
	}
	if len(b.Query) > 0 && b.Dim > 0 && len(b.Query) != b.Dim {
		return fmt.Errorf("batch query has dimension %d, vectors %d", len(b.Query), b.Dim)
	}
	for i := range b.Attributes {
		c := &b.Attributes[i]
		for j := range i {
			if b.Attributes[j].Name == c.Name {
				return fmt.Errorf("attribute %q appears twice", c.Name)
			}
		}
		if l := c.len(); l != n {
			return fmt.Errorf("attribute %q (%s) has %d values for %d ids", c.Name, c.Type, l, n)
		}
		if c.Valid != nil && len(c.Valid) != n {
			return fmt.Errorf("attribute %q has %d validity flags for %d ids", c.Name, len(c.Valid), n)
		}
	}
	return nil
}

// MarshalText encodes a hook as its name ("route", "filter", "rerank").
func (h Hook) MarshalText() ([]byte, error) {
	switch h {
	case HookRoute, HookFilter, HookRerank:
		return []byte(h.String()), nil
	}
	return nil, fmt.Errorf("unknown hook %d", uint32(h))
}

// UnmarshalText decodes a hook name.
func (h *Hook) UnmarshalText(b []byte) error {
	for _, x := range allHooks {
		if x.String() == string(b) {
			*h = x
			return nil
		}
	}
	return fmt.Errorf("unknown hook %q", b)
}

// Select returns a new batch of the candidates idx (in that order), e.g. a
// filter's Kept() or a rerank's Order, copying ids, distances, vectors and
// attribute columns.
func (b *Batch) Select(idx []int) *Batch {
	s := &Batch{Dim: b.Dim, Query: b.Query, Metric: b.Metric, TopK: b.TopK, IDs: make([]string, len(idx))}
	for k, i := range idx {
		s.IDs[k] = b.IDs[i]
	}
	if b.Distances != nil {
		s.Distances = make([]float32, len(idx))
		for k, i := range idx {
			s.Distances[k] = b.Distances[i]
		}
	}
	if b.Vectors != nil {
		s.Vectors = make([]float32, 0, len(idx)*b.Dim)
		for _, i := range idx {
			s.Vectors = append(s.Vectors, b.Vectors[i*b.Dim:(i+1)*b.Dim]...)
		}
	}
	s.Attributes = make([]Column, len(b.Attributes))
	for j, c := range b.Attributes {
		n := Column{Name: c.Name, Type: c.Type}
		if c.Valid != nil {
			n.Valid = pick(c.Valid, idx)
		}
		switch c.Type {
		case TypeString:
			n.Strings = pick(c.Strings, idx)
		case TypeInt64:
			n.Ints = pick(c.Ints, idx)
		case TypeFloat64:
			n.Floats = pick(c.Floats, idx)
		case TypeBool:
			n.Bools = pick(c.Bools, idx)
		case TypeStringList:
			n.Lists = pick(c.Lists, idx)
		}
		s.Attributes[j] = n
	}
	return s
}

func pick[T any](v []T, idx []int) []T {
	out := make([]T, len(idx))
	for k, i := range idx {
		out[k] = v[i]
	}
	return out
}

// slice returns the candidates [lo, hi) of b, sharing its memory.
func (b *Batch) slice(lo, hi int) *Batch {
	s := *b
	s.IDs = b.IDs[lo:hi]
	if b.Distances != nil {
		s.Distances = b.Distances[lo:hi]
	}
	if b.Vectors != nil {
		s.Vectors = b.Vectors[lo*b.Dim : hi*b.Dim]
	}
	s.Attributes = make([]Column, len(b.Attributes))
	for i, c := range b.Attributes {
		if c.Valid != nil {
			c.Valid = c.Valid[lo:hi]
		}
		switch c.Type {
		case TypeString:
			c.Strings = c.Strings[lo:hi]
		case TypeInt64:
			c.Ints = c.Ints[lo:hi]
		case TypeFloat64:
			c.Floats = c.Floats[lo:hi]
		case TypeBool:
			c.Bools = c.Bools[lo:hi]
		case TypeStringList:
			c.Lists = c.Lists[lo:hi]
		}
		s.Attributes[i] = c
	}
	return &s
}

// ColumnsFromRows builds attribute columns from row-wise attributes, one map
// per candidate. Values may be string, int, int64, float64, bool or
// []string; an attribute's type is fixed by its first value and a later
// value of another type is an error. Columns come out sorted by name.
func ColumnsFromRows(rows []map[string]any) ([]Column, error) {
	n := len(rows)
	byName := map[string]*Column{}
	for i, row := range rows {
		for name, v := range row {
			c := byName[name]
			if c == nil {
				t, err := TypeOf(v)
				if err != nil {
					return nil, fmt.Errorf("attribute %q of row %d: %w", name, i, err)
				}
				nc := NewColumn(name, t, n)
				c = &nc
				byName[name] = c
			}
			if err := c.Set(i, v); err != nil {
				return nil, fmt.Errorf("attribute %q of row %d: %w", name, i, err)
			}
		}
	}
	cols := make([]Column, 0, len(byName))
	for _, c := range byName {
		cols = append(cols, *c)
	}
	sort.Slice(cols, func(i, j int) bool { return cols[i].Name < cols[j].Name })
	return cols, nil
}

// TypeOf returns the column type of a Go value: string, int or int64,
// float64, bool or []string.
func TypeOf(v any) (AttrType, error) {
	switch v.(type) {
	case string:
		return TypeString, nil
	case int, int64:
		return TypeInt64, nil
	case float64:
		return TypeFloat64, nil
	case bool:
		return TypeBool, nil
	case []string:
		return TypeStringList, nil
	}
	return 0, fmt.Errorf("unsupported value type %T", v)
}

// NewColumn returns a column of n absent entries.
func NewColumn(name string, t AttrType, n int) Column {
	c := Column{Name: name, Type: t, Valid: make([]bool, n)}
	switch t {
	case TypeString:
		c.Strings = make([]string, n)
	case TypeInt64:
		c.Ints = make([]int64, n)
	case TypeFloat64:
		c.Floats = make([]float64, n)
	case TypeBool:
		c.Bools = make([]bool, n)
	case TypeStringList:
		c.Lists = make([][]string, n)
	}
	return c
}

// valid materialises Valid, which nil means all present.
func (c *Column) valid() []bool {
	if c.Valid == nil {
		c.Valid = make([]bool, c.len())
		for i := range c.Valid {
			c.Valid[i] = true
		}
	}
	return c.Valid
}

// Append adds an absent entry at the end of c.
func (c *Column) Append() {
	c.Valid = append(c.valid(), false)
	switch c.Type {
	case TypeString:
		c.Strings = append(c.Strings, "")
	case TypeInt64:
		c.Ints = append(c.Ints, 0)
	case TypeFloat64:
		c.Floats = append(c.Floats, 0)
	case TypeBool:
		c.Bools = append(c.Bools, false)
	case TypeStringList:
		c.Lists = append(c.Lists, nil)
	}
}

// Clear marks entry i absent, dropping what it referenced.
func (c *Column) Clear(i int) {
	c.valid()[i] = false
	switch c.Type {
	case TypeString:
		c.Strings[i] = ""
	case TypeStringList:
		c.Lists[i] = nil
	}
}

// Set stores v, a value of the Go type TypeOf maps to c.Type, as entry i.
// A value of another type is an error and leaves the entry unchanged.
func (c *Column) Set(i int, v any) error {
	ok := true
	switch x := v.(type) {
	case string:
		ok = c.Type == TypeString
		if ok {
			c.Strings[i] = x
		}
	case int:
		ok = c.Type == TypeInt64
		if ok {
			c.Ints[i] = int64(x)
		}
	case int64:
		ok = c.Type == TypeInt64
		if ok {
			c.Ints[i] = x
		}
	case float64:
		ok = c.Type == TypeFloat64
		if ok {
			c.Floats[i] = x
		}
	case bool:
		ok = c.Type == TypeBool
		if ok {
			c.Bools[i] = x
		}
	case []string:
		ok = c.Type == TypeStringList
		if ok {
			c.Lists[i] = x
		}
	default:
		return fmt.Errorf("unsupported value type %T", v)
	}
	if !ok {
		return fmt.Errorf("value of type %T in a %s column", v, c.Type)
	}
	c.valid()[i] = true
	return nil
}

// Shard is one unit a route hook can choose: a namespace partition (one per
// shard-key value, e.g. per tenant) or an IVF shard.
type Shard struct {
	Key  string
	Size int64 // documents in the shard
}

// RouteRequest is the input of a route hook.
type RouteRequest struct {
	Shards []Shard
	// Query is the query vector, optional.
	Query  []float32
	Metric Metric
	TopK   int
	// NProbe is the planner's number of shards to probe; 0 means all.
	NProbe int
}

// RouteResult is a route hook's decision.
type RouteResult struct {
	// Weights has one entry per shard of the request: 0 means do not probe,
	// a positive weight means probe, higher first. Nil when the hook was
	// skipped (fail-open or the module has no route hook): probe as planned.
	Weights []float32
	// NProbe, when positive, caps the number of shards to probe.
	NProbe int
	// Skipped is the error a fail-open plugin swallowed, or nil.
	Skipped error
}

// Selected returns the indexes of the shards to probe, highest weight
// first (ties in request order), capped at NProbe when positive. With nil
// Weights it returns all n shards in order, capped likewise.
func (r RouteResult) Selected(n int) []int {
	var idx []int
	if r.Weights == nil {
		idx = make([]int, n)
		for i := range idx {
			idx[i] = i
		}
	} else {
		for i, w := range r.Weights {
			if w > 0 {
				idx = append(idx, i)
			}
		}
		sort.SliceStable(idx, func(a, b int) bool { return r.Weights[idx[a]] > r.Weights[idx[b]] })
	}
	if r.NProbe > 0 && len(idx) > r.NProbe {
		idx = idx[:r.NProbe]
	}
	return idx
}

// FilterResult is a filter hook's verdict.
type FilterResult struct {
	// Keep has one entry per candidate. When the hook was skipped it is all
	// true (the stage's input passes through).
	Keep []bool
	// Skipped is the error a fail-open plugin swallowed, or nil.
	Skipped error
}

// Kept returns the indexes of the kept candidates, in batch order.
func (r FilterResult) Kept() []int {
	idx := make([]int, 0, len(r.Keep))
	for i, k := range r.Keep {
		if k {
			idx = append(idx, i)
		}
	}
	return idx
}

// RerankResult is a rerank hook's new order.
type RerankResult struct {
	// Scores has one entry per candidate, higher is better; nil when the
	// hook was skipped.
	Scores []float32
	// Order lists candidate indexes by descending score (ties keep batch
	// order); the identity when the hook was skipped.
	Order []int
	// Skipped is the error a fail-open plugin swallowed, or nil.
	Skipped error
}
