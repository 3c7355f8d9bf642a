package annbench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	"golang.org/x/sync/errgroup"

	weftv1 "github.com/weftdb/weft/proto/gen/weft/v1"
	"github.com/weftdb/weft/proto/gen/weft/v1/weftv1connect"
)

// bucketAttr is the attribute `weft bench query --load` gives every row:
// row % 100, so that a filter on it keeps a known share of the rows.
const bucketAttr = "bucket"

// RunQuery implements `weft bench query`: it measures a running weft serve
// through its API on a dataset folder, one JSON line per search setting in
// the schema of `weft bench ann` (engine "weft-api"), so the two compare
// line by line. With --load it first creates the namespace and upserts the
// dataset (id = row number, bucket = row % 100) and waits for indexing
// (unless --wait-indexed false, for a server that does not index);
// --filter-percent P filters every query to P buckets and scores it
// against a brute-force filtered ground truth.
func RunQuery(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, _, err := parseOptions(args)
	if err != nil {
		return err
	}
	addr := o.str("addr", "http://127.0.0.1:7600")
	dir := o.str("data", "")
	if dir == "" {
		return errors.New("--data DIR is required (a dataset folder: base.fvecs, query.fvecs, groundtruth.ivecs, distances.fvecs, meta.json)")
	}
	name := o.str("namespace", "")
	load := o.str("load", "false") == "true"
	waitIndexed := o.str("wait-indexed", "true") == "true"
	k, err := o.num("k", 10)
	if err != nil {
		return err
	}
	conc, err := o.num("concurrency", 1)
	if err != nil {
		return err
	}
	// Upserts in flight while loading: group commit fills each WAL object
	// from the requests waiting while the previous one is written.
	loadConc, err := o.num("load-concurrency", 8)
	if err != nil {
		return err
	}
	runs, err := o.num("runs", 1)
	if err != nil {
		return err
	}
	nqOpt, err := o.num("queries", 1<<30)
	if err != nil {
		return err
	}
	filterPct, err := o.num("filter-percent", 0)
	if err != nil {
		return err
	}
	// IVF lists searched per query (0: every list that can hold a nearer row).
	nprobe, err := o.num("nprobe", 0)
	if err != nil {
		return err
	}
	// Walk graphs on codes and refine this many exactly (0: full vectors).
	refine, err := o.num("refine", 0)
	if err != nil {
		return err
	}
	efs, err := o.list("ef", "0")
	if err != nil {
		return err
	}
	targets := []float64{0}
	if o.str("recall-target", "") != "" {
		if targets, err = o.floats("recall-target", ""); err != nil {
			return err
		}
	}
	if err := o.checkAllRead(); err != nil {
		return err
	}
	if conc < 1 || loadConc < 1 || runs < 1 || nqOpt < 1 || filterPct < 0 || filterPct > 100 || nprobe < 0 || refine < 0 {
		return errors.New("--concurrency, --load-concurrency, --runs and --queries must be positive, --filter-percent in 0..100, --nprobe at least 0")
	}
	ds, name, err := benchDataset(dir, name, k)
	if err != nil {
		return err
	}
	nq := min(ds.nq, nqOpt)
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: max(conc, loadConc) + 4}}
	nsc := weftv1connect.NewNamespaceServiceClient(hc, addr)
	if load {
		if err := loadNamespace(ctx, hc, addr, nsc, name, ds, loadConc, waitIndexed, stderr); err != nil {
			return err
		}
	}
	meta, err := nsc.GetNamespace(ctx, connect.NewRequest(&weftv1.GetNamespaceRequest{Name: name}))
	if err != nil {
		return fmt.Errorf("namespace %s: %w (load it with --load true)", name, err)
	}
	fmt.Fprintf(stderr, "weft bench query: %s on %s, %v\n", name, addr, meta.Msg.GetStats())

	truth := func(qi int) float64 { return float64(ds.gtDist[qi*ds.gtK+k-1]) }
	var filters []*weftv1.Filter
	if filterPct > 0 {
		filters, truth = filteredTruth(ds, nq, k, filterPct)
	}
	qc := weftv1connect.NewQueryServiceClient(hc, addr)
	type setting struct {
		ef     int
		target float64
	}
	var settings []setting
	for _, ef := range efs {
		for _, r := range targets {
			if ef > 0 && r > 0 {
				continue
			}
			settings = append(settings, setting{ef, r})
		}
	}
	for _, s := range settings {
		var measured []runResult
		for range runs {
			runtime.GC()
			m, err := runAPIQueries(ctx, qc, name, ds, filters, truth, nq, k, conc, &weftv1.SearchParams{Ef: uint32(s.ef), RecallTarget: float32(s.target), Nprobe: uint32(nprobe), Refine: uint32(refine)})
			if err != nil {
				return err
			}
			measured = append(measured, m)
		}
		slices.SortFunc(measured, func(a, b runResult) int { return cmpFloat(a.qps, b.qps) })
		m := measured[len(measured)/2]
		params := fmt.Sprintf(`{"ef":%d,"recall_target":%g,"filter_percent":%d}`, s.ef, s.target, filterPct)
		if nprobe > 0 {
			params = fmt.Sprintf(`{"ef":%d,"nprobe":%d,"filter_percent":%d}`, s.ef, nprobe, filterPct)
		}
		if refine > 0 {
			params = fmt.Sprintf(`{"ef":%d,"refine":%d,"filter_percent":%d}`, s.ef, refine, filterPct)
		}
		fmt.Fprintf(stderr, "weft bench query: %s recall %.4f, %.0f QPS, p50 %.0f µs, %.2f shards probed\n", params, m.recall, m.qps, m.p50us, m.shards)
		line := fmt.Sprintf(`{"engine":"weft-api","dataset":%q,"params":%s,"k":%d,"recall":%.4f,"qps":%.1f,"p50_us":%.1f,"p99_us":%.1f,"search_threads":%d}`,
			ds.name, params, k, m.recall, m.qps, m.p50us, m.p99us, conc)
		if _, err := fmt.Fprintln(stdout, line); err != nil {
			return err
		}
	}
	return nil
}

