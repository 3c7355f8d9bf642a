package cache

import (
	"sync"
	"sync/atomic"

	"github.com/dgraph-io/ristretto/v2"
)

// EntryOverhead is charged against Options.RAMBytes for every RAM entry on
// top of its key and bytes: a rough bound on ristretto's per-item
// bookkeeping, so that many tiny pieces cannot overrun the budget.
const EntryOverhead = 96

// assumedPieceBytes sizes ristretto's frequency sketch, which wants about ten
// counters per entry it will hold. Pieces are byte ranges of segment
// objects, typically a few KiB to a few MiB.
const assumedPieceBytes = 16 << 10

// maxCounters caps the sketch at about 50 MB for very large budgets.
const maxCounters = 1 << 24

// ramTier is the RAM tier: a ristretto cache guarded against use during and
// after Close, which ristretto does not tolerate (it closes its channels).
type ramTier struct {
	mu      sync.RWMutex // held for reading around every use of store
	closed  bool
	closing atomic.Bool // read by onEvict, which runs inside store.Close
	store   *ristretto.Cache[string, []byte]
}

func newRAMTier(budget int64, onEvict func()) (*ramTier, error) {
	r := &ramTier{}
	store, err := ristretto.NewCache(&ristretto.Config[string, []byte]{
		NumCounters:        sketchCounters(budget),
		MaxCost:            budget,
		BufferItems:        64,
		IgnoreInternalCost: true, // entryCost charges EntryOverhead instead
		OnEvict: func(*ristretto.Item[[]byte]) {
			// Close empties the store through OnEvict; that is not eviction.
			if !r.closing.Load() {
				onEvict()
			}
		},
	})
	if err != nil {
		return nil, err
	}
	r.store = store
	return r, nil
}

func sketchCounters(budget int64) int64 {
	entries := max(budget/assumedPieceBytes, 100)
	return min(10*entries, maxCounters)
}

func entryCost(key string, data []byte) int64 {
	return int64(len(key) + len(data) + EntryOverhead)
}

func (r *ramTier) get(key string) ([]byte, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed {
		return nil, false
	}
	return r.store.Get(key)
}

// set offers data to ristretto and waits until the offer is applied, so that
// once a shared lookup ends its key is in RAM (if admitted) and a Get that
// arrives right after it does not start the lookup again.
func (r *ramTier) set(key string, data []byte) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed {
		return
	}
	if r.store.Set(key, data, entryCost(key, data)) {
		r.store.Wait()
	}
}

// offer offers data to ristretto without waiting: for pieces read from
// disk, which no shared lookup needs in RAM at once.
func (r *ramTier) offer(key string, data []byte) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if !r.closed {
		r.store.Set(key, data, entryCost(key, data))
	}
}

// usedBytes is the cost held: keys, bytes and EntryOverhead per entry.
func (r *ramTier) usedBytes() int64 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed {
		return 0
	}
	return r.store.MaxCost() - r.store.RemainingCost()
}

func (r *ramTier) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	r.closed = true
	r.closing.Store(true)
	r.store.Close()
}
