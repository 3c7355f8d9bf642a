package dataset

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// idxImagesMagic is the IDX magic of a file of uint8 matrices of rank 3
// (images × rows × columns).
const idxImagesMagic = 0x00000803

// IDXReader streams the images of an IDX image file (MNIST's
// *-images-idx3-ubyte) as float32 vectors of pixel values 0..255, row-major.
// It reads what it is given: wrap gzipped files in gzip.NewReader, or use
// [Open].
type IDXReader struct {
	r     *bufio.Reader
	name  string
	count int // images the header announces
	dim   int
	row   int
	buf   []byte
}

// NewIDXReader reads the header of the IDX image file in r; name identifies
// the file in errors.
func NewIDXReader(r io.Reader, name string) (*IDXReader, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	var hdr [16]byte
	if n, err := io.ReadFull(br, hdr[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%s: truncated IDX header: %d of 16 bytes", name, n)
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	magic := binary.BigEndian.Uint32(hdr[0:])
	if magic != idxImagesMagic {
		return nil, fmt.Errorf("%s: IDX magic %#08x, want %#08x (uint8 images; is it gzipped, or a labels file?)", name, magic, idxImagesMagic)
	}
	count := binary.BigEndian.Uint32(hdr[4:])
	rows, cols := binary.BigEndian.Uint32(hdr[8:]), binary.BigEndian.Uint32(hdr[12:])
	dim := uint64(rows) * uint64(cols)
	if dim == 0 || dim > MaxDim || count > 1<<31-1 {
		return nil, fmt.Errorf("%s: IDX header announces %d images of %d×%d pixels, outside 1..%d pixels", name, count, rows, cols, MaxDim)
	}
	return &IDXReader{r: br, name: name, count: int(count), dim: int(dim), buf: make([]byte, dim)}, nil
}

// Next returns the next image, or io.EOF after as many images as the header
// announced.
func (x *IDXReader) Next() ([]float32, error) {
	if x.row == x.count {
		return nil, io.EOF
	}
	if n, err := io.ReadFull(x.r, x.buf); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%s: row %d: truncated: file ends after %d of its %d bytes (the header announces %d images)", x.name, x.row, n, x.dim, x.count)
		}
		return nil, fmt.Errorf("%s: row %d: %w", x.name, x.row, err)
	}
	out := make([]float32, x.dim)
	for i, p := range x.buf {
		out[i] = float32(p)
	}
	x.row++
	return out, nil
}

// Dim returns the number of pixels per image.
func (x *IDXReader) Dim() int { return x.dim }

// Count returns the number of images the header announces.
func (x *IDXReader) Count() int { return x.count }

// Row returns how many images have been read.
func (x *IDXReader) Row() int { return x.row }
