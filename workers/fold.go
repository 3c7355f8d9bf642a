package workers

import "slices"

// tierSegments is how many segments of one size tier (rows within a
// factor of 4) trigger their merge: a namespace keeps a few segments per
// tier, so a query searches O(log n) graphs and a row is rebuilt O(log n)
// times.
const tierSegments = 4

// FoldInput is a state as of one WAL sequence, split into what a fold
// keeps (segments, with the rows dead by then) and what it indexes anew.
type FoldInput struct {
	Applied uint64
	Writer  string // of batch applied, with its lease
	LeaseMs uint32
	Kept    []SegmentPart
	Merged  []string // ids of the segments merged into the new one
	Rows    SegmentRows
}

// FoldInput picks the segments to merge (all of them, also when the tail
// outgrew them, or every segment of a tier that has tierSegments of them
// and segments with more dead rows than live ones)
// and gathers the live rows of those and of the tail. The caller holds
// the read lock.
func (s *State) FoldInput(all bool) FoldInput {
	in := FoldInput{Applied: s.Applied, Writer: s.Writer, LeaseMs: s.LeaseMs}
	// A tail at least as large as the segments (a bulk load) is folded
	// together with them: the fold at most doubles, and the merge that
	// would follow it is saved.
	indexed := 0
	for _, g := range s.Segs {
		indexed += g.Graph.Live()
	}
	if len(s.IDs)-s.Base-len(s.free) >= indexed {
		all = true
	}
	// IVF lists and tenant groups are merged only with everything (a
	// re-partition): they are not a size tier of recent folds.
	tiers := map[int]int{}
	for _, g := range s.Segs {
		if !g.Partitioned() {
			tiers[tier(g.Graph.Live())]++
		}
	}
	for i, g := range s.Segs {
		base := s.segBase[i]
		live := g.Graph.Live()
		if all || (!g.Partitioned() && tiers[tier(live)] >= tierSegments) || 2*live < g.Rows {
			in.Merged = append(in.Merged, g.ID)
			for row := range g.Rows {
				if slot := base + row; s.IDs[slot] != "" {
					in.Rows.add(s.IDs[slot], g.attrs(row), g.vector(row))
				}
			}
			continue
		}
		in.Kept = append(in.Kept, SegmentPart{Seg: g, IDs: slices.Clone(s.IDs[base : base+g.Rows])})
	}
	for slot := s.Base; slot < len(s.IDs); slot++ {
		if s.IDs[slot] != "" {
			in.Rows.add(s.IDs[slot], s.attrs[slot], s.vecs.at(slot-s.Base))
		}
	}
	return in
}

// tier is a segment's size class: rows within a factor of 4 share one.
func tier(rows int) int {
	t := 0
	for rows >= 4 {
		rows /= 4
		t++
	}
	return t
}
