package dataset

import (
	"archive/zip"
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// NPYReader streams the rows of a two-dimensional NumPy array saved with
// numpy.save (.npy, format versions 1 to 3): little-endian float32,
// float64 or float16, or uint8, in C order. Each row is one vector.
type NPYReader struct {
	r      io.Reader
	name   string
	count  int // rows
	dim    int
	row    int
	elem   int // bytes per value
	decode func(b []byte) float32
	buf    []byte
}

var (
	npyDescr   = regexp.MustCompile(`'descr'\s*:\s*'([^']*)'`)
	npyFortran = regexp.MustCompile(`'fortran_order'\s*:\s*(True|False)`)
	npyShape   = regexp.MustCompile(`'shape'\s*:\s*\(([^)]*)\)`)
)

// NewNPYReader reads the header of the .npy data in r; name identifies it
// in errors.
func NewNPYReader(r io.Reader, name string) (*NPYReader, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	var pre [8]byte
	if _, err := io.ReadFull(br, pre[:]); err != nil {
		return nil, fmt.Errorf("%s: truncated NumPy header: %w", name, err)
	}
	if string(pre[:6]) != "\x93NUMPY" {
		return nil, fmt.Errorf("%s: not a NumPy .npy file (no \\x93NUMPY magic)", name)
	}
	var hlen int
	switch pre[6] {
	case 1:
		var b [2]byte
		if _, err := io.ReadFull(br, b[:]); err != nil {
			return nil, fmt.Errorf("%s: truncated NumPy header: %w", name, err)
		}
		hlen = int(binary.LittleEndian.Uint16(b[:]))
	case 2, 3:
		var b [4]byte
		if _, err := io.ReadFull(br, b[:]); err != nil {
			return nil, fmt.Errorf("%s: truncated NumPy header: %w", name, err)
		}
		hlen = int(binary.LittleEndian.Uint32(b[:]))
	default:
		return nil, fmt.Errorf("%s: NumPy format version %d.%d: this build reads 1 to 3", name, pre[6], pre[7])
	}
	if hlen > 1<<20 {
		return nil, fmt.Errorf("%s: NumPy header of %d bytes: too large", name, hlen)
	}
	hdr := make([]byte, hlen)
	if _, err := io.ReadFull(br, hdr); err != nil {
		return nil, fmt.Errorf("%s: truncated NumPy header: %w", name, err)
	}
	h := string(hdr)
	descr, fortran, shape := npyDescr.FindStringSubmatch(h), npyFortran.FindStringSubmatch(h), npyShape.FindStringSubmatch(h)
	if descr == nil || fortran == nil || shape == nil {
		return nil, fmt.Errorf("%s: NumPy header %q lacks descr, fortran_order or shape", name, strings.TrimSpace(h))
	}
	if fortran[1] == "True" {
		return nil, fmt.Errorf("%s: the array is in Fortran order: save numpy.ascontiguousarray(a) instead", name)
	}
	x := &NPYReader{r: br, name: name}
	switch descr[1] {
	case "<f4":
		x.elem, x.decode = 4, func(b []byte) float32 { return math.Float32frombits(binary.LittleEndian.Uint32(b)) }
	case "<f8":
		x.elem, x.decode = 8, func(b []byte) float32 { return float32(math.Float64frombits(binary.LittleEndian.Uint64(b))) }
	case "<f2":
		x.elem, x.decode = 2, func(b []byte) float32 { return float16(binary.LittleEndian.Uint16(b)) }
	case "|u1", "<u1":
		x.elem, x.decode = 1, func(b []byte) float32 { return float32(b[0]) }
	default:
		return nil, fmt.Errorf("%s: NumPy dtype %q: this build reads little-endian float32 (<f4), float64, float16 and uint8; convert with a.astype('<f4')", name, descr[1])
	}
	var dims []int
	for _, f := range strings.Split(shape[1], ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("%s: NumPy shape (%s) is not a list of sizes", name, shape[1])
		}
		dims = append(dims, n)
	}
	if len(dims) != 2 {
		return nil, fmt.Errorf("%s: a NumPy array of shape (%s): want two dimensions, rows × vector size", name, shape[1])
	}
	if dims[1] < 1 || dims[1] > MaxDim || dims[0] > 1<<31-1 {
		return nil, fmt.Errorf("%s: NumPy shape (%d, %d): vectors of 1..%d values", name, dims[0], dims[1], MaxDim)
	}
	x.count, x.dim = dims[0], dims[1]
	x.buf = make([]byte, x.dim*x.elem)
	return x, nil
}

// Next returns the next row, or io.EOF after the last.
func (x *NPYReader) Next() ([]float32, error) {
	if x.row == x.count {
		return nil, io.EOF
	}
	if n, err := io.ReadFull(x.r, x.buf); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%s: row %d: truncated: %d of its %d bytes (the header announces %d rows)", x.name, x.row, n, len(x.buf), x.count)
		}
		return nil, fmt.Errorf("%s: row %d: %w", x.name, x.row, err)
	}
	out := make([]float32, x.dim)
	for i := range out {
		out[i] = x.decode(x.buf[i*x.elem:])
	}
	x.row++
	return out, nil
}

// Dim returns the vector size (the array's second dimension).
func (x *NPYReader) Dim() int { return x.dim }

// Count returns the rows the header announces.
func (x *NPYReader) Count() int { return x.count }

// float16 converts an IEEE 754 half-precision value.
func float16(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	frac := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // infinity or NaN
		return math.Float32frombits(sign | 0x7f800000 | frac<<13)
	case exp == 0:
		if frac == 0 {
			return math.Float32frombits(sign)
		}
		// Subnormal: frac · 2^-24.
		v := float32(frac) / (1 << 24)
		if sign != 0 {
			v = -v
		}
		return v
	}
	return math.Float32frombits(sign | (exp+112)<<23 | frac<<13)
}

// NPZArchive is an archive of arrays saved with numpy.savez.
type NPZArchive struct {
	z      *zip.ReadCloser
	name   string
	opened []io.Closer
}

// OpenNPZ opens the .npz archive at path.
func OpenNPZ(path string) (*NPZArchive, error) {
	z, err := zip.OpenReader(path)
	if err != nil {
		return nil, fmt.Errorf("%s: not a NumPy .npz archive: %w", path, err)
	}
	return &NPZArchive{z: z, name: path}, nil
}

// Arrays lists the archive's array names.
func (a *NPZArchive) Arrays() []string {
	var names []string
	for _, f := range a.z.File {
		if n, ok := strings.CutSuffix(f.Name, ".npy"); ok {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}

// Open returns a reader of array name; "" means the archive's only array.
// The reader lives until the archive is closed.
func (a *NPZArchive) Open(name string) (*NPYReader, error) {
	arrays := a.Arrays()
	if name == "" {
		if len(arrays) != 1 {
			return nil, fmt.Errorf("%s holds %d arrays (%s): name one with --array", a.name, len(arrays), strings.Join(arrays, ", "))
		}
		name = arrays[0]
	}
	for _, f := range a.z.File {
		if f.Name == name+".npy" {
			rc, err := f.Open()
			if err != nil {
				return nil, fmt.Errorf("%s: array %s: %w", a.name, name, err)
			}
			a.opened = append(a.opened, rc)
			return NewNPYReader(rc, a.name+":"+name)
		}
	}
	return nil, fmt.Errorf("%s has no array %q: it holds %s", a.name, name, strings.Join(arrays, ", "))
}

// Close closes the archive and the arrays opened from it.
func (a *NPZArchive) Close() error {
	for _, rc := range a.opened {
		rc.Close()
	}
	return a.z.Close()
}
