package dataset

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	weftv1 "github.com/weftdb/weft/proto/gen/weft/v1"
)

// vecsBytes encodes rows in the .fvecs layout.
func vecsBytes(rows ...[]float32) []byte {
	var b bytes.Buffer
	for _, r := range rows {
		binary.Write(&b, binary.LittleEndian, int32(len(r)))
		binary.Write(&b, binary.LittleEndian, r)
	}
	return b.Bytes()
}

func TestFvecs(t *testing.T) {
	rows := [][]float32{{1, 2, 3}, {-1.5, float32(math.Inf(1)), 0}, {7, 8, 9}}
	r := NewFvecsReader(bytes.NewReader(vecsBytes(rows...)), "base.fvecs")
	for i, want := range rows {
		got, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		if !equal(got, want) {
			t.Fatalf("row %d: %v, want %v", i, got, want)
		}
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("after the last row: %v, want io.EOF", err)
	}
	if r.Dim() != 3 || r.Row() != 3 {
		t.Fatalf("dim %d, rows %d", r.Dim(), r.Row())
	}
	// Empty file: no rows.
	if _, err := NewFvecsReader(bytes.NewReader(nil), "empty.fvecs").Next(); err != io.EOF {
		t.Fatalf("empty file: %v", err)
	}
}

func TestIvecs(t *testing.T) {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, []int32{2, 5, -7, 2, 1 << 30, 0})
	r := NewIvecsReader(&b, "gt.ivecs")
	a, err := r.Next()
	if err != nil || len(a) != 2 || a[0] != 5 || a[1] != -7 {
		t.Fatalf("row 0: %v, %v", a, err)
	}
	c, err := r.Next()
	if err != nil || c[0] != 1<<30 || c[1] != 0 {
		t.Fatalf("row 1: %v, %v", c, err)
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatal(err)
	}
}

