package dataset

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/parquet-go/parquet-go"

	weftv1 "github.com/weftdb/weft/proto/gen/weft/v1"
)

// ParquetReader reads documents from a Parquet file: the vector from a
// list column of floats or doubles (Arrow's list and fixed_size_list are
// both Parquet lists), the id from a string or integer column, and every
// other top-level column of strings, integers, floats or booleans (or a
// list of strings) as an attribute of that name. Null values leave the
// attribute out.
type ParquetReader struct {
	name   string
	f      *os.File
	groups []parquet.RowGroup
	rows   parquet.Rows // of groups[0], nil before the first
	buf    []parquet.Row
	next   int // of buf
	n      int // rows in buf

	vector, id int            // leaf column index; id -1: row numbers
	idKind     parquet.Kind   // of the id column
	attrs      []*parquetAttr // by leaf column index; nil: not an attribute
	count, row int
	dim        int
}

// parquetAttr is a leaf column read as an attribute.
type parquetAttr struct {
	name string
	kind parquet.Kind
	list bool // a list of strings
}

// OpenParquet opens a Parquet file. vectorColumn names the vector column
// ("" : the only list of floats or doubles); idColumn the id column (""
// : "id" if there is one, else ids are row numbers counted from 0 with
// prefix before them).
func OpenParquet(path, vectorColumn, idColumn string) (*ParquetReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: not a Parquet file: %w", path, err)
	}
	r := &ParquetReader{name: path, f: f, groups: pf.RowGroups(), count: int(pf.NumRows()), vector: -1, id: -1}
	if err := r.mapColumns(pf.Schema(), vectorColumn, idColumn); err != nil {
		f.Close()
		return nil, err
	}
	return r, nil
}

// mapColumns finds the vector, id and attribute columns.
func (r *ParquetReader) mapColumns(schema *parquet.Schema, vectorColumn, idColumn string) error {
	var floatLists []string
	r.attrs = make([]*parquetAttr, len(schema.Columns()))
	for _, path := range schema.Columns() {
		leaf, _ := schema.Lookup(path...)
		kind := leaf.Node.Type().Kind()
		name, repeated := path[0], leaf.MaxRepetitionLevel > 0
		switch {
		case repeated && (kind == parquet.Float || kind == parquet.Double):
			floatLists = append(floatLists, name)
			if name == vectorColumn || (vectorColumn == "" && r.vector < 0) {
				r.vector = leaf.ColumnIndex
			}
		case len(path) == 1 && (name == idColumn || idColumn == "" && name == "id") && !repeated:
			if kind != parquet.ByteArray && kind != parquet.Int32 && kind != parquet.Int64 {
				return fmt.Errorf("%s: id column %q holds %s: want strings or integers", r.name, name, kind)
			}
			r.id, r.idKind = leaf.ColumnIndex, kind
		case !repeated && len(path) == 1:
			switch kind {
			case parquet.ByteArray, parquet.Int32, parquet.Int64, parquet.Float, parquet.Double, parquet.Boolean:
				r.attrs[leaf.ColumnIndex] = &parquetAttr{name: name, kind: kind}
			}
		case repeated && kind == parquet.ByteArray && leaf.MaxRepetitionLevel == 1:
			r.attrs[leaf.ColumnIndex] = &parquetAttr{name: name, kind: kind, list: true}
		}
	}
	switch {
	case vectorColumn != "" && !slices.Contains(floatLists, vectorColumn):
		return fmt.Errorf("%s: no list column of floats named %q (lists of floats: %s)", r.name, vectorColumn, strings.Join(floatLists, ", "))
	case r.vector < 0:
		return fmt.Errorf("%s: no list column of floats or doubles to take the vectors from", r.name)
	case vectorColumn == "" && len(floatLists) > 1:
		return fmt.Errorf("%s: several list columns of floats (%s): name the vectors' with --vector-column", r.name, strings.Join(floatLists, ", "))
	case idColumn != "" && r.id < 0:
		return fmt.Errorf("%s: no column named %q of strings or integers for the ids", r.name, idColumn)
	}
	return nil
}

