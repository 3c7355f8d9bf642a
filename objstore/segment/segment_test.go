package segment

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/weftdb/weft/objstore"
)

// part is one section a test adds to a Builder.
type part struct {
	kind  Kind
	shard uint32
	data  []byte
}

func build(t testing.TB, meta []byte, parts ...part) []byte {
	t.Helper()
	b := NewBuilder(meta)
	for _, p := range parts {
		if err := b.Add(p.kind, p.shard, p.data); err != nil {
			t.Fatalf("add %v shard %d: %v", p.kind, p.shard, err)
		}
	}
	data, err := b.Bytes()
	if err != nil {
		t.Fatalf("bytes: %v", err)
	}
	return data
}

// seq returns n bytes that differ from those of another seq with another seed.
func seq(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) + seed
	}
	return b
}

// everyKind is a small segment with a section of each kind, an empty
// section, and a second shard.
func everyKind() (meta []byte, parts []part) {
	meta = []byte("meta: generation 7")
	parts = []part{
		{KindIDs, 0, EncodeStrings([]string{"doc-a", "", "doc-ç", "doc-d"})},
		{KindAttributes, 0, []byte("\x0a\x03abc")},
		{KindVectors, 0, EncodeFloat32s([]float32{1, 2, 3, -0.5, float32(math.Inf(1)), 6, 7, 8})},
		{KindGraph, 0, seq(70, 1)},
		{KindCentroid, 0, EncodeFloat32s([]float32{4, 5})},
		{KindDeleted, 0, nil},
		{KindVectors, 3, EncodeFloat32s([]float32{9, 10})},
	}
	return meta, parts
}

func TestRoundTrip(t *testing.T) {
	meta, parts := everyKind()
	data := build(t, meta, parts...)
	if again := build(t, meta, parts...); !bytes.Equal(again, data) {
		t.Fatal("two builds of the same sections differ")
	}
	h, err := Decode(data)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if h.Version != Version || !bytes.Equal(h.Meta, meta) || h.Size != uint64(len(data)) || len(h.Sections) != len(parts) {
		t.Fatalf("header = %+v", h)
	}
	for i, p := range parts {
		s := h.Sections[i]
		if s.Kind != p.kind || s.Shard != p.shard || s.Length != uint64(len(p.data)) {
			t.Fatalf("section %d = %+v, want %v shard %d of %d bytes (in the order added)", i, s, p.kind, p.shard, len(p.data))
		}
		if s.Offset%Alignment != 0 {
			t.Errorf("%v at offset %d, not aligned", s, s.Offset)
		}
		if got, ok := h.Section(p.kind, p.shard); !ok || got != s {
			t.Errorf("Section(%v, %d) = %+v, %v", p.kind, p.shard, got, ok)
		}
		b, err := h.SectionBytes(data, s)
		if err != nil || !bytes.Equal(b, p.data) {
			t.Fatalf("SectionBytes(%v) = %q, %v", s, b, err)
		}
	}
	if _, ok := h.Section(KindVectors, 1); ok {
		t.Error("Section found a shard that is not there")
	}

	ids, err := DecodeStrings(mustSection(t, h, data, KindIDs, 0))
	if err != nil || !slices.Equal(ids, []string{"doc-a", "", "doc-ç", "doc-d"}) {
		t.Errorf("ids = %q, %v", ids, err)
	}
	vecs, err := DecodeFloat32s(mustSection(t, h, data, KindVectors, 0))
	if err != nil || !slices.Equal(vecs, []float32{1, 2, 3, -0.5, float32(math.Inf(1)), 6, 7, 8}) {
		t.Errorf("vectors = %v, %v", vecs, err)
	}
	cent, err := DecodeFloat32s(mustSection(t, h, data, KindCentroid, 0))
	if err != nil || !slices.Equal(cent, []float32{4, 5}) {
		t.Errorf("centroid = %v, %v", cent, err)
	}
	if del := mustSection(t, h, data, KindDeleted, 0); del == nil || len(del) != 0 {
		t.Errorf("empty section = %v", del)
	}
}

