package workers

import (
	"slices"
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
