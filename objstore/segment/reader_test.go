package segment

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/weftdb/weft/objstore"
)

// countingReader counts the reads a Reader makes.
type countingReader struct {
	objstore.Reader
	ranges atomic.Int64
	bytes  atomic.Int64
	gets   atomic.Int64
}

func (c *countingReader) GetRange(ctx context.Context, name string, off, length int64) ([]byte, error) {
	c.ranges.Add(1)
	b, err := c.Reader.GetRange(ctx, name, off, length)
	c.bytes.Add(int64(len(b)))
	return b, err
}

func (c *countingReader) Get(ctx context.Context, name string) ([]byte, error) {
	c.gets.Add(1)
	return c.Reader.Get(ctx, name)
}

// expect checks the reads since the last call: calls ranged reads of
// exactly n bytes in all, and no whole-object Get.
func (c *countingReader) expect(t *testing.T, what string, calls int, n uint64) {
	t.Helper()
	gotCalls, gotBytes := c.ranges.Swap(0), c.bytes.Swap(0)
	if gotCalls != int64(calls) || gotBytes != int64(n) {
		t.Errorf("%s: %d ranged reads of %d bytes, want %d of %d", what, gotCalls, gotBytes, calls, n)
	}
	if g := c.gets.Load(); g != 0 {
		t.Errorf("%s: %d whole-object Gets", what, g)
	}
}

// eachBucket runs fn on an in-memory and a filesystem bucket.
func eachBucket(t *testing.T, fn func(t *testing.T, b objstore.Bucket)) {
	t.Run("inmem", func(t *testing.T) { fn(t, objstore.NewInMemory()) })
	t.Run("filesystem", func(t *testing.T) {
		b, err := objstore.NewFilesystem(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := b.Close(); err != nil {
				t.Error(err)
			}
		})
		fn(t, b)
	})
}

func upload(t *testing.T, b objstore.Bucket, name string, data []byte) {
	t.Helper()
	if err := b.Upload(t.Context(), name, data); err != nil {
		t.Fatal(err)
	}
}

func open(t *testing.T, c *countingReader, name string) *Reader {
	t.Helper()
	r, err := Open(t.Context(), c, name)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return r
}

// read reads refs and checks them against want, the sections' contents.
func read(t *testing.T, r *Reader, want map[Ref][]byte, refs ...Ref) {
	t.Helper()
	got, err := r.Read(t.Context(), refs...)
	if err != nil {
		t.Fatalf("read %v: %v", refs, err)
	}
	if len(got) != len(refs) {
		t.Fatalf("read %v: %d results", refs, len(got))
	}
	for i, ref := range refs {
		if !bytes.Equal(got[i], want[ref]) || got[i] == nil {
			t.Fatalf("read %v: result %d is %d bytes, not the %d of %v", refs, i, len(got[i]), len(want[ref]), ref)
		}
		if ref.Kind == KindVectors && len(got[i]) > 0 && uintptr(unsafe.Pointer(&got[i][0]))%4 != 0 {
			t.Errorf("read %v: the %v bytes are not 4-byte aligned", refs, ref)
		}
	}
}

// farApart is a segment whose sections are near, adjacent and far apart.
func farApart() (parts []part, want map[Ref][]byte) {
	parts = []part{
		{KindIDs, 0, seq(1000, 1)},           // inside the first PrefetchSize bytes
		{KindVectors, 0, seq(10000, 2)},      // straddles PrefetchSize
		{KindGraph, 0, seq(5000, 3)},         // adjacent to the vectors
		{KindAttributes, 0, seq(200<<10, 4)}, // far more than MergeGap
		{KindCentroid, 0, seq(100, 5)},       //
		{KindDeleted, 0, seq(30<<10, 6)},     // less than MergeGap
		{KindVectors, 1, seq(2000, 7)},       //
		{KindGraph, 1, nil},                  // empty, last
	}
	want = map[Ref][]byte{}
	for _, p := range parts {
		want[Ref{p.kind, p.shard}] = p.data
	}
	return parts, want
}

