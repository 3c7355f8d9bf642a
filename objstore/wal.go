package objstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"time"
)

// WAL entry format, little-endian (manifests use the same framing with
// the magic "WFTM"):
//
//	offset size
//	0      4    magic "WFTW"
//	4      2    format version (1)
//	6      2    flags (0; reserved)
//	8      8    sequence number (a manifest's version)
//	16     8    payload length n
//	24     n    payload
//	24+n   4    CRC-32C (Castagnoli) of bytes [0, 24+n)
const (
	walMagic      = "WFTW"
	manifestMagic = "WFTM"
	frameVersion  = 1
	walHeaderSize = 24
	walTrailer    = 4
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// EncodeWALEntry returns the bytes of WAL entry seq holding payload.
func EncodeWALEntry(seq uint64, payload []byte) []byte {
	return encodeFrame(walMagic, seq, payload)
}

// A WALEntry is a WAL entry being built in place: its payload is appended
// after the header, so a large payload is framed without a copy.
type WALEntry struct {
	seq uint64
	buf []byte
}

// NewWALEntry starts entry seq with room for size payload bytes.
func NewWALEntry(seq uint64, size int) *WALEntry {
	return &WALEntry{seq: seq, buf: frameHeader(walMagic, seq, size)}
}

// Payload returns the payload so far, for appending to: pass the result
// of the appends to SetPayload.
func (e *WALEntry) Payload() []byte { return e.buf[walHeaderSize:] }

// SetPayload sets the payload to p: without a copy when p is what Payload
// returned with appends that fit its capacity.
func (e *WALEntry) SetPayload(p []byte) {
	if len(p) > 0 && cap(e.buf) > walHeaderSize && &e.buf[:walHeaderSize+1][walHeaderSize] == &p[0] {
		e.buf = e.buf[:walHeaderSize+len(p)]
		return
	}
	e.buf = append(e.buf[:walHeaderSize], p...)
}

// frameHeader returns a frame's header with room for size payload bytes
// and the checksum after it.
func frameHeader(magic string, seq uint64, size int) []byte {
	out := make([]byte, walHeaderSize, walHeaderSize+size+walTrailer)
	copy(out, magic)
	binary.LittleEndian.PutUint16(out[4:], frameVersion)
	binary.LittleEndian.PutUint64(out[8:], seq)
	return out
}

// finishFrame sets the payload length of a frame whose payload follows its
// header and appends the checksum.
func finishFrame(out []byte) []byte {
	binary.LittleEndian.PutUint64(out[16:], uint64(len(out)-walHeaderSize))
	return binary.LittleEndian.AppendUint32(out, crc32.Checksum(out, castagnoli))
}

// DecodeWALEntry checks and decodes a WAL entry. The payload aliases data.
// Errors wrap ErrCorrupt. It never panics and allocates nothing but errors.
func DecodeWALEntry(data []byte) (seq uint64, payload []byte, err error) {
	return decodeFrame(walMagic, "wal entry", data)
}

func encodeFrame(magic string, seq uint64, payload []byte) []byte {
	return finishFrame(append(frameHeader(magic, seq, len(payload)), payload...))
}

func decodeFrame(magic, what string, data []byte) (seq uint64, payload []byte, err error) {
	if len(data) < walHeaderSize+walTrailer {
		return 0, nil, fmt.Errorf("%w: %s truncated: %d bytes, the header and checksum need %d", ErrCorrupt, what, len(data), walHeaderSize+walTrailer)
	}
	if string(data[:4]) != magic {
		return 0, nil, fmt.Errorf("%w: not a %s: magic %q", ErrCorrupt, what, data[:4])
	}
	if v := binary.LittleEndian.Uint16(data[4:]); v != frameVersion {
		return 0, nil, fmt.Errorf("%w: %s format version %d, this build reads %d", ErrCorrupt, what, v, frameVersion)
	}
	if f := binary.LittleEndian.Uint16(data[6:]); f != 0 {
		return 0, nil, fmt.Errorf("%w: %s has unknown flags %#x", ErrCorrupt, what, f)
	}
	seq = binary.LittleEndian.Uint64(data[8:])
	n := binary.LittleEndian.Uint64(data[16:])
	have := uint64(len(data) - walHeaderSize - walTrailer)
	switch {
	case n > have:
		return 0, nil, fmt.Errorf("%w: %s truncated: payload of %d bytes, %d present", ErrCorrupt, what, n, have)
	case n < have:
		return 0, nil, fmt.Errorf("%w: %s has %d trailing bytes", ErrCorrupt, what, have-n)
	}
	end := walHeaderSize + int(n)
	want := binary.LittleEndian.Uint32(data[end:])
	if got := crc32.Checksum(data[:end], castagnoli); got != want {
		return 0, nil, fmt.Errorf("%w: %s checksum %#08x, stored %#08x", ErrCorrupt, what, got, want)
	}
	return seq, data[walHeaderSize:end:end], nil
}

// WAL is a namespace generation's write-ahead log: one object per
// acknowledged write batch at <prefix><seq as %020d>, sequences from 1,
// totally ordered (Generation.WALPrefix). Appending is create-if-absent, so
// two writers can never both own a sequence number. A WAL is safe for
// concurrent use.
type WAL struct {
	b      Bucket
	prefix string

	// Append's retry policy; tests shorten it.
	attempts   int
	minBackoff time.Duration
	maxBackoff time.Duration
}

// NewWAL returns the WAL whose entries live under prefix in b.
func NewWAL(b Bucket, prefix string) *WAL {
	return &WAL{
		b:          b,
		prefix:     prefix,
		attempts:   8,
		minBackoff: 20 * time.Millisecond,
		maxBackoff: 2 * time.Second,
	}
}

// Key returns the object name of entry seq.
func (w *WAL) Key(seq uint64) string { return seqKey(w.prefix, seq) }

func (w *WAL) parse(name string) (uint64, bool) { return parseSeqKey(w.prefix, name) }

// Append durably writes entry seq. It returns ErrExists (wrapped) if another
// writer holds seq. Transient errors are retried with exponential backoff
// while ctx lasts. When the entry is found present with exactly our bytes,
// an earlier attempt landed and Append returns nil: callers must make each
// payload unique (a writer nonce) so that equal bytes prove authorship.
func (w *WAL) Append(ctx context.Context, seq uint64, payload []byte) error {
	e := NewWALEntry(seq, len(payload))
	e.SetPayload(payload)
	return w.AppendEntry(ctx, e)
}

// AppendEntry is Append for an entry built in place; e is not reused.
func (w *WAL) AppendEntry(ctx context.Context, e *WALEntry) error {
	seq := e.seq
	if seq == 0 {
		return errors.New("wal append: sequence numbers start at 1")
	}
	name := w.Key(seq)
	data := finishFrame(e.buf)
	e.buf = nil
	backoff := w.minBackoff
	var err error
	for attempt := 0; attempt < w.attempts; attempt++ {
		if attempt > 0 {
			t := time.NewTimer(backoff)
			select {
			case <-ctx.Done():
				t.Stop()
				return fmt.Errorf("wal append %s: %w (last error: %w)", name, ctx.Err(), err)
			case <-t.C:
			}
			backoff = min(2*backoff, w.maxBackoff)
		}
		err = w.b.Create(ctx, name, data)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, ErrExists):
			// An earlier attempt may have landed before its error, ours or
			// one the provider's client retried inside this call (an S3
			// PUT whose response was lost, then sent again). Callers make
			// every payload unique, so equal bytes are ours.
			got, gerr := w.b.Get(ctx, name)
			if gerr == nil && bytes.Equal(got, data) {
				return nil
			}
			if gerr != nil && !errors.Is(gerr, ErrNotFound) {
				return fmt.Errorf("wal append %s: read back after %w: %w", name, err, gerr)
			}
			return err
		case errors.Is(err, ErrInvalidName):
			return err
		case ctx.Err() != nil:
			return fmt.Errorf("wal append %s: %w (last error: %w)", name, ctx.Err(), err)
		}
	}
	return fmt.Errorf("wal append %s: gave up after %d attempts: %w", name, w.attempts, err)
}

