package workers

import (
	"fmt"
	"math/rand/v2"
	"testing"

	storagev1 "github.com/weftdb/weft/proto/gen/weft/storage/v1"
	weftv1 "github.com/weftdb/weft/proto/gen/weft/v1"
)

// BenchmarkScan is the exact scan of 10,000 × 32 cosine vectors.
func BenchmarkScan(b *testing.B) {
	st := NewState(32, weftv1.Metric_METRIC_COSINE)
	r := rand.New(rand.NewPCG(1, 2))
	var docs []*weftv1.Document
	for i := range 10_000 {
		v := make([]float32, 32)
		for j := range v {
			v[j] = float32(r.NormFloat64())
		}
		docs = append(docs, &weftv1.Document{Id: fmt.Sprintf("doc-%05d", i), Vector: v})
	}
	st.Apply(1, &storagev1.WALBatch{Ops: []*storagev1.WALOp{{Op: &storagev1.WALOp_Upsert{Upsert: &storagev1.UpsertOp{Documents: docs}}}}})
	q := docs[7].GetVector()
	for _, k := range []int{10, 100} {
		b.Run(fmt.Sprint("k", k), func(b *testing.B) {
			for b.Loop() {
				st.Search(q, k, nil, SearchOptions{Tail: true})
			}
		})
	}
}