func TestReaderRanges(t *testing.T) {
	parts, want := farApart()
	data := build(t, []byte("meta"), parts...)
	h, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	sec := func(k Kind, shard uint32) Section { s, _ := h.Section(k, shard); return s }
	ids, vec0, graph0 := sec(KindIDs, 0), sec(KindVectors, 0), sec(KindGraph, 0)
	cent, vec1 := sec(KindCentroid, 0), sec(KindVectors, 1)
	if ids.end() > PrefetchSize || vec0.Offset > PrefetchSize || vec0.end() <= PrefetchSize {
		t.Fatalf("layout does not test what it should: %+v", h.Sections)
	}

	eachBucket(t, func(t *testing.T, b objstore.Bucket) {
		upload(t, b, "seg/1", data)
		c := &countingReader{Reader: b}
		r := open(t, c, "seg/1")
		c.expect(t, "open", 1, PrefetchSize)
		if !bytes.Equal(r.Header().Meta, []byte("meta")) || len(r.Header().Sections) != len(parts) {
			t.Fatalf("header = %+v", r.Header())
		}
		total := uint64(PrefetchSize)

		steps := []struct {
			what  string
			refs  []Ref
			calls int
			n     uint64
		}{
			{"a section inside the prefetched bytes", []Ref{{KindIDs, 0}}, 0, 0},
			{"an empty section", []Ref{{KindGraph, 1}}, 0, 0},
			{"two adjacent sections", []Ref{{KindVectors, 0}, {KindGraph, 0}}, 1, graph0.end() - vec0.Offset},
			{"two adjacent sections, backwards", []Ref{{KindGraph, 0}, {KindVectors, 0}}, 1, graph0.end() - vec0.Offset},
			{"one section twice", []Ref{{KindVectors, 0}, {KindVectors, 0}}, 1, vec0.Length},
			{"two far-apart sections", []Ref{{KindVectors, 0}, {KindCentroid, 0}}, 2, vec0.Length + cent.Length},
			{"two near sections", []Ref{{KindCentroid, 0}, {KindVectors, 1}}, 1, vec1.end() - cent.Offset},
			{"all of them", []Ref{{KindVectors, 1}, {KindIDs, 0}, {KindGraph, 1}, {KindVectors, 0}, {KindCentroid, 0}}, 2,
				vec0.Length + vec1.end() - cent.Offset},
			{"nothing", nil, 0, 0},
		}
		for _, s := range steps {
			read(t, r, want, s.refs...)
			c.expect(t, s.what, s.calls, s.n)
			total += s.n
		}
		if got := r.BytesFetched(); got != total {
			t.Errorf("BytesFetched = %d, want %d", got, total)
		}

		_, err := r.Read(t.Context(), Ref{KindIDs, 0}, Ref{KindIDs, 9})
		if !errors.Is(err, ErrNoSection) || !strings.Contains(err.Error(), "ids of shard 9") {
			t.Errorf("read of a missing section = %v, want ErrNoSection", err)
		}
		c.expect(t, "a missing section", 0, 0)
	})
}

func TestReaderSmallSegment(t *testing.T) {
	meta, parts := everyKind()
	data := build(t, meta, parts...)
	if len(data) >= PrefetchSize {
		t.Fatalf("segment of %d bytes is not small", len(data))
	}
	want := map[Ref][]byte{}
	var refs []Ref
	for _, p := range parts {
		want[Ref{p.kind, p.shard}] = p.data
		refs = append(refs, Ref{p.kind, p.shard})
	}
	eachBucket(t, func(t *testing.T, b objstore.Bucket) {
		upload(t, b, "small", data)
		c := &countingReader{Reader: b}
		r := open(t, c, "small")
		c.expect(t, "open", 1, uint64(len(data)))
		read(t, r, want, refs...)
		c.expect(t, "read of every section", 0, 0)
		if r.BytesFetched() != uint64(len(data)) {
			t.Errorf("BytesFetched = %d, want %d", r.BytesFetched(), len(data))
		}
	})
}

func TestReaderLongHeader(t *testing.T) {
	var parts []part
	want := map[Ref][]byte{}
	for i := range 200 {
		p := part{KindGraph, uint32(i), seq(100+i, byte(i))}
		parts = append(parts, p)
		want[Ref{p.kind, p.shard}] = p.data
	}
	data := build(t, nil, parts...)
	hlen := headerLen(0, 200)
	h, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	last := h.Sections[199]

	// A header of exactly PrefetchSize bytes still takes one read.
	exact := build(t, make([]byte, PrefetchSize-headerLen(0, 1)), part{KindIDs, 0, seq(10, 0)})

	eachBucket(t, func(t *testing.T, b objstore.Bucket) {
		upload(t, b, "long", data)
		upload(t, b, "exact", exact)
		c := &countingReader{Reader: b}
		r := open(t, c, "long")
		c.expect(t, "open", 2, hlen)
		read(t, r, want, Ref{KindGraph, 199})
		c.expect(t, "read", 1, last.Length)
		read(t, r, want, Ref{KindGraph, 0}) // the first section starts after the header
		c.expect(t, "read", 1, h.Sections[0].Length)

		r = open(t, c, "exact")
		c.expect(t, "open", 1, PrefetchSize)
		read(t, r, map[Ref][]byte{{KindIDs, 0}: seq(10, 0)}, Ref{KindIDs, 0})
		c.expect(t, "read", 1, 10)
	})
}

