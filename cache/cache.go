package cache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"
)

// ErrClosed is returned by Get after Close.
var ErrClosed = errors.New("cache: closed")

// Source says which tier a piece came from.
type Source uint8

const (
	SourceRAM  Source = iota + 1 // the RAM tier
	SourceDisk                   // the disk tier
	SourceLoad                   // the loader, that is the bucket
)

func (s Source) String() string {
	switch s {
	case SourceRAM:
		return "ram"
	case SourceDisk:
		return "disk"
	case SourceLoad:
		return "load"
	}
	return fmt.Sprintf("Source(%d)", uint8(s))
}

// Loader fetches a piece's bytes, typically with a ranged GET from the
// bucket. The cache keeps the returned slice: the loader must not modify or
// reuse it afterwards. It runs in a goroutine of its own, so a panic in it
// ends the process.
type Loader func(ctx context.Context) ([]byte, error)

// Cache is a RAM cache of immutable pieces with an optional disk tier; see
// the package documentation. It is safe for concurrent use.
type Cache struct {
	opts    Options
	ram     *ramTier
	disk    *diskTier // nil without Options.DiskDir
	flights singleflight.Group
	// diskHitsSeen counts disk hits, to offer one in promoteEvery to RAM.
	diskHitsSeen atomic.Uint64
	metrics      *metrics

	// closing is cancelled by Close; it cancels the loads still running.
	closing     context.Context
	cancelLoads context.CancelFunc

	mu      sync.Mutex // guards closed and lookups.Add
	closed  bool
	lookups sync.WaitGroup // shared lookups running, which Close waits for
}

// New returns a Cache and registers its metrics with reg; a nil reg
// registers nothing.
func New(opts Options, reg prometheus.Registerer) (*Cache, error) {
	opts, err := opts.validated()
	if err != nil {
		return nil, err
	}
	c := &Cache{opts: opts, metrics: newMetrics()}
	if opts.DiskDir != "" {
		if c.disk, err = openDiskTier(opts.DiskDir, opts.DiskBytes, c.metrics); err != nil {
			return nil, err
		}
	}
	if c.ram, err = newRAMTier(opts.RAMBytes, c.metrics.ramEvictions.Inc); err != nil {
		return nil, fmt.Errorf("cache: ram tier: %w", err)
	}
	collectors := append(c.metrics.collectors(),
		bytesGauge("ram", c.ram.usedBytes),
		bytesGauge("disk", c.diskBytes))
	if err := register(reg, collectors...); err != nil {
		c.ram.close()
		if c.disk != nil {
			c.disk.close()
		}
		return nil, err
	}
	c.closing, c.cancelLoads = context.WithCancel(context.Background())
	return c, nil
}

// Get returns the piece's bytes and where they came from: RAM, disk, or a
// call to load. Concurrent Gets of one key share one disk read or load. If
// ctx ends first, Get returns ctx.Err() and the shared lookup goes on for
// the other callers (see the package documentation). The returned slice is
// shared with the cache and other callers: do not modify it.
func (c *Cache) Get(ctx context.Context, key string, load Loader) ([]byte, Source, error) {
	if data, ok := c.ram.get(key); ok {
		c.metrics.ramHits.Inc()
		return data, SourceRAM, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, 0, err // do not start a lookup nobody waits for
	}
	// A disk hit is one read: cheaper done here than shared.
	if data, ok := c.diskGet(key); ok {
		return data, SourceDisk, nil
	}
	results := c.flights.DoChan(key, func() (any, error) {
		return c.lookup(ctx, key, load)
	})
	select {
	case r := <-results:
		if r.Err != nil {
			return nil, 0, r.Err
		}
		piece := r.Val.(piece)
		return piece.data, piece.source, nil
	case <-ctx.Done():
		return nil, 0, ctx.Err()
	}
}

// Put stores a piece fetched ahead of need (a segment warmed before the
// manifest naming it is served): offered to RAM, written to the disk tier.
// It keeps its own copy of data.
func (c *Cache) Put(key string, data []byte) {
	data = bytes.Clone(data)
	c.ram.offer(key, data)
	c.writeDisk(key, data)
}

