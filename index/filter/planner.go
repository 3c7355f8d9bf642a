package filter

import (
	"github.com/weftdb/weft/index/hnsw"
	"github.com/weftdb/weft/index/topk"
)

// Strategy is how a filtered query is answered.
type Strategy uint8

// The strategies; see the package documentation.
const (
	Exact Strategy = iota + 1
	Traverse
	PostFilter
)

func (s Strategy) String() string {
	switch s {
	case Exact:
		return "exact"
	case Traverse:
		return "traverse"
	case PostFilter:
		return "postfilter"
	}
	return "unknown"
}

// Plan is the planner's decision for one query.
type Plan struct {
	Strategy    Strategy
	Ef          int     // beam width for graph plans
	Allowed     int     // ids the filter keeps
	Selectivity float64 // Allowed / index size
	Fallback    bool    // a graph plan came back short and Exact finished the query
	Distances   int     // distances the graph search computed (0 for Exact)
}

// Planner holds the cost model's knobs; the zero value uses the defaults.
type Planner struct {
	// ExactBias scales the estimated graph cost before it is compared with
	// the exact scan's: above 1 favours exact scans (which are also
	// sequential in memory). Default 1.
	ExactBias float64
	// PostFilterAbove is the selectivity above which a post-filtered search
	// is used. Default 0.9.
	PostFilterAbove float64
}

// Choose plans a query for k results with beam ef over an index of n nodes
// whose graph keeps m neighbours per node on upper layers (2m on layer 0),
// given the filter's allowed count.
//
// The cost model counts distance evaluations: an exact scan costs one per
// allowed id; a graph search expands about ef/selectivity nodes to collect ef
// allowed ones, evaluating up to 2m neighbours at each.
func (p Planner) Choose(n, m, allowed, k, ef int) Plan {
	ef = max(ef, k)
	pl := Plan{Ef: ef, Allowed: allowed}
	if n == 0 || allowed == 0 {
		pl.Strategy = Exact
		return pl
	}
	s := float64(allowed) / float64(n)
	pl.Selectivity = s
	bias := p.ExactBias
	if bias <= 0 {
		bias = 1
	}
	postAbove := p.PostFilterAbove
	if postAbove <= 0 {
		postAbove = 0.9
	}
	graphCost := bias * float64(2*m) * float64(ef) / s
	switch {
	case float64(allowed) <= graphCost || allowed <= k:
		pl.Strategy = Exact
	case s >= postAbove:
		pl.Strategy = PostFilter
		pl.Ef = int(float64(ef)/s) + 1
	default:
		pl.Strategy = Traverse
	}
	return pl
}

// Search answers the k nearest allowed, live nodes of idx to q, nearest
// first, with beam ef for graph plans. allow nil means no filter. It returns
// the plan it followed.
func (p Planner) Search(idx *hnsw.Index, q []float32, k, ef int, allow Allow) ([]topk.Result, Plan) {
	if allow == nil {
		res, n := idx.SearchCounted(q, k, ef, nil)
		return res, Plan{Strategy: Traverse, Ef: max(ef, k), Allowed: idx.Len(), Selectivity: 1, Distances: n}
	}
	allowed := int(min(allow.Cardinality(), uint64(idx.Len())))
	pl := p.Choose(idx.Len(), idx.M(), allowed, k, ef)
	var res []topk.Result
	switch pl.Strategy {
	case PostFilter:
		res, pl.Distances = idx.SearchCounted(q, pl.Ef, pl.Ef, nil)
		kept := res[:0]
		for _, r := range res {
			if allow.Contains(r.ID) {
				kept = append(kept, r)
			}
		}
		res = kept[:min(k, len(kept))]
	case Traverse:
		res, pl.Distances = idx.SearchCounted(q, k, pl.Ef, allow)
	}
	if pl.Strategy != Exact && len(res) < min(k, allowed) {
		pl.Fallback = true
	}
	if pl.Strategy == Exact || pl.Fallback {
		res = exact(idx, q, k, allow)
	}
	return res, pl
}

// Search plans and answers a filtered query with the default Planner.
func Search(idx *hnsw.Index, q []float32, k, ef int, allow Allow) ([]topk.Result, Plan) {
	return Planner{}.Search(idx, q, k, ef, allow)
}

func exact(idx *hnsw.Index, q []float32, k int, allow Allow) []topk.Result {
	if l, ok := allow.(Lister); ok {
		ids := l.AppendIDs(make([]uint32, 0, min(allow.Cardinality(), uint64(idx.Len()))))
		return idx.ExactSearch(q, k, ids, nil)
	}
	return idx.ExactSearch(q, k, nil, allow)
}
