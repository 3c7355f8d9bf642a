package fabric_test

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/weftdb/weft/fabric"
	"github.com/weftdb/weft/objstore"
	weftv1 "github.com/weftdb/weft/proto/gen/weft/v1"
)

// byHand is recall@k of got against the brute-force top k: results as
// near as the k-th exact distance count (ties), as weft bench measures.
func byHand(got []*weftv1.QueryResult, exact []scored) float64 {
	kth := exact[len(exact)-1].dist
	found := 0
	for _, r := range got[:min(len(got), len(exact))] {
		if float64(r.GetDistance()) <= kth*(1+1e-4)+1e-6 {
			found++
		}
	}
	return float64(found) / float64(len(exact))
}

// Sampled recall and explain_exact report the recall computed by hand
// against brute force: every query sampled, a narrow beam so that recall
// is well below 1, filtered queries among them.
func TestSampledRecallAndExplain(t *testing.T) {
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	c := serveFabric(t, fabric.Config{Bucket: objstore.NewInMemory(), Index: eagerIndex, WriteLease: testLease,
		RecallSample: 1, RecallSampleCPU: 1, Registerer: reg})
	createNamespace(t, c, "rs", 16, weftv1.Metric_METRIC_L2)
	r := rand.New(rand.NewPCG(31, 32))
	docs := randomDocs(r, 3000, 16, "d")
	upsert(t, c, "rs", docs)
	waitIndexed(t, c, "rs")
	all := map[string]*weftv1.Document{}
	for _, d := range docs {
		all[d.Id] = d
	}
	const queries, k = 40, 10
	var sum, sampled float64
	for i := range queries {
		q := randomDocs(r, 1, 16, "q")[0].Vector
		req := &weftv1.QueryRequest{Namespace: "rs", Vector: q, TopK: k, Search: &weftv1.SearchParams{Ef: k}, ExplainExact: i%2 == 0}
		var keep func(*weftv1.Document) bool
		if i%4 == 1 {
			req.Filter = &weftv1.Filter{Op: &weftv1.Filter_Eq{Eq: &weftv1.Comparison{Attribute: "color", Value: &weftv1.AttributeValue{Kind: &weftv1.AttributeValue_StringValue{StringValue: "red"}}}}}
			keep = func(d *weftv1.Document) bool { return d.Attributes["color"].GetStringValue() == "red" }
		}
		resp := query(t, c, req)
		exact := reference(all, q, k, weftv1.Metric_METRIC_L2, keep)
		want := byHand(resp.GetResults(), exact)
		sum += want
		if req.ExplainExact {
			ex := resp.GetExplain()
			wantIDs := make([]string, len(exact))
			for j, e := range exact {
				wantIDs[j] = e.id
			}
			if ex.GetRecall() != want || !slices.Equal(ex.GetExactIds(), wantIDs) {
				t.Fatalf("query %d: explain says recall %v, exact %v; by hand %v, %v", i, ex.GetRecall(), ex.GetExactIds(), want, wantIDs)
			}
		} else if resp.GetExplain() != nil {
			t.Fatalf("query %d: explain without explain_exact", i)
		} else {
			sampled += want
		}
	}
	mean := sum / queries
	if mean > 0.97 {
		t.Fatalf("recall by hand %v: the beam is too wide for the test to tell anything", mean)
	}
	// The sampler re-runs every query but the explained ones (they were
	// exact already), in the background.
	wantSamples := uint32(queries / 2)
	var got *weftv1.SampledRecall
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := c.ns.GetNamespace(ctx, connect.NewRequest(&weftv1.GetNamespaceRequest{Name: "rs"}))
		if err != nil {
			t.Fatal(err)
		}
		got = resp.Msg.GetStats().GetSampledRecall()
		if got.GetSamples()+uint32(got.GetSkipped()) >= wantSamples || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got.GetSamples() != wantSamples || got.GetSkipped() != 0 {
		t.Fatalf("sampled %d queries, skipped %d; want %d, none skipped", got.GetSamples(), got.GetSkipped(), wantSamples)
	}
	if want := sampled / float64(wantSamples); math.Abs(got.GetRecall()-want) > 1e-9 || got.GetIntervalLow() > want || got.GetIntervalHigh() < want || got.GetIntervalLow() == got.GetIntervalHigh() {
		t.Fatalf("sampled recall %v in [%v, %v]; by hand %v", got.GetRecall(), got.GetIntervalLow(), got.GetIntervalHigh(), want)
	}
	// The histogram saw every sample, by shape.
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var count uint64
	shapes := map[string]bool{}
	for _, f := range families {
		if f.GetName() != "weft_recall_sampled" {
			continue
		}
		for _, m := range f.GetMetric() {
			count += m.GetHistogram().GetSampleCount()
			for _, l := range m.GetLabel() {
				if l.GetName() == "filtered" {
					shapes[l.GetValue()] = true
				}
			}
		}
	}
	if count != uint64(wantSamples) || !shapes["true"] || !shapes["false"] {
		t.Fatalf("weft_recall_sampled counted %d samples of shapes %v, want %d of filtered and unfiltered queries", count, shapes, wantSamples)
	}
}