// Cached returns the piece's bytes when RAM or the disk tier holds them,
// and where they came from, without loading: a caller that needs many
// pieces takes the cached ones in line and loads only the rest
// (concurrently, with Get).
func (c *Cache) Cached(key string) ([]byte, Source, bool) {
	if data, ok := c.ram.get(key); ok {
		c.metrics.ramHits.Inc()
		return data, SourceRAM, true
	}
	if data, ok := c.diskGet(key); ok {
		return data, SourceDisk, true
	}
	return nil, 0, false
}

// diskGet reads key from the disk tier, if any, and puts a hit in RAM.
func (c *Cache) diskGet(key string) ([]byte, bool) {
	if c.disk == nil {
		return nil, false
	}
	data, ok := c.disk.get(key)
	if ok {
		c.metrics.diskHits.Inc()
		// While RAM has room every disk hit goes there. Once it is full,
		// offering each costs more than the hits it wins when the working
		// set dwarfs RAM (admission turns most away, at a price): one in
		// promoteEvery still brings frequent pieces in.
		switch {
		case c.ram.usedBytes()+entryCost(key, data) <= c.opts.RAMBytes:
			c.ram.set(key, data)
		case c.diskHitsSeen.Add(1)%promoteEvery == 0:
			c.ram.offer(key, data) // nobody waits for it
		}
	}
	return data, ok
}

// promoteEvery is how many disk hits go by for one offered to RAM.
const promoteEvery = 4

// piece is what a shared lookup hands to its callers.
type piece struct {
	data   []byte
	source Source
}

// lookup is the shared part of a Get: disk, then the loader. It fills RAM,
// and disk after a load, before it returns, so that a lookup of the key
// started after this one ended finds the piece in RAM.
func (c *Cache) lookup(ctx context.Context, key string, load Loader) (piece, error) {
	if !c.startLookup() {
		return piece{}, ErrClosed
	}
	defer c.lookups.Done()
	// Get's RAM check and its joining a lookup are not atomic: the previous
	// lookup of the key may have filled RAM and ended in between.
	if data, ok := c.ram.get(key); ok {
		c.metrics.ramHits.Inc()
		return piece{data, SourceRAM}, nil
	}
	if c.disk != nil {
		if data, ok := c.disk.get(key); ok {
			c.metrics.diskHits.Inc()
			c.ram.set(key, data)
			return piece{data, SourceDisk}, nil
		}
	}
	data, err := c.load(ctx, load)
	if err != nil {
		return piece{}, err
	}
	c.ram.set(key, data)
	c.writeDisk(key, data)
	return piece{data, SourceLoad}, nil
}

// load calls the loader under a context that keeps callerCtx's values but
// not its cancellation: one caller giving up must not fail the others
// sharing the load. Options.LoadTimeout and Close bound it instead.
func (c *Cache) load(callerCtx context.Context, load Loader) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(callerCtx), c.opts.LoadTimeout)
	defer cancel()
	stop := context.AfterFunc(c.closing, cancel)
	defer stop()

	c.metrics.misses.Inc()
	start := time.Now()
	data, err := load(ctx)
	c.metrics.loadSeconds.Observe(time.Since(start).Seconds())
	if err != nil {
		c.metrics.loadErrors.Inc()
		return nil, err
	}
	return data, nil
}

// writeDisk writes inline, before the lookup returns: it costs the callers
// a file write but keeps every disk access to a key inside that key's lookup.
// A failed write only costs a future disk hit, so it is counted, not
// returned.
func (c *Cache) writeDisk(key string, data []byte) {
	if c.disk == nil {
		return
	}
	if err := c.disk.put(key, data); err != nil {
		c.metrics.diskWriteErrors.Inc()
	}
}

func (c *Cache) startLookup() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.lookups.Add(1)
	return true
}

func (c *Cache) diskBytes() int64 {
	if c.disk == nil {
		return 0
	}
	return c.disk.usedBytes()
}

// Bytes returns the bytes the RAM and disk tiers account for now: each at
// most its budget.
func (c *Cache) Bytes() (ram, disk int64) { return c.ram.usedBytes(), c.diskBytes() }

// Close cancels running loads, waits for their lookups to end (so a loader
// that ignores its ctx delays Close) and releases the RAM tier and the disk
// tier's files. Gets after
// Close return ErrClosed. The metrics stay registered.
func (c *Cache) Close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.mu.Unlock()
	c.cancelLoads()
	c.lookups.Wait()
	c.ram.close()
	if c.disk != nil {
		c.disk.close()
	}
}
