package objstore

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestWAL(t *testing.T) {
	ctx := t.Context()
	b := NewInMemory()
	w := NewWAL(b, WALPrefixFor("ns1"))
	if last, err := w.Last(ctx); err != nil || last != 0 {
		t.Fatalf("Last of an empty wal = %d, %v", last, err)
	}
	for _, seq := range []uint64{1, 2, 3, 10} {
		if err := w.Append(ctx, seq, []byte{byte(seq), 'p'}); err != nil {
			t.Fatalf("append %d: %v", seq, err)
		}
	}
	// Another namespace and a stray object do not leak in.
	if err := NewWAL(b, WALPrefixFor("ns10")).Append(ctx, 99, []byte("other")); err != nil {
		t.Fatal(err)
	}
	if err := b.Upload(ctx, WALPrefixFor("ns1")+"README", []byte("not an entry")); err != nil {
		t.Fatal(err)
	}
	if last, err := w.Last(ctx); err != nil || last != 10 {
		t.Fatalf("Last = %d, %v; want 10", last, err)
	}
	if got, err := w.List(ctx, 0); err != nil || !slices.Equal(got, []uint64{1, 2, 3, 10}) {
		t.Fatalf("List(0) = %v, %v", got, err)
	}
	if got, err := w.List(ctx, 2); err != nil || !slices.Equal(got, []uint64{3, 10}) {
		t.Fatalf("List(2) = %v, %v", got, err)
	}
	if got, err := w.List(ctx, 10); err != nil || len(got) != 0 {
		t.Fatalf("List(10) = %v, %v", got, err)
	}
	got, err := w.Read(ctx, 3)
	if err != nil || !bytes.Equal(got, []byte{3, 'p'}) {
		t.Fatalf("Read(3) = %q, %v", got, err)
	}
	if _, err := w.Read(ctx, 4); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Read(4) error = %v, want ErrNotFound", err)
	}
	if ok, err := w.Exists(ctx, 2); err != nil || !ok {
		t.Fatalf("Exists(2) = %v, %v", ok, err)
	}
	if ok, err := w.Exists(ctx, 5); err != nil || ok {
		t.Fatalf("Exists(5) = %v, %v", ok, err)
	}
	if err := w.Append(ctx, 2, []byte("someone else")); !errors.Is(err, ErrExists) {
		t.Fatalf("append of a taken seq: %v, want ErrExists", err)
	}
	// The same bytes are ours (payloads are unique): an earlier attempt
	// landed.
	if err := w.Append(ctx, 2, []byte{2, 'p'}); err != nil {
		t.Fatalf("append of a taken seq with our bytes: %v, want success", err)
	}
	if err := w.Append(ctx, 0, nil); err == nil {
		t.Fatal("append of seq 0 succeeded")
	}
	if name := w.Key(7); name != "namespaces/ns1/g/wal/00000000000000000007" {
		t.Fatalf("entry name = %q", name)
	}
}

func TestWALCorruptEntry(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	b, err := NewFilesystem(dir)
	if err != nil {
		t.Fatal(err)
	}
	w := NewWAL(b, WALPrefixFor("ns"))
	if err := w.Append(ctx, 1, []byte("hello, wal")); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "namespaces", "ns", "g", "wal", "00000000000000000001")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[walHeaderSize+2] ^= 0x40
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = w.Read(ctx, 1)
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "namespaces/ns/g/wal/00000000000000000001") {
		t.Fatalf("Read of a corrupt entry: %v; want ErrCorrupt naming the object", err)
	}
	// An entry stored under the wrong sequence is corrupt too.
	if err := b.Upload(ctx, w.Key(2), EncodeWALEntry(3, []byte("x"))); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Read(ctx, 2); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Read of a misplaced entry: %v; want ErrCorrupt", err)
	}
}

// flakyBucket makes Create fail after (or instead of) doing its work.
type flakyBucket struct {
	Bucket
	landThenFail atomic.Int32 // Creates that write, then report an error
	failOnly     atomic.Int32 // Creates that fail without writing
}

var errTransient = errors.New("connection reset")

func (f *flakyBucket) Create(ctx context.Context, name string, data []byte) error {
	if f.failOnly.Add(-1) >= 0 {
		return errTransient
	}
	if f.landThenFail.Add(-1) >= 0 {
		if err := f.Bucket.Create(ctx, name, data); err != nil {
			return err
		}
		return errTransient
	}
	return f.Bucket.Create(ctx, name, data)
}

func fastWAL(b Bucket) *WAL {
	w := NewWAL(b, WALPrefixFor("ns"))
	w.minBackoff, w.maxBackoff = time.Millisecond, 2*time.Millisecond
	return w
}

