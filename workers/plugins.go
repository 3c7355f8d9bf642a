package workers

import (
	"context"
	"slices"
	"strconv"

	weftv1 "github.com/weftdb/weft/proto/gen/weft/v1"

	"github.com/weftdb/weft/index/topk"
	"github.com/weftdb/weft/plugins"
)

// Batch is hits as a rerank hook's batch: ids, distances as reported,
// vectors (row-major) and attribute columns, in hit order. The caller holds
// the read lock.
func (s *State) Batch(hits []topk.Result, q []float32, meta *weftv1.Namespace, k int) *plugins.Batch {
	slots := make([]int, len(hits))
	for i, h := range hits {
		slots[i] = int(h.ID)
	}
	b := s.cols.batch(s.IDs, slots)
	b.Dim, b.Query, b.Metric, b.TopK = s.Dim, q, ABIMetric(meta.GetMetric()), k
	b.Distances = make([]float32, len(hits))
	b.Vectors = make([]float32, len(hits)*s.Dim)
	for i, h := range hits {
		b.Distances[i] = s.Finish(h.Dist)
		copy(b.Vectors[i*s.Dim:(i+1)*s.Dim], s.vec(int(h.ID)))
	}
	return b
}

// PluginStep is one plugin of a query with its params.
type PluginStep struct {
	Plugin *plugins.Plugin
	Params map[string]string
}

// PluginChain is a query's plugins in order: the namespace's defaults, then
// the query's own. Each hook stage runs the chain's plugins that have it, in
// order, each narrowing or reordering what the previous left.
type PluginChain []PluginStep

func (c PluginChain) Has(h plugins.Hook) bool {
	return slices.ContainsFunc(c, func(s PluginStep) bool { return s.Plugin.Has(h) })
}

func ABIMetric(m weftv1.Metric) plugins.Metric {
	switch m {
	case weftv1.Metric_METRIC_COSINE:
		return plugins.MetricCosine
	case weftv1.Metric_METRIC_L2:
		return plugins.MetricL2
	case weftv1.Metric_METRIC_DOT:
		return plugins.MetricDot
	}
	return plugins.MetricUnknown
}

// partitionOf returns the partition of a slot: its shard-key value as
// text, "" when it has none. It reads the key's column, and a document's
// attributes only when the key holds values of several types (segment
// rows have no attribute maps: building one per row and query would cost
// more than the search). The caller holds the read lock.
func (s *State) partitionOf(shardKey string) func(slot int) string {
	c, pure := s.cols.column(shardKey)
	switch {
	case !pure:
		return func(slot int) string { return partitionKey(s.Attrs(slot), shardKey) }
	case c == nil:
		return func(int) string { return "" }
	}
	return func(slot int) string {
		if c.Valid != nil && !c.Valid[slot] {
			return ""
		}
		switch c.Type {
		case plugins.TypeString:
			return c.Strings[slot]
		case plugins.TypeInt64:
			return strconv.FormatInt(c.Ints[slot], 10)
		case plugins.TypeFloat64:
			return strconv.FormatFloat(c.Floats[slot], 'g', -1, 64)
		case plugins.TypeBool:
			return strconv.FormatBool(c.Bools[slot])
		}
		return ""
	}
}

// partitionKey is the partition of a document with attributes a.
func partitionKey(a Attrs, shardKey string) string {
	v := a[shardKey]
	switch k := v.GetKind().(type) {
	case *weftv1.AttributeValue_StringValue:
		return k.StringValue
	case *weftv1.AttributeValue_IntValue:
		return strconv.FormatInt(k.IntValue, 10)
	case *weftv1.AttributeValue_FloatValue:
		return strconv.FormatFloat(k.FloatValue, 'g', -1, 64)
	case *weftv1.AttributeValue_BoolValue:
		return strconv.FormatBool(k.BoolValue)
	}
	return ""
}

