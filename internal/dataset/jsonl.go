package dataset

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"

	weftv1 "github.com/weftdb/weft/proto/gen/weft/v1"
)

// JSONLReader streams documents from JSON lines, one object per line:
//
//	{"id": "doc-1", "vector": [0.1, 0.2], "attributes": {"lang": "en", "year": 2024}}
//
// "id" may be absent (the server then assigns one); "vector" is required,
// with the same length on every line. Attribute values map to Weft's types
// by their JSON type: a string to string, a number written without
// fraction or exponent to int (it must fit in int64), any other number to
// float, true/false to bool, an array of strings to a string list. null,
// objects and other arrays are errors, as are unknown keys. Blank lines
// are skipped.
type JSONLReader struct {
	r    *bufio.Reader
	name string
	line int // lines read so far
	dim  int
}

// NewJSONLReader returns a reader of the documents in r; name identifies the
// file in errors.
func NewJSONLReader(r io.Reader, name string) *JSONLReader {
	return &JSONLReader{r: bufio.NewReaderSize(r, 1<<16), name: name}
}

// jsonDoc is one line as written.
type jsonDoc struct {
	ID         *string                    `json:"id"`
	Vector     []*float32                 `json:"vector"` // pointers catch nulls
	Attributes map[string]json.RawMessage `json:"attributes"`
}

// Next returns the next document, or io.EOF after the last one.
func (j *JSONLReader) Next() (*weftv1.Document, error) {
	for {
		line, err := j.r.ReadBytes('\n')
		if len(line) == 0 && err != nil {
			if err == io.EOF {
				return nil, io.EOF
			}
			return nil, fmt.Errorf("%s:%d: %w", j.name, j.line+1, err)
		}
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("%s:%d: %w", j.name, j.line+1, err)
		}
		j.line++
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		doc, err := j.parse(line)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", j.name, j.line, err)
		}
		return doc, nil
	}
}

func (j *JSONLReader) parse(line []byte) (*weftv1.Document, error) {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	var d jsonDoc
	if err := dec.Decode(&d); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("more than one JSON value on the line")
	}
	if d.ID == nil && d.Vector == nil && d.Attributes == nil {
		return nil, errors.New(`want an object with "vector" and optionally "id" and "attributes"`)
	}
	if len(d.Vector) == 0 {
		return nil, errors.New(`no "vector"`)
	}
	if j.dim == 0 {
		j.dim = len(d.Vector)
	} else if len(d.Vector) != j.dim {
		return nil, fmt.Errorf("vector of dimension %d, but earlier lines have %d", len(d.Vector), j.dim)
	}
	vec := make([]float32, len(d.Vector))
	for i, x := range d.Vector {
		if x == nil {
			return nil, fmt.Errorf("vector[%d] is null", i)
		}
		vec[i] = *x
	}
	doc := &weftv1.Document{Vector: vec}
	if d.ID != nil {
		doc.Id = *d.ID
	}
	if len(d.Attributes) > 0 {
		doc.Attributes = make(map[string]*weftv1.AttributeValue, len(d.Attributes))
		// Sorted, so that the first bad attribute reported is always the same.
		for _, k := range slices.Sorted(maps.Keys(d.Attributes)) {
			v, err := attributeValue(d.Attributes[k])
			if err != nil {
				return nil, fmt.Errorf("attribute %q: %w", k, err)
			}
			doc.Attributes[k] = v
		}
	}
	return doc, nil
}

// attributeValue maps one JSON attribute value to a Weft attribute value.
func attributeValue(raw json.RawMessage) (*weftv1.AttributeValue, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil, errors.New("empty value")
	}
	switch c := raw[0]; {
	case c == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		return &weftv1.AttributeValue{Kind: &weftv1.AttributeValue_StringValue{StringValue: s}}, nil
	case c == 't' || c == 'f':
		var b bool
		if err := json.Unmarshal(raw, &b); err != nil {
			return nil, err
		}
		return &weftv1.AttributeValue{Kind: &weftv1.AttributeValue_BoolValue{BoolValue: b}}, nil
	case c == '-' || (c >= '0' && c <= '9'):
		s := string(raw)
		if bytes.ContainsAny(raw, ".eE") {
			f, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return nil, fmt.Errorf("number %s does not fit in a float64", s)
			}
			return &weftv1.AttributeValue{Kind: &weftv1.AttributeValue_FloatValue{FloatValue: f}}, nil
		}
		i, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("integer %s does not fit in an int64 (write it as %s.0 for a float)", s, s)
		}
		return &weftv1.AttributeValue{Kind: &weftv1.AttributeValue_IntValue{IntValue: i}}, nil
	case c == '[':
		var ss []string
		if err := json.Unmarshal(raw, &ss); err != nil {
			return nil, errors.New("an array must hold only strings (a string list)")
		}
		return &weftv1.AttributeValue{Kind: &weftv1.AttributeValue_StringListValue{StringListValue: &weftv1.StringList{Values: ss}}}, nil
	case c == 'n':
		return nil, errors.New("null is not a value: leave the attribute out")
	default:
		return nil, errors.New("objects are not attribute values (string, number, bool or list of strings)")
	}
}

// Line returns how many lines have been read.
func (j *JSONLReader) Line() int { return j.line }

// Dim returns the vectors' dimension, 0 before the first document is read.
func (j *JSONLReader) Dim() int { return j.dim }
