package segment

import (
	"encoding/binary"
	"math"
	"unsafe"
)

// EncodeStrings encodes a string table, the contents of a KindIDs section:
//
//	offset  size  field
//	0       4     count n
//	4       4n    end of each string, counted from the start of the bytes
//	4+4n    ...   the strings' bytes, back to back
//
// It panics if there are 2^32 or more strings or their bytes total 4 GiB or
// more; a segment is far smaller.
func EncodeStrings(ss []string) []byte {
	total := 0
	for _, s := range ss {
		total += len(s)
	}
	if uint64(len(ss)) > math.MaxUint32 || uint64(total) > math.MaxUint32 {
		panic("segment: EncodeStrings: too many strings or bytes for uint32 offsets")
	}
	out := make([]byte, 4+4*len(ss), 4+4*len(ss)+total)
	le := binary.LittleEndian
	le.PutUint32(out, uint32(len(ss)))
	end := 0
	for i, s := range ss {
		end += len(s)
		le.PutUint32(out[4+4*i:], uint32(end))
		out = append(out, s...)
	}
	return out
}

// DecodeStrings decodes a string table written by EncodeStrings. The strings
// share one copy of the bytes and do not alias b. Errors wrap
// objstore.ErrCorrupt.
func DecodeStrings(b []byte) ([]string, error) {
	if len(b) < 4 {
		return nil, corrupt("string table of %d bytes, the count alone takes 4", len(b))
	}
	le := binary.LittleEndian
	n := uint64(le.Uint32(b))
	if n > uint64(len(b)-4)/4 {
		return nil, corrupt("string table of %d bytes cannot hold %d strings", len(b), n)
	}
	start := 4 + 4*int(n)
	size := uint64(len(b) - start)
	prev := uint64(0)
	for i := range int(n) {
		end := uint64(le.Uint32(b[4+4*i:]))
		if end < prev || end > size {
			return nil, corrupt("string table: string %d ends at %d, after %d and within %d bytes", i, end, prev, size)
		}
		prev = end
	}
	if prev != size {
		return nil, corrupt("string table: the strings end at %d, the table holds %d bytes", prev, size)
	}
	all := string(b[start:])
	ss := make([]string, n)
	prev = 0
	for i := range ss {
		end := uint64(le.Uint32(b[4+4*i:]))
		ss[i] = all[prev:end]
		prev = end
	}
	return ss, nil
}

// EncodeFloat32s encodes v as little-endian float32s, the contents of a
// KindVectors (rows back to back) or KindCentroid section.
func EncodeFloat32s(v []float32) []byte {
	out := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(f))
	}
	return out
}

// nativeLittleEndian reports whether this machine stores a float32 in the
// encoding's byte order.
var nativeLittleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// DecodeFloat32s decodes little-endian float32s. On a little-endian machine,
// when b is 4-byte aligned, as a section of a buffer read by this package
// is, the result aliases b without copying: b must not change while the
// result is in use, and writes to the result change b. Otherwise it is a
// copy. Errors wrap objstore.ErrCorrupt.
func DecodeFloat32s(b []byte) ([]float32, error) {
	if len(b)%4 != 0 {
		return nil, corrupt("%d bytes of float32s, not a multiple of 4", len(b))
	}
	if len(b) == 0 {
		return []float32{}, nil
	}
	p := unsafe.Pointer(unsafe.SliceData(b))
	if nativeLittleEndian && uintptr(p)%4 == 0 {
		return unsafe.Slice((*float32)(p), len(b)/4), nil
	}
	v := make([]float32, len(b)/4)
	if nativeLittleEndian { // an unaligned buffer: one copy of the bytes
		copy(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(v))), len(b)), b)
		return v, nil
	}
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v, nil
}
