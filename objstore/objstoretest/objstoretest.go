package objstoretest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/weftdb/weft/objstore"
)

// Run runs the suite. open must return a new, empty bucket on each call; Run
// closes it.
func Run(t *testing.T, open func(t *testing.T) objstore.Bucket) {
	cases := []struct {
		name string
		fn   func(t *testing.T, b objstore.Bucket)
	}{
		{"UploadGetOverwrite", testUploadGet},
		{"GetRange", testGetRange},
		{"NotFound", testNotFound},
		{"List", testList},
		{"Delete", testDelete},
		{"Create", testCreate},
		{"CreateConcurrent", testCreateConcurrent},
		{"AtomicUpload", testAtomicUpload},
		{"Empty", testEmpty},
		{"InvalidNames", testInvalidNames},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := open(t)
			t.Cleanup(func() {
				if err := b.Close(); err != nil {
					t.Errorf("close: %v", err)
				}
			})
			c.fn(t, b)
		})
	}
}

func mustUpload(t *testing.T, b objstore.Bucket, name string, data []byte) {
	t.Helper()
	if err := b.Upload(t.Context(), name, data); err != nil {
		t.Fatalf("upload %s: %v", name, err)
	}
}

func mustGet(t *testing.T, b objstore.Bucket, name string) []byte {
	t.Helper()
	got, err := b.Get(t.Context(), name)
	if err != nil {
		t.Fatalf("get %s: %v", name, err)
	}
	return got
}

func testUploadGet(t *testing.T, b objstore.Bucket) {
	ctx := t.Context()
	const name = "namespaces/n1/segments/a/b/c.seg"
	mustUpload(t, b, name, []byte("first"))
	if got := mustGet(t, b, name); string(got) != "first" {
		t.Fatalf("get = %q, want %q", got, "first")
	}
	mustUpload(t, b, name, []byte("second, longer"))
	if got := mustGet(t, b, name); string(got) != "second, longer" {
		t.Fatalf("after overwrite get = %q", got)
	}
	mustUpload(t, b, name, []byte("3"))
	if got := mustGet(t, b, name); string(got) != "3" {
		t.Fatalf("after shorter overwrite get = %q", got)
	}
	ok, err := b.Exists(ctx, name)
	if err != nil || !ok {
		t.Fatalf("exists = %v, %v; want true", ok, err)
	}
	// The returned slice is the caller's.
	got := mustGet(t, b, name)
	got[0] = 'x'
	if again := mustGet(t, b, name); string(again) != "3" {
		t.Fatalf("bucket content changed through a returned slice: %q", again)
	}
}

func testGetRange(t *testing.T, b objstore.Bucket) {
	ctx := t.Context()
	const name = "r/obj"
	mustUpload(t, b, name, []byte("0123456789"))
	for _, c := range []struct {
		off, length int64
		want        string
	}{
		{0, 10, "0123456789"},
		{0, 3, "012"},
		{3, 4, "3456"},
		{7, -1, "789"},
		{0, -1, "0123456789"},
		{8, 100, "89"},
		{9, 1, "9"},
		{4, 0, ""},
		{10, 5, ""},
		{10, -1, ""},
		{50, 5, ""},
	} {
		got, err := b.GetRange(ctx, name, c.off, c.length)
		if err != nil {
			t.Errorf("GetRange(%d, %d): %v", c.off, c.length, err)
			continue
		}
		if string(got) != c.want {
			t.Errorf("GetRange(%d, %d) = %q, want %q", c.off, c.length, got, c.want)
		}
	}
	if _, err := b.GetRange(ctx, name, -1, 2); err == nil {
		t.Errorf("GetRange with a negative offset succeeded")
	}
}

func testNotFound(t *testing.T, b objstore.Bucket) {
	ctx := t.Context()
	mustUpload(t, b, "present/x", []byte("x"))
	for _, name := range []string{"missing", "present/missing", "present/x/below", "present"} {
		if _, err := b.Get(ctx, name); !errors.Is(err, objstore.ErrNotFound) {
			t.Errorf("Get(%q) error = %v, want ErrNotFound", name, err)
		}
		if _, err := b.GetRange(ctx, name, 0, 1); !errors.Is(err, objstore.ErrNotFound) {
			t.Errorf("GetRange(%q) error = %v, want ErrNotFound", name, err)
		}
		if _, err := b.GetRange(ctx, name, 5, 0); !errors.Is(err, objstore.ErrNotFound) {
			t.Errorf("GetRange(%q, 5, 0) error = %v, want ErrNotFound", name, err)
		}
		if ok, err := b.Exists(ctx, name); err != nil || ok {
			t.Errorf("Exists(%q) = %v, %v; want false, nil", name, ok, err)
		}
	}
}

