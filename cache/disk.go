package cache

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// diskTier appends pieces to slab files in dir, each piece a record of its
// own with a checksum, and keeps an index of where each key's record is in
// memory. A hit is one positioned read of an open file: a refine that
// needs a hundred 4 KiB pieces cannot afford an open, a read and a close
// for each. Beyond budget bytes it deletes the oldest slab: eviction is
// first in, first out by slab, the price of never rewriting a file.
//
// Every read checks the record's checksum and key; a record that fails is
// dropped from the index and counted, never served. Startup reads the
// records' headers to rebuild the index and cuts a slab at its first
// record that does not parse (a crash in the middle of an append).
type diskTier struct {
	dir      string
	budget   int64
	slabCap  int64 // a slab takes records until it would pass this size
	metrics  *metrics
	mu       sync.Mutex // guards the fields below
	slabs    []*slab    // oldest first; the last takes appends
	index    map[string]pieceLoc
	used     int64 // bytes in the slabs
	nextSlab uint64
}

// slab is one file of records.
type slab struct {
	seq  uint64
	path string
	size int64    // bytes of whole records; appends go here (under diskTier.mu)
	keys []string // keys written here, for eviction (under diskTier.mu)

	mu sync.RWMutex // readers hold it while reading f; eviction closes f under it
	f  *os.File     // nil once evicted
}

// pieceLoc is where a record is.
type pieceLoc struct {
	s        *slab
	off, len int64
}

const (
	slabPrefix = "slab-"
	maxSlab    = 64 << 20
)

// openDiskTier indexes the slabs in dir, deleting temporary and piece
// files earlier versions left.
func openDiskTier(dir string, budget int64, m *metrics) (*diskTier, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cache: disk dir: %w", err)
	}
	d := &diskTier{dir: dir, budget: budget, slabCap: max(1, min(maxSlab, budget/8)), metrics: m, index: make(map[string]pieceLoc)}
	if err := d.scan(); err != nil {
		d.close()
		return nil, fmt.Errorf("cache: scan disk dir: %w", err)
	}
	return d, nil
}

// scan rebuilds the index from the slabs, oldest first, so a key written
// twice is found where it was written last.
func (d *diskTier) scan() error {
	entries, err := os.ReadDir(d.dir)
	if err != nil {
		return err
	}
	var seqs []uint64
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() {
			continue
		}
		if strings.HasPrefix(name, tempPrefix) || strings.HasSuffix(name, pieceSuffix) {
			if err := removeFile(filepath.Join(d.dir, name)); err != nil {
				return err
			}
			continue
		}
		if seq, ok := parseSlabName(name); ok {
			seqs = append(seqs, seq)
		}
	}
	slices.Sort(seqs)
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, seq := range seqs {
		if err := d.scanSlab(seq); err != nil {
			return err
		}
		d.nextSlab = seq + 1
	}
	d.evictLocked()
	return nil
}

