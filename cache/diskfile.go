package cache

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// A piece record, in a slab file, is
//
//	magic    [4]byte  "WFC1"
//	crc      uint32   CRC-32C of everything after this field
//	keyLen   uint32
//	dataLen  uint64
//	key      [keyLen]byte
//	data     [dataLen]byte
//
// all integers little-endian. The CRC is checked on every read, with the
// key. Earlier versions kept one such record per file, named by the key's
// SHA-256 with pieceSuffix, written under tempPrefix and renamed; startup
// deletes those.
const (
	headerSize  = 20
	pieceSuffix = ".piece"
	tempPrefix  = "tmp-"
)

var (
	pieceMagic = [4]byte{'W', 'F', 'C', '1'}
	castagnoli = crc32.MakeTable(crc32.Castagnoli)
	errCorrupt = errors.New("cache: corrupt piece record")
)

// recordSize is the bytes a piece's record takes.
func recordSize(key string, data []byte) int64 {
	return int64(headerSize + len(key) + len(data))
}

// encodePrefix returns the header and key; the data follows them in the file.
func encodePrefix(key string, data []byte) []byte {
	prefix := make([]byte, headerSize, headerSize+len(key))
	copy(prefix, pieceMagic[:])
	binary.LittleEndian.PutUint32(prefix[8:], uint32(len(key)))
	binary.LittleEndian.PutUint64(prefix[12:], uint64(len(data)))
	prefix = append(prefix, key...)
	crc := crc32.Update(0, castagnoli, prefix[8:])
	crc = crc32.Update(crc, castagnoli, data)
	binary.LittleEndian.PutUint32(prefix[4:], crc)
	return prefix
}

// header is a parsed file header.
type header struct {
	crc     uint32
	keyLen  uint64
	dataLen uint64
}

func parseHeader(raw []byte) (header, error) {
	if len(raw) < headerSize || !bytes.Equal(raw[:4], pieceMagic[:]) {
		return header{}, fmt.Errorf("%w: bad header", errCorrupt)
	}
	return header{
		crc:     binary.LittleEndian.Uint32(raw[4:]),
		keyLen:  uint64(binary.LittleEndian.Uint32(raw[8:])),
		dataLen: binary.LittleEndian.Uint64(raw[12:]),
	}, nil
}

// fits reports whether the record fits in the size bytes from its start.
func (h header) fits(size int64) bool {
	if size < headerSize {
		return false
	}
	rest := uint64(size - headerSize)
	return h.keyLen <= rest && h.dataLen <= rest-h.keyLen
}

// checkLength reports whether the header accounts for exactly size bytes.
func (h header) checkLength(size int64) error {
	// The lengths come from disk: compare without overflowing.
	if size < headerSize {
		return fmt.Errorf("%w: %d bytes is shorter than a header", errCorrupt, size)
	}
	rest := uint64(size - headerSize)
	if h.keyLen > rest || h.dataLen != rest-h.keyLen {
		return fmt.Errorf("%w: header says %d+%d bytes, file has %d",
			errCorrupt, h.keyLen, h.dataLen, size)
	}
	return nil
}

// decodePiece checks a whole record and returns its data.
func decodePiece(raw []byte, key string) ([]byte, error) {
	h, err := parseHeader(raw)
	if err != nil {
		return nil, err
	}
	if err := h.checkLength(int64(len(raw))); err != nil {
		return nil, err
	}
	if crc := crc32.Checksum(raw[8:], castagnoli); crc != h.crc {
		return nil, fmt.Errorf("%w: checksum %08x, header says %08x", errCorrupt, crc, h.crc)
	}
	keyEnd := headerSize + int(h.keyLen)
	if string(raw[headerSize:keyEnd]) != key {
		return nil, fmt.Errorf("%w: holds another key", errCorrupt)
	}
	return raw[keyEnd:], nil
}
