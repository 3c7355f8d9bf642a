package filter

import (
	"math/bits"

	"github.com/RoaringBitmap/roaring/v2"
)

// Allow is the set of ids a filtered search may return. Cardinality drives
// the planner, so it must be exact or a close estimate.
type Allow interface {
	Contains(id uint32) bool
	Cardinality() uint64
}

// Lister is implemented by allow-lists that can enumerate their ids in
// increasing order; the Exact plan uses it instead of testing every id.
type Lister interface {
	AppendIDs(dst []uint32) []uint32
}

// Bitset is a dense allow-list over ids 0..n-1: one bit per id, the fastest
// Contains for filters that are not very sparse.
type Bitset struct {
	words []uint64
	card  uint64
}

// NewBitset returns an empty Bitset for ids below n.
func NewBitset(n int) *Bitset { return &Bitset{words: make([]uint64, (n+63)/64)} }

// Set adds id, which must be below the n given to NewBitset.
func (b *Bitset) Set(id uint32) {
	w, m := &b.words[id>>6], uint64(1)<<(id&63)
	if *w&m == 0 {
		*w |= m
		b.card++
	}
}

// Contains reports whether id is in the set.
func (b *Bitset) Contains(id uint32) bool {
	i := int(id >> 6)
	return i < len(b.words) && b.words[i]&(1<<(id&63)) != 0
}

// Cardinality returns the number of ids in the set.
func (b *Bitset) Cardinality() uint64 { return b.card }

// AppendIDs appends the set's ids in increasing order.
func (b *Bitset) AppendIDs(dst []uint32) []uint32 {
	for i, w := range b.words {
		for w != 0 {
			dst = append(dst, uint32(i*64+bits.TrailingZeros64(w)))
			w &= w - 1
		}
	}
	return dst
}

// Roaring adapts a roaring bitmap to Allow and Lister.
type Roaring struct{ *roaring.Bitmap }

// Cardinality returns the bitmap's cardinality.
func (r Roaring) Cardinality() uint64 { return r.GetCardinality() }

// AppendIDs appends the bitmap's ids in increasing order.
func (r Roaring) AppendIDs(dst []uint32) []uint32 {
	it := r.ManyIterator()
	buf := make([]uint32, 256)
	for {
		n := it.NextMany(buf)
		if n == 0 {
			return dst
		}
		dst = append(dst, buf[:n]...)
	}
}