func testList(t *testing.T, b objstore.Bucket) {
	ctx := t.Context()
	names := []string{
		"namespaces/b/wal/00000000000000000002",
		"namespaces/b/wal/00000000000000000010",
		"namespaces/a/namespace.json",
		"namespaces/b/wal/00000000000000000001",
		"namespaces/b/segments/s1",
		"namespaces/bb/namespace.json",
		"plugins/x.wasm",
		"top",
	}
	for _, n := range names {
		mustUpload(t, b, n, []byte(n))
	}
	// Create goes through temporary files too; they must never show.
	if err := b.Create(ctx, "namespaces/b/manifests/1", []byte("m")); err != nil {
		t.Fatal(err)
	}
	names = append(names, "namespaces/b/manifests/1")
	sorted := slices.Sorted(slices.Values(names))
	for _, c := range []struct {
		prefix string
		want   []string
	}{
		{"", sorted},
		{"namespaces/", sorted[:7]},
		{"namespaces/b/", []string{
			"namespaces/b/manifests/1",
			"namespaces/b/segments/s1",
			"namespaces/b/wal/00000000000000000001",
			"namespaces/b/wal/00000000000000000002",
			"namespaces/b/wal/00000000000000000010",
		}},
		{"namespaces/b", []string{
			"namespaces/b/manifests/1",
			"namespaces/b/segments/s1",
			"namespaces/b/wal/00000000000000000001",
			"namespaces/b/wal/00000000000000000002",
			"namespaces/b/wal/00000000000000000010",
			"namespaces/bb/namespace.json",
		}},
		{"namespaces/b/wal/0000000000000000000", []string{
			"namespaces/b/wal/00000000000000000001",
			"namespaces/b/wal/00000000000000000002",
		}},
		{"plugins/x.wasm", []string{"plugins/x.wasm"}},
		{"nothing/", nil},
		{"to", []string{"top"}},
	} {
		got, err := b.List(ctx, c.prefix)
		if err != nil {
			t.Errorf("List(%q): %v", c.prefix, err)
			continue
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("List(%q) =\n%q\nwant\n%q", c.prefix, got, c.want)
		}
	}
	if !slices.Contains(sorted, "namespaces/a/namespace.json") || sorted[0] != "namespaces/a/namespace.json" {
		t.Fatalf("test setup: %q", sorted)
	}
	// Folders: one level, never objects, never the bucket's own.
	for _, c := range []struct {
		prefix string
		want   []string
	}{
		{"", []string{"namespaces/", "plugins/"}},
		{"namespaces/", []string{"namespaces/a/", "namespaces/b/", "namespaces/bb/"}},
		{"namespaces/b/", []string{"namespaces/b/manifests/", "namespaces/b/segments/", "namespaces/b/wal/"}},
		{"namespaces/b/wal/", nil},
		{"nothing/", nil},
	} {
		got, err := b.ListFolders(ctx, c.prefix)
		if err != nil {
			t.Errorf("ListFolders(%q): %v", c.prefix, err)
			continue
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("ListFolders(%q) =\n%q\nwant\n%q", c.prefix, got, c.want)
		}
	}
	if _, err := b.ListFolders(ctx, "namespaces/b"); !errors.Is(err, objstore.ErrInvalidName) {
		t.Errorf("ListFolders of a prefix that is not a folder: %v, want ErrInvalidName", err)
	}
}

func testDelete(t *testing.T, b objstore.Bucket) {
	ctx := t.Context()
	mustUpload(t, b, "d/one", []byte("1"))
	mustUpload(t, b, "d/two", []byte("2"))
	for range 2 {
		if err := b.Delete(ctx, "d/one"); err != nil {
			t.Fatalf("delete: %v", err)
		}
	}
	if err := b.Delete(ctx, "never/was"); err != nil {
		t.Fatalf("delete of a missing object: %v", err)
	}
	if _, err := b.Get(ctx, "d/one"); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("get after delete: %v", err)
	}
	if got, err := b.List(ctx, ""); err != nil || !slices.Equal(got, []string{"d/two"}) {
		t.Fatalf("list after delete = %q, %v", got, err)
	}
	// The last object of a folder can go and the folder be written again.
	if err := b.Delete(ctx, "d/two"); err != nil {
		t.Fatal(err)
	}
	if got, err := b.List(ctx, ""); err != nil || len(got) != 0 {
		t.Fatalf("list of an emptied bucket = %q, %v", got, err)
	}
	if err := b.Create(ctx, "d/two", []byte("again")); err != nil {
		t.Fatalf("create after delete: %v", err)
	}
}

func testCreate(t *testing.T, b objstore.Bucket) {
	ctx := t.Context()
	const name = "namespaces/n/wal/00000000000000000001"
	if err := b.Create(ctx, name, []byte("first")); err != nil {
		t.Fatalf("create: %v", err)
	}
	if err := b.Create(ctx, name, []byte("second")); !errors.Is(err, objstore.ErrExists) {
		t.Fatalf("second create error = %v, want ErrExists", err)
	}
	if got := mustGet(t, b, name); string(got) != "first" {
		t.Fatalf("content after a losing create = %q", got)
	}
	// Create also refuses to replace an uploaded object.
	mustUpload(t, b, "u", []byte("up"))
	if err := b.Create(ctx, "u", []byte("c")); !errors.Is(err, objstore.ErrExists) {
		t.Fatalf("create over an upload error = %v, want ErrExists", err)
	}
	if got := mustGet(t, b, "u"); string(got) != "up" {
		t.Fatalf("content = %q", got)
	}
}