// A namespace whose default beam is too narrow for the recall target
// raises the alarm (weft_recall_alarm, GetNamespace), and clears it once
// its defaults are fixed.
func TestRecallAlarm(t *testing.T) {
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	c := serveFabric(t, fabric.Config{Bucket: objstore.NewInMemory(), Index: eagerIndex, WriteLease: testLease,
		RecallSample: 1, RecallSampleCPU: 1, RecallAlarm: 0.97, Registerer: reg})
	createNamespace(t, c, "alarm", 16, weftv1.Metric_METRIC_L2)
	r := rand.New(rand.NewPCG(41, 42))
	upsert(t, c, "alarm", randomDocs(r, 3000, 16, "d"))
	waitIndexed(t, c, "alarm")
	setEf := func(ef uint32) {
		t.Helper()
		_, err := c.ns.UpdateNamespace(ctx, connect.NewRequest(&weftv1.UpdateNamespaceRequest{
			Namespace:  &weftv1.Namespace{Name: "alarm", DefaultSearch: &weftv1.SearchParams{Ef: ef}},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"default_search"}},
		}))
		if err != nil {
			t.Fatal(err)
		}
	}
	// run sends n queries with the namespace's defaults and waits until
	// the sampler has seen them all; it returns the namespace's figure
	// and the alarm gauge.
	seen := uint32(0)
	run := func(n int) (*weftv1.SampledRecall, float64) {
		t.Helper()
		for range n {
			query(t, c, &weftv1.QueryRequest{Namespace: "alarm", Vector: randomDocs(r, 1, 16, "q")[0].Vector, TopK: 10})
		}
		seen += uint32(n)
		deadline := time.Now().Add(20 * time.Second)
		for {
			resp, err := c.ns.GetNamespace(ctx, connect.NewRequest(&weftv1.GetNamespaceRequest{Name: "alarm"}))
			if err != nil {
				t.Fatal(err)
			}
			got := resp.Msg.GetStats().GetSampledRecall()
			if got.GetSamples() >= min(seen, 1000) || time.Now().After(deadline) {
				return got, gauge(t, reg, "weft_recall_alarm", "alarm")
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	setEf(10)
	if got, g := run(60); !got.GetAlarm() || g != 1 || got.GetRecall() >= 0.97 {
		t.Fatalf("a beam of 10: sampled %v, alarm gauge %v; want the alarm firing", got, g)
	}
	setEf(400)
	if got, g := run(150); got.GetAlarm() || g != 0 {
		t.Fatalf("a beam of 400: sampled %v, alarm gauge %v; want the alarm cleared", got, g)
	}
}

// gauge returns the value of gauge name for namespace ns in reg.
func gauge(t *testing.T, reg *prometheus.Registry, name, ns string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "namespace" && l.GetValue() == ns {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	return -1
}

// explain on a filtered query with a filter plugin lists every stage, and
// its numbers add up: the documents each stage keeps match a count by
// hand, the shards' allowed rows sum to what the filters kept, their exact
// scores to the query's documents_scanned; explain_exact's recall matches
// one computed by hand.
func TestExplainAddsUp(t *testing.T) {
	bucket := objstore.NewInMemory()
	c := serveFabric(t, fabric.Config{Bucket: bucket, Plugins: pluginRegistry(t, bucket), Index: eagerIndex, WriteLease: testLease})
	registerExample(t, c, "attrfilter", "c", "attrfilter")
	createNamespace(t, c, "ex", 16, weftv1.Metric_METRIC_L2)
	r := rand.New(rand.NewPCG(51, 52))
	docs := randomDocs(r, 3000, 16, "d")
	tiers := []string{"gold", "silver", "bronze"}
	for i, d := range docs {
		d.Attributes["n"] = &weftv1.AttributeValue{Kind: &weftv1.AttributeValue_IntValue{IntValue: int64(i % 100)}}
		d.Attributes["tier"] = &weftv1.AttributeValue{Kind: &weftv1.AttributeValue_StringValue{StringValue: tiers[i%7%3]}}
	}
	upsert(t, c, "ex", docs)
	waitIndexed(t, c, "ex")
	more := randomDocs(r, 40, 16, "t") // a tail, if the indexer has not folded it yet
	for i, d := range more {
		d.Attributes["n"] = &weftv1.AttributeValue{Kind: &weftv1.AttributeValue_IntValue{IntValue: int64(i % 100)}}
		d.Attributes["tier"] = &weftv1.AttributeValue{Kind: &weftv1.AttributeValue_StringValue{StringValue: "gold"}}
	}
	upsert(t, c, "ex", more)
	all := map[string]*weftv1.Document{}
	for _, d := range append(docs, more...) {
		all[d.Id] = d
	}
	inRange := func(d *weftv1.Document) bool { return d.Attributes["n"].GetIntValue() < 50 }
	gold := func(d *weftv1.Document) bool { return inRange(d) && d.Attributes["tier"].GetStringValue() == "gold" }
	var wantRange, wantGold uint64
	for _, d := range all {
		if inRange(d) {
			wantRange++
		}
		if gold(d) {
			wantGold++
		}
	}
	q := randomDocs(r, 1, 16, "q")[0].Vector
	start := time.Now()
	resp := query(t, c, &weftv1.QueryRequest{Namespace: "ex", Vector: q, TopK: 10, Search: &weftv1.SearchParams{Ef: 16},
		Filter:  &weftv1.Filter{Op: &weftv1.Filter_Range{Range: &weftv1.RangeFilter{Attribute: "n", Lt: &weftv1.AttributeValue{Kind: &weftv1.AttributeValue_IntValue{IntValue: 50}}}}},
		Plugins: []*weftv1.PluginCall{{Name: "attrfilter", Params: map[string]string{"attr": "tier", "eq": "gold"}}},
		Explain: true, ExplainExact: true})
	elapsed := time.Since(start)
	ex := resp.GetExplain()
	var names []string
	stage := map[string]*weftv1.StageExplain{}
	var total time.Duration
	for _, s := range ex.GetStages() {
		names = append(names, s.GetStage())
		stage[s.GetStage()] = s
		total += s.GetDuration().AsDuration()
	}
	if want := []string{"refresh", "route", "filter", "search", "explain", "rerank"}; !slices.Equal(names, want) {
		t.Fatalf("stages %v, want %v", names, want)
	}
	if total > elapsed {
		t.Fatalf("stages took %v in all, the query %v", total, elapsed)
	}
	docsN := uint64(len(all))
	checks := []struct {
		stage   string
		in, out uint64
	}{
		{"refresh", docsN, docsN},
		{"route", docsN, wantRange},
		{"filter", wantRange, wantGold},
		{"search", wantGold, stage["search"].GetRowsOut()},
		{"rerank", stage["search"].GetRowsOut(), uint64(len(resp.GetResults()))},
	}
	for _, c := range checks {
		if s := stage[c.stage]; s.GetRowsIn() != c.in || s.GetRowsOut() != c.out {
			t.Errorf("stage %s: rows %d → %d, want %d → %d", c.stage, s.GetRowsIn(), s.GetRowsOut(), c.in, c.out)
		}
	}
	var allowed, scored, candidates uint64
	for _, s := range ex.GetShards() {
		allowed += s.GetAllowed()
		scored += s.GetScoredExactly()
		candidates += uint64(s.GetCandidates())
		if s.GetStrategy() == "" || s.GetLiveRows() > s.GetRows() || s.GetAllowed() > s.GetLiveRows() {
			t.Errorf("shard %v", s)
		}
	}
	if allowed != wantGold || scored != resp.GetStats().GetDocumentsScanned() || candidates < stage["search"].GetRowsOut() || len(ex.GetShards()) == 0 {
		t.Fatalf("shards %v: allowed %d (want %d), scored %d (stats %d), candidates %d (search kept %d)",
			ex.GetShards(), allowed, wantGold, scored, resp.GetStats().GetDocumentsScanned(), candidates, stage["search"].GetRowsOut())
	}
	if ex.GetEf() != 16 || ex.GetEfSource() != "search.ef" || ex.GetExact() {
		t.Fatalf("beam %d from %q, exact %v; want 16 from search.ef", ex.GetEf(), ex.GetEfSource(), ex.GetExact())
	}
	exact := reference(all, q, 10, weftv1.Metric_METRIC_L2, gold)
	if want := byHand(resp.GetResults(), exact); ex.GetRecall() != want {
		t.Fatalf("explain_exact recall %v, by hand %v", ex.GetRecall(), want)
	}
}

// A namespace's recall_sample samples its queries where the server samples
// none; a share outside 0..1 is refused.
func TestNamespaceRecallSample(t *testing.T) {
	ctx := context.Background()
	c := serveFabric(t, fabric.Config{Bucket: objstore.NewInMemory(), Index: eagerIndex, WriteLease: testLease, RecallSampleCPU: 1})
	r := rand.New(rand.NewPCG(71, 72))
	for _, name := range []string{"sampled", "plain"} {
		createNamespace(t, c, name, 8, weftv1.Metric_METRIC_L2)
		upsert(t, c, name, randomDocs(r, 1500, 8, "d"))
		waitIndexed(t, c, name)
	}
	set := func(v float64) error {
		_, err := c.ns.UpdateNamespace(ctx, connect.NewRequest(&weftv1.UpdateNamespaceRequest{
			Namespace:  &weftv1.Namespace{Name: "sampled", RecallSample: v},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"recall_sample"}},
		}))
		return err
	}
	if err := set(2); connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Fatalf("recall_sample 2: %v, want InvalidArgument", err)
	}
	if err := set(1); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		for _, name := range []string{"sampled", "plain"} {
			query(t, c, &weftv1.QueryRequest{Namespace: name, Vector: randomDocs(r, 1, 8, "q")[0].Vector, TopK: 5, Search: &weftv1.SearchParams{Ef: 5}})
		}
	}
	samples := func(name string) uint32 {
		resp, err := c.ns.GetNamespace(ctx, connect.NewRequest(&weftv1.GetNamespaceRequest{Name: name}))
		if err != nil {
			t.Fatal(err)
		}
		return resp.Msg.GetStats().GetSampledRecall().GetSamples()
	}
	deadline := time.Now().Add(20 * time.Second)
	for samples("sampled") < 10 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got, plain := samples("sampled"), samples("plain"); got != 10 || plain != 0 {
		t.Fatalf("sampled %d queries of the namespace with recall_sample 1 (want 10), %d of the other (want 0)", got, plain)
	}
}

