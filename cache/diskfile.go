package cache

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// A piece file is
//
//	magic    [4]byte  "WFC1"
//	crc      uint32   CRC-32C of everything after this field
//	keyLen   uint32
//	dataLen  uint64
//	key      [keyLen]byte
//	data     [dataLen]byte
//
// all integers little-endian. The lengths must add up to the file's size,
// which catches truncation without reading the data; the CRC catches the
// rest and is checked on every read.
const (
	headerSize  = 20
	pieceSuffix = ".piece"
	tempPrefix  = "tmp-"
)

var (
	pieceMagic = [4]byte{'W', 'F', 'C', '1'}
	castagnoli = crc32.MakeTable(crc32.Castagnoli)
	errCorrupt = errors.New("cache: corrupt piece file")
)

// pieceFileName is the SHA-256 of the key in hex: a safe file name for any
// key, and one that changes if the key does.
func pieceFileName(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:]) + pieceSuffix
}

func isPieceFileName(name string) bool {
	digest, ok := strings.CutSuffix(name, pieceSuffix)
	if !ok || len(digest) != 2*sha256.Size {
		return false
	}
	for _, c := range digest {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func pieceFileSize(key string, data []byte) int64 {
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

// decodePiece checks a whole file's contents and returns its data.
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

// checkPieceFile is the startup check: the magic, the lengths against the
// file's size and the key against the file's name. It reads the header and
// key only; the CRC waits for the first read.
func checkPieceFile(path string) (fs.FileInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	prefix := make([]byte, headerSize)
	if _, err := io.ReadFull(f, prefix); err != nil {
		return nil, fmt.Errorf("%w: %v", errCorrupt, err)
	}
	h, err := parseHeader(prefix)
	if err != nil {
		return nil, err
	}
	if err := h.checkLength(info.Size()); err != nil {
		return nil, err
	}
	key := make([]byte, h.keyLen)
	if _, err := io.ReadFull(f, key); err != nil {
		return nil, fmt.Errorf("%w: %v", errCorrupt, err)
	}
	if pieceFileName(string(key)) != filepath.Base(path) {
		return nil, fmt.Errorf("%w: key does not match the file name", errCorrupt)
	}
	return info, nil
}

// writeTempPiece writes a complete, fsynced piece file under a temporary
// name in dir and returns that name's path; renaming it into place is then
// atomic.
func writeTempPiece(dir, key string, data []byte) (path string, err error) {
	f, err := os.CreateTemp(dir, tempPrefix+"*")
	if err != nil {
		return "", err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(encodePrefix(key, data)); err != nil {
		return "", err
	}
	if _, err = f.Write(data); err != nil {
		return "", err
	}
	if err = f.Sync(); err != nil {
		return "", err
	}
	if err = f.Close(); err != nil {
		return "", err
	}
	return f.Name(), nil
}
