package kmeans

import (
	"context"
	"testing"

	"github.com/weftdb/weft/index/indextest"
)

// Well separated clusters must be recovered: every cluster's points end up
// sharing a centroid.
func TestTrainRecoversClusters(t *testing.T) {
	const dim, k, per = 8, 5, 200
	data := make([]float32, 0, k*per*dim)
	noise := indextest.Gaussian(1, k*per, dim)
	for c := range k {
		for i := range per {
			for j := range dim {
				v := noise[(c*per+i)*dim+j] * 0.1
				if j == c {
					v += 100
				}
				data = append(data, v)
			}
		}
	}
	cent, err := Train(context.Background(), data, dim, Config{K: k, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	assign := make([]int32, k*per)
	Assign(data, dim, cent, assign, nil, 2)
	for c := range k {
		first := assign[c*per]
		for i := range per {
			if assign[c*per+i] != first {
				t.Fatalf("cluster %d split across centroids", c)
			}
		}
		for o := range c {
			if assign[o*per] == first {
				t.Fatalf("clusters %d and %d share a centroid", o, c)
			}
		}
	}
	if got := Nearest(data[:dim], cent, 2, nil); len(got) != 2 || got[0] != assign[0] {
		t.Fatalf("Nearest = %v, want %d first", got, assign[0])
	}
}

func TestBalanced(t *testing.T) {
	const dim, n, k = 4, 2000, 10
	data := indextest.Clustered(2, n, dim, 3) // uneven natural clusters
	cent, err := Train(context.Background(), data, dim, Config{K: k, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	assign := AssignBalanced(data, dim, cent, 0.1, 4, 2)
	sizes := make([]int, k)
	for _, a := range assign {
		sizes[a]++
	}
	for c, s := range sizes {
		if s > 220 {
			t.Errorf("centroid %d holds %d rows, cap 220", c, s)
		}
	}
	// Most rows stay on their nearest centroid.
	near := make([]int32, n)
	Assign(data, dim, cent, near, nil, 2)
	same := 0
	for i := range near {
		if near[i] == assign[i] {
			same++
		}
	}
	if same < n/2 {
		t.Errorf("only %d of %d rows kept their nearest centroid", same, n)
	}
}

func TestErrors(t *testing.T) {
	if _, err := Train(context.Background(), make([]float32, 5), 2, Config{K: 1}); err == nil {
		t.Error("accepted ragged rows")
	}
	if _, err := Train(context.Background(), nil, 2, Config{K: 1}); err == nil {
		t.Error("accepted no rows")
	}
	few, err := Train(context.Background(), []float32{1, 1, 2, 2}, 2, Config{K: 4})
	if err != nil || len(few) != 8 {
		t.Errorf("K above row count: %v, %d floats", err, len(few))
	}
}