// explain lists each route hook's decision per partition, and the route
// stage keeps exactly the documents of the partitions probed.
func TestExplainRoutes(t *testing.T) {
	ctx := context.Background()
	bucket := objstore.NewInMemory()
	c := serveFabric(t, fabric.Config{Bucket: bucket, Plugins: pluginRegistry(t, bucket), Index: eagerIndex, WriteLease: testLease})
	registerExample(t, c, "router", "c", "router")
	if _, err := c.ns.CreateNamespace(ctx, connect.NewRequest(&weftv1.CreateNamespaceRequest{Namespace: &weftv1.Namespace{
		Name: "rt", Dimension: 8, Metric: weftv1.Metric_METRIC_L2, ShardKey: "tenant",
	}})); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(81, 82))
	docs := randomDocs(r, 900, 8, "d")
	sizes := map[string]uint64{}
	for i, d := range docs {
		tenant := []string{"t1", "t2", "t3"}[i%5%3]
		d.Attributes["tenant"] = &weftv1.AttributeValue{Kind: &weftv1.AttributeValue_StringValue{StringValue: tenant}}
		sizes[tenant]++
	}
	upsert(t, c, "rt", docs)
	resp := query(t, c, &weftv1.QueryRequest{Namespace: "rt", Vector: docs[0].Vector, TopK: 5, Explain: true,
		Plugins: []*weftv1.PluginCall{{Name: "router", Params: map[string]string{"tenant": "t2"}}}})
	routes := resp.GetExplain().GetRoutes()
	if len(routes) != 3 {
		t.Fatalf("routes %v, want one decision per tenant", routes)
	}
	for _, d := range routes {
		if d.GetPlugin() != "router" || d.GetDocuments() != sizes[d.GetPartition()] || d.GetProbed() != (d.GetPartition() == "t2") {
			t.Fatalf("route decision %v (tenant sizes %v), want only t2 probed", d, sizes)
		}
	}
	for _, s := range resp.GetExplain().GetStages() {
		if s.GetStage() == "route" && (s.GetRowsIn() != 900 || s.GetRowsOut() != sizes["t2"]) {
			t.Fatalf("route stage %v, want 900 → %d", s, sizes["t2"])
		}
	}
	tenantOf := map[string]string{}
	for _, d := range docs {
		tenantOf[d.Id] = d.Attributes["tenant"].GetStringValue()
	}
	if len(resp.GetResults()) != 5 {
		t.Fatalf("%d results, want 5", len(resp.GetResults()))
	}
	for _, res := range resp.GetResults() {
		if tenantOf[res.GetId()] != "t2" {
			t.Fatalf("result %s of tenant %s, only t2 was probed", res.GetId(), tenantOf[res.GetId()])
		}
	}
}
