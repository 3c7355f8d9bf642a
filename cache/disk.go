package cache

import (
	"container/list"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// diskTier keeps one file per piece in dir and evicts the least recently
// used files beyond budget bytes.
//
// Files of one key are only read and written inside that key's shared
// lookup, so they never race with each other; they race only with eviction,
// which may unlink a file being read (the open file stays readable) or just
// before it is opened (a miss).
type diskTier struct {
	dir     string
	budget  int64
	metrics *metrics

	mu      sync.Mutex // guards the fields below and every rename and unlink in dir
	recency *list.List // of *diskEntry, most recently used at the front
	entries map[string]*list.Element
	used    int64
}

type diskEntry struct {
	name string
	size int64
}

// openDiskTier indexes the piece files in dir, deleting temporary files left
// by a crash and piece files that fail the startup check.
func openDiskTier(dir string, budget int64, m *metrics) (*diskTier, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cache: disk dir: %w", err)
	}
	d := &diskTier{
		dir:     dir,
		budget:  budget,
		metrics: m,
		recency: list.New(),
		entries: make(map[string]*list.Element),
	}
	if err := d.scan(); err != nil {
		return nil, fmt.Errorf("cache: scan disk dir: %w", err)
	}
	return d, nil
}

type scannedFile struct {
	diskEntry
	modified time.Time
}

// scan rebuilds the index. Recency is not stored on disk; modification time
// (when the piece was written) stands in for it.
func (d *diskTier) scan() error {
	dirEntries, err := os.ReadDir(d.dir)
	if err != nil {
		return err
	}
	var found []scannedFile
	for _, e := range dirEntries {
		name := e.Name()
		switch {
		case e.IsDir():
		case strings.HasPrefix(name, tempPrefix):
			if err := removeFile(d.path(name)); err != nil {
				return err
			}
		case isPieceFileName(name):
			file, ok, err := d.scanPiece(name)
			if err != nil {
				return err
			}
			if ok {
				found = append(found, file)
			}
		}
	}
	slices.SortFunc(found, func(a, b scannedFile) int { return a.modified.Compare(b.modified) })
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, f := range found {
		d.trackLocked(f.name, f.size)
	}
	d.evictLocked()
	return nil
}

// scanPiece checks one piece file. One that fails, for whatever reason, is
// deleted: it could not be served anyway.
func (d *diskTier) scanPiece(name string) (scannedFile, bool, error) {
	path := d.path(name)
	info, err := checkPieceFile(path)
	if err != nil {
		d.metrics.diskCorrupt.Inc()
		return scannedFile{}, false, removeFile(path)
	}
	return scannedFile{diskEntry{name, info.Size()}, info.ModTime()}, true, nil
}

func (d *diskTier) path(name string) string { return filepath.Join(d.dir, name) }

// get returns the piece's bytes if its file is indexed and intact. A file
// that fails its checks is deleted.
func (d *diskTier) get(key string) ([]byte, bool) {
	name := pieceFileName(key)
	if !d.contains(name) {
		return nil, false
	}
	raw, err := os.ReadFile(d.path(name))
	if errors.Is(err, fs.ErrNotExist) {
		d.forget(name) // evicted meanwhile, or deleted behind our back
		return nil, false
	}
	if err != nil {
		// Maybe transient (EMFILE, EIO): a miss, and the load that follows
		// replaces the file.
		return nil, false
	}
	data, err := decodePiece(raw, key)
	if err != nil {
		d.metrics.diskCorrupt.Inc()
		d.drop(name)
		return nil, false
	}
	d.touch(name)
	return data, true
}

// put writes the piece's file and evicts down to budget. A piece larger than
// the whole budget is not written: it would only flush everything else.
func (d *diskTier) put(key string, data []byte) error {
	size := pieceFileSize(key, data)
	if size > d.budget {
		return nil
	}
	temp, err := writeTempPiece(d.dir, key, data)
	if err != nil {
		return err
	}
	name := pieceFileName(key)
	d.mu.Lock()
	defer d.mu.Unlock()
	// The directory is not fsynced after the rename: a crash that loses the
	// rename loses one cached piece, and the next start deletes the temp file.
	if err := os.Rename(temp, d.path(name)); err != nil {
		os.Remove(temp)
		return err
	}
	d.trackLocked(name, size)
	d.evictLocked()
	return nil
}

func (d *diskTier) contains(name string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.entries[name]
	return ok
}

func (d *diskTier) touch(name string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if elem, ok := d.entries[name]; ok {
		d.recency.MoveToFront(elem)
	}
}

func (d *diskTier) forget(name string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.forgetLocked(name)
}

// drop forgets the file and deletes it.
func (d *diskTier) drop(name string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.forgetLocked(name)
	removeFile(d.path(name))
}

func (d *diskTier) usedBytes() int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.used
}

// trackLocked records a file as the most recently used.
func (d *diskTier) trackLocked(name string, size int64) {
	d.forgetLocked(name)
	d.entries[name] = d.recency.PushFront(&diskEntry{name, size})
	d.used += size
}

func (d *diskTier) forgetLocked(name string) {
	elem, ok := d.entries[name]
	if !ok {
		return
	}
	d.recency.Remove(elem)
	delete(d.entries, name)
	d.used -= elem.Value.(*diskEntry).size
}

// evictLocked deletes least recently used files until the rest fit the
// budget. A file it fails to delete is forgotten anyway: keeping it indexed
// would not free the space either.
func (d *diskTier) evictLocked() {
	for d.used > d.budget {
		oldest := d.recency.Back().Value.(*diskEntry)
		d.forgetLocked(oldest.name)
		removeFile(d.path(oldest.name))
		d.metrics.diskEvictions.Inc()
	}
}

// removeFile deletes path; a file already gone is not an error.
func removeFile(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