func TestWALAppendRetries(t *testing.T) {
	ctx := t.Context()
	fb := &flakyBucket{Bucket: NewInMemory()}
	w := fastWAL(fb)

	fb.failOnly.Store(2)
	if err := w.Append(ctx, 1, []byte("a")); err != nil {
		t.Fatalf("append through transient errors: %v", err)
	}
	// The first attempt lands but reports an error; the retry finds our bytes.
	fb.landThenFail.Store(1)
	if err := w.Append(ctx, 2, []byte("b")); err != nil {
		t.Fatalf("append whose first attempt landed: %v", err)
	}
	if got, err := w.Read(ctx, 2); err != nil || string(got) != "b" {
		t.Fatalf("Read(2) = %q, %v", got, err)
	}
	// A retry that finds someone else's bytes reports ErrExists.
	fb.failOnly.Store(1)
	if err := fb.Bucket.Create(ctx, w.Key(3), EncodeWALEntry(3, []byte("theirs"))); err != nil {
		t.Fatal(err)
	}
	if err := w.Append(ctx, 3, []byte("ours")); !errors.Is(err, ErrExists) {
		t.Fatalf("append after a rival landed: %v, want ErrExists", err)
	}
	// The provider's client retried inside one call: its first PUT landed,
	// the second found it. Append sees ErrExists on its first attempt, reads
	// the entry back and recognises its own bytes.
	if err := fb.Bucket.Create(ctx, w.Key(5), EncodeWALEntry(5, []byte("mine"))); err != nil {
		t.Fatal(err)
	}
	if err := w.Append(ctx, 5, []byte("mine")); err != nil {
		t.Fatalf("append whose PUT the client retried: %v, want success", err)
	}
	// Retries stop: by attempts, and by the context.
	fb.failOnly.Store(1000)
	if err := w.Append(ctx, 4, []byte("c")); !errors.Is(err, errTransient) {
		t.Fatalf("append with a permanent failure: %v", err)
	}
	w.attempts = 1 << 20
	cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := w.Append(cctx, 4, []byte("c")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("append past its deadline: %v", err)
	}
}

func TestWALEntryFormat(t *testing.T) {
	enc := EncodeWALEntry(0x0102030405060708, []byte("hi"))
	want := []byte{
		'W', 'F', 'T', 'W', 1, 0, 0, 0,
		8, 7, 6, 5, 4, 3, 2, 1,
		2, 0, 0, 0, 0, 0, 0, 0,
		'h', 'i',
	}
	if !bytes.Equal(enc[:len(want)], want) || len(enc) != len(want)+4 {
		t.Fatalf("encoding = % x", enc)
	}
	seq, p, err := DecodeWALEntry(enc)
	if err != nil || seq != 0x0102030405060708 || string(p) != "hi" {
		t.Fatalf("decode = %d, %q, %v", seq, p, err)
	}
	bad := func(name string, data []byte) {
		t.Helper()
		if _, _, err := DecodeWALEntry(data); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: error = %v, want ErrCorrupt", name, err)
		}
	}
	for i := range len(enc) {
		bad("truncated", enc[:i])
	}
	bad("trailing bytes", append(slices.Clone(enc), 0))
	for i := range len(enc) {
		flipped := slices.Clone(enc)
		flipped[i] ^= 0x01
		bad("flipped byte", flipped)
	}
	huge := slices.Clone(enc)
	huge[23] = 0xff // payload length near 2^64
	bad("huge length", huge)
}

// TestWALEntryInPlace builds entries in place, the way the write path
// appends a marshalled batch after the header, and checks they hold the
// bytes EncodeWALEntry gives, with and without outgrowing the room asked
// for.
func TestWALEntryInPlace(t *testing.T) {
	ctx := t.Context()
	w := NewWAL(NewInMemory(), WALPrefixFor("ns"))
	payload := bytes.Repeat([]byte("payload "), 100)
	for seq, room := range []int{0, 10, len(payload), 2 * len(payload)} {
		e := NewWALEntry(uint64(seq+1), room)
		p := append(e.Payload(), payload[:len(payload)/2]...)
		p = append(p, payload[len(payload)/2:]...)
		e.SetPayload(p)
		if err := w.AppendEntry(ctx, e); err != nil {
			t.Fatal(err)
		}
		got, err := w.Read(ctx, uint64(seq+1))
		if err != nil || !bytes.Equal(got, payload) {
			t.Fatalf("room %d: read back %d bytes, %v; want the %d payload bytes", room, len(got), err, len(payload))
		}
		raw, err := w.b.Get(ctx, w.Key(uint64(seq+1)))
		if err != nil || !bytes.Equal(raw, EncodeWALEntry(uint64(seq+1), payload)) {
			t.Fatalf("room %d: the object is not EncodeWALEntry's bytes (%v)", room, err)
		}
	}
	// A payload set from elsewhere is copied.
	e := NewWALEntry(9, 0)
	e.SetPayload([]byte("other"))
	if err := w.AppendEntry(ctx, e); err != nil {
		t.Fatal(err)
	}
	if got, err := w.Read(ctx, 9); err != nil || string(got) != "other" {
		t.Fatalf("read back %q, %v", got, err)
	}
	if err := w.AppendEntry(ctx, NewWALEntry(0, 0)); err == nil {
		t.Fatal("append of seq 0 succeeded")
	}
}

func FuzzDecodeWALEntry(f *testing.F) {
	for _, p := range [][]byte{nil, []byte("x"), bytes.Repeat([]byte("payload"), 50)} {
		enc := EncodeWALEntry(uint64(len(p))+1, p)
		f.Add(enc)
		f.Add(enc[:len(enc)-1])
		f.Add(enc[:walHeaderSize])
		f.Add(append(slices.Clone(enc), 0))
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		seq, payload, err := DecodeWALEntry(data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error does not wrap ErrCorrupt: %v", err)
			}
			return
		}
		// Anything that decodes re-encodes to the same bytes.
		if again := EncodeWALEntry(seq, payload); !bytes.Equal(again, data) {
			t.Fatalf("decode then encode changed the bytes")
		}
		// And any payload round-trips.
		s2, p2, err := DecodeWALEntry(EncodeWALEntry(seq+1, data))
		if err != nil || s2 != seq+1 || !bytes.Equal(p2, data) {
			t.Fatalf("round trip of %d bytes: %d, %v", len(data), s2, err)
		}
	})
}

// WALPrefixFor is a WAL folder of namespace ns in generation "g".
func WALPrefixFor(ns string) string {
	return Generation{Namespace: ns, ID: "g"}.WALPrefix()
}