func testCreateConcurrent(t *testing.T, b objstore.Bucket) {
	ctx := t.Context()
	const n = 16
	for round := range 3 {
		name := fmt.Sprintf("race/%d", round)
		var (
			start = make(chan struct{})
			wg    sync.WaitGroup
			errs  [n]error
		)
		for i := range n {
			wg.Go(func() {
				<-start
				errs[i] = b.Create(ctx, name, payload(i, 1000+i))
			})
		}
		close(start)
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil:
				if winner >= 0 {
					t.Fatalf("round %d: creates %d and %d both won", round, winner, i)
				}
				winner = i
			case !errors.Is(err, objstore.ErrExists):
				t.Fatalf("round %d: create %d: %v, want nil or ErrExists", round, i, err)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: no create won", round)
		}
		if got := mustGet(t, b, name); !bytes.Equal(got, payload(winner, 1000+winner)) {
			t.Fatalf("round %d: content is not the winner's (%d bytes)", round, len(got))
		}
	}
}

// payload returns n bytes that identify seed in every byte.
func payload(seed, n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(seed*31 + i%251)
	}
	return p
}

func testAtomicUpload(t *testing.T, b objstore.Bucket) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	const (
		name       = "atomic/obj"
		size       = 512 << 10
		minUploads = 32  // then stop once the reader has seen enough
		maxUploads = 128 // bound on a slow bucket
		wantReads  = 100
	)
	a, c := payload(1, size), payload(2, size+4096)
	mustUpload(t, b, name, a)
	done := make(chan struct{})
	var (
		wg    sync.WaitGroup
		reads atomic.Int64
		bad   error
	)
	wg.Go(func() {
		// Bounded: stops when the writer is done or after many reads.
		for ; reads.Load() < 100_000; reads.Add(1) {
			select {
			case <-done:
				return
			default:
			}
			got, err := b.Get(ctx, name)
			if err != nil {
				if ctx.Err() == nil {
					bad = fmt.Errorf("read %d: %w", reads.Load(), err)
				}
				return
			}
			if !bytes.Equal(got, a) && !bytes.Equal(got, c) {
				bad = fmt.Errorf("read %d saw %d bytes that are neither payload", reads.Load(), len(got))
				return
			}
		}
	})
	var (
		werr    error
		uploads int
	)
	for i := range maxUploads {
		if i >= minUploads && reads.Load() >= wantReads {
			break
		}
		uploads++
		p := a
		if i%2 == 0 {
			p = c
		}
		if werr = b.Upload(ctx, name, p); werr != nil {
			break
		}
	}
	close(done)
	wg.Wait()
	if werr != nil {
		t.Fatalf("upload: %v", werr)
	}
	if bad != nil {
		t.Fatal(bad)
	}
	t.Logf("%d reads during %d uploads", reads.Load(), uploads)
}

func testEmpty(t *testing.T, b objstore.Bucket) {
	ctx := t.Context()
	mustUpload(t, b, "empty/u", nil)
	if err := b.Create(ctx, "empty/c", []byte{}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"empty/u", "empty/c"} {
		got, err := b.Get(ctx, name)
		if err != nil || len(got) != 0 {
			t.Errorf("Get(%q) = %q, %v; want empty", name, got, err)
		}
		if ok, err := b.Exists(ctx, name); err != nil || !ok {
			t.Errorf("Exists(%q) = %v, %v", name, ok, err)
		}
		got, err = b.GetRange(ctx, name, 0, 10)
		if err != nil || len(got) != 0 {
			t.Errorf("GetRange(%q) = %q, %v; want empty", name, got, err)
		}
	}
	if got, err := b.List(ctx, "empty/"); err != nil || !slices.Equal(got, []string{"empty/c", "empty/u"}) {
		t.Errorf("List = %q, %v", got, err)
	}
}

func testInvalidNames(t *testing.T, b objstore.Bucket) {
	ctx := t.Context()
	for _, name := range []string{"", "/abs", "a//b", "a/../b", "..", "a/./b", "trailing/", ".weft-tmp/x", "nul\x00"} {
		if err := b.Upload(ctx, name, []byte("x")); !errors.Is(err, objstore.ErrInvalidName) {
			t.Errorf("Upload(%q) error = %v, want ErrInvalidName", name, err)
		}
		if err := b.Create(ctx, name, []byte("x")); !errors.Is(err, objstore.ErrInvalidName) {
			t.Errorf("Create(%q) error = %v, want ErrInvalidName", name, err)
		}
		if _, err := b.Get(ctx, name); !errors.Is(err, objstore.ErrInvalidName) {
			t.Errorf("Get(%q) error = %v, want ErrInvalidName", name, err)
		}
	}
	if _, err := b.List(ctx, "../"); !errors.Is(err, objstore.ErrInvalidName) {
		t.Errorf("List(\"../\") error = %v, want ErrInvalidName", err)
	}
	if got, err := b.List(ctx, ""); err != nil || len(got) != 0 {
		t.Errorf("invalid names left objects: %q, %v", got, err)
	}
}