func TestReaderDamage(t *testing.T) {
	parts, want := farApart()
	data := build(t, nil, parts...)
	h, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	vec0, _ := h.Section(KindVectors, 0)
	vec1, _ := h.Section(KindVectors, 1)
	small := build(t, nil, part{KindIDs, 0, seq(100, 0)})

	eachBucket(t, func(t *testing.T, b objstore.Bucket) {
		ctx := t.Context()
		bad := bytes.Clone(data)
		bad[vec0.Offset+vec0.Length-1]++
		upload(t, b, "bad", bad)
		r, err := Open(ctx, b, "bad")
		if err != nil {
			t.Fatalf("open of a segment with a damaged section: %v", err)
		}
		if _, err := r.Read(ctx, Ref{KindVectors, 0}); !errors.Is(err, objstore.ErrCorrupt) || !strings.Contains(err.Error(), "bad") {
			t.Errorf("read of a damaged section = %v, want ErrCorrupt naming the object", err)
		}
		read(t, r, want, Ref{KindGraph, 0})

		// A damaged section inside the bytes Open fetched.
		smallBad := bytes.Clone(small)
		smallBad[len(smallBad)-1]++
		upload(t, b, "small-bad", smallBad)
		if r, err := Open(ctx, b, "small-bad"); err != nil {
			t.Errorf("open of a small segment with a damaged section: %v", err)
		} else if _, err := r.Read(ctx, Ref{KindIDs, 0}); !errors.Is(err, objstore.ErrCorrupt) || !strings.Contains(err.Error(), "small-bad") {
			t.Errorf("read of a damaged section in the prefetched bytes = %v", err)
		}

		upload(t, b, "cut", data[:vec1.end()-1])
		r, err = Open(ctx, b, "cut")
		if err != nil {
			t.Fatalf("open of a truncated segment: %v", err)
		}
		if _, err := r.Read(ctx, Ref{KindVectors, 1}); !errors.Is(err, objstore.ErrCorrupt) || !strings.Contains(err.Error(), "truncated") {
			t.Errorf("read past the end of a truncated segment = %v", err)
		}

		objects := map[string][]byte{
			"small-cut":  small[:len(small)-1],
			"small-long": append(bytes.Clone(small), 0),
			"header-cut": data[:headerLen(0, uint64(len(parts)))-1],
			"not-a-seg":  []byte("hello, world"),
			"empty":      {},
			"bad-header": func() []byte { d := bytes.Clone(data); d[20]++; return d }(),
		}
		for name, obj := range objects {
			upload(t, b, name, obj)
			if _, err := Open(ctx, b, name); !errors.Is(err, objstore.ErrCorrupt) || !strings.Contains(err.Error(), name) {
				t.Errorf("open %s = %v, want ErrCorrupt naming it", name, err)
			}
		}
		if _, err := Open(ctx, b, "missing"); !errors.Is(err, objstore.ErrNotFound) {
			t.Errorf("open of a missing object = %v, want ErrNotFound", err)
		}
	})
}

func TestReaderConcurrent(t *testing.T) {
	parts, want := farApart()
	data := build(t, nil, parts...)
	b := objstore.NewInMemory()
	upload(t, b, "seg", data)
	r, err := Open(t.Context(), b, "seg")
	if err != nil {
		t.Fatal(err)
	}
	before := r.BytesFetched()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			refs := []Ref{{KindVectors, 0}, {KindCentroid, 0}, {KindIDs, 0}}[g%3:]
			for range 20 {
				got, err := r.Read(t.Context(), refs...)
				if err != nil {
					t.Error(err)
					return
				}
				for i, ref := range refs {
					if !bytes.Equal(got[i], want[ref]) {
						t.Errorf("%v differs", ref)
					}
				}
			}
		})
	}
	wg.Wait()
	// 20 reads each of 3, 3, 2 goroutines wanting vectors+centroid, centroid, ids.
	wantBytes := uint64(20 * (3*(len(want[Ref{KindVectors, 0}])+100) + 3*100))
	if got := r.BytesFetched() - before; got != wantBytes {
		t.Errorf("BytesFetched grew by %d, want %d", got, wantBytes)
	}
}