// benchDataset loads the dataset in dir and checks k against its ground
// truth; name defaults to the namespace `--load true` makes for it.
func benchDataset(dir, name string, k int) (*dataset, string, error) {
	ds, err := loadDataset(dir)
	if err != nil {
		return nil, "", err
	}
	if name == "" {
		name = "bench-" + sanitize(ds.name)
	}
	if k < 1 || k > ds.gtK {
		return nil, "", fmt.Errorf("--k must be in 1..%d", ds.gtK)
	}
	return ds, name, nil
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func sanitize(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			b[i] = '-'
		}
	}
	return string(b)
}

// loadNamespace creates namespace name and upserts ds's base vectors, then
// waits until they are indexed.
func loadNamespace(ctx context.Context, hc *http.Client, addr string, nsc weftv1connect.NamespaceServiceClient, name string, ds *dataset, inFlight int, waitIndexed bool, stderr io.Writer) error {
	metric := map[string]weftv1.Metric{"l2": weftv1.Metric_METRIC_L2, "cosine": weftv1.Metric_METRIC_COSINE, "ip": weftv1.Metric_METRIC_DOT}[ds.metric]
	_, err := nsc.CreateNamespace(ctx, connect.NewRequest(&weftv1.CreateNamespaceRequest{Namespace: &weftv1.Namespace{
		Name: name, Dimension: uint32(ds.dim), Metric: metric,
		Schema: []*weftv1.AttributeSchema{{Name: bucketAttr, Type: weftv1.AttributeType_ATTRIBUTE_TYPE_INT}},
	}}))
	if err != nil {
		return fmt.Errorf("create namespace %s: %w", name, err)
	}
	docs := weftv1connect.NewDocumentServiceClient(hc, addr)
	const batch = 1000
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(inFlight)
	for lo := 0; lo < ds.nb; lo += batch {
		hi := min(lo+batch, ds.nb)
		g.Go(func() error {
			req := &weftv1.UpsertRequest{Namespace: name, Documents: make([]*weftv1.Document, 0, hi-lo)}
			for row := lo; row < hi; row++ {
				req.Documents = append(req.Documents, &weftv1.Document{
					Id:         strconv.Itoa(row),
					Vector:     ds.base[row*ds.dim : (row+1)*ds.dim],
					Attributes: map[string]*weftv1.AttributeValue{bucketAttr: {Kind: &weftv1.AttributeValue_IntValue{IntValue: int64(row % 100)}}},
				})
			}
			_, err := docs.Upsert(gctx, connect.NewRequest(req))
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return fmt.Errorf("upsert: %w", err)
	}
	loaded := time.Since(start)
	fmt.Fprintf(stderr, "weft bench query: upserted %d rows in %.1f s (%.0f rows/s, every one acknowledged)\n", ds.nb, loaded.Seconds(), float64(ds.nb)/loaded.Seconds())
	if !waitIndexed {
		return nil
	}
	istart := time.Now()
	var done time.Time
	for {
		got, err := nsc.GetNamespace(ctx, connect.NewRequest(&weftv1.GetNamespaceRequest{Name: name}))
		if err != nil {
			return err
		}
		st := got.Msg.GetStats()
		indexed := st.GetManifestVersion() > 0 && st.GetUnindexedDocuments() == 0 && !st.GetIndexing() && st.GetIndexedWalSequence() == st.GetWalSequence()
		if indexed && done.IsZero() {
			done = time.Now()
			fmt.Fprintf(stderr, "weft bench query: indexed %.1f s after the last upsert (%.1f s from the first), %d segments\n", time.Since(istart).Seconds(), time.Since(start).Seconds(), st.GetSegments())
		}
		// After a pause in writes the indexer merges a bulk load's segments
		// into one; measure the settled shape.
		if indexed && (st.GetSegments() == 1 || time.Since(done) > time.Minute) {
			fmt.Fprintf(stderr, "weft bench query: settled %.1f s after the last upsert, %d segments\n", time.Since(istart).Seconds(), st.GetSegments())
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// filteredTruth gives each query a filter keeping pct of the buckets
// (pct % of the rows) and the k-th true distance among the rows it keeps,
// by brute force.
func filteredTruth(ds *dataset, nq, k, pct int) ([]*weftv1.Filter, func(int) float64) {
	filters := make([]*weftv1.Filter, nq)
	kth := make([]float64, nq)
	var wg sync.WaitGroup
	var next atomic.Int64
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for {
				qi := int(next.Add(1) - 1)
				if qi >= nq {
					return
				}
				lo := int64(qi*37) % int64(100-pct+1)
				hi := lo + int64(pct)
				filters[qi] = &weftv1.Filter{Op: &weftv1.Filter_Range{Range: &weftv1.RangeFilter{
					Attribute: bucketAttr,
					Gte:       &weftv1.AttributeValue{Kind: &weftv1.AttributeValue_IntValue{IntValue: lo}},
					Lt:        &weftv1.AttributeValue{Kind: &weftv1.AttributeValue_IntValue{IntValue: hi}},
				}}}
				q := ds.query[qi*ds.dim : (qi+1)*ds.dim]
				var best []float64
				for row := range ds.nb {
					if b := int64(row % 100); b < lo || b >= hi {
						continue
					}
					best = append(best, ds.exactDist(q, row))
				}
				slices.Sort(best)
				kth[qi] = math.Inf(1)
				if len(best) >= k {
					kth[qi] = best[k-1]
				}
			}
		})
	}
	wg.Wait()
	return filters, func(qi int) float64 { return kth[qi] }
}

func runAPIQueries(ctx context.Context, qc weftv1connect.QueryServiceClient, name string, ds *dataset, filters []*weftv1.Filter, truth func(int) float64, nq, k, conc int, sp *weftv1.SearchParams) (runResult, error) {
	ids := make([]int64, nq*k)
	for i := range ids {
		ids[i] = -1
	}
	lat := make([]float64, nq)
	var next, probed atomic.Int64
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	for range conc {
		g.Go(func() error {
			for {
				qi := int(next.Add(1) - 1)
				if qi >= nq {
					return nil
				}
				req := &weftv1.QueryRequest{Namespace: name, Vector: ds.query[qi*ds.dim : (qi+1)*ds.dim], TopK: uint32(k), Search: sp}
				if filters != nil {
					req.Filter = filters[qi]
				}
				t := time.Now()
				resp, err := qc.Query(gctx, connect.NewRequest(req))
				if err != nil {
					return fmt.Errorf("query %d: %w", qi, err)
				}
				lat[qi] = float64(time.Since(t).Nanoseconds()) / 1e3
				probed.Add(int64(resp.Msg.GetStats().GetShardsProbed()))
				for i, r := range resp.Msg.GetResults() {
					if i < k {
						if id, err := strconv.ParseInt(r.GetId(), 10, 64); err == nil {
							ids[qi*k+i] = id
						}
					}
				}
			}
		})
	}
	if err := g.Wait(); err != nil {
		return runResult{}, err
	}
	res := ds.summarize(ids, lat, k, truth, time.Since(start).Seconds())
	res.shards = float64(probed.Load()) / float64(nq)
	return res, nil
}