// route runs the route hooks over the namespace's partitions (one per
// shard-key value, or one for a namespace without a key) and narrows allow
// to the partitions they pick. It returns the number of partitions probed.
// The caller holds the read lock.
//
// With report not nil, every route hook's decision on every partition is
// appended to it (explain).
func (c PluginChain) Route(ctx context.Context, st *State, meta *weftv1.Namespace, q []float32, k int, allow AllowFunc, report *[]RouteDecision) (AllowFunc, int, error) {
	key := meta.GetShardKey()
	if key == "" && !c.Has(plugins.HookRoute) {
		return allow, 1, nil
	}
	var shards []plugins.Shard
	var part func(slot int) string
	if key == "" {
		shards = []plugins.Shard{{Key: "", Size: int64(st.Count())}}
	} else {
		part = st.partitionOf(key)
		sizes := map[string]int64{}
		for slot, id := range st.IDs {
			if id != "" {
				sizes[part(slot)]++
			}
		}
		for k, n := range sizes {
			shards = append(shards, plugins.Shard{Key: k, Size: n})
		}
		slices.SortFunc(shards, func(a, b plugins.Shard) int { return cmp3(a.Key, b.Key) })
	}
	for _, s := range c {
		if !s.Plugin.Has(plugins.HookRoute) {
			continue
		}
		res, err := s.Plugin.Route(ctx, s.Params, plugins.RouteRequest{Shards: shards, Query: q, Metric: ABIMetric(meta.GetMetric()), TopK: k})
		if err != nil {
			return nil, 0, err
		}
		picked := make([]plugins.Shard, 0, len(shards))
		selected := res.Selected(len(shards))
		for _, i := range selected {
			picked = append(picked, shards[i])
		}
		if report != nil {
			probed := make([]bool, len(shards))
			for _, i := range selected {
				probed[i] = true
			}
			for i, sh := range shards {
				d := RouteDecision{Plugin: s.Plugin.Name(), Partition: sh.Key, Documents: sh.Size, Probed: probed[i]}
				if res.Weights != nil {
					d.Weight = res.Weights[i]
				}
				*report = append(*report, d)
			}
		}
		shards = picked
	}
	if !c.Has(plugins.HookRoute) {
		return allow, len(shards), nil
	}
	keep := make(map[string]bool, len(shards))
	for _, s := range shards {
		keep[s.Key] = true
	}
	if key == "" {
		if len(shards) == 0 {
			return func(int) bool { return false }, 0, nil
		}
		return allow, 1, nil
	}
	return func(slot int) bool { return keep[part(slot)] && allow.OK(slot) }, len(shards), nil
}

// filter runs the filter hooks before the scan, over every document allow
// passes, and narrows allow to those they keep. The caller holds the read
// lock.
func (c PluginChain) Filter(ctx context.Context, st *State, meta *weftv1.Namespace, allow AllowFunc) (AllowFunc, error) {
	for _, s := range c {
		if !s.Plugin.Has(plugins.HookFilter) {
			continue
		}
		var slots []int
		for slot, id := range st.IDs {
			if id != "" && allow.OK(slot) {
				slots = append(slots, slot)
			}
		}
		b := st.cols.batch(st.IDs, slots)
		b.Metric = ABIMetric(meta.GetMetric())
		res, err := s.Plugin.Filter(ctx, s.Params, b)
		if err != nil {
			return nil, err
		}
		kept := make([]bool, len(st.IDs))
		for _, i := range res.Kept() {
			kept[slots[i]] = true
		}
		allow = func(slot int) bool { return kept[slot] }
	}
	return allow, nil
}

// rerank runs the rerank hooks over a batch of candidates and returns
// their final order (indices into the batch) and scores (by batch index).
func (c PluginChain) Rerank(ctx context.Context, all *plugins.Batch) ([]int, []float32, error) {
	n := all.Len()
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	var scores []float32
	for _, s := range c {
		if !s.Plugin.Has(plugins.HookRerank) {
			continue
		}
		b := all
		if scores != nil { // an earlier hook reordered: follow its order
			b = all.Select(order)
		}
		res, err := s.Plugin.Rerank(ctx, s.Params, b)
		if err != nil {
			return nil, nil, err
		}
		if res.Scores == nil { // skipped (fail-open)
			continue
		}
		next := make([]int, len(res.Order))
		byCand := make([]float32, n)
		for i, bi := range res.Order {
			next[i] = order[bi]
		}
		for bi, sc := range res.Scores {
			byCand[order[bi]] = sc
		}
		order, scores = next, byCand
	}
	return order, scores, nil
}

// RouteDecision is what one route hook decided about one partition.
type RouteDecision struct {
	Plugin    string
	Partition string // the shard-key value; "" for a namespace without one
	Documents int64
	Weight    float32 // the hook's weight; 0 when it gave none
	Probed    bool
}
