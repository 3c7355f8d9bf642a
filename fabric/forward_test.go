package fabric_test

import (
	"context"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/weftdb/weft/fabric"
	"github.com/weftdb/weft/objstore"
	storagev1 "github.com/weftdb/weft/proto/gen/weft/storage/v1"
	weftv1 "github.com/weftdb/weft/proto/gen/weft/v1"
	"github.com/weftdb/weft/proto/gen/weft/v1/weftv1connect"
	"github.com/weftdb/weft/proto/gen/weft/worker/v1/workerv1connect"
)

// advertisedFabric serves a fabric whose Advertise is its own URL.
func advertisedFabric(t *testing.T, cfg fabric.Config) (clients, *httptest.Server) {
	t.Helper()
	hs := httptest.NewUnstartedServer(nil)
	hs.Start()
	t.Cleanup(hs.Close)
	cfg.Advertise = hs.URL
	srv, err := fabric.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	mux := http.NewServeMux()
	srv.Handle(mux)
	hs.Config.Handler = mux
	return clients{
		ns:     weftv1connect.NewNamespaceServiceClient(hs.Client(), hs.URL),
		docs:   weftv1connect.NewDocumentServiceClient(hs.Client(), hs.URL),
		query:  weftv1connect.NewQueryServiceClient(hs.Client(), hs.URL),
		worker: workerv1connect.NewWorkerServiceClient(hs.Client(), hs.URL),
	}, hs
}

// Two fabrics: while A holds the write lease, B forwards its writes to A
// (every WAL batch names A) instead of waiting the lease out, and B's
// STRONG queries learn the WAL head from A (no bucket request) and see
// A's writes at once. When A is gone, B writes itself after A's lease.
func TestWritesForwardToLeaseHolder(t *testing.T) {
	ctx := context.Background()
	bucket := objstore.NewInMemory()
	w := startWorker(t, bucket)
	const lease = 2 * time.Second
	idx := fabric.IndexConfig{Disabled: true, Idle: time.Hour}
	members := fabric.ClusterConfig{Members: fabric.StaticMembers{w.hs.URL}, HedgeAfter: -1}
	a, aServer := advertisedFabric(t, fabric.Config{Bucket: bucket, Index: idx, WriteLease: lease, Cluster: members})
	counted := &countingBucket{Bucket: bucket}
	b, _ := advertisedFabric(t, fabric.Config{Bucket: counted, Index: idx, WriteLease: lease, Cluster: members})
	createNamespace(t, a, "fw", 8, weftv1.Metric_METRIC_L2)
	r := rand.New(rand.NewPCG(51, 52))
	upsert(t, a, "fw", randomDocs(r, 10, 8, "a"))
	viaB := randomDocs(r, 10, 8, "b")
	start := time.Now()
	upsert(t, b, "fw", viaB)
	if took := time.Since(start); took > lease/2 {
		t.Fatalf("B's write took %v: it waited for A's lease instead of forwarding", took)
	}
	gen := generationOf(t, bucket, "fw")
	wal := objstore.NewWAL(bucket, gen.WALPrefix())
	seqs, err := wal.List(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, seq := range seqs {
		payload, err := wal.Read(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		batch := &storagev1.WALBatch{}
		if err := proto.Unmarshal(payload, batch); err != nil {
			t.Fatal(err)
		}
		if batch.GetWriterUrl() != aServer.URL {
			t.Fatalf("WAL entry %d was written by %q, want A (%s): B should forward while A holds the lease", seq, batch.GetWriterUrl(), aServer.URL)
		}
	}

	// B's STRONG queries ask A for the head: no bucket request, and A's
	// writes seen at once.
	before := counted.exists.Load() + counted.gets.Load()
	for i := range 10 {
		d := randomDocs(r, 1, 8, "s")[0]
		d.Id = "s" + string(rune('a'+i))
		upsert(t, a, "fw", []*weftv1.Document{d})
		resp := query(t, b, &weftv1.QueryRequest{Namespace: "fw", Vector: d.Vector, TopK: 1})
		if len(resp.GetResults()) != 1 || resp.GetResults()[0].GetId() != d.Id {
			t.Fatalf("B's STRONG query right after A wrote %s: %v", d.Id, resp.GetResults())
		}
	}
	if n := counted.exists.Load() + counted.gets.Load() - before; n != 0 {
		t.Fatalf("B made %d bucket reads for 10 STRONG queries while A held the lease; want 0 (the head comes from A)", n)
	}

	// A is gone: B takes the writes over once A's lease ends.
	aServer.Close()
	last := randomDocs(r, 1, 8, "z")
	// A write B was forwarding on a kept-alive connection to A when A went
	// away is Unavailable (A may have taken it): the client retries, as
	// clients do, and B, unable to dial A, takes it.
	_, err = b.docs.Upsert(ctx, connect.NewRequest(&weftv1.UpsertRequest{Namespace: "fw", Documents: last}))
	if err != nil && connect.CodeOf(err) != connect.CodeUnavailable {
		t.Fatalf("a write forwarded to a holder that went away: %v, want Unavailable", err)
	}
	if err != nil {
		upsert(t, b, "fw", last)
	}
	resp, err := b.docs.Get(ctx, connect.NewRequest(&weftv1.GetRequest{Namespace: "fw", Ids: []string{last[0].Id, viaB[0].Id}}))
	if err != nil || len(resp.Msg.GetDocuments()) != 2 {
		t.Fatalf("after A went away: %v, %v; want B's write and the one it forwarded", resp, err)
	}
}

// generationOf reads namespace ns's generation from its config.
func generationOf(t *testing.T, bucket objstore.Bucket, ns string) objstore.Generation {
	t.Helper()
	b, err := bucket.Get(context.Background(), objstore.NamespaceKey(ns))
	if err != nil {
		t.Fatal(err)
	}
	meta := &weftv1.Namespace{}
	if err := protojson.Unmarshal(b, meta); err != nil {
		t.Fatal(err)
	}
	return objstore.Generation{Namespace: ns, ID: meta.GetGeneration()}
}