// scanSlab indexes one slab's records, cutting the file at the first that
// does not parse.
func (d *diskTier) scanSlab(seq uint64) error {
	s := &slab{seq: seq, path: filepath.Join(d.dir, slabName(seq))}
	f, err := os.OpenFile(s.path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	s.f = f
	info, err := f.Stat()
	if err != nil {
		return err
	}
	total := info.Size()
	head := make([]byte, headerSize)
	var off int64
	for off < total {
		h, key, ok := readRecordHead(f, off, total, head)
		if !ok {
			break
		}
		n := headerSize + int64(h.keyLen) + int64(h.dataLen)
		d.index[key] = pieceLoc{s, off, n}
		s.keys = append(s.keys, key)
		off += n
	}
	if off < total {
		d.metrics.diskCorrupt.Inc()
		if err := f.Truncate(off); err != nil {
			return err
		}
	}
	s.size = off
	d.used += off
	d.slabs = append(d.slabs, s)
	return nil
}

// readRecordHead reads the header and key of the record at off of a file
// of total bytes; false if they do not parse or the record runs past the
// end. The checksum waits for the first read of the record.
func readRecordHead(f *os.File, off, total int64, head []byte) (header, string, bool) {
	if _, err := f.ReadAt(head, off); err != nil {
		return header{}, "", false
	}
	h, err := parseHeader(head)
	if err != nil {
		return header{}, "", false
	}
	if !h.fits(total - off) {
		return header{}, "", false
	}
	key := make([]byte, h.keyLen)
	if _, err := f.ReadAt(key, off+headerSize); err != nil {
		return header{}, "", false
	}
	return h, string(key), true
}

func slabName(seq uint64) string { return fmt.Sprintf("%s%016d", slabPrefix, seq) }

func parseSlabName(name string) (uint64, bool) {
	digits, ok := strings.CutPrefix(name, slabPrefix)
	if !ok || len(digits) != 16 {
		return 0, false
	}
	seq, err := strconv.ParseUint(digits, 10, 64)
	return seq, err == nil
}

// get returns the piece's bytes if its record is indexed and intact. A
// record that fails its checks is dropped from the index.
func (d *diskTier) get(key string) ([]byte, bool) {
	d.mu.Lock()
	loc, ok := d.index[key]
	d.mu.Unlock()
	if !ok {
		return nil, false
	}
	// Read so that the data, after the header and key, lands 8-byte
	// aligned: callers use it in place (float32 vectors) without a copy.
	pad := -(headerSize + len(key)) & 7
	raw := make([]byte, int64(pad)+loc.len)[pad:]
	loc.s.mu.RLock()
	if loc.s.f == nil { // evicted meanwhile
		loc.s.mu.RUnlock()
		return nil, false
	}
	n, err := loc.s.f.ReadAt(raw, loc.off)
	loc.s.mu.RUnlock()
	if err != nil && !(errors.Is(err, io.EOF) && int64(n) == loc.len) {
		// Maybe transient: a miss, and the load that follows appends the
		// piece again.
		return nil, false
	}
	data, err := decodePiece(raw, key)
	if err != nil {
		d.metrics.diskCorrupt.Inc()
		d.forget(key, loc)
		return nil, false
	}
	return data, true
}

// put appends the piece and evicts down to budget. A piece larger than the
// whole budget is not written: it would only flush everything else.
func (d *diskTier) put(key string, data []byte) error {
	rec := append(encodePrefix(key, data), data...)
	n := int64(len(rec))
	if n > d.budget {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.index[key]; ok {
		return nil
	}
	s, err := d.slabForLocked(n)
	if err != nil {
		return err
	}
	if _, err := s.f.WriteAt(rec, s.size); err != nil {
		// Cut what may have landed, so the next record starts clean.
		_ = s.f.Truncate(s.size)
		return err
	}
	d.index[key] = pieceLoc{s, s.size, n}
	s.keys = append(s.keys, key)
	s.size += n
	d.used += n
	d.evictLocked()
	return nil
}

// slabForLocked returns the slab to append n bytes to: the newest, or a
// new one when it would pass slabCap (a record larger than slabCap gets a
// slab of its own).
func (d *diskTier) slabForLocked(n int64) (*slab, error) {
	if k := len(d.slabs); k > 0 {
		if s := d.slabs[k-1]; s.size == 0 || s.size+n <= d.slabCap {
			return s, nil
		}
	}
	s := &slab{seq: d.nextSlab, path: filepath.Join(d.dir, slabName(d.nextSlab))}
	f, err := os.OpenFile(s.path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	s.f = f
	d.nextSlab++
	d.slabs = append(d.slabs, s)
	return s, nil
}

// forget drops key's record from the index if it is still at loc.
func (d *diskTier) forget(key string, loc pieceLoc) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.index[key] == loc {
		delete(d.index, key)
	}
}

func (d *diskTier) usedBytes() int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.used
}

// evictLocked deletes the oldest slabs until the rest fit the budget. A
// file it fails to delete is forgotten anyway: keeping it indexed would
// not free the space either.
func (d *diskTier) evictLocked() {
	for d.used > d.budget && len(d.slabs) > 0 {
		s := d.slabs[0]
		d.slabs = d.slabs[1:]
		for _, key := range s.keys {
			if d.index[key].s == s {
				delete(d.index, key)
				d.metrics.diskEvictions.Inc()
			}
		}
		d.used -= s.size
		s.close()
		_ = removeFile(s.path)
	}
}

// close closes the slab files.
func (d *diskTier) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, s := range d.slabs {
		s.close()
	}
}

func (s *slab) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f != nil {
		s.f.Close()
		s.f = nil
	}
}

// removeFile deletes path; a file already gone is not an error.
func removeFile(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
