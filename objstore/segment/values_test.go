package segment

import (
	"encoding/binary"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/weftdb/weft/objstore"
)

func TestStrings(t *testing.T) {
	for _, ss := range [][]string{
		nil,
		{""},
		{"", ""},
		{"a", "bb", "", "ccc", "dé\x00f"},
		{strings.Repeat("x", 70000)},
	} {
		enc := EncodeStrings(ss)
		if want := 4 + 4*len(ss); len(enc) < want {
			t.Fatalf("EncodeStrings(%q) = %d bytes", ss, len(enc))
		}
		got, err := DecodeStrings(enc)
		if err != nil || !slices.Equal(got, ss) || got == nil {
			t.Fatalf("DecodeStrings(EncodeStrings(%q)) = %q, %v", ss, got, err)
		}
	}
	// The layout, pinned: count, end offsets, bytes.
	if got, want := EncodeStrings([]string{"ab", "", "c"}), "\x03\x00\x00\x00\x02\x00\x00\x00\x02\x00\x00\x00\x03\x00\x00\x00abc"; string(got) != want {
		t.Fatalf("EncodeStrings = %q, want %q", got, want)
	}
	// Decoded strings do not alias the input.
	enc := EncodeStrings([]string{"keep"})
	got, _ := DecodeStrings(enc)
	enc[len(enc)-1] = 'X'
	if got[0] != "keep" {
		t.Fatalf("a decoded string changed with its input: %q", got[0])
	}
}

func TestDecodeStringsRejects(t *testing.T) {
	le := binary.LittleEndian
	table := func(n uint32, ends []uint32, data string) []byte {
		b := le.AppendUint32(nil, n)
		for _, e := range ends {
			b = le.AppendUint32(b, e)
		}
		return append(b, data...)
	}
	for _, c := range []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "the count alone"},
		{"short count", []byte{1, 0}, "the count alone"},
		{"count too large", table(3, []uint32{1, 2}, "ab"), "cannot hold 3 strings"},
		{"count huge", table(math.MaxUint32, nil, ""), "cannot hold"},
		{"decreasing", table(2, []uint32{2, 1}, "ab"), "string 1 ends at 1"},
		{"past the end", table(2, []uint32{1, 5}, "ab"), "string 1 ends at 5"},
		{"trailing bytes", table(2, []uint32{1, 2}, "abc"), "the strings end at 2"},
		{"no strings, trailing bytes", table(0, nil, "a"), "the strings end at 0"},
	} {
		if _, err := DecodeStrings(c.b); !errors.Is(err, objstore.ErrCorrupt) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: DecodeStrings = %v, want ErrCorrupt saying %q", c.name, err, c.want)
		}
	}
}

func TestFloat32s(t *testing.T) {
	nan := math.Float32frombits(0x7fc00001)
	in := []float32{0, float32(math.Copysign(0, -1)), 1.5, -3.25, float32(math.Inf(-1)), nan, math.MaxFloat32, math.SmallestNonzeroFloat32}
	enc := EncodeFloat32s(in)
	if len(enc) != 4*len(in) || binary.LittleEndian.Uint32(enc[8:]) != math.Float32bits(1.5) {
		t.Fatalf("EncodeFloat32s = %x", enc)
	}
	same := func(a, b []float32) bool {
		return slices.EqualFunc(a, b, func(x, y float32) bool { return math.Float32bits(x) == math.Float32bits(y) })
	}

	// A 4-byte aligned buffer: on little-endian machines, an alias.
	aligned := make([]uint32, len(in)+1)
	buf := unsafe.Slice((*byte)(unsafe.Pointer(&aligned[0])), 4*len(aligned))
	copy(buf, enc)
	got, err := DecodeFloat32s(buf[:len(enc)])
	if err != nil || !same(got, in) {
		t.Fatalf("DecodeFloat32s(aligned) = %v, %v", got, err)
	}
	if nativeLittleEndian && &got[0] != (*float32)(unsafe.Pointer(&buf[0])) {
		t.Error("DecodeFloat32s copied an aligned buffer on a little-endian machine")
	}

	// Unaligned: a copy with the same values.
	odd := buf[1 : 1+len(enc)]
	copy(odd, enc)
	got, err = DecodeFloat32s(odd)
	if err != nil || !same(got, in) {
		t.Fatalf("DecodeFloat32s(unaligned) = %v, %v", got, err)
	}
	odd[0] ^= 0xff
	if !same(got, in) {
		t.Error("DecodeFloat32s of an unaligned buffer aliased it")
	}

	if got, err := DecodeFloat32s(nil); err != nil || got == nil || len(got) != 0 {
		t.Errorf("DecodeFloat32s(nil) = %v, %v", got, err)
	}
	if _, err := DecodeFloat32s(make([]byte, 7)); !errors.Is(err, objstore.ErrCorrupt) {
		t.Errorf("DecodeFloat32s of 7 bytes = %v, want ErrCorrupt", err)
	}
}
