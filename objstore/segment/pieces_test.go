package segment

import (
	"errors"
	"reflect"
	"slices"
	"testing"

	"github.com/weftdb/weft/objstore"
)

func TestPieces(t *testing.T) {
	// A graph section of 100 bytes of links and 7 rows of 2 floats.
	links := make([]byte, 100)
	for i := range links {
		links[i] = byte(i)
	}
	var vecs []float32
	for r := range 7 {
		vecs = append(vecs, float32(r), -float32(r))
	}
	vb := EncodeFloat32s(vecs)
	p := &Pieces{BlockRows: 3, LinksLength: 100, LinksCRC: Checksum(links)}
	for lo := 0; lo < 7; lo += 3 {
		p.BlockCRC = append(p.BlockCRC, Checksum(vb[8*lo:8*min(lo+3, 7)]))
	}
	got, err := DecodePieces(EncodePieces(p))
	if err != nil || !reflect.DeepEqual(got, p) {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	data := build(t, nil, part{KindPieces, 0, EncodePieces(p)}, part{KindGraph, 0, append(links, vb...)})
	h, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	g, _ := h.Section(KindGraph, 0)
	b := objstore.NewInMemory()
	upload(t, b, "seg", data)
	r, err := Open(t.Context(), b, "seg")
	if err != nil {
		t.Fatal(err)
	}
	lr, err := p.Links(g)
	if err != nil {
		t.Fatal(err)
	}
	var ranges []Range
	for i := range 3 {
		br, err := p.Block(g, i, 7, 2)
		if err != nil {
			t.Fatal(err)
		}
		ranges = append(ranges, br)
	}
	parts, err := r.ReadRanges(t.Context(), append([]Range{lr}, ranges...))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(parts[0], links) {
		t.Fatal("links differ")
	}
	for i, want := range [][]float32{vecs[0:6], vecs[6:12], vecs[12:14]} {
		v, _ := DecodeFloat32s(parts[1+i])
		if !slices.Equal(v, want) {
			t.Fatalf("block %d: %v, want %v", i, v, want)
		}
	}
	if _, err := p.Block(g, 3, 7, 2); !errors.Is(err, objstore.ErrCorrupt) {
		t.Fatalf("block past the end: %v", err)
	}
	if _, err := p.Block(g, 2, 9, 2); !errors.Is(err, objstore.ErrCorrupt) {
		t.Fatalf("rows past the section: %v", err)
	}
}

func FuzzDecodePieces(f *testing.F) {
	f.Add(EncodePieces(&Pieces{BlockRows: 3, LinksLength: 100, BlockCRC: []uint32{1, 2, 3}}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := DecodePieces(b)
		if err != nil {
			if !errors.Is(err, objstore.ErrCorrupt) {
				t.Fatalf("not ErrCorrupt: %v", err)
			}
			return
		}
		if !slices.Equal(EncodePieces(p), b) {
			t.Fatal("re-encoding differs")
		}
		g := Section{Kind: KindGraph, Offset: 64, Length: 1 << 20}
		for i := range min(len(p.BlockCRC), 4) {
			_, _ = p.Block(g, i, 1000, 4)
		}
		_, _ = p.Links(g)
	})
}
