package segment

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"slices"
	"testing"

	"github.com/weftdb/weft/objstore"
)

// fuzzSeeds are valid segments and near misses.
func fuzzSeeds(f *testing.F) [][]byte {
	meta, parts := everyKind()
	gmeta, gparts := goldenParts()
	valid := [][]byte{
		build(f, nil),
		build(f, []byte("m")),
		build(f, nil, part{KindIDs, 0, EncodeStrings([]string{"x", "yz"})}),
		build(f, nil, part{KindGraph, 1, nil}, part{KindGraph, 2, seq(65, 0)}, part{KindVectors, 1, nil}),
		build(f, meta, parts...),
		build(f, gmeta, gparts...),
	}
	var seeds [][]byte
	for _, v := range valid {
		hlen := binary.LittleEndian.Uint32(v[8:])
		seeds = append(seeds, v, v[:hlen], v[:len(v)-1], v[:11], append(slices.Clone(v), 0))
	}
	return append(seeds, nil, []byte("WFTS"))
}

// fixSums returns data with every checksum recomputed where its position can
// be found, so the fuzzer reaches the checks behind the checksums. It never
// panics, whatever data is.
func fixSums(data []byte) []byte {
	d := slices.Clone(data)
	le := binary.LittleEndian
	if len(d) < minHeaderSize {
		return d
	}
	hlen := uint64(le.Uint32(d[8:]))
	if hlen < minHeaderSize || hlen > uint64(len(d)) {
		return d
	}
	if m := uint64(le.Uint32(d[12:])); m <= hlen-minHeaderSize {
		n := uint64(le.Uint32(d[fixedSize+m:]))
		toc := fixedSize + m + 4
		for i := uint64(0); i < n && toc+(i+1)*entrySize <= hlen-12; i++ {
			e := d[toc+i*entrySize:]
			off, length := le.Uint64(e[8:]), le.Uint64(e[16:])
			if off <= uint64(len(d)) && length <= uint64(len(d))-off {
				le.PutUint32(e[24:], crc32.Checksum(d[off:off+length], castagnoli))
			}
		}
	}
	le.PutUint32(d[hlen-4:], crc32.Checksum(d[:hlen-4], castagnoli))
	return d
}

func FuzzDecodeHeader(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecodeHeader(t, data)
		checkDecodeHeader(t, fixSums(data))
	})
}

func checkDecodeHeader(t *testing.T, data []byte) {
	h, need, err := DecodeHeader(data)
	switch {
	case err != nil:
		if !errors.Is(err, objstore.ErrCorrupt) || h != nil || need != 0 {
			t.Fatalf("DecodeHeader = %v, %d, %v; errors must wrap ErrCorrupt and come alone", h, need, err)
		}
		return
	case need != 0:
		if h != nil || need <= len(data) || need > MaxHeaderSize {
			t.Fatalf("DecodeHeader of %d bytes = %v, need %d", len(data), h, need)
		}
		return
	}
	hlen := headerLen(uint64(len(h.Meta)), uint64(len(h.Sections)))
	if hlen > uint64(len(data)) || h.Size < hlen {
		t.Fatalf("header of %d bytes from %d, object size %d", hlen, len(data), h.Size)
	}
	end := hlen
	for _, s := range h.Sections {
		if s.Kind == 0 || s.Offset%Alignment != 0 || s.Offset < end || s.Offset > h.Size || s.Length > h.Size-s.Offset {
			t.Fatalf("%+v out of place after %d in an object of %d", s, end, h.Size)
		}
		end = s.end()
	}
	// The header re-encodes to the bytes it came from.
	again := make([]byte, hlen)
	putHeader(again, h.Meta, h.Sections, h.Size)
	if !bytes.Equal(again, data[:hlen]) {
		t.Fatalf("re-encoded header differs:\n%x\n%x", again, data[:hlen])
	}
	// A prefix one byte short asks for the rest.
	if h2, need, err := DecodeHeader(data[:hlen-1]); err != nil || h2 != nil || need != int(hlen) {
		t.Fatalf("DecodeHeader of one byte short = %v, %d, %v", h2, need, err)
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecode(t, data)
		checkDecode(t, fixSums(data))
	})
}

func checkDecode(t *testing.T, data []byte) {
	h, err := Decode(data)
	if err != nil {
		if !errors.Is(err, objstore.ErrCorrupt) || h != nil {
			t.Fatalf("Decode = %v, %v; errors must wrap ErrCorrupt", h, err)
		}
		return
	}
	// Every section is in bounds with a matching checksum, and a Builder
	// given the decoded meta and sections writes the same bytes: the
	// encoding is canonical.
	b := NewBuilder(h.Meta)
	for _, s := range h.Sections {
		if s.Offset > uint64(len(data)) || s.Length > uint64(len(data))-s.Offset {
			t.Fatalf("%+v out of bounds of %d bytes", s, len(data))
		}
		sb, err := h.SectionBytes(data, s)
		if err != nil {
			t.Fatalf("SectionBytes(%+v) of a decoded segment: %v", s, err)
		}
		if crc32.Checksum(sb, castagnoli) != s.CRC {
			t.Fatalf("%+v: checksum differs", s)
		}
		if err := b.Add(s.Kind, s.Shard, sb); err != nil {
			t.Fatalf("rebuild: %v", err)
		}
	}
	again, err := b.Bytes()
	if err != nil {
		t.Fatalf("rebuild: %v", err)
	}
	if !bytes.Equal(again, data) {
		t.Fatalf("rebuilt segment differs:\n%x\n%x", again, data)
	}
}
