package hnsw

import "github.com/weftdb/weft/index/topk"

// minHeap and maxHeap are binary heaps of Results ordered by Dist, written out
// by hand so the hot path has no interface calls.
type minHeap []topk.Result

func (h *minHeap) push(r topk.Result) {
	s := append(*h, r)
	i := len(s) - 1
	for i > 0 {
		p := (i - 1) / 2
		if s[p].Dist <= r.Dist {
			break
		}
		s[i] = s[p]
		i = p
	}
	s[i] = r
	*h = s
}

func (h *minHeap) pop() topk.Result {
	s := *h
	top := s[0]
	n := len(s) - 1
	last := s[n]
	s = s[:n]
	i := 0
	for {
		c := 2*i + 1
		if c >= n {
			break
		}
		if c+1 < n && s[c+1].Dist < s[c].Dist {
			c++
		}
		if last.Dist <= s[c].Dist {
			break
		}
		s[i] = s[c]
		i = c
	}
	if n > 0 {
		s[i] = last
	}
	*h = s
	return top
}

type maxHeap []topk.Result

// replaceTop replaces the largest element with r, which must not be larger,
// and restores the heap: one sift-down instead of a push and a pop.
func (h maxHeap) replaceTop(r topk.Result) {
	n := len(h)
	i := 0
	for {
		c := 2*i + 1
		if c >= n {
			break
		}
		if c+1 < n && h[c+1].Dist > h[c].Dist {
			c++
		}
		if r.Dist >= h[c].Dist {
			break
		}
		h[i] = h[c]
		i = c
	}
	h[i] = r
}

func (h *maxHeap) push(r topk.Result) {
	s := append(*h, r)
	i := len(s) - 1
	for i > 0 {
		p := (i - 1) / 2
		if s[p].Dist >= r.Dist {
			break
		}
		s[i] = s[p]
		i = p
	}
	s[i] = r
	*h = s
}

func (h *maxHeap) pop() topk.Result {
	s := *h
	top := s[0]
	n := len(s) - 1
	last := s[n]
	s = s[:n]
	i := 0
	for {
		c := 2*i + 1
		if c >= n {
			break
		}
		if c+1 < n && s[c+1].Dist > s[c].Dist {
			c++
		}
		if last.Dist >= s[c].Dist {
			break
		}
		s[i] = s[c]
		i = c
	}
	if n > 0 {
		s[i] = last
	}
	*h = s
	return top
}

// visited is an epoch-stamped visited set: a node is visited when its stamp
// equals the current epoch, so a reset costs one increment.
type visited struct {
	mark  []uint16
	epoch uint16
}

func (v *visited) reset(n int) {
	if len(v.mark) < n {
		v.mark = make([]uint16, n)
		v.epoch = 0
	}
	v.epoch++
	if v.epoch == 0 {
		clear(v.mark)
		v.epoch = 1
	}
}
