package fabric_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/weftdb/weft/fabric"
	"github.com/weftdb/weft/objstore"
	weftv1 "github.com/weftdb/weft/proto/gen/weft/v1"
)

// Tenant groups: 1,000 tenants (5 documents each) in one namespace with a
// shard key fold into 12 segments by tenant group; a query that pins the key (eq, in, under
// and) searches only its tenants' segments (stats, explain), on one server
// and through a fabric of workers, and returns exactly the tenant's
// brute-force top k. An idle namespace is not re-partitioned again and
// again. With shard_key_required, a query that does not pin the key is
// refused.
func TestTenantGroups(t *testing.T) {
	ctx := context.Background()
	bucket := objstore.NewInMemory()
	w := startWorker(t, bucket)
	cfg := eagerIndex
	cfg.ShardRows, cfg.Idle = 500, 300*time.Millisecond
	c := serveFabric(t, fabric.Config{Bucket: bucket, Index: cfg, WriteLease: testLease})
	fab := serveFabric(t, fabric.Config{Bucket: bucket, Index: fabric.IndexConfig{Disabled: true, Idle: 20 * time.Millisecond}, WriteLease: testLease,
		Cluster: fabric.ClusterConfig{Members: fabric.StaticMembers{w.hs.URL}}})
	const dim, tenants, perTenant = 8, 1000, 5
	if _, err := c.ns.CreateNamespace(ctx, connect.NewRequest(&weftv1.CreateNamespaceRequest{
		Namespace: &weftv1.Namespace{Name: "mt", Dimension: dim, Metric: weftv1.Metric_METRIC_L2, ShardKey: "tenant"}})); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(31, 32))
	byTenant := map[string]map[string]*weftv1.Document{}
	var docs []*weftv1.Document
	for i := range tenants * perTenant {
		tenant := fmt.Sprintf("tenant-%d", i%tenants)
		d := randomDocs(r, 1, dim, "")[0]
		d.Id = fmt.Sprintf("%s/%d", tenant, i/tenants)
		d.Attributes["tenant"] = &weftv1.AttributeValue{Kind: &weftv1.AttributeValue_StringValue{StringValue: tenant}}
		if byTenant[tenant] == nil {
			byTenant[tenant] = map[string]*weftv1.Document{}
		}
		byTenant[tenant][d.Id] = d
		docs = append(docs, d)
	}
	upsert(t, c, "mt", docs) // one request: one fold
	st := waitIndexed(t, c, "mt")
	if st.GetSegments() != 12 {
		t.Fatalf("%d segments: want 12 tenant groups (⌈1.2·5,000/500⌉)", st.GetSegments())
	}
	v := newestManifest(t, bucket, "mt").GetVersion()
	for _, ref := range newestManifest(t, bucket, "mt").GetSegments() {
		if ref.GetTenantGroups() != 12 || ref.GetIvfList() {
			t.Fatalf("segment %v: want tenant group of 12, not an IVF list", ref)
		}
	}
	eq := func(tenant string) *weftv1.Filter {
		return &weftv1.Filter{Op: &weftv1.Filter_Eq{Eq: &weftv1.Comparison{Attribute: "tenant", Value: &weftv1.AttributeValue{Kind: &weftv1.AttributeValue_StringValue{StringValue: tenant}}}}}
	}
	color := &weftv1.Filter{Op: &weftv1.Filter_Exists{Exists: &weftv1.ExistsFilter{Attribute: "color"}}}
	for _, cl := range []clients{c, fab} {
		for i := range 20 {
			tenant := fmt.Sprintf("tenant-%d", r.IntN(tenants))
			mine := func(d *weftv1.Document) bool { return strings.HasPrefix(d.Id, tenant+"/") }
			q := randomDocs(r, 1, dim, "q")[0].Vector
			f := eq(tenant)
			if i%2 == 1 { // under and
				f = &weftv1.Filter{Op: &weftv1.Filter_And{And: &weftv1.FilterList{Filters: []*weftv1.Filter{color, f}}}}
			}
			for _, search := range []*weftv1.SearchParams{{RecallTarget: 1}, nil} {
				resp := query(t, cl, &weftv1.QueryRequest{Namespace: "mt", Vector: q, TopK: 10, Filter: f, Search: search, Explain: true})
				if search != nil {
					checkResults(t, resp.GetResults(), reference(byTenant[tenant], q, 10, weftv1.Metric_METRIC_L2, mine))
				}
				for _, res := range resp.GetResults() {
					if !strings.HasPrefix(res.GetId(), tenant+"/") {
						t.Fatalf("a query for %s returned %s", tenant, res.GetId())
					}
				}
				if s := resp.GetStats(); s.GetShardsProbed() != 1 {
					t.Fatalf("a query for %s probed %d shards: want only its tenant group's (stats %v)", tenant, s.GetShardsProbed(), s)
				}
			}
		}
	}
	two := &weftv1.Filter{Op: &weftv1.Filter_In{In: &weftv1.InFilter{Attribute: "tenant", Values: []*weftv1.AttributeValue{
		{Kind: &weftv1.AttributeValue_StringValue{StringValue: "tenant-1"}}, {Kind: &weftv1.AttributeValue_StringValue{StringValue: "tenant-2"}}}}}}
	resp := query(t, c, &weftv1.QueryRequest{Namespace: "mt", Vector: docs[0].Vector, TopK: 10, Filter: two, Explain: true})
	skipped := 0
	for _, s := range resp.GetExplain().GetShards() {
		if s.GetSkipped() == "tenant" {
			skipped++
		}
	}
	if p := resp.GetStats().GetShardsProbed(); p < 1 || p > 2 || skipped != 12-int(p) {
		t.Fatalf("a query for two tenants probed %d shards and explained %d skipped for another tenant: want 1–2 and the rest", p, skipped)
	}
	// Not a filter that pins the key: every group.
	resp = query(t, c, &weftv1.QueryRequest{Namespace: "mt", Vector: docs[0].Vector, TopK: 10, Filter: color})
	if resp.GetStats().GetShardsProbed() < 12 {
		t.Fatalf("a query not pinned to tenants probed %d shards, want all 12", resp.GetStats().GetShardsProbed())
	}
	time.Sleep(8 * cfg.Idle)
	if now := newestManifest(t, bucket, "mt").GetVersion(); now != v {
		t.Fatalf("manifest %d after idling, was %d: tenant groups were merged again", now, v)
	}

	// shard_key_required.
	if _, err := c.ns.UpdateNamespace(ctx, connect.NewRequest(&weftv1.UpdateNamespaceRequest{
		Namespace:  &weftv1.Namespace{Name: "mt", ShardKeyRequired: true},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"shard_key_required"}}})); err != nil {
		t.Fatal(err)
	}
	_, err := c.query.Query(ctx, connect.NewRequest(&weftv1.QueryRequest{Namespace: "mt", Vector: docs[0].Vector, TopK: 10, Filter: color}))
	if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), `shard key "tenant"`) {
		t.Fatalf("a query without the shard key where it is required: %v, want InvalidArgument naming the key", err)
	}
	query(t, c, &weftv1.QueryRequest{Namespace: "mt", Vector: docs[0].Vector, TopK: 10, Filter: eq("tenant-7")})
	createNamespace(t, c, "plain", dim, weftv1.Metric_METRIC_L2)
	_, err = c.ns.UpdateNamespace(ctx, connect.NewRequest(&weftv1.UpdateNamespaceRequest{
		Namespace:  &weftv1.Namespace{Name: "plain", ShardKeyRequired: true},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"shard_key_required"}}}))
	if connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Fatalf("shard_key_required without a shard key: %v, want InvalidArgument", err)
	}
}
