package dataset

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// npy builds a .npy file the way numpy.save writes one: format version
// major, a header padded so the data starts at a multiple of 64, then data.
func npy(major byte, descr, shape string, fortran bool, data []byte) []byte {
	order := "False"
	if fortran {
		order = "True"
	}
	h := "{'descr': '" + descr + "', 'fortran_order': " + order + ", 'shape': (" + shape + "), }"
	pre := 10
	if major > 1 {
		pre = 12
	}
	for (pre+len(h)+1)%64 != 0 {
		h += " "
	}
	h += "\n"
	b := append([]byte("\x93NUMPY"), major, 0)
	if major == 1 {
		b = binary.LittleEndian.AppendUint16(b, uint16(len(h)))
	} else {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(h)))
	}
	return append(append(b, h...), data...)
}

func f32s(vs ...float32) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	return b
}

func readAllRows(t *testing.T, r *NPYReader) [][]float32 {
	t.Helper()
	var rows [][]float32
	for {
		v, err := r.Next()
		if errors.Is(err, io.EOF) {
			return rows
		}
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, v)
	}
}

func TestNPY(t *testing.T) {
	var f8 []byte
	for _, v := range []float64{1.5, -2, 3.25, 4} {
		f8 = binary.LittleEndian.AppendUint64(f8, math.Float64bits(v))
	}
	// float16: 1.0 = 0x3c00, -2.5 = 0xc100, 65504 = 0x7bff, 2^-24 = 0x0001.
	f2 := []byte{0x00, 0x3c, 0x00, 0xc1, 0xff, 0x7b, 0x01, 0x00}
	for _, c := range []struct {
		name string
		file []byte
		want [][]float32
	}{
		{"float32 v1", npy(1, "<f4", "2, 3", false, f32s(1, 2, 3, 4, 5, 6)), [][]float32{{1, 2, 3}, {4, 5, 6}}},
		{"float32 v2", npy(2, "<f4", "1, 2", false, f32s(7, 8)), [][]float32{{7, 8}}},
		{"float64", npy(1, "<f8", "2, 2", false, f8), [][]float32{{1.5, -2}, {3.25, 4}}},
		{"float16", npy(3, "<f2", "2, 2", false, f2), [][]float32{{1, -2.5}, {65504, 1.0 / (1 << 24)}}},
		{"uint8", npy(1, "|u1", "3, 1", false, []byte{0, 128, 255}), [][]float32{{0}, {128}, {255}}},
		{"no rows", npy(1, "<f4", "0, 4", false, nil), nil},
	} {
		r, err := NewNPYReader(bytes.NewReader(c.file), c.name)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		got := readAllRows(t, r)
		if len(got) != len(c.want) {
			t.Fatalf("%s: %d rows, want %d", c.name, len(got), len(c.want))
		}
		for i := range got {
			for j := range got[i] {
				if got[i][j] != c.want[i][j] {
					t.Fatalf("%s: row %d = %v, want %v", c.name, i, got[i], c.want[i])
				}
			}
		}
	}
	for _, c := range []struct {
		name, want string
		file       []byte
	}{
		{"not npy", "no \\x93NUMPY", []byte("hello, this is text")},
		{"fortran", "Fortran order", npy(1, "<f4", "1, 2", true, f32s(1, 2))},
		{"big-endian", "convert with a.astype('<f4')", npy(1, ">f4", "1, 2", false, f32s(1, 2))},
		{"3-D", "want two dimensions", npy(1, "<f4", "1, 2, 2", false, f32s(1, 2, 3, 4))},
		{"1-D", "want two dimensions", npy(1, "<f4", "4,", false, f32s(1, 2, 3, 4))},
		{"version", "format version 9", append([]byte("\x93NUMPY\x09\x00"), make([]byte, 8)...)},
		{"truncated header", "truncated NumPy header", npy(1, "<f4", "1, 2", false, nil)[:20]},
	} {
		_, err := NewNPYReader(bytes.NewReader(c.file), c.name)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error saying %q", c.name, err, c.want)
		}
	}
	r, err := NewNPYReader(bytes.NewReader(npy(1, "<f4", "2, 2", false, f32s(1, 2, 3))), "short")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(); err == nil || !strings.Contains(err.Error(), "row 1: truncated") {
		t.Fatalf("a truncated row: %v", err)
	}
}

func TestNPZ(t *testing.T) {
	path := filepath.Join(t.TempDir(), "emb.npz")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	z := zip.NewWriter(f)
	for name, file := range map[string][]byte{
		"vectors.npy": npy(1, "<f4", "2, 2", false, f32s(1, 2, 3, 4)),
		"ids.npy":     npy(1, "<f4", "2, 1", false, f32s(9, 9)),
	} {
		w, err := z.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(file)
	}
	z.Close()
	f.Close()
	a, err := OpenNPZ(path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if got := a.Arrays(); len(got) != 2 || got[0] != "ids" || got[1] != "vectors" {
		t.Fatalf("arrays %v", got)
	}
	if _, err := a.Open(""); err == nil || !strings.Contains(err.Error(), "holds 2 arrays (ids, vectors): name one with --array") {
		t.Fatalf("no array named: %v", err)
	}
	if _, err := a.Open("nope"); err == nil || !strings.Contains(err.Error(), `no array "nope"`) {
		t.Fatalf("a missing array: %v", err)
	}
	r, err := a.Open("vectors")
	if err != nil {
		t.Fatal(err)
	}
	if rows := readAllRows(t, r); len(rows) != 2 || rows[1][1] != 4 {
		t.Fatalf("rows %v", rows)
	}
	if f, err := FormatOf("x/emb.npz"); err != nil || f != NPZ {
		t.Fatalf("FormatOf .npz: %v %v", f, err)
	}
	if f, err := FormatOf("x/emb.npy.gz"); err != nil || f != NPY {
		t.Fatalf("FormatOf .npy.gz: %v %v", f, err)
	}
}

// FuzzNPYReader: any bytes give rows or an error, never a panic or a
// huge allocation the header merely claims.
func FuzzNPYReader(f *testing.F) {
	f.Add(npy(1, "<f4", "2, 3", false, f32s(1, 2, 3, 4, 5, 6)))
	f.Add(npy(3, "<f2", "1, 2", false, []byte{0, 0x3c, 0, 0xc1}))
	f.Add(npy(1, "|u1", "3, 1", false, []byte{1, 2, 3}))
	f.Add([]byte("\x93NUMPY\x01\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := NewNPYReader(bytes.NewReader(data), "fuzz")
		if err != nil {
			return
		}
		for range 1000 {
			v, err := r.Next()
			if err != nil {
				return
			}
			if len(v) != r.Dim() {
				t.Fatalf("a row of %d values, dimension %d", len(v), r.Dim())
			}
		}
	})
}
