package fabric

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestVectorStoreAcrossChunks(t *testing.T) {
	v := vectorStore{dim: 3}
	const n = 2*chunkSlots + 5
	for i := range n {
		if slot := v.add(); slot != i {
			t.Fatalf("add %d returned slot %d", i, slot)
		}
		copy(v.at(i), []float32{float32(i), float32(-i), 1})
	}
	for i := range n {
		if got := v.at(i); !slices.Equal(got, []float32{float32(i), float32(-i), 1}) {
			t.Fatalf("slot %d holds %v", i, got)
		}
	}
	if len(v.chunks) != 3 || cap(v.chunks[1]) != chunkSlots*3 {
		t.Fatalf("%d chunks, the second of capacity %d", len(v.chunks), cap(v.chunks[1]))
	}
	// A write through at stays inside its slot.
	grown := append(v.at(chunkSlots-1), 42)
	if v.at(chunkSlots)[0] == 42 || len(grown) != 4 {
		t.Fatal("appending to a slot's vector overwrote the next slot")
	}
}

func TestTopKMatchesSort(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, k := range []int{1, 7, 100} {
		n := 1000
		ids := make([]string, n)
		all := make([]hit, n)
		for i := range n {
			ids[i] = fmt.Sprintf("id-%04d", r.IntN(10000))
			all[i] = hit{slot: uint32(i), dist: float32(r.IntN(50))} // many ties
		}
		top := newTopK(k, ids)
		for _, h := range all {
			top.offer(h)
		}
		got := top.sorted()
		slices.SortFunc(all, func(a, b hit) int {
			if a.dist != b.dist {
				return cmp.Compare(a.dist, b.dist)
			}
			return strings.Compare(ids[a.slot], ids[b.slot])
		})
		for i := range k {
			if got[i].dist != all[i].dist || ids[got[i].slot] != ids[all[i].slot] {
				t.Fatalf("k=%d: result %d is %v (%s), want %v (%s)", k, i, got[i], ids[got[i].slot], all[i], ids[all[i].slot])
			}
		}
	}
}
