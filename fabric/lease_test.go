package fabric_test

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weftdb/weft/fabric"
	"github.com/weftdb/weft/objstore"
	weftv1 "github.com/weftdb/weft/proto/gen/weft/v1"
)

// countingBucket counts existence checks and reads.
type countingBucket struct {
	objstore.Bucket
	exists, gets atomic.Int64
}

func (b *countingBucket) Exists(ctx context.Context, name string) (bool, error) {
	b.exists.Add(1)
	return b.Bucket.Exists(ctx, name)
}

func (b *countingBucket) Get(ctx context.Context, name string) ([]byte, error) {
	b.gets.Add(1)
	return b.Bucket.Get(ctx, name)
}

// The process that writes a namespace holds its write lease: its STRONG
// queries read nothing from the bucket, and see its writes.
func TestWriteLeaseSkipsTheBucket(t *testing.T) {
	bucket := &countingBucket{Bucket: objstore.NewInMemory()}
	c := serveFabric(t, fabric.Config{Bucket: bucket, WriteLease: time.Minute, Index: fabric.IndexConfig{Disabled: true}})
	createNamespace(t, c, "lease", 2, weftv1.Metric_METRIC_L2)
	upsert(t, c, "lease", []*weftv1.Document{{Id: "a", Vector: []float32{1, 1}}})
	before := bucket.exists.Load() + bucket.gets.Load()
	for i := range 20 {
		got := query(t, c, &weftv1.QueryRequest{Namespace: "lease", Vector: []float32{1, 1}, TopK: 5})
		if ids := resultIDs(got.GetResults()); !slices.Equal(ids, []string{"a"}) {
			t.Fatalf("query %d: %v", i, ids)
		}
	}
	if n := bucket.exists.Load() + bucket.gets.Load() - before; n != 0 {
		t.Fatalf("20 STRONG queries under the write lease read the bucket %d times, want 0", n)
	}
	// Without the lease every STRONG query checks the WAL.
	plain := &countingBucket{Bucket: objstore.NewInMemory()}
	c = serveFabric(t, fabric.Config{Bucket: plain, WriteLease: -1, Index: fabric.IndexConfig{Disabled: true}})
	createNamespace(t, c, "lease", 2, weftv1.Metric_METRIC_L2)
	upsert(t, c, "lease", []*weftv1.Document{{Id: "a", Vector: []float32{1, 1}}})
	before = plain.exists.Load()
	for range 20 {
		query(t, c, &weftv1.QueryRequest{Namespace: "lease", Vector: []float32{1, 1}, TopK: 5})
	}
	if n := plain.exists.Load() - before; n < 20 {
		t.Fatalf("20 STRONG queries without a lease checked the WAL %d times, want 20", n)
	}
}

// Another process that writes during a lease waits for it to end, so the
// holder, trusting its lease, never misses an acknowledged write.
func TestWriteLeaseFencesOtherWriters(t *testing.T) {
	bucket := objstore.NewInMemory()
	const lease = 400 * time.Millisecond
	cfg := fabric.Config{Bucket: bucket, WriteLease: lease, Index: fabric.IndexConfig{Disabled: true}}
	a, b := serveFabric(t, cfg), serveFabric(t, cfg)
	createNamespace(t, a, "fence", 2, weftv1.Metric_METRIC_L2)
	ids := func(c clients) []string {
		got := query(t, c, &weftv1.QueryRequest{Namespace: "fence", Vector: []float32{0, 0}, TopK: 10})
		ids := resultIDs(got.GetResults())
		slices.Sort(ids)
		return ids
	}
	for round := range 3 {
		upsert(t, a, "fence", []*weftv1.Document{{Id: "a" + string(rune('0'+round)), Vector: []float32{1, 1}}})
		ids(a) // a trusts its lease from here on
		start := time.Now()
		upsert(t, b, "fence", []*weftv1.Document{{Id: "b" + string(rune('0'+round)), Vector: []float32{2, 2}}})
		waited := time.Since(start)
		want := []string{}
		for r := range round + 1 {
			want = append(want, "a"+string(rune('0'+r)), "b"+string(rune('0'+r)))
		}
		slices.Sort(want)
		if got := ids(a); !slices.Equal(got, want) {
			t.Fatalf("round %d: the lease holder answered %v after b's acknowledged write (b waited %v), want %v", round, got, waited, want)
		}
		if round == 0 && waited < lease*9/10 {
			t.Fatalf("b wrote during a's lease: its write took %v, the lease is %v", waited, lease)
		}
		time.Sleep(2 * lease) // let the leases end
	}
}
