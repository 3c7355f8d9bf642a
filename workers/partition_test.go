package workers

import (
	"fmt"
	"math/rand/v2"
	"testing"

	weftv1 "github.com/weftdb/weft/proto/gen/weft/v1"
)

// Partition puts every row in exactly one list, keeps lists under the cap,
// and on clustered data gives each cluster its own list; a cap tighter
// than the clusters spills rows into other lists instead of overfilling.
func TestPartition(t *testing.T) {
	const dim, clusters, per = 4, 5, 300
	r := rand.New(rand.NewPCG(1, 2))
	rows := &SegmentRows{}
	for c := range clusters {
		for i := range per {
			v := make([]float32, dim)
			for j := range v {
				v[j] = float32(r.NormFloat64())
			}
			v[c%dim] += 100 * float32(1+c/dim)
			rows.add(fmt.Sprintf("c%d-%d", c, i), Attrs{}, v)
		}
	}
	for _, maxRows := range []int{per, 280} {
		k := ListCount(rows.Len(), maxRows)
		lists, err := Partition(t.Context(), rows, dim, weftv1.Metric_METRIC_L2, k, maxRows, 2)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, l := range lists {
			if l.Len() > maxRows {
				t.Fatalf("max %d: a list of %d rows", maxRows, l.Len())
			}
			for i, id := range l.IDs {
				if seen[id] {
					t.Fatalf("row %s in two lists", id)
				}
				seen[id] = true
				if len(l.vectors) != l.Len()*dim || len(l.attrs) != l.Len() {
					t.Fatalf("list %d: %d vector values, %d attribute rows", i, len(l.vectors), len(l.attrs))
				}
			}
		}
		if len(seen) != rows.Len() {
			t.Fatalf("max %d: %d rows in lists, want %d", maxRows, len(seen), rows.Len())
		}
		if maxRows == per {
			// k = 6 lists for 5 clusters: each cluster whole in one list.
			for _, l := range lists {
				first := ""
				for _, id := range l.IDs {
					c := id[:2]
					if first == "" {
						first = c
					} else if c != first {
						t.Fatalf("a list mixes clusters %s and %s", first, c)
					}
				}
			}
		}
	}
	if _, err := Partition(t.Context(), rows, dim, weftv1.Metric_METRIC_L2, 2, 100, 1); err == nil {
		t.Fatal("Partition accepted 2 lists of 100 for 1,500 rows")
	}
}