func TestVecsErrors(t *testing.T) {
	good := vecsBytes([]float32{1, 2, 3}, []float32{4, 5, 6})
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"truncated values", good[:len(good)-2], "base.fvecs: row 1: truncated: file ends after 10 of the 12 bytes of its values"},
		{"truncated dimension", append(slicesClone(good), 3, 0), "base.fvecs: row 2: truncated: file ends after 2 of the 4 bytes of its dimension"},
		{"dims differ", vecsBytes([]float32{1, 2, 3}, []float32{1, 2}), "base.fvecs: row 1: dimension 2, but earlier rows have 3"},
		{"negative dim", []byte{0xff, 0xff, 0xff, 0xff}, "base.fvecs: row 0: dimension -1 is outside"},
		{"zero dim", []byte{0, 0, 0, 0}, "base.fvecs: row 0: dimension 0 is outside"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewFvecsReader(bytes.NewReader(tc.data), "base.fvecs")
			var err error
			for err == nil {
				_, err = r.Next()
			}
			if err == io.EOF || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

func slicesClone(b []byte) []byte { return append([]byte(nil), b...) }

func equal(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// idxBytes encodes images of rows×cols pixels as an IDX file announcing
// count images.
func idxBytes(count, rows, cols uint32, images ...[]byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, []uint32{0x803, count, rows, cols})
	for _, im := range images {
		b.Write(im)
	}
	return b.Bytes()
}

func gz(t *testing.T, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	z := gzip.NewWriter(&b)
	if _, err := z.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestIDX(t *testing.T) {
	images := [][]byte{{0, 1, 2, 3, 4, 255}, {9, 8, 7, 6, 5, 4}}
	path := filepath.Join(t.TempDir(), "train-images-idx3-ubyte.gz")
	if err := os.WriteFile(path, gz(t, idxBytes(2, 2, 3, images...)), 0o644); err != nil {
		t.Fatal(err)
	}
	if f, err := FormatOf(path); err != nil || f != IDX {
		t.Fatalf("format of %s: %v, %v", path, f, err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := NewIDXReader(f, path)
	if err != nil {
		t.Fatal(err)
	}
	if r.Dim() != 6 || r.Count() != 2 {
		t.Fatalf("dim %d, count %d", r.Dim(), r.Count())
	}
	for i, im := range images {
		v, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		for j := range im {
			if v[j] != float32(im[j]) {
				t.Fatalf("image %d pixel %d: %v, want %d", i, j, v[j], im[j])
			}
		}
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatal(err)
	}
}

func TestIDXErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"short header", []byte{0, 0, 8, 3, 0}, "x.idx: truncated IDX header: 5 of 16 bytes"},
		{"labels file", []byte{0, 0, 8, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1}, "x.idx: IDX magic 0x00000801, want 0x00000803"},
		{"no pixels", idxBytes(1, 0, 28), "outside 1..1048576 pixels"},
		{"fewer images than announced", idxBytes(3, 1, 2, []byte{1, 2}, []byte{3}), "x.idx: row 1: truncated: file ends after 1 of its 2 bytes (the header announces 3 images)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := NewIDXReader(bytes.NewReader(tc.data), "x.idx")
			for err == nil {
				_, err = r.Next()
			}
			if err == io.EOF || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

func sv(s string) *weftv1.AttributeValue {
	return &weftv1.AttributeValue{Kind: &weftv1.AttributeValue_StringValue{StringValue: s}}
}

func TestJSONL(t *testing.T) {
	in := `{"id": "a", "vector": [0.5, -1, 2e3], "attributes": {"lang": "en", "year": 2024, "score": 0.25, "big": 1e2, "neg": -3, "ok": true, "tags": ["x", "y"], "none": []}}

{"vector": [1, 2, 3]}
  {"id":"c:1","vector":[0,0,0],"attributes":{}}  
`
	r := NewJSONLReader(strings.NewReader(in), "docs.jsonl")
	want := []*weftv1.Document{
		{Id: "a", Vector: []float32{0.5, -1, 2000}, Attributes: map[string]*weftv1.AttributeValue{
			"lang":  sv("en"),
			"year":  {Kind: &weftv1.AttributeValue_IntValue{IntValue: 2024}},
			"score": {Kind: &weftv1.AttributeValue_FloatValue{FloatValue: 0.25}},
			"big":   {Kind: &weftv1.AttributeValue_FloatValue{FloatValue: 100}},
			"neg":   {Kind: &weftv1.AttributeValue_IntValue{IntValue: -3}},
			"ok":    {Kind: &weftv1.AttributeValue_BoolValue{BoolValue: true}},
			"tags":  {Kind: &weftv1.AttributeValue_StringListValue{StringListValue: &weftv1.StringList{Values: []string{"x", "y"}}}},
			"none":  {Kind: &weftv1.AttributeValue_StringListValue{StringListValue: &weftv1.StringList{Values: []string{}}}},
		}},
		{Vector: []float32{1, 2, 3}},
		{Id: "c:1", Vector: []float32{0, 0, 0}},
	}
	for i, w := range want {
		got, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(got, w) {
			t.Fatalf("document %d: %v, want %v", i, got, w)
		}
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatal(err)
	}
	if r.Line() != 4 || r.Dim() != 3 {
		t.Fatalf("line %d, dim %d", r.Line(), r.Dim())
	}
	// The last line needs no newline.
	r = NewJSONLReader(strings.NewReader(`{"vector":[1]}`), "x")
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
}

func TestJSONLErrors(t *testing.T) {
	first := `{"id":"a","vector":[1,2]}` + "\n"
	for _, tc := range []struct {
		name, line, want string
	}{
		{"null attribute", `{"vector":[1,2],"attributes":{"x":null}}`, `docs.jsonl:2: attribute "x": null is not a value`},
		{"object attribute", `{"vector":[1,2],"attributes":{"x":{"a":1}}}`, `docs.jsonl:2: attribute "x": objects are not attribute values`},
		{"mixed list", `{"vector":[1,2],"attributes":{"x":["a",1]}}`, `docs.jsonl:2: attribute "x": an array must hold only strings`},
		{"huge int", `{"vector":[1,2],"attributes":{"x":99999999999999999999}}`, `docs.jsonl:2: attribute "x": integer 99999999999999999999 does not fit in an int64`},
		{"dims differ", `{"vector":[1,2,3]}`, "docs.jsonl:2: vector of dimension 3, but earlier lines have 2"},
		{"null in vector", `{"vector":[1,null]}`, "docs.jsonl:2: vector[1] is null"},
		{"no vector", `{"id":"b"}`, `docs.jsonl:2: no "vector"`},
		{"unknown key", `{"vector":[1,2],"attrs":{}}`, `docs.jsonl:2: json: unknown field "attrs"`},
		{"not json", `{"vector":[1,2]`, "docs.jsonl:2: unexpected EOF"},
		{"two values", `{"vector":[1,2]} {"vector":[1,2]}`, "docs.jsonl:2: more than one JSON value"},
		{"numeric id", `{"id":7,"vector":[1,2]}`, "docs.jsonl:2: json: cannot unmarshal number"},
		{"not an object", `[1,2]`, "docs.jsonl:2: json: cannot unmarshal array"},
		{"empty object", `{}`, `docs.jsonl:2: want an object with "vector"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewJSONLReader(strings.NewReader(first+tc.line+"\n"), "docs.jsonl")
			if _, err := r.Next(); err != nil {
				t.Fatal(err)
			}
			_, err := r.Next()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

func TestFormatOf(t *testing.T) {
	for path, want := range map[string]Format{
		"d/base.fvecs": Fvecs, "base.fvecs.gz": Fvecs, "gt.IVECS": Ivecs, "docs.jsonl": JSONL, "docs.ndjson.gz": JSONL,
		"t10k-images-idx3-ubyte": IDX, "train-images-idx3-ubyte.gz": IDX, "x.idx": IDX, "weird.gz": IDX,
		"emb.parquet": Parquet, "EMB.PQ": Parquet,
	} {
		if got, err := FormatOf(path); err != nil || got != want {
			t.Errorf("FormatOf(%q) = %q, %v; want %q", path, got, err, want)
		}
	}
	if _, err := FormatOf("data.csv"); err == nil {
		t.Error("FormatOf(data.csv) succeeded")
	}
	if f, err := ParseFormat("FVECS"); err != nil || f != Fvecs {
		t.Error(f, err)
	}
	if f, err := ParseFormat("parquet"); err != nil || f != Parquet {
		t.Error(f, err)
	}
	if _, err := ParseFormat("csv"); err == nil {
		t.Error("ParseFormat(csv) succeeded")
	}
}

func TestOpenPlainAndGzip(t *testing.T) {
	dir := t.TempDir()
	data := vecsBytes([]float32{1, 2})
	for name, content := range map[string][]byte{"plain.fvecs": data, "packed.fvecs.gz": gz(t, data), "empty.fvecs": nil} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, content, 0o644); err != nil {
			t.Fatal(err)
		}
		f, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(f)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, data) && !(name == "empty.fvecs" && len(got) == 0) {
			t.Errorf("%s: read %v", name, got)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Open(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
	// A gzip stream cut short reads as a truncated row, not a short file.
	cut := gz(t, vecsBytes([]float32{1, 2, 3, 4, 5, 6, 7, 8}))
	path := filepath.Join(dir, "cut.fvecs.gz")
	if err := os.WriteFile(path, cut[:len(cut)-12], 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := NewFvecsReader(f, path)
	for err == nil {
		_, err = r.Next()
	}
	if err == io.EOF || !strings.Contains(err.Error(), "truncated") {
		t.Fatalf("cut gzip stream: %v", err)
	}
}
