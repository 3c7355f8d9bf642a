package indextest

import (
	"testing"

	"github.com/weftdb/weft/index/distance"
)

func TestFashionMNIST(t *testing.T) {
	b, q, d := FashionMNIST()
	if d != 784 || len(b) != 2000*784 || len(q) != 100*784 {
		t.Fatalf("sizes %d %d %d", d, len(b), len(q))
	}
}

func TestBruteForceAndRecall(t *testing.T) {
	data := Gaussian(1, 500, 8)
	q := Gaussian(2, 1, 8)
	truth := BruteForce(data, q, distance.L2, 10, nil)
	if len(truth) != 10 {
		t.Fatal(len(truth))
	}
	for i := 1; i < len(truth); i++ {
		if truth[i].Dist < truth[i-1].Dist {
			t.Fatal("not sorted")
		}
	}
	ids := make([]uint32, len(truth))
	for i, n := range truth {
		ids[i] = n.ID
	}
	dist := func(id uint32) float32 { return distance.L2Sq(q, data[int(id)*8:int(id+1)*8]) }
	if r := Recall(ids, truth, dist); r != 1 {
		t.Errorf("recall of exact answer = %v", r)
	}
	if r := Recall(append(ids[:5:5], ids[0], ids[1]), truth, dist); r != 0.5 {
		t.Errorf("recall with duplicates = %v, want 0.5", r)
	}
	even := BruteForce(data, q, distance.L2, 10, func(id uint32) bool { return id%2 == 0 })
	for _, n := range even {
		if n.ID%2 != 0 {
			t.Fatal("filter ignored")
		}
	}
}
