package topk

import (
	"cmp"
	"math"
	"slices"
)

// Result is one row found by a search. Dist is the metric's distance
// (squared L2, 1 − cos or −dot): smaller is nearer.
type Result struct {
	ID   uint32
	Dist float32
}

// Compare orders results nearest first, ties by the smaller ID.
func Compare(a, b Result) int {
	if c := cmp.Compare(a.Dist, b.Dist); c != 0 {
		return c
	}
	return cmp.Compare(a.ID, b.ID)
}

// Sort sorts rs nearest first, ties by the smaller ID.
func Sort(rs []Result) { slices.SortFunc(rs, Compare) }

// Keeper keeps the k nearest results offered. Results nearer than the
// current bound go to a buffer of 2k; when it fills, a quickselect keeps
// the k nearest and tightens the bound. Each offer costs an append, not a
// heap sift: a top-100 scan of 10,000 rows spent 25 µs sifting a heap.
type Keeper struct {
	k     int
	names []string // ID → name, for ties; nil: ties by ID
	buf   []Result
	bound float32 // results farther than this cannot make the top k
}

// NewKeeper returns a Keeper of the k nearest. Ties rank by names[ID]
// when names is not nil, else by ID.
func NewKeeper(k int, names []string) *Keeper {
	return &Keeper{k: k, names: names, buf: make([]Result, 0, 2*k), bound: float32(math.Inf(1))}
}

// Bound returns a distance no result of the final top k exceeds (+Inf
// until 2k results were offered); a scan may skip rows beyond it.
func (t *Keeper) Bound() float32 { return t.bound }

// TightBound is Bound made exact: the k-th nearest distance offered so far
// once k were offered (+Inf before). It costs a selection over at most 2k
// results; for checks between batches of offers, such as shards.
func (t *Keeper) TightBound() float32 {
	if t.k > 0 && len(t.buf) >= t.k {
		t.selectK()
		t.buf = t.buf[:t.k]
		t.bound = t.buf[t.k-1].Dist
	}
	return t.bound
}

// nearer reports whether a ranks before b.
func (t *Keeper) nearer(a, b Result) bool {
	if a.Dist != b.Dist {
		return a.Dist < b.Dist
	}
	if t.names != nil {
		return t.names[a.ID] < t.names[b.ID]
	}
	return a.ID < b.ID
}

// Offer considers r.
func (t *Keeper) Offer(r Result) {
	if r.Dist > t.bound || t.k <= 0 {
		return
	}
	t.buf = append(t.buf, r)
	if len(t.buf) == 2*t.k {
		t.selectK()
		t.buf = t.buf[:t.k]
		t.bound = t.buf[t.k-1].Dist
	}
}

// selectK reorders buf so that the k nearest come first, the k-th nearest
// at k-1 (quickselect, median-of-three pivots).
func (t *Keeper) selectK() {
	h := t.buf
	lo, hi, want := 0, len(h)-1, t.k-1
	for lo < hi {
		mid := lo + (hi-lo)/2
		if t.nearer(h[mid], h[lo]) {
			h[mid], h[lo] = h[lo], h[mid]
		}
		if t.nearer(h[hi], h[lo]) {
			h[hi], h[lo] = h[lo], h[hi]
		}
		if t.nearer(h[hi], h[mid]) {
			h[hi], h[mid] = h[mid], h[hi]
		}
		pivot := h[mid]
		i, j := lo, hi
		for i <= j {
			for t.nearer(h[i], pivot) {
				i++
			}
			for t.nearer(pivot, h[j]) {
				j--
			}
			if i <= j {
				h[i], h[j] = h[j], h[i]
				i++
				j--
			}
		}
		switch {
		case want <= j:
			hi = j
		case want >= i:
			lo = i
		default:
			return
		}
	}
}

// Sorted returns the k nearest results, nearest first. The Keeper must not
// be used after.
func (t *Keeper) Sorted() []Result {
	if len(t.buf) > t.k {
		t.selectK()
		t.buf = t.buf[:t.k]
	}
	slices.SortFunc(t.buf, func(a, b Result) int {
		switch {
		case t.nearer(a, b):
			return -1
		case t.nearer(b, a):
			return 1
		}
		return 0
	})
	return t.buf
}
