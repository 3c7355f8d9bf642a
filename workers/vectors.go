package workers

// chunkSlots is the number of vectors per chunk of a vectorStore. Growing a
// single flat slice copies everything stored so far at each growth, which
// dominated bulk imports (60k × 784 floats: 58% of the server's CPU);
// chunks bound what a growth copies to one chunk.
const chunkSlots = 1024

// vectorStore holds fixed-dimension vectors by slot, in chunks of
// chunkSlots vectors. The last chunk grows by append until it is full, so
// a small namespace holds only what it uses.
type vectorStore struct {
	dim    int
	n      int // slots in use
	chunks [][]float32
}

// at returns slot's vector, aliasing the store.
func (v *vectorStore) at(slot int) []float32 {
	c := v.chunks[slot/chunkSlots]
	off := (slot % chunkSlots) * v.dim
	return c[off : off+v.dim : off+v.dim]
}

// add appends a zero vector and returns its slot.
func (v *vectorStore) add() int {
	slot := v.n
	if slot%chunkSlots == 0 {
		var c []float32
		if slot > 0 { // chunks after the first start at full size
			c = make([]float32, 0, chunkSlots*v.dim)
		}
		v.chunks = append(v.chunks, c)
	}
	last := &v.chunks[len(v.chunks)-1]
	*last = append(*last, make([]float32, v.dim)...)
	v.n++
	return slot
}
