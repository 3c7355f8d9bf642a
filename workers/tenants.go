package workers

import (
	"context"
	"hash/fnv"

	weftv1 "github.com/weftdb/weft/proto/gen/weft/v1"
)

// Tenant groups. In a namespace with a shard key, a fold splits its rows
// into groups by a hash of each row's shard-key value, one segment per
// group (more when a group outgrows a segment: IVF lists within it), so a
// tenant's documents sit in few segments and a query that pins the key
// searches only those. The hash depends on nothing but the value and the
// number of groups, which each segment records: segments folded with
// different counts route correctly side by side.

// TenantGroup is the group of shard-key value v among groups.
func TenantGroup(v string, groups uint32) uint32 {
	if groups <= 1 {
		return 0
	}
	h := fnv.New32a()
	h.Write([]byte(v))
	return h.Sum32() % groups
}

// HoldsAny reports whether the segment may hold a row of one of the
// shard-key values: it is not grouped, or one falls in its group.
func (g *Segment) HoldsAny(values []string) bool {
	if g.Groups <= 1 {
		return true
	}
	for _, v := range values {
		if TenantGroup(v, g.Groups) == g.Group {
			return true
		}
	}
	return false
}

// Partitioned reports whether the segment is one of a fold's split:
// an IVF list or a tenant group. Such segments are merged only all
// together, never as a size tier of recent folds.
func (g *Segment) Partitioned() bool { return g.List || g.Groups > 1 }

// PinnedValues returns the shard-key values a filter confines a query to,
// as partition keys (partitionKey's spelling), and whether it confines
// it: an eq or an in on key, alone or as one of the sub-filters of an and,
// or an or whose every branch confines it. Any other filter may match
// rows of every value.
func PinnedValues(f *weftv1.Filter, key string) ([]string, bool) {
	if f == nil || key == "" {
		return nil, false
	}
	switch op := f.GetOp().(type) {
	case *weftv1.Filter_Eq:
		if op.Eq.GetAttribute() == key {
			return []string{valueKey(op.Eq.GetValue())}, true
		}
	case *weftv1.Filter_In:
		if op.In.GetAttribute() == key {
			out := make([]string, len(op.In.GetValues()))
			for i, v := range op.In.GetValues() {
				out[i] = valueKey(v)
			}
			return out, true
		}
	case *weftv1.Filter_And:
		for _, sub := range op.And.GetFilters() {
			if vs, ok := PinnedValues(sub, key); ok {
				return vs, true
			}
		}
	case *weftv1.Filter_Or:
		var out []string
		for _, sub := range op.Or.GetFilters() {
			vs, ok := PinnedValues(sub, key)
			if !ok {
				return nil, false
			}
			out = append(out, vs...)
		}
		return out, len(op.Or.GetFilters()) > 0
	}
	return nil, false
}

// valueKey is an attribute value as a partition key.
func valueKey(v *weftv1.AttributeValue) string {
	return partitionKey(Attrs{"": v}, "")
}

// FoldPart is one segment's worth of a fold's rows.
type FoldPart struct {
	Rows          *SegmentRows
	List          bool   // an IVF list
	Group, Groups uint32 // its tenant group; Groups ≤ 1: any tenant
}

// SplitFold splits a fold's rows into segments of at most maxRows rows:
// without a shard key, into IVF lists when they are more; with one, into
// tenant groups (as many as lists would be) and each group that is still
// too large into IVF lists of its own. Rows whose shard-key value is not a
// single value (a list) go to a segment of no group, searched by every
// query.
func SplitFold(ctx context.Context, rows *SegmentRows, shardKey string, dim int, metric weftv1.Metric, maxRows, threads int) ([]FoldPart, error) {
	n := rows.Len()
	groups := ListCount(n, maxRows)
	if shardKey == "" || n <= maxRows || groups < 2 {
		return splitLists(ctx, rows, dim, metric, maxRows, threads, 0, 0)
	}
	byGroup := make([]*SegmentRows, groups)
	for i := range byGroup {
		byGroup[i] = &SegmentRows{}
	}
	rest := &SegmentRows{}
	for i, id := range rows.IDs {
		a, v := rows.attrs[i], rows.vectors[i*dim:(i+1)*dim]
		if !scalarKey(a[shardKey]) {
			rest.add(id, a, v)
			continue
		}
		byGroup[TenantGroup(partitionKey(a, shardKey), uint32(groups))].add(id, a, v)
	}
	var out []FoldPart
	for g, r := range byGroup {
		if r.Len() == 0 {
			continue
		}
		parts, err := splitLists(ctx, r, dim, metric, maxRows, threads, uint32(g), uint32(groups))
		if err != nil {
			return nil, err
		}
		out = append(out, parts...)
	}
	if rest.Len() > 0 {
		parts, err := splitLists(ctx, rest, dim, metric, maxRows, threads, 0, 0)
		if err != nil {
			return nil, err
		}
		out = append(out, parts...)
	}
	return out, nil
}

// splitLists is rows as one segment, or as IVF lists when they are more
// than maxRows, all of tenant group g of groups.
func splitLists(ctx context.Context, rows *SegmentRows, dim int, metric weftv1.Metric, maxRows, threads int, g, groups uint32) ([]FoldPart, error) {
	n := rows.Len()
	if n <= maxRows {
		return []FoldPart{{Rows: rows, Group: g, Groups: groups}}, nil
	}
	lists, err := Partition(ctx, rows, dim, metric, ListCount(n, maxRows), maxRows, threads)
	if err != nil {
		return nil, err
	}
	out := make([]FoldPart, 0, len(lists))
	for _, l := range lists {
		if l.Len() > 0 {
			out = append(out, FoldPart{Rows: l, List: true, Group: g, Groups: groups})
		}
	}
	return out, nil
}

// scalarKey reports whether a shard-key value is one value a filter can
// pin (a string, number or flag), not a list or absent.
func scalarKey(v *weftv1.AttributeValue) bool {
	switch v.GetKind().(type) {
	case *weftv1.AttributeValue_StringValue, *weftv1.AttributeValue_IntValue, *weftv1.AttributeValue_FloatValue, *weftv1.AttributeValue_BoolValue:
		return true
	}
	return false
}
