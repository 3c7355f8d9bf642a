package segment

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"slices"
)

// Builder assembles a segment object. The same meta and the same sections
// added in the same order always give the same bytes. A Builder is not safe
// for concurrent use.
type Builder struct {
	meta []byte
	secs []Section // Kind and Shard only, until Bytes lays them out
	data [][]byte
}

// NewBuilder returns a Builder of a segment whose header carries meta, small
// opaque caller metadata, copied. The header, meta and table of contents
// included, may not exceed MaxHeaderSize.
func NewBuilder(meta []byte) *Builder {
	return &Builder{meta: slices.Clone(meta)}
}

// Add appends a section of kind for shard holding data. Sections are laid out
// in the order added. Add keeps data, not a copy: it must not change before
// Bytes returns. A second section of one (kind, shard), kind 0, or a header
// that would outgrow MaxHeaderSize is an error.
func (b *Builder) Add(kind Kind, shard uint32, data []byte) error {
	if kind == 0 {
		return errors.New("add segment section: kind 0 is not a kind")
	}
	for _, s := range b.secs {
		if s.Kind == kind && s.Shard == shard {
			return fmt.Errorf("add segment section: a %v section of shard %d is already there", kind, shard)
		}
	}
	if hl := headerLen(uint64(len(b.meta)), uint64(len(b.secs))+1); hl > MaxHeaderSize {
		return fmt.Errorf("add segment section: the header would take %d bytes, the limit is %d", hl, MaxHeaderSize)
	}
	b.secs = append(b.secs, Section{Kind: kind, Shard: shard})
	b.data = append(b.data, data)
	return nil
}

// Bytes returns the encoded segment. It fails only when the header or the
// object is too large to encode.
func (b *Builder) Bytes() ([]byte, error) {
	hlen := headerLen(uint64(len(b.meta)), uint64(len(b.secs)))
	if hlen > MaxHeaderSize {
		return nil, fmt.Errorf("encode segment: the header takes %d bytes, the limit is %d", hlen, MaxHeaderSize)
	}
	secs, size, ok := b.layout(hlen)
	if !ok {
		return nil, errors.New("encode segment: the object would not fit in memory")
	}
	out := make([]byte, size)
	for i, s := range secs {
		copy(out[s.Offset:], b.data[i])
	}
	putHeader(out[:hlen], b.meta, secs, size)
	return out, nil
}

// layout places the sections after a header of hlen bytes and returns them
// with their checksums, and the object size. ok is false when the size does
// not fit an int.
func (b *Builder) layout(hlen uint64) (secs []Section, size uint64, ok bool) {
	secs = make([]Section, len(b.secs))
	size = hlen
	for i, s := range b.secs {
		n := uint64(len(b.data[i]))
		s.Offset = align(size)
		if s.Offset > math.MaxInt || n > math.MaxInt-s.Offset {
			return nil, 0, false
		}
		s.Length = n
		s.CRC = crc32.Checksum(b.data[i], castagnoli)
		secs[i] = s
		size = s.end()
	}
	return secs, size, true
}

// putHeader writes the header into hdr, exactly its length.
func putHeader(hdr, meta []byte, secs []Section, size uint64) {
	le := binary.LittleEndian
	copy(hdr, magic)
	le.PutUint16(hdr[4:], Version)
	le.PutUint16(hdr[6:], 0)
	le.PutUint32(hdr[8:], uint32(len(hdr)))
	le.PutUint32(hdr[12:], uint32(len(meta)))
	copy(hdr[fixedSize:], meta)
	p := fixedSize + len(meta)
	le.PutUint32(hdr[p:], uint32(len(secs)))
	p += 4
	for _, s := range secs {
		e := hdr[p : p+entrySize]
		le.PutUint16(e[0:], uint16(s.Kind))
		le.PutUint16(e[2:], 0)
		le.PutUint32(e[4:], s.Shard)
		le.PutUint64(e[8:], s.Offset)
		le.PutUint64(e[16:], s.Length)
		le.PutUint32(e[24:], s.CRC)
		le.PutUint32(e[28:], 0)
		p += entrySize
	}
	le.PutUint64(hdr[p:], size)
	le.PutUint32(hdr[p+8:], crc32.Checksum(hdr[:p+8], castagnoli))
}
