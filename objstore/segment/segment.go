package segment

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"slices"
	"strconv"

	"github.com/weftdb/weft/objstore"
)

const (
	// Version is the format version this package writes and reads.
	Version = 1
	// Alignment is the multiple of which every section offset is.
	Alignment = 64
	// MaxHeaderSize bounds the header (meta and table of contents included),
	// so a corrupt length never makes a reader fetch or allocate more.
	MaxHeaderSize = 16 << 20
)

const (
	magic     = "WFTS"
	fixedSize = 16 // magic, version, flags, header length, meta length
	// minHeaderSize is the header with no meta and no sections: the fixed
	// part, the section count, the object size and the checksum.
	minHeaderSize = fixedSize + 4 + 8 + 4
	entrySize     = 32
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrNoSection reports a section that the segment does not have.
var ErrNoSection = errors.New("segment: no such section")

// Kind says what a section holds.
type Kind uint16

// The section kinds Weft writes. A decoder accepts any kind but 0, so a
// reader skips sections of kinds it does not know.
const (
	KindIDs        Kind = 1  // document ids in row order, EncodeStrings
	KindAttributes Kind = 2  // opaque bytes: the caller's protobuf
	KindVectors    Kind = 3  // float32 rows, EncodeFloat32s
	KindGraph      Kind = 4  // opaque bytes: index/hnsw's encoding
	KindCentroid   Kind = 5  // float32s, EncodeFloat32s
	KindDeleted    Kind = 6  // opaque bytes, reserved
	KindColumns    Kind = 7  // typed attribute columns, EncodeColumns
	KindCodes      Kind = 8  // opaque bytes: index/hnsw's codes encoding
	KindClusters   Kind = 9  // the rows' clusters, EncodeClusters
	KindPieces     Kind = 10 // checksums of a graph's links and vector blocks, EncodePieces
)

func (k Kind) String() string {
	switch k {
	case KindIDs:
		return "ids"
	case KindAttributes:
		return "attributes"
	case KindVectors:
		return "vectors"
	case KindGraph:
		return "graph"
	case KindCentroid:
		return "centroid"
	case KindDeleted:
		return "deleted"
	case KindColumns:
		return "columns"
	case KindCodes:
		return "codes"
	case KindClusters:
		return "clusters"
	case KindPieces:
		return "pieces"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Section is one entry of the table of contents: where a section's bytes are
// in the object and their checksum.
type Section struct {
	Kind   Kind
	Shard  uint32
	Offset uint64
	Length uint64
	CRC    uint32 // CRC-32C of the section's bytes
}

func (s Section) end() uint64 { return s.Offset + s.Length }

func (s Section) String() string {
	return fmt.Sprintf("%v section of shard %d", s.Kind, s.Shard)
}

// Header is the navigation part of a segment.
type Header struct {
	Version  uint16
	Meta     []byte // opaque caller metadata
	Sections []Section
	Size     uint64 // size of the whole object in bytes
}

// Section returns the section of kind and shard.
func (h *Header) Section(kind Kind, shard uint32) (Section, bool) {
	for _, s := range h.Sections {
		if s.Kind == kind && s.Shard == shard {
			return s, true
		}
	}
	return Section{}, false
}

// SectionBytes returns section s of the object data (the whole object, or a
// prefix of it that holds s), checksum-verified. The result aliases data. s
// must be one of h's sections; a short data is corrupt (a truncated object).
func (h *Header) SectionBytes(data []byte, s Section) ([]byte, error) {
	if t, ok := h.Section(s.Kind, s.Shard); !ok || t != s {
		return nil, fmt.Errorf("%w: %v at offset %d", ErrNoSection, s, s.Offset)
	}
	if s.Offset > uint64(len(data)) || s.Length > uint64(len(data))-s.Offset {
		return nil, corrupt("%v ends at %d, past the %d bytes present", s, s.end(), len(data))
	}
	b := data[s.Offset:s.end():s.end()]
	if err := verify(s, b); err != nil {
		return nil, err
	}
	return b, nil
}

func corrupt(format string, a ...any) error {
	return fmt.Errorf("%w: segment: %s", objstore.ErrCorrupt, fmt.Sprintf(format, a...))
}

func verify(s Section, b []byte) error {
	if got := checksum(b); got != s.CRC {
		return corrupt("%v: checksum %#08x, stored %#08x", s, got, s.CRC)
	}
	return nil
}

// headerLen is the header length with m meta bytes and n sections.
func headerLen(m, n uint64) uint64 { return minHeaderSize + m + entrySize*n }

// align rounds x up to a multiple of Alignment. x must be below 2^63.
func align(x uint64) uint64 { return (x + Alignment - 1) &^ (Alignment - 1) }

// DecodeHeader decodes the header at the start of prefix, the first bytes of
// a segment object. When prefix is too short it returns need > len(prefix):
// call again with at least the first need bytes. need is at most
// MaxHeaderSize. The header is checked on its own: its checksum, that every
// section lies inside the object at its canonical offset, and that the
// (kind, shard) pairs are unique. Sections' checksums are not checked. The
// result does not alias prefix. Errors wrap objstore.ErrCorrupt.
func DecodeHeader(prefix []byte) (h *Header, need int, err error) {
	if err := checkPreamble(prefix); err != nil {
		return nil, 0, err
	}
	if len(prefix) < 12 {
		return nil, minHeaderSize, nil // enough to learn the header length
	}
	le := binary.LittleEndian
	hlen := uint64(le.Uint32(prefix[8:]))
	if hlen < minHeaderSize || hlen > MaxHeaderSize {
		return nil, 0, corrupt("header length %d, want %d to %d", hlen, minHeaderSize, MaxHeaderSize)
	}
	if uint64(len(prefix)) < hlen {
		return nil, int(hlen), nil
	}
	b := prefix[:hlen]
	want := le.Uint32(b[hlen-4:])
	if got := crc32.Checksum(b[:hlen-4], castagnoli); got != want {
		return nil, 0, corrupt("header checksum %#08x, stored %#08x", got, want)
	}
	h, err = parseHeader(b)
	if err != nil {
		return nil, 0, err
	}
	return h, 0, nil
}

// checkPreamble checks as much of the magic, version and flags as prefix
// holds, so a short prefix of something else is refused at once.
func checkPreamble(prefix []byte) error {
	n := min(len(prefix), len(magic))
	if string(prefix[:n]) != magic[:n] {
		return corrupt("not a segment: magic %q", prefix[:n])
	}
	le := binary.LittleEndian
	if len(prefix) >= 6 {
		if v := le.Uint16(prefix[4:]); v != Version {
			return corrupt("format version %d, this build reads %d", v, Version)
		}
	}
	if len(prefix) >= 8 {
		if f := le.Uint16(prefix[6:]); f != 0 {
			return corrupt("unknown flags %#x", f)
		}
	}
	return nil
}

// parseHeader decodes b, exactly the header with a verified checksum.
func parseHeader(b []byte) (*Header, error) {
	le := binary.LittleEndian
	hlen := uint64(len(b))
	m := uint64(le.Uint32(b[12:]))
	if m > hlen-minHeaderSize {
		return nil, corrupt("meta of %d bytes does not fit a header of %d", m, hlen)
	}
	n := uint64(le.Uint32(b[fixedSize+m:]))
	if want := headerLen(m, n); want != hlen {
		return nil, corrupt("header length %d, but %d meta bytes and %d sections take %d", hlen, m, n, want)
	}
	h := &Header{
		Version:  Version,
		Meta:     slices.Clone(b[fixedSize : fixedSize+m]),
		Sections: make([]Section, n),
		Size:     le.Uint64(b[hlen-12:]),
	}
	if h.Size > math.MaxInt64 {
		return nil, corrupt("object size %d", h.Size)
	}
	toc := b[fixedSize+m+4:]
	for i := range h.Sections {
		e := toc[i*entrySize : (i+1)*entrySize]
		if r1, r2 := le.Uint16(e[2:]), le.Uint32(e[28:]); r1 != 0 || r2 != 0 {
			return nil, corrupt("section %d has nonzero reserved fields", i)
		}
		h.Sections[i] = Section{
			Kind:   Kind(le.Uint16(e[0:])),
			Shard:  le.Uint32(e[4:]),
			Offset: le.Uint64(e[8:]),
			Length: le.Uint64(e[16:]),
			CRC:    le.Uint32(e[24:]),
		}
	}
	if err := h.checkLayout(hlen); err != nil {
		return nil, err
	}
	return h, nil
}

// checkLayout checks that the sections follow the header of length hlen in
// the canonical layout, end the object at h.Size and are unique.
func (h *Header) checkLayout(hlen uint64) error {
	if h.Size < hlen {
		return corrupt("object size %d is less than the header's %d bytes", h.Size, hlen)
	}
	end := hlen
	for i, s := range h.Sections {
		next := align(end) // end <= h.Size < 2^63: no overflow
		switch {
		case s.Kind == 0:
			return corrupt("section %d has kind 0", i)
		case s.Offset%Alignment != 0:
			return corrupt("%v (entry %d) at offset %d, not a multiple of %d", s, i, s.Offset, Alignment)
		case s.Offset < next:
			return corrupt("%v (entry %d) at offset %d overlaps what ends at %d", s, i, s.Offset, end)
		case s.Offset > next:
			return corrupt("%v (entry %d) at offset %d, want %d", s, i, s.Offset, next)
		case s.Offset > h.Size || s.Length > h.Size-s.Offset:
			return corrupt("%v (entry %d) of %d bytes at offset %d ends past the object size %d", s, i, s.Length, s.Offset, h.Size)
		case s.Length == 0 && s.CRC != 0:
			return corrupt("%v (entry %d) is empty but has checksum %#08x", s, i, s.CRC)
		}
		end = s.end()
	}
	if end != h.Size {
		return corrupt("object size %d, but the sections end at %d", h.Size, end)
	}
	return checkUnique(h.Sections)
}

func checkUnique(secs []Section) error {
	keys := make([]uint64, len(secs))
	for i, s := range secs {
		keys[i] = uint64(s.Kind)<<32 | uint64(s.Shard)
	}
	slices.Sort(keys)
	for i := 1; i < len(keys); i++ {
		if keys[i] == keys[i-1] {
			return corrupt("two %v sections of shard %d", Kind(keys[i]>>32), uint32(keys[i]))
		}
	}
	return nil
}

// Decode checks data, a whole segment object: its header, that it is exactly
// the size the header says, its zero padding and every section's checksum.
// Use Header.SectionBytes to slice sections out of data. Errors wrap
// objstore.ErrCorrupt.
func Decode(data []byte) (*Header, error) {
	h, need, err := DecodeHeader(data)
	if err != nil {
		return nil, err
	}
	if need > 0 {
		return nil, corrupt("truncated: %d bytes, the header needs %d", len(data), need)
	}
	if h.Size != uint64(len(data)) {
		return nil, corrupt("object of %d bytes, the header says %d", len(data), h.Size)
	}
	end := headerLen(uint64(len(h.Meta)), uint64(len(h.Sections)))
	for _, s := range h.Sections {
		if err := checkZeros(data[end:s.Offset], end); err != nil {
			return nil, err
		}
		if err := verify(s, data[s.Offset:s.end()]); err != nil {
			return nil, err
		}
		end = s.end()
	}
	return h, nil
}

// checkZeros checks the padding pad, found at object offset off.
func checkZeros(pad []byte, off uint64) error {
	for i, c := range pad {
		if c != 0 {
			return corrupt("padding byte at offset %d is %#02x, not 0", off+uint64(i), c)
		}
	}
	return nil
}
