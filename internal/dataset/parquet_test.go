package dataset

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
	"google.golang.org/protobuf/proto"

	weftv1 "github.com/weftdb/weft/proto/gen/weft/v1"
)

type pqRow struct {
	ID     string    `parquet:"id"`
	Vector []float32 `parquet:"vector,list"`
	Label  int32     `parquet:"label"`
	Score  *float64  `parquet:"score,optional"`
	Flag   bool      `parquet:"flag"`
	Tags   []string  `parquet:"tags,list"`
}

// A Parquet file's rows come back as documents: the list column of floats
// as the vector, "id" as the id, scalars and string lists as attributes,
// a null left out; across row groups, in order.
func TestParquet(t *testing.T) {
	path := filepath.Join(t.TempDir(), "docs.parquet")
	half := 1.5
	var rows []pqRow
	for i := range 600 {
		r := pqRow{ID: "doc-" + string(rune('a'+i%26)) + string(rune('0'+i%10)) + "-" + strings.Repeat("x", i%3), Vector: []float32{float32(i), -float32(i), 0.25},
			Label: int32(i - 300), Flag: i%2 == 0, Tags: []string{"t", string(rune('a' + i%5))}}
		r.ID += string(rune('A' + i/26%26))
		if i%3 == 0 {
			r.Score = &half
		}
		rows = append(rows, r)
	}
	if err := parquet.WriteFile(path, rows, parquet.PageBufferSize(1024), parquet.MaxRowsPerRowGroup(128)); err != nil {
		t.Fatal(err)
	}
	r, err := OpenParquet(path, "", "")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Count() != 600 {
		t.Fatalf("count %d, want 600", r.Count())
	}
	for i, want := range rows {
		d, err := r.Next("p")
		if err != nil {
			t.Fatalf("row %d: %v", i, err)
		}
		attrs := map[string]*weftv1.AttributeValue{
			"label": {Kind: &weftv1.AttributeValue_IntValue{IntValue: int64(want.Label)}},
			"flag":  {Kind: &weftv1.AttributeValue_BoolValue{BoolValue: want.Flag}},
			"tags":  {Kind: &weftv1.AttributeValue_StringListValue{StringListValue: &weftv1.StringList{Values: want.Tags}}},
		}
		if want.Score != nil {
			attrs["score"] = &weftv1.AttributeValue{Kind: &weftv1.AttributeValue_FloatValue{FloatValue: *want.Score}}
		}
		wantDoc := &weftv1.Document{Id: want.ID, Vector: want.Vector, Attributes: attrs}
		if !proto.Equal(d, wantDoc) {
			t.Fatalf("row %d: %v, want %v", i, d, wantDoc)
		}
	}
	if _, err := r.Next("p"); !errors.Is(err, io.EOF) {
		t.Fatalf("after the last row: %v, want io.EOF", err)
	}
}

type pqTwoLists struct {
	A []float64 `parquet:"a,list"`
	B []float32 `parquet:"b,list"`
	N int64     `parquet:"n"`
}

// Without an id column rows are numbered; of two float lists the one named
// is the vector (doubles narrowed to float32); mistakes are named.
func TestParquetColumnsAndErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "two.parquet")
	if err := parquet.WriteFile(path, []pqTwoLists{{A: []float64{1, 2}, B: []float32{3, 4, 5}, N: 7}, {A: []float64{6, 7}, B: []float32{8, 9, 10}, N: 8}}); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenParquet(path, "", ""); err == nil || !strings.Contains(err.Error(), "--vector-column") {
		t.Fatalf("two float lists, none named: %v", err)
	}
	for _, c := range []struct{ vec, id, want string }{
		{"c", "", `no list column of floats named "c"`},
		{"a", "nope", `no column named "nope"`},
	} {
		if _, err := OpenParquet(path, c.vec, c.id); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Fatalf("--vector-column %q --id-column %q: %v, want %q", c.vec, c.id, err, c.want)
		}
	}
	r, err := OpenParquet(path, "a", "")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var got []*weftv1.Document
	for {
		d, err := r.Next("row-")
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, d)
	}
	if len(got) != 2 || got[1].GetId() != "row-1" || !slices.Equal(got[1].GetVector(), []float32{6, 7}) || got[1].GetAttributes()["n"].GetIntValue() != 8 {
		t.Fatalf("documents %v", got)
	}
	r2, err := OpenParquet(path, "b", "n") // integer ids
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	if d, err := r2.Next(""); err != nil || d.GetId() != "7" || len(d.GetVector()) != 3 {
		t.Fatalf("ids from an integer column: %v, %v", d, err)
	}
	junk := filepath.Join(dir, "junk.parquet")
	if err := os.WriteFile(junk, []byte("not parquet at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenParquet(junk, "", ""); err == nil || !strings.Contains(err.Error(), "not a Parquet file") {
		t.Fatalf("a file that is not Parquet: %v", err)
	}
}
