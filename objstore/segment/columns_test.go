package segment

import (
	"encoding/hex"
	"errors"
	"reflect"
	"slices"
	"testing"

	"github.com/weftdb/weft/objstore"
)

// sampleColumns has every type, absent rows, an attribute with two types,
// empty strings and lists.
func sampleColumns() (int, []Column) {
	return 3, []Column{
		{Name: "a", Type: ColumnString, Present: []bool{false, true, false}, Strings: []string{"", "x", ""}},
		{Name: "a", Type: ColumnInt64, Present: []bool{true, false, true}, Ints: []int64{-1, 0, 1 << 40}},
		{Name: "flag", Type: ColumnBool, Present: []bool{true, true, false}, Bools: []bool{true, false, false}},
		{Name: "price", Type: ColumnFloat64, Present: []bool{true, true, true}, Floats: []float64{0.5, -2, 1e300}},
		{Name: "tags", Type: ColumnStringList, Present: []bool{true, true, false}, Lists: [][]string{{"p", ""}, nil, nil}},
		{Name: "title", Type: ColumnString, Present: []bool{true, true, true}, Strings: []string{"", "héllo", "z"}},
	}
}

func TestColumnsRoundTrip(t *testing.T) {
	rows, cols := sampleColumns()
	enc, err := EncodeColumns(rows, cols)
	if err != nil {
		t.Fatal(err)
	}
	// Aligned as a section of a read buffer is, and not.
	for _, shift := range []int{0, 1} {
		buf := make([]byte, len(enc)+8)
		b := buf[shift : shift+len(enc)]
		copy(b, enc)
		n, got, err := DecodeColumns(b)
		if err != nil {
			t.Fatalf("shift %d: %v", shift, err)
		}
		if n != rows || !reflect.DeepEqual(got, cols) {
			t.Fatalf("shift %d: decoded %d rows %+v, want %+v", shift, n, got, cols)
		}
		again, err := EncodeColumns(n, got)
		if err != nil || !slices.Equal(again, enc) {
			t.Fatalf("shift %d: re-encoding differs (%v)", shift, err)
		}
	}
	// No rows, no columns.
	for _, c := range []struct {
		rows int
		cols []Column
	}{{0, nil}, {0, []Column{{Name: "e", Type: ColumnInt64, Present: []bool{}, Ints: []int64{}}}}} {
		enc, err := EncodeColumns(c.rows, c.cols)
		if err != nil {
			t.Fatal(err)
		}
		n, got, err := DecodeColumns(enc)
		if err != nil || n != c.rows || len(got) != len(c.cols) {
			t.Fatalf("empty: %d %v %v", n, got, err)
		}
	}
}

// TestColumnsEncoding pins the bytes of the column encoding.
func TestColumnsEncoding(t *testing.T) {
	enc, err := EncodeColumns(2, []Column{
		{Name: "n", Type: ColumnInt64, Present: []bool{true, false}, Ints: []int64{258, 0}},
		{Name: "s", Type: ColumnString, Present: []bool{true, true}, Strings: []string{"ab", "c"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "" +
		"02000000" + "02000000" + // rows, columns
		"01006e02" + "01007301" + // "n" int64, "s" string
		"0100000000000000" + // n present
		"0201000000000000" + "0000000000000000" + // n values
		"0101000000000000" + // s present
		"02000000" + "02000000" + "03000000" + "616263" + "00" // s table, padded
	if got := hex.EncodeToString(enc); got != want {
		t.Fatalf("encoding\n got %s\nwant %s", got, want)
	}
}

func TestColumnsRefused(t *testing.T) {
	bad := map[string]func(cols []Column) []Column{
		"unsorted":   func(c []Column) []Column { c[0], c[1] = c[1], c[0]; return c },
		"repeated":   func(c []Column) []Column { return append(c, c[len(c)-1]) },
		"short":      func(c []Column) []Column { c[2].Bools = c[2].Bools[:2]; return c },
		"no type":    func(c []Column) []Column { c[0].Type = 0; return c },
		"wrong type": func(c []Column) []Column { c[3].Type = 9; return c },
	}
	for name, f := range bad {
		rows, cols := sampleColumns()
		if _, err := EncodeColumns(rows, f(cols)); err == nil {
			t.Errorf("%s: encoded", name)
		}
	}
	rows, cols := sampleColumns()
	enc, err := EncodeColumns(rows, cols)
	if err != nil {
		t.Fatal(err)
	}
	corruptions := map[string]func(b []byte) []byte{
		"truncated":        func(b []byte) []byte { return b[:len(b)-8] },
		"trailing":         func(b []byte) []byte { return append(b, make([]byte, 8)...) },
		"flag byte 2":      func(b []byte) []byte { b[firstBlock(b)] = 2; return b },
		"absent holds one": func(b []byte) []byte { b[firstBlock(b)+1] = 0; return b }, // row 1 of "a" (string) absent, holds "x"
		"column count":     func(b []byte) []byte { b[4] = 0xff; b[5] = 0xff; return b },
		"padding":          func(b []byte) []byte { b[firstBlock(b)-1] = 7; return b },
	}
	for name, f := range corruptions {
		_, _, err := DecodeColumns(f(slices.Clone(enc)))
		if !errors.Is(err, objstore.ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", name, err)
		}
	}
}

// firstBlock returns the offset of the first column's presence flags.
func firstBlock(b []byte) int {
	d := decoder{b: b}
	d.u32()
	n := int(d.u32())
	for range n {
		d.bytes(int(d.u16()) + 1)
	}
	return (d.off + 7) &^ 7
}

func FuzzDecodeColumns(f *testing.F) {
	rows, cols := sampleColumns()
	enc, err := EncodeColumns(rows, cols)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(enc)
	f.Add(enc[:len(enc)/2])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		n, cols, err := DecodeColumns(data)
		if err != nil {
			if !errors.Is(err, objstore.ErrCorrupt) {
				t.Fatalf("error does not wrap ErrCorrupt: %v", err)
			}
			return
		}
		// What decodes re-encodes to the same bytes: the encoding is
		// canonical.
		again, err := EncodeColumns(n, cols)
		if err != nil || !slices.Equal(again, data) {
			t.Fatalf("decoded %d rows %+v; re-encoding: %v, equal %v", n, cols, err, slices.Equal(again, data))
		}
	})
}