// Next returns the next row as a document, or io.EOF after the last. A
// document without an id column gets prefix and its row number.
func (r *ParquetReader) Next(prefix string) (*weftv1.Document, error) {
	for r.next == r.n {
		if err := r.fill(); err != nil {
			return nil, err
		}
	}
	row := r.buf[r.next]
	r.next++
	d := &weftv1.Document{Attributes: map[string]*weftv1.AttributeValue{}}
	for _, v := range row {
		if v.IsNull() {
			continue
		}
		switch c := v.Column(); {
		case c == r.vector:
			switch v.Kind() {
			case parquet.Float:
				d.Vector = append(d.Vector, v.Float())
			case parquet.Double:
				d.Vector = append(d.Vector, float32(v.Double()))
			}
		case c == r.id:
			if r.idKind == parquet.ByteArray {
				d.Id = string(v.ByteArray())
			} else {
				d.Id = fmt.Sprint(parquetInt(v))
			}
		case r.attrs[c] != nil && r.attrs[c].list:
			a := r.attrs[c]
			old := d.Attributes[a.name].GetStringListValue()
			if old == nil {
				old = &weftv1.StringList{}
				d.Attributes[a.name] = &weftv1.AttributeValue{Kind: &weftv1.AttributeValue_StringListValue{StringListValue: old}}
			}
			old.Values = append(old.Values, string(v.ByteArray()))
		case r.attrs[c] != nil:
			d.Attributes[r.attrs[c].name] = parquetValue(r.attrs[c].kind, v)
		}
	}
	if r.id < 0 {
		d.Id = prefix + fmt.Sprint(r.row)
	}
	r.row++
	if len(d.Vector) == 0 {
		return nil, fmt.Errorf("%s: row %d has no vector", r.name, r.row-1)
	}
	if r.dim == 0 {
		r.dim = len(d.Vector)
	} else if len(d.Vector) != r.dim {
		return nil, fmt.Errorf("%s: row %d has a vector of %d values, the rows before %d", r.name, r.row-1, len(d.Vector), r.dim)
	}
	if len(d.Attributes) == 0 {
		d.Attributes = nil
	}
	return d, nil
}

// parquetValue is a scalar column value as an attribute.
func parquetValue(kind parquet.Kind, v parquet.Value) *weftv1.AttributeValue {
	switch kind {
	case parquet.ByteArray:
		return &weftv1.AttributeValue{Kind: &weftv1.AttributeValue_StringValue{StringValue: string(v.ByteArray())}}
	case parquet.Int32, parquet.Int64:
		return &weftv1.AttributeValue{Kind: &weftv1.AttributeValue_IntValue{IntValue: parquetInt(v)}}
	case parquet.Float:
		return &weftv1.AttributeValue{Kind: &weftv1.AttributeValue_FloatValue{FloatValue: float64(v.Float())}}
	case parquet.Double:
		return &weftv1.AttributeValue{Kind: &weftv1.AttributeValue_FloatValue{FloatValue: v.Double()}}
	}
	return &weftv1.AttributeValue{Kind: &weftv1.AttributeValue_BoolValue{BoolValue: v.Boolean()}}
}

// parquetInt is an INT32 or INT64 value.
func parquetInt(v parquet.Value) int64 {
	if v.Kind() == parquet.Int32 {
		return int64(v.Int32())
	}
	return v.Int64()
}

// fill reads the next rows into buf.
func (r *ParquetReader) fill() error {
	if r.rows == nil {
		if len(r.groups) == 0 {
			return io.EOF
		}
		r.rows = r.groups[0].Rows()
		r.groups = r.groups[1:]
	}
	if r.buf == nil {
		r.buf = make([]parquet.Row, 256)
	}
	n, err := r.rows.ReadRows(r.buf)
	r.next, r.n = 0, n
	if errors.Is(err, io.EOF) {
		r.rows.Close()
		r.rows = nil
		err = nil
	}
	if err != nil {
		return fmt.Errorf("%s: %w", r.name, err)
	}
	return nil
}

// Count is the number of rows in the file.
func (r *ParquetReader) Count() int { return r.count }

// Close closes the file.
func (r *ParquetReader) Close() error {
	if r.rows != nil {
		r.rows.Close()
	}
	return r.f.Close()
}
