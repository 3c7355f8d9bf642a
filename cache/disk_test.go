package cache

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

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

// TestDiskDetectsDamagedFiles damages a piece file while no Cache is open.
// Whether the startup check or the read's CRC catches it, the file is
// deleted and the loader is called instead: damaged bytes are never served.
func TestDiskDetectsDamagedFiles(t *testing.T) {
	const key = "seg/9@4096+2000"
	data := pieceBytes(9, 2000)
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
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, path string)
	}{
		{"truncated", func(t *testing.T, path string) {
			if err := os.Truncate(path, headerSize+int64(len(key))+1000); err != nil {
				t.Fatal(err)
			}
		}},
		{"truncated inside the header", func(t *testing.T, path string) {
			if err := os.Truncate(path, headerSize/2); err != nil {
				t.Fatal(err)
			}
		}},
		{"empty", func(t *testing.T, path string) {
			if err := os.Truncate(path, 0); err != nil {
				t.Fatal(err)
			}
		}},
		{"flipped data byte", flipByteAt(func(size int64) int64 { return size - 100 })},
		{"flipped key byte", flipByteAt(func(int64) int64 { return headerSize + 2 })},
		{"flipped length byte", flipByteAt(func(int64) int64 { return 12 })},
		{"flipped checksum byte", flipByteAt(func(int64) int64 { return 5 })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			fillDisk(t, dir, key, data)
			path := filepath.Join(dir, pieceFileName(key))
			tc.damage(t, path)

			c, _ := newTestCache(t, diskOptions(dir))
			errBucket := errors.New("bucket down")
			_, _, err := c.Get(context.Background(), key, func(context.Context) ([]byte, error) {
				return nil, errBucket
			})
			if !errors.Is(err, errBucket) {
				t.Fatalf("Get = %v, want the loader's error", err)
			}
			if fileExists(t, path) {
				t.Fatal("damaged file still exists")
			}
			if got := testutil.ToFloat64(c.metrics.diskCorrupt); got != 1 {
				t.Fatalf("corrupt files counted %v, want 1", got)
			}
			var calls atomic.Int64
			mustGet(t, c, key, countingLoader(data, &calls), data, SourceLoad)
			if !fileExists(t, path) {
				t.Fatal("reloaded piece was not written back")
			}
		})
	}
}

func TestDiskRemovesTempFilesAtStartup(t *testing.T) {
	dir := t.TempDir()
	data := pieceBytes(7, 100)
	fillDisk(t, dir, "kept", data)
	leftovers := []string{tempPrefix + "123456", tempPrefix + "abc"}
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
			t.Errorf("temp file %s survived startup", name)
		}
	}
	if !fileExists(t, foreign) {
		t.Error("startup deleted a file that is not the cache's")
	}
	mustGet(t, c, "kept", failingLoader(t), data, SourceDisk)
}

func TestDiskEvictsLeastRecentlyUsed(t *testing.T) {
	dir := t.TempDir()
	m := newMetrics()
	data := func(key string) []byte { return pieceBytes(len(key), 1000) }
	size := pieceFileSize("a", data("a"))
	d, err := openDiskTier(dir, 3*size, m)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"a", "b", "c"} {
		if err := d.put(key, data(key)); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := d.get("a"); !ok { // a is now more recent than b
		t.Fatal("a missing")
	}
	if err := d.put("d", data("d")); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]bool{"a": true, "b": false, "c": true, "d": true} {
		if _, ok := d.get(key); ok != want {
			t.Errorf("get(%q) found = %v, want %v", key, ok, want)
		}
		if got := fileExists(t, filepath.Join(dir, pieceFileName(key))); got != want {
			t.Errorf("file of %q exists = %v, want %v", key, got, want)
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
}

func TestDiskStartupEvictsOldestBeyondBudget(t *testing.T) {
	dir := t.TempDir()
	keys := []string{"old", "mid", "new"}
	base := time.Now().Add(-time.Hour)
	for i, key := range keys {
		fillDisk(t, dir, key, pieceBytes(i, 1000))
		when := base.Add(time.Duration(i) * time.Minute)
		if err := os.Chtimes(filepath.Join(dir, pieceFileName(key)), when, when); err != nil {
			t.Fatal(err)
		}
	}
	size := pieceFileSize("old", pieceBytes(0, 1000))
	c, _ := newTestCache(t, Options{RAMBytes: 1 << 20, DiskDir: dir, DiskBytes: 2 * size})
	if fileExists(t, filepath.Join(dir, pieceFileName("old"))) {
		t.Error("the oldest file survived a smaller budget")
	}
	mustGet(t, c, "mid", failingLoader(t), pieceBytes(1, 1000), SourceDisk)
	mustGet(t, c, "new", failingLoader(t), pieceBytes(2, 1000), SourceDisk)
}

func TestDiskSkipsPieceLargerThanBudget(t *testing.T) {
	dir := t.TempDir()
	c, _ := newTestCache(t, Options{RAMBytes: 1 << 20, DiskDir: dir, DiskBytes: 4 << 10})
	var calls atomic.Int64
	small := pieceBytes(1, 1000)
	mustGet(t, c, "small", countingLoader(small, &calls), small, SourceLoad)
	huge := pieceBytes(2, 8<<10)
	mustGet(t, c, "huge", countingLoader(huge, &calls), huge, SourceLoad)
	if !fileExists(t, filepath.Join(dir, pieceFileName("small"))) {
		t.Error("a piece too big for the disk budget flushed the others")
	}
	if fileExists(t, filepath.Join(dir, pieceFileName("huge"))) {
		t.Error("a piece bigger than the disk budget was written")
	}
}

func TestPieceFileNames(t *testing.T) {
	for _, key := range []string{"", "a/b/../c", "seg\x00bin", "../../etc/passwd"} {
		name := pieceFileName(key)
		if !isPieceFileName(name) || filepath.Base(name) != name {
			t.Errorf("pieceFileName(%q) = %q, not a plain piece file name", key, name)
		}
	}
	for _, name := range []string{"x.piece", pieceFileName("k") + ".tmp", "A" + pieceFileName("k")[1:]} {
		if isPieceFileName(name) {
			t.Errorf("isPieceFileName(%q) = true", name)
		}
	}
}

func TestDiskForgetsFilesDeletedBehindItsBack(t *testing.T) {
	dir := t.TempDir()
	d, err := openDiskTier(dir, 1<<20, newMetrics())
	if err != nil {
		t.Fatal(err)
	}
	if err := d.put("k", []byte("bytes")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, pieceFileName("k"))); err != nil {
		t.Fatal(err)
	}
	if _, ok := d.get("k"); ok {
		t.Fatal("get found a deleted file")
	}
	if used := d.usedBytes(); used != 0 {
		t.Fatalf("index still counts %d bytes", used)
	}
}
