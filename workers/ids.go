package workers

// idIndex maps document ids to slots. An assembled state builds its map
// in the background: a query needs slot → id only, so a restarted process
// answers its first query without waiting for a map of a million ids (half
// a second, a cache miss per id); writes and Get wait for it.
type idIndex struct {
	ready chan struct{} // closed once m is built; nil when built in place
	m     map[string]uint32
	// dups holds slots whose id a later row repeats, found by the build;
	// the first writer kills them (a manifest never holds two live rows of
	// an id, so this is a safety net, not a path).
	dups []int
	live int // live ids, for count while m is built
}

// buildIDs indexes the ids of slots [0, n) in the background.
func (s *State) buildIDs(n, live int) {
	s.idx.ready = make(chan struct{})
	s.idx.live = live
	ids := s.IDs[:n:n]
	go func() {
		defer close(s.idx.ready)
		m := make(map[string]uint32, live)
		for slot, id := range ids {
			if id != "" {
				m[id] = uint32(slot)
			}
		}
		if len(m) != live { // an id repeats: its last row wins
			clear(m)
			for slot, id := range ids {
				if id == "" {
					continue
				}
				if old, dup := m[id]; dup {
					s.idx.dups = append(s.idx.dups, int(old))
				}
				m[id] = uint32(slot)
			}
		}
		s.idx.m = m
	}()
}

// slotsForRead returns the id map, waiting for its build. The caller holds
// the lock.
func (s *State) slotsForRead() map[string]uint32 {
	if s.idx.ready != nil {
		<-s.idx.ready
	}
	return s.idx.m
}

// slotsForWrite is slotsForRead for a writer, which holds the write
// lock: rows the build found repeated are killed first.
func (s *State) slotsForWrite() map[string]uint32 {
	m := s.slotsForRead()
	for _, slot := range s.idx.dups {
		s.kill(slot)
	}
	s.idx.dups = nil
	return m
}

// Count is the number of live documents. The caller holds the lock.
func (s *State) Count() int {
	if s.idx.ready != nil {
		select {
		case <-s.idx.ready:
		default:
			return s.idx.live
		}
	}
	return len(s.idx.m)
}

// Added is how many of ids no live document has: the documents an upsert
// of them would add. The caller holds the lock.
func (s *State) Added(ids []string) int {
	m := s.slotsForRead()
	n := 0
	for _, id := range ids {
		if _, ok := m[id]; !ok {
			n++
		}
	}
	return n
}
