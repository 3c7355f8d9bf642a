package dataset

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// MaxDim bounds the dimension a row may declare, so that a corrupt header
// fails fast instead of allocating gigabytes.
const MaxDim = 1 << 20

// vecsRows reads the rows of an .fvecs or .ivecs file as raw little-endian
// 4-byte values.
type vecsRows struct {
	r    *bufio.Reader
	name string
	row  int // rows read so far
	dim  int // the first row's dimension; 0 before it
	buf  []byte
}

func newVecsRows(r io.Reader, name string) vecsRows {
	return vecsRows{r: bufio.NewReaderSize(r, 1<<16), name: name}
}

// next returns the next row's raw values, valid until the following call.
func (v *vecsRows) next() ([]byte, error) {
	var hdr [4]byte
	n, err := io.ReadFull(v.r, hdr[:])
	if err == io.EOF {
		return nil, io.EOF
	}
	if err != nil {
		return nil, v.readErr(err, n, 4, "dimension")
	}
	dim := int(int32(binary.LittleEndian.Uint32(hdr[:])))
	if dim <= 0 || dim > MaxDim {
		return nil, fmt.Errorf("%s: row %d: dimension %d is outside 1..%d (not a vecs file?)", v.name, v.row, dim, MaxDim)
	}
	if v.dim == 0 {
		v.dim = dim
	} else if dim != v.dim {
		return nil, fmt.Errorf("%s: row %d: dimension %d, but earlier rows have %d", v.name, v.row, dim, v.dim)
	}
	if cap(v.buf) < 4*dim {
		v.buf = make([]byte, 4*dim)
	}
	v.buf = v.buf[:4*dim]
	if n, err := io.ReadFull(v.r, v.buf); err != nil {
		return nil, v.readErr(err, n, len(v.buf), "values")
	}
	v.row++
	return v.buf, nil
}

// readErr describes a read that ended early inside row v.row.
func (v *vecsRows) readErr(err error, got, want int, what string) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%s: row %d: truncated: file ends after %d of the %d bytes of its %s", v.name, v.row, got, want, what)
	}
	return fmt.Errorf("%s: row %d: %w", v.name, v.row, err)
}

// FvecsReader streams the float32 rows of an .fvecs file.
type FvecsReader struct {
	rows vecsRows
}

// NewFvecsReader returns a reader of the .fvecs rows in r; name identifies the
// file in errors.
func NewFvecsReader(r io.Reader, name string) *FvecsReader {
	return &FvecsReader{rows: newVecsRows(r, name)}
}

// Next returns the next row as a new slice, or io.EOF after the last row.
func (v *FvecsReader) Next() ([]float32, error) {
	raw, err := v.rows.next()
	if err != nil {
		return nil, err
	}
	out := make([]float32, len(raw)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return out, nil
}

// Dim returns the rows' dimension, 0 before the first row is read.
func (v *FvecsReader) Dim() int { return v.rows.dim }

// Row returns how many rows have been read.
func (v *FvecsReader) Row() int { return v.rows.row }

// IvecsReader streams the int32 rows of an .ivecs file (e.g. ground truth
// neighbour ids).
type IvecsReader struct {
	rows vecsRows
}

// NewIvecsReader returns a reader of the .ivecs rows in r; name identifies
// the file in errors.
func NewIvecsReader(r io.Reader, name string) *IvecsReader {
	return &IvecsReader{rows: newVecsRows(r, name)}
}

// Next returns the next row as a new slice, or io.EOF after the last row.
func (v *IvecsReader) Next() ([]int32, error) {
	raw, err := v.rows.next()
	if err != nil {
		return nil, err
	}
	out := make([]int32, len(raw)/4)
	for i := range out {
		out[i] = int32(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return out, nil
}

// Dim returns the rows' dimension, 0 before the first row is read.
func (v *IvecsReader) Dim() int { return v.rows.dim }

// Row returns how many rows have been read.
func (v *IvecsReader) Row() int { return v.rows.row }
