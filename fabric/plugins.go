package fabric

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"connectrpc.com/connect"

	"github.com/weftdb/weft/plugins"
	weftv1 "github.com/weftdb/weft/proto/gen/weft/v1"
	"github.com/weftdb/weft/proto/gen/weft/v1/weftv1connect"
)

// Plugins is what the fabric needs of the plugin registry.
type Plugins interface {
	// Service serves PluginService.
	Service() weftv1connect.PluginServiceHandler
	// Resolve returns the loaded plugin registered under name.
	Resolve(ctx context.Context, name string) (*plugins.Plugin, error)
}

// pluginStep is one plugin of a query with its params.
type pluginStep struct {
	plugin *plugins.Plugin
	params map[string]string
}

// pluginChain is a query's plugins in order: the namespace's defaults, then
// the query's own. Each hook stage runs the chain's plugins that have it, in
// order, each narrowing or reordering what the previous left.
type pluginChain []pluginStep

func (s *Server) resolvePlugins(ctx context.Context, calls []*weftv1.PluginCall) (pluginChain, error) {
	if len(calls) == 0 {
		return nil, nil
	}
	if len(calls) > maxPluginCalls {
		return nil, invalid("plugin-calls", "%d plugins run in this query (namespace defaults included): the limit is %d", len(calls), maxPluginCalls)
	}
	if s.plugins == nil {
		return nil, &Error{Code: connect.CodeFailedPrecondition, ID: "plugins-disabled", Msg: "this server runs without plugins: remove plugins from the query and the namespace's default_plugins"}
	}
	chain := make(pluginChain, len(calls))
	for i, c := range calls {
		p, err := s.plugins.Resolve(ctx, c.GetName())
		if err != nil {
			return nil, err
		}
		chain[i] = pluginStep{plugin: p, params: c.GetParams()}
	}
	return chain, nil
}

func (c pluginChain) has(h plugins.Hook) bool {
	return slices.ContainsFunc(c, func(s pluginStep) bool { return s.plugin.Has(h) })
}

func abiMetric(m weftv1.Metric) plugins.Metric {
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

// partitionKey is the partition a document belongs to: its shard-key value
// as text, "" when it has none.
func partitionKey(a attrs, shardKey string) string {
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
// The caller holds st.mu for reading.
func (c pluginChain) route(ctx context.Context, st *state, meta *weftv1.Namespace, q []float32, k int, allow allowFunc) (allowFunc, int, error) {
	key := meta.GetShardKey()
	if key == "" && !c.has(plugins.HookRoute) {
		return allow, 1, nil
	}
	var shards []plugins.Shard
	if key == "" {
		shards = []plugins.Shard{{Key: "", Size: int64(st.count())}}
	} else {
		sizes := map[string]int64{}
		for slot, id := range st.ids {
			if id != "" {
				sizes[partitionKey(st.attrsOf(slot), key)]++
			}
		}
		for k, n := range sizes {
			shards = append(shards, plugins.Shard{Key: k, Size: n})
		}
		slices.SortFunc(shards, func(a, b plugins.Shard) int { return cmp3(a.Key, b.Key) })
	}
	for _, s := range c {
		if !s.plugin.Has(plugins.HookRoute) {
			continue
		}
		res, err := s.plugin.Route(ctx, s.params, plugins.RouteRequest{Shards: shards, Query: q, Metric: abiMetric(meta.GetMetric()), TopK: k})
		if err != nil {
			return nil, 0, err
		}
		picked := make([]plugins.Shard, 0, len(shards))
		for _, i := range res.Selected(len(shards)) {
			picked = append(picked, shards[i])
		}
		shards = picked
	}
	if !c.has(plugins.HookRoute) {
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
	return func(slot int) bool { return keep[partitionKey(st.attrsOf(slot), key)] && allow.ok(slot) }, len(shards), nil
}

// filter runs the filter hooks before the scan, over every document allow
// passes, and narrows allow to those they keep. The caller holds st.mu for
// reading.
func (c pluginChain) filter(ctx context.Context, st *state, meta *weftv1.Namespace, allow allowFunc) (allowFunc, error) {
	for _, s := range c {
		if !s.plugin.Has(plugins.HookFilter) {
			continue
		}
		var slots []int
		for slot, id := range st.ids {
			if id != "" && allow.ok(slot) {
				slots = append(slots, slot)
			}
		}
		b := st.cols.batch(st.ids, slots)
		b.Metric = abiMetric(meta.GetMetric())
		res, err := s.plugin.Filter(ctx, s.params, b)
		if err != nil {
			return nil, err
		}
		kept := make([]bool, len(st.ids))
		for _, i := range res.Kept() {
			kept[slots[i]] = true
		}
		allow = func(slot int) bool { return kept[slot] }
	}
	return allow, nil
}

// rerank runs the rerank hooks over a batch of candidates and returns
// their final order (indices into the batch) and scores (by batch index).
func (c pluginChain) rerank(ctx context.Context, all *plugins.Batch) ([]int, []float32, error) {
	n := all.Len()
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	var scores []float32
	for _, s := range c {
		if !s.plugin.Has(plugins.HookRerank) {
			continue
		}
		b := all
		if scores != nil { // an earlier hook reordered: follow its order
			b = all.Select(order)
		}
		res, err := s.plugin.Rerank(ctx, s.params, b)
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

// pluginError maps a failed (fail-closed) plugin call to a Connect error;
// the plugin's message is safe to show.
func pluginError(err error) (*connect.Error, bool) {
	var pe *plugins.Error
	if !errors.As(err, &pe) {
		return nil, false
	}
	code := connect.CodeFailedPrecondition
	hint := "fix the plugin, or register it with FAILURE_POLICY_FAIL_OPEN to skip it when it fails"
	switch {
	case errors.Is(err, plugins.ErrDeadline):
		code, hint = connect.CodeDeadlineExceeded, "the plugin ran past its deadline_ms"
	case errors.Is(err, plugins.ErrCanceled):
		code, hint = connect.CodeCanceled, "the query was canceled"
	case errors.Is(err, plugins.ErrBusy), errors.Is(err, plugins.ErrClosed):
		code, hint = connect.CodeUnavailable, "retry"
	case errors.Is(err, plugins.ErrTooLarge):
		code, hint = connect.CodeResourceExhausted, "narrow the query's filter"
	}
	return connect.NewError(code, fmt.Errorf("%s (%s)", pe.Error(), hint)), true
}
