package cache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// ramOff is a RAM budget smaller than any entry, so every Get reaches the
// disk tier.
const ramOff = 1

func diskOptions(dir string) Options {
	return Options{RAMBytes: 1 << 20, DiskDir: dir, DiskBytes: 1 << 20}
}

// fillDisk loads key through a Cache over dir and closes it.
func fillDisk(t *testing.T, dir, key string, data []byte) {
	t.Helper()
	c, err := New(diskOptions(dir), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var calls atomic.Int64
	mustGet(t, c, key, countingLoader(data, &calls), data, SourceLoad)
}

func dirBytes(t *testing.T, dir string) (total int64, names []string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		total += info.Size()
		names = append(names, e.Name())
	}
	return total, names
}

func fileExists(t *testing.T, path string) bool {
	t.Helper()
	_, err := os.Stat(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return err == nil
}

func TestDiskServesAfterRestart(t *testing.T) {
	dir := t.TempDir()
	data := pieceBytes(5, 3000)
	fillDisk(t, dir, "seg/5@0+3000", data)

	c, _ := newTestCache(t, diskOptions(dir))
	mustGet(t, c, "seg/5@0+3000", failingLoader(t), data, SourceDisk)
	mustGet(t, c, "seg/5@0+3000", failingLoader(t), data, SourceRAM)
}

func TestDiskServesWhenRAMTurnsPiecesAway(t *testing.T) {
	dir := t.TempDir()
	opts := diskOptions(dir)
	opts.RAMBytes = ramOff
	c, _ := newTestCache(t, opts)
	data := pieceBytes(6, 100)
	var calls atomic.Int64
	mustGet(t, c, "k", countingLoader(data, &calls), data, SourceLoad)
	mustGet(t, c, "k", failingLoader(t), data, SourceDisk)
	mustGet(t, c, "k", failingLoader(t), data, SourceDisk)
}

// slabFiles returns the slab files in dir.
func slabFiles(t *testing.T, dir string) []string {
	t.Helper()
	_, names := dirBytes(t, dir)
	var out []string
	for _, n := range names {
		if _, ok := parseSlabName(n); ok {
			out = append(out, filepath.Join(dir, n))
		}
	}
	return out
}

// TestDiskDetectsDamage damages a slab while no Cache is open. Whether the
// startup scan or the read's checksum catches it, the damaged record is
// never served: the loader is called instead, and its bytes are written
// again. Records before the damage are still served.
func TestDiskDetectsDamage(t *testing.T) {
	const key = "seg/9@4096+2000"
	data := pieceBytes(9, 2000)
	before := pieceBytes(8, 500)
	recStart := recordSize("before", before) // where key's record starts
	flipByteAt := func(offset func(size int64) int64) func(t *testing.T, path string) {
		return func(t *testing.T, path string) {
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			raw[offset(int64(len(raw)))] ^= 0x40
			if err := os.WriteFile(path, raw, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	truncate := func(n int64) func(t *testing.T, path string) {
		return func(t *testing.T, path string) {
			if err := os.Truncate(path, n); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, tc := range []struct {
		name    string
		damage  func(t *testing.T, path string)
		corrupt float64
	}{
		{"truncated", truncate(recStart + headerSize + int64(len(key)) + 1000), 1},
		{"truncated inside the header", truncate(recStart + headerSize/2), 1},
		{"flipped data byte", flipByteAt(func(size int64) int64 { return size - 100 }), 1},
		{"flipped checksum byte", flipByteAt(func(int64) int64 { return recStart + 5 }), 1},
		// 64 bytes shorter: the scan cuts the slab where the next record
		// should start, and the read fails the shortened record's checksum.
		{"flipped length byte", flipByteAt(func(int64) int64 { return recStart + 12 }), 2},
		// The record now holds another key: key is simply not there.
		{"flipped key byte", flipByteAt(func(int64) int64 { return recStart + headerSize + 2 }), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			c, err := New(diskOptions(dir), nil)
			if err != nil {
				t.Fatal(err)
			}
			var calls atomic.Int64
			mustGet(t, c, "before", countingLoader(before, &calls), before, SourceLoad)
			mustGet(t, c, key, countingLoader(data, &calls), data, SourceLoad)
			c.Close()
			slabs := slabFiles(t, dir)
			if len(slabs) != 1 {
				t.Fatalf("%d slabs, want 1", len(slabs))
			}
			tc.damage(t, slabs[0])

			c, _ = newTestCache(t, diskOptions(dir))
			errBucket := errors.New("bucket down")
			_, _, err = c.Get(context.Background(), key, func(context.Context) ([]byte, error) {
				return nil, errBucket
			})
			if !errors.Is(err, errBucket) {
				t.Fatalf("Get = %v, want the loader's error", err)
			}
			if got := testutil.ToFloat64(c.metrics.diskCorrupt); got != tc.corrupt {
				t.Fatalf("corrupt records counted %v, want %v", got, tc.corrupt)
			}
			mustGet(t, c, "before", failingLoader(t), before, SourceDisk)
			mustGet(t, c, key, countingLoader(data, &calls), data, SourceLoad)
			c.Close()
			c, _ = newTestCache(t, diskOptions(dir))
			mustGet(t, c, key, failingLoader(t), data, SourceDisk)
		})
	}
}

func TestDiskRemovesLeftoversAtStartup(t *testing.T) {
	dir := t.TempDir()
	data := pieceBytes(7, 100)
	fillDisk(t, dir, "kept", data)
	leftovers := []string{tempPrefix + "123456", tempPrefix + "abc", strings.Repeat("ab", 32) + pieceSuffix}
	for _, name := range leftovers {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("half a pie"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	foreign := filepath.Join(dir, "README")
	if err := os.WriteFile(foreign, []byte("not ours"), 0o600); err != nil {
		t.Fatal(err)
	}

	c, _ := newTestCache(t, diskOptions(dir))
	for _, name := range leftovers {
		if fileExists(t, filepath.Join(dir, name)) {
			t.Errorf("leftover %s survived startup", name)
		}
	}
	if !fileExists(t, foreign) {
		t.Error("startup deleted a file that is not the cache's")
	}
	mustGet(t, c, "kept", failingLoader(t), data, SourceDisk)
}

// TestDiskEvictsOldestSlab: with a budget of three records, each slab takes
// one (a slab holds an eighth of the budget, or one record), and a fourth
// record deletes the first slab: first in, first out.
func TestDiskEvictsOldestSlab(t *testing.T) {
	dir := t.TempDir()
	m := newMetrics()
	data := func(key string) []byte { return pieceBytes(len(key), 1000) }
	size := recordSize("a", data("a"))
	d, err := openDiskTier(dir, 3*size, m)
	if err != nil {
		t.Fatal(err)
	}
	defer d.close()
	for _, key := range []string{"a", "b", "c"} {
		if err := d.put(key, data(key)); err != nil {
			t.Fatal(err)
		}
	}
	if len(slabFiles(t, dir)) != 3 {
		t.Fatalf("%d slabs, want 3", len(slabFiles(t, dir)))
	}
	if err := d.put("d", data("d")); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]bool{"a": false, "b": true, "c": true, "d": true} {
		if _, ok := d.get(key); ok != want {
			t.Errorf("get(%q) found = %v, want %v", key, ok, want)
		}
	}
	if got := testutil.ToFloat64(m.diskEvictions); got != 1 {
		t.Errorf("disk evictions = %v, want 1", got)
	}
	if total, _ := dirBytes(t, dir); total != d.usedBytes() || total > 3*size {
		t.Errorf("files hold %d bytes, index says %d, budget %d", total, d.usedBytes(), 3*size)
	}
}

func TestDiskBudgetHolds(t *testing.T) {
	dir := t.TempDir()
	const budget = 40 << 10
	c, _ := newTestCache(t, Options{RAMBytes: ramOff, DiskDir: dir, DiskBytes: budget})
	var calls atomic.Int64
	for i := range 100 {
		key := fmt.Sprintf("seg/%d@0+%d", i, 1000+i*7)
		data := pieceBytes(i, 1000+i*7)
		mustGet(t, c, key, countingLoader(data, &calls), data, SourceLoad)
		total, _ := dirBytes(t, dir)
		if total > budget {
			t.Fatalf("after %d pieces the files hold %d bytes, budget %d", i+1, total, budget)
		}
		if used := c.disk.usedBytes(); used != total {
			t.Fatalf("index says %d bytes, files hold %d", used, total)
		}
	}
	// The newest pieces are still there.
	mustGet(t, c, "seg/99@0+1693", failingLoader(t), pieceBytes(99, 1693), SourceDisk)
}

// TestDiskStartupEvictsOldestBeyondBudget: a restart with a smaller budget
// deletes the oldest slabs until the rest fit.
func TestDiskStartupEvictsOldestBeyondBudget(t *testing.T) {
	dir := t.TempDir()
	size := recordSize("old", pieceBytes(0, 1000))
	for i, key := range []string{"old", "mid", "new"} {
		// One slab per record: a budget of 3 records, a slab takes one.
		c, err := New(Options{RAMBytes: 1 << 20, DiskDir: dir, DiskBytes: 3 * size}, nil)
		if err != nil {
			t.Fatal(err)
		}
		var calls atomic.Int64
		mustGet(t, c, key, countingLoader(pieceBytes(i, 1000), &calls), pieceBytes(i, 1000), SourceLoad)
		c.Close()
	}
	c, _ := newTestCache(t, Options{RAMBytes: 1 << 20, DiskDir: dir, DiskBytes: 2 * size})
	if n := len(slabFiles(t, dir)); n != 2 {
		t.Errorf("%d slabs after a restart with room for 2", n)
	}
	var calls atomic.Int64
	mustGet(t, c, "mid", failingLoader(t), pieceBytes(1, 1000), SourceDisk)
	mustGet(t, c, "new", failingLoader(t), pieceBytes(2, 1000), SourceDisk)
	mustGet(t, c, "old", countingLoader(pieceBytes(0, 1000), &calls), pieceBytes(0, 1000), SourceLoad)
}

func TestDiskSkipsPieceLargerThanBudget(t *testing.T) {
	dir := t.TempDir()
	opts := Options{RAMBytes: ramOff, DiskDir: dir, DiskBytes: 4 << 10}
	c, _ := newTestCache(t, opts)
	var calls atomic.Int64
	small := pieceBytes(1, 1000)
	mustGet(t, c, "small", countingLoader(small, &calls), small, SourceLoad)
	huge := pieceBytes(2, 8<<10)
	mustGet(t, c, "huge", countingLoader(huge, &calls), huge, SourceLoad)
	mustGet(t, c, "small", failingLoader(t), small, SourceDisk)
	if total, _ := dirBytes(t, dir); total != recordSize("small", small) {
		t.Errorf("files hold %d bytes, want the small record's %d", total, recordSize("small", small))
	}
}

// TestDiskConcurrentReadsAndEvictions reads while appends evict slabs:
// every read is the key's bytes or a miss, never another's.
func TestDiskConcurrentReadsAndEvictions(t *testing.T) {
	dir := t.TempDir()
	c, _ := newTestCache(t, Options{RAMBytes: ramOff, DiskDir: dir, DiskBytes: 64 << 10})
	ctx := context.Background()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 400 {
			key := fmt.Sprintf("w%d", i)
			if _, _, err := c.Get(ctx, key, func(context.Context) ([]byte, error) { return pieceBytes(i, 900), nil }); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for j := 0; ; j++ {
		select {
		case <-done:
			return
		default:
		}
		i := j % 400
		got, _, err := c.Get(ctx, fmt.Sprintf("w%d", i), func(context.Context) ([]byte, error) { return pieceBytes(i, 900), nil })
		if err != nil || !bytes.Equal(got, pieceBytes(i, 900)) {
			t.Fatalf("w%d: %d bytes, %v", i, len(got), err)
		}
	}
}