// Read returns the payload of entry seq, checksum-verified. It returns
// ErrNotFound (wrapped) if the entry is absent and an error wrapping
// ErrCorrupt, naming the object, if its bytes are damaged.
func (w *WAL) Read(ctx context.Context, seq uint64) ([]byte, error) {
	return readFrame(ctx, w.b, w.Key(seq), walMagic, "wal entry", seq)
}

// readFrame reads the framed object key, checks it and that it holds
// sequence (version) seq, and returns its payload.
func readFrame(ctx context.Context, b Reader, key, magic, what string, seq uint64) ([]byte, error) {
	data, err := b.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	got, payload, err := decodeFrame(magic, what, data)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", what, key, err)
	}
	if got != seq {
		return nil, fmt.Errorf("%s %s: %w: holds sequence %d", what, key, ErrCorrupt, got)
	}
	return payload, nil
}

// Exists reports whether entry seq is present.
func (w *WAL) Exists(ctx context.Context, seq uint64) (bool, error) {
	return w.b.Exists(ctx, w.Key(seq))
}

// List returns the sequences present that are greater than after, ascending.
// Objects in the WAL folder that are not entries are ignored.
func (w *WAL) List(ctx context.Context, after uint64) ([]uint64, error) {
	names, err := w.b.List(ctx, w.prefix)
	if err != nil {
		return nil, err
	}
	var seqs []uint64
	for _, n := range names {
		// Zero-padded names sort in numeric order, so seqs stays ascending.
		if seq, ok := w.parse(n); ok && seq > after {
			seqs = append(seqs, seq)
		}
	}
	return seqs, nil
}

// Last returns the highest sequence present, or 0 if the WAL is empty.
func (w *WAL) Last(ctx context.Context) (uint64, error) {
	seqs, err := w.List(ctx, 0)
	if err != nil || len(seqs) == 0 {
		return 0, err
	}
	return seqs[len(seqs)-1], nil
}

// DeleteThrough removes every entry with a sequence up to through: entries
// a manifest has folded into segments.
func (w *WAL) DeleteThrough(ctx context.Context, through uint64) error {
	names, err := w.b.List(ctx, w.prefix)
	if err != nil {
		return err
	}
	for _, n := range names {
		if seq, ok := w.parse(n); ok && seq <= through {
			if err := w.b.Delete(ctx, n); err != nil {
				return fmt.Errorf("wal delete %s: %w", n, err)
			}
		}
	}
	return nil
}