func mustSection(t *testing.T, h *Header, data []byte, kind Kind, shard uint32) []byte {
	t.Helper()
	s, ok := h.Section(kind, shard)
	if !ok {
		t.Fatalf("no %v section of shard %d", kind, shard)
	}
	b, err := h.SectionBytes(data, s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestEmptySegment(t *testing.T) {
	data := build(t, nil)
	if len(data) != minHeaderSize {
		t.Fatalf("an empty segment takes %d bytes, want %d", len(data), minHeaderSize)
	}
	h, err := Decode(data)
	if err != nil || len(h.Meta) != 0 || len(h.Sections) != 0 || h.Size != minHeaderSize {
		t.Fatalf("Decode = %+v, %v", h, err)
	}
}

func TestBuilderErrors(t *testing.T) {
	b := NewBuilder(nil)
	if err := b.Add(0, 0, nil); err == nil {
		t.Error("Add of kind 0 succeeded")
	}
	if err := b.Add(KindIDs, 1, nil); err != nil {
		t.Fatal(err)
	}
	if err := b.Add(KindIDs, 2, nil); err != nil {
		t.Fatal(err)
	}
	if err := b.Add(KindIDs, 1, []byte("x")); err == nil || !strings.Contains(err.Error(), "ids section of shard 1") {
		t.Errorf("Add of a duplicate = %v", err)
	}

	big := NewBuilder(make([]byte, MaxHeaderSize-minHeaderSize))
	if _, err := big.Bytes(); err != nil {
		t.Fatalf("a header of exactly MaxHeaderSize: %v", err)
	}
	if err := big.Add(KindIDs, 0, nil); err == nil {
		t.Error("Add past MaxHeaderSize succeeded")
	}
	if _, err := NewBuilder(make([]byte, MaxHeaderSize)).Bytes(); err == nil {
		t.Error("Bytes of a header past MaxHeaderSize succeeded")
	}
}

func TestBuilderCopiesMeta(t *testing.T) {
	meta := []byte("abc")
	b := NewBuilder(meta)
	meta[0] = 'X'
	data, err := b.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if h, err := Decode(data); err != nil || string(h.Meta) != "abc" {
		t.Fatalf("meta = %q, %v", h.Meta, err)
	}
}

func TestDecodeHeaderNeed(t *testing.T) {
	meta, parts := everyKind()
	small := build(t, meta, parts...)
	// A header longer than PrefetchSize.
	var many []part
	for i := range 200 {
		many = append(many, part{KindGraph, uint32(i), seq(i, byte(i))})
	}
	large := build(t, meta, many...)

	for _, data := range [][]byte{small, large} {
		hlen := int(binary.LittleEndian.Uint32(data[8:]))
		for n := range hlen {
			h, need, err := DecodeHeader(data[:n])
			if err != nil || h != nil || need <= n || need > hlen {
				t.Fatalf("DecodeHeader of %d of %d header bytes = %v, %d, %v", n, hlen, h, need, err)
			}
		}
		// Following need from nothing takes three calls.
		var h *Header
		need, steps := 0, 0
		for ; h == nil; steps++ {
			var err error
			if h, need, err = DecodeHeader(data[:need]); err != nil {
				t.Fatal(err)
			}
		}
		if steps != 3 {
			t.Errorf("%d calls to decode a header from nothing, want 3", steps)
		}
		for _, n := range []int{hlen, hlen + 1, len(data)} {
			h, need, err := DecodeHeader(data[:n])
			if err != nil || need != 0 || len(h.Sections) == 0 {
				t.Fatalf("DecodeHeader of %d bytes = %v, %d, %v", n, h, need, err)
			}
		}
	}
	if hlen := binary.LittleEndian.Uint32(large[8:]); hlen <= PrefetchSize {
		t.Fatalf("the large header takes %d bytes, not more than PrefetchSize", hlen)
	}
}

// TestDecodeHeaderRefusesEarly: a short prefix of something else is an
// error, not a request for more bytes.
func TestDecodeHeaderRefusesEarly(t *testing.T) {
	for _, prefix := range []string{"X", "WFX", "WFTS\x02\x00", "WFTS\x01\x00\x01\x00"} {
		if _, need, err := DecodeHeader([]byte(prefix)); !errors.Is(err, objstore.ErrCorrupt) || need != 0 {
			t.Errorf("DecodeHeader(%q) = %d, %v; want ErrCorrupt", prefix, need, err)
		}
	}
	for _, prefix := range []string{"", "W", "WFTS", "WFTS\x01\x00\x00\x00"} {
		if h, need, err := DecodeHeader([]byte(prefix)); err != nil || h != nil || need != minHeaderSize {
			t.Errorf("DecodeHeader(%q) = %v, %d, %v; want need %d", prefix, h, need, err, minHeaderSize)
		}
	}
}

// TestCorruptEveryByte: any change to any single byte is caught.
func TestCorruptEveryByte(t *testing.T) {
	meta, parts := everyKind()
	data := build(t, meta, parts...)
	for i := range data {
		for x := 1; x < 256; x++ {
			bad := slices.Clone(data)
			bad[i] ^= byte(x)
			if _, err := Decode(bad); !errors.Is(err, objstore.ErrCorrupt) {
				t.Fatalf("byte %d xor %#02x: Decode = %v, want ErrCorrupt", i, x, err)
			}
		}
	}
}

func TestTruncatedOrExtended(t *testing.T) {
	meta, parts := everyKind()
	data := build(t, meta, parts...)
	for n := range data {
		if _, err := Decode(data[:n]); !errors.Is(err, objstore.ErrCorrupt) {
			t.Fatalf("Decode of %d of %d bytes = %v, want ErrCorrupt", n, len(data), err)
		}
	}
	if _, err := Decode(append(slices.Clone(data), 0)); !errors.Is(err, objstore.ErrCorrupt) {
		t.Fatalf("Decode with a trailing byte = %v, want ErrCorrupt", err)
	}
}

// resum rewrites the header checksum of a segment whose header was edited.
func resum(data []byte) {
	hlen := binary.LittleEndian.Uint32(data[8:])
	binary.LittleEndian.PutUint32(data[hlen-4:], crc32.Checksum(data[:hlen-4], castagnoli))
}

// TestHeaderChecks edits a valid header, fixes its checksum, and expects
// each structural check to name the problem.
func TestHeaderChecks(t *testing.T) {
	le := binary.LittleEndian
	data := build(t, []byte("m"),
		part{KindIDs, 0, seq(10, 0)},
		part{KindVectors, 0, seq(100, 1)},
		part{KindGraph, 0, nil},
	)
	const toc = fixedSize + 1 + 4 // first entry
	entry := func(i, field int) int { return toc + i*entrySize + field }
	hlen := int(le.Uint32(data[8:]))
	cases := []struct {
		name string
		edit func(b []byte)
		want string
	}{
		{"version", func(b []byte) { le.PutUint16(b[4:], 2) }, "format version 2"},
		{"flags", func(b []byte) { le.PutUint16(b[6:], 1) }, "unknown flags"},
		{"header too long", func(b []byte) { le.PutUint32(b[8:], MaxHeaderSize+1) }, "header length"},
		{"header too short", func(b []byte) { le.PutUint32(b[8:], minHeaderSize-1) }, "header length"},
		{"meta too long", func(b []byte) { le.PutUint32(b[12:], uint32(hlen)) }, "meta of"},
		{"count", func(b []byte) { le.PutUint32(b[toc-4:], 4) }, "sections take"},
		{"count huge", func(b []byte) { le.PutUint32(b[toc-4:], math.MaxUint32) }, "sections take"},
		{"kind 0", func(b []byte) { le.PutUint16(b[entry(1, 0):], 0) }, "kind 0"},
		{"reserved", func(b []byte) { b[entry(0, 2)] = 1 }, "reserved"},
		{"reserved2", func(b []byte) { b[entry(2, 31)] = 1 }, "reserved"},
		{"misaligned", func(b []byte) { le.PutUint64(b[entry(1, 8):], 4*Alignment+4) }, "not a multiple of 64"},
		{"overlap", func(b []byte) { le.PutUint64(b[entry(1, 8):], 0) }, "overlaps"},
		{"gap", func(b []byte) { le.PutUint64(b[entry(1, 8):], 64*Alignment) }, "want"},
		{"past the end", func(b []byte) { le.PutUint64(b[entry(1, 16):], 1000) }, "ends past the object size"},
		{"length overflows", func(b []byte) { le.PutUint64(b[entry(1, 16):], math.MaxUint64-10) }, "ends past the object size"},
		{"size huge", func(b []byte) { le.PutUint64(b[hlen-12:], math.MaxUint64) }, "object size"},
		{"size long", func(b []byte) { le.PutUint64(b[hlen-12:], uint64(len(data))+64) }, "but the sections end at"},
		{"size below header", func(b []byte) { le.PutUint64(b[hlen-12:], 10) }, "less than the header"},
		{"empty with checksum", func(b []byte) { le.PutUint32(b[entry(2, 24):], 1) }, "empty but has checksum"},
		{"duplicate", func(b []byte) {
			le.PutUint16(b[entry(1, 0):], uint16(KindIDs))
		}, "two ids sections of shard 0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := slices.Clone(data)
			c.edit(b)
			if h := le.Uint32(b[8:]); h == uint32(hlen) {
				resum(b)
			}
			h, need, err := DecodeHeader(b)
			if !errors.Is(err, objstore.ErrCorrupt) || !strings.Contains(err.Error(), c.want) || h != nil || need != 0 {
				t.Fatalf("DecodeHeader = %v, %d, %v; want ErrCorrupt saying %q", h, need, err, c.want)
			}
			if _, err := Decode(b); !errors.Is(err, objstore.ErrCorrupt) {
				t.Fatalf("Decode = %v", err)
			}
		})
	}
	// Without the fix the checksum catches the same edits.
	b := slices.Clone(data)
	b[entry(0, 4)] = 9
	if _, _, err := DecodeHeader(b); err == nil || !strings.Contains(err.Error(), "header checksum") {
		t.Fatalf("DecodeHeader of an edited header = %v", err)
	}
}

func TestDecodeChecksSections(t *testing.T) {
	data := build(t, nil, part{KindIDs, 0, seq(10, 0)}, part{KindVectors, 0, seq(100, 1)})
	h, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	ids, vecs := h.Sections[0], h.Sections[1]

	pad := slices.Clone(data)
	pad[ids.end()+3] = 1
	if _, err := Decode(pad); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("padding byte at offset %d", ids.end()+3)) {
		t.Errorf("Decode with a padding byte set = %v", err)
	}
	bad := slices.Clone(data)
	bad[vecs.Offset+5]++
	if _, err := Decode(bad); err == nil || !strings.Contains(err.Error(), "vectors section of shard 0: checksum") {
		t.Errorf("Decode with a section byte changed = %v", err)
	}
	// SectionBytes checks the one section it slices.
	if _, err := h.SectionBytes(bad, ids); err != nil {
		t.Errorf("SectionBytes of an intact section = %v", err)
	}
	if _, err := h.SectionBytes(bad, vecs); !errors.Is(err, objstore.ErrCorrupt) {
		t.Errorf("SectionBytes of a damaged section = %v", err)
	}
	if _, err := h.SectionBytes(data[:vecs.end()-1], vecs); !errors.Is(err, objstore.ErrCorrupt) {
		t.Errorf("SectionBytes of short data = %v", err)
	}
	if b, err := h.SectionBytes(data[:ids.end()], ids); err != nil || len(b) != 10 {
		t.Errorf("SectionBytes of a prefix holding the section = %v, %v", b, err)
	}
	forged := vecs
	forged.Length--
	if _, err := h.SectionBytes(data, forged); !errors.Is(err, ErrNoSection) {
		t.Errorf("SectionBytes of a section not in the header = %v, want ErrNoSection", err)
	}
}

// TestUnknownKind: a reader skips kinds it does not know rather than refuse
// the segment.
func TestUnknownKind(t *testing.T) {
	data := build(t, nil, part{Kind(1000), 1, []byte("future")})
	h, err := Decode(data)
	if err != nil || h.Sections[0].Kind != 1000 || h.Sections[0].Kind.String() != "kind(1000)" {
		t.Fatalf("Decode = %+v, %v", h, err)
	}
}
