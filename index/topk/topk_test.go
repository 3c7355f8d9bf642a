package topk

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// The Keeper returns what sorting everything returns, with ties (many) by
// name or by ID.
func TestKeeperMatchesSort(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, named := range []bool{false, true} {
		for _, k := range []int{1, 7, 100, 2000} {
			n := 1000
			names := make([]string, n)
			all := make([]Result, n)
			for i := range n {
				names[i] = fmt.Sprintf("id-%04d", r.IntN(10000))
				all[i] = Result{ID: uint32(i), Dist: float32(r.IntN(50))}
			}
			var keep *Keeper
			if named {
				keep = NewKeeper(k, names)
			} else {
				keep = NewKeeper(k, nil)
			}
			for i, x := range all {
				keep.Offer(x)
				if i%37 != 0 {
					continue
				}
				// TightBound is the k-th nearest distance offered so far.
				want := float32(math.Inf(1))
				if i+1 >= k {
					dists := make([]float32, i+1)
					for j := range dists {
						dists[j] = all[j].Dist
					}
					slices.Sort(dists)
					want = dists[k-1]
				}
				if got := keep.TightBound(); got != want {
					t.Fatalf("named %v k=%d: TightBound after %d offers = %v, want %v", named, k, i+1, got, want)
				}
			}
			got := keep.Sorted()
			slices.SortFunc(all, func(a, b Result) int {
				if a.Dist != b.Dist || !named {
					return Compare(a, b)
				}
				return strings.Compare(names[a.ID], names[b.ID])
			})
			want := all[:min(k, n)]
			if len(got) != len(want) {
				t.Fatalf("named %v k=%d: %d results, want %d", named, k, len(got), len(want))
			}
			for i := range want {
				same := got[i] == want[i] || named && got[i].Dist == want[i].Dist && names[got[i].ID] == names[want[i].ID]
				if !same {
					t.Fatalf("named %v k=%d: result %d is %v, want %v", named, k, i, got[i], want[i])
				}
			}
		}
	}
}

func TestKeeperOfNone(t *testing.T) {
	keep := NewKeeper(0, nil)
	keep.Offer(Result{ID: 1, Dist: 1})
	if got := keep.Sorted(); len(got) != 0 {
		t.Fatalf("k=0 kept %v", got)
	}
}
