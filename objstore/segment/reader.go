package segment

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/weftdb/weft/objstore"
)

const (
	// PrefetchSize is what Open reads first: a header of up to this many
	// bytes (a few dozen sections and some meta) costs one ranged read.
	PrefetchSize = 4 << 10
	// MergeGap is the widest gap between two wanted sections that Read
	// fetches rather than split the read in two: one more request costs
	// more than this many bytes on an object store.
	MergeGap = 64 << 10
)

// Ref names a section: its kind and shard.
type Ref struct {
	Kind  Kind
	Shard uint32
}

// Reader reads the sections of one segment object in a bucket with ranged
// reads. It is safe for concurrent use.
type Reader struct {
	b    objstore.Reader
	name string
	h    *Header
	// head is the start of the object that Open fetched, at most h.Size
	// bytes; sections inside it are served without another read.
	head     []byte
	fetched  atomic.Uint64
	requests atomic.Uint64
}

// Open reads and checks the header of segment name in b: one ranged read of
// the first PrefetchSize bytes, and a second of the rest of the header only
// when it is longer. An absent object is objstore.ErrNotFound (wrapped), a
// damaged one objstore.ErrCorrupt; both name the object.
func Open(ctx context.Context, b objstore.Reader, name string) (*Reader, error) {
	return OpenPrefix(ctx, b, name, PrefetchSize)
}

// OpenPrefix is Open with a first read of prefix bytes: a reader that
// knows how long the part it needs first is (a manifest's nav_bytes: the
// header and the clusters section) gets it in one read, and the sections
// in it cost no other.
func OpenPrefix(ctx context.Context, b objstore.Reader, name string, prefix int) (*Reader, error) {
	prefix = max(prefix, minHeaderSize)
	r := &Reader{b: b, name: name}
	head, err := r.fetch(ctx, 0, uint64(prefix))
	if err != nil {
		return nil, fmt.Errorf("open segment %s: %w", name, err)
	}
	whole := len(head) < prefix // the object ended inside the read
	h, need, err := DecodeHeader(head)
	if err == nil && need > 0 && !whole {
		var rest []byte
		rest, err = r.fetch(ctx, uint64(len(head)), uint64(need-len(head)))
		if err != nil {
			return nil, fmt.Errorf("open segment %s: %w", name, err)
		}
		whole = len(rest) < need-len(head)
		head = append(head, rest...)
		h, need, err = DecodeHeader(head)
	}
	switch {
	case err != nil:
	case need > 0:
		err = corrupt("truncated: the object has %d bytes, its header takes %d", len(head), need)
	case whole && h.Size != uint64(len(head)):
		err = corrupt("object of %d bytes, the header says %d", len(head), h.Size)
	case h.Size < uint64(len(head)):
		err = corrupt("object longer than the %d bytes its header says", h.Size)
	}
	if err != nil {
		return nil, fmt.Errorf("open segment %s: %w", name, err)
	}
	r.h, r.head = h, head
	return r, nil
}

// Header returns the segment's header. It is shared: do not modify it.
func (r *Reader) Header() *Header { return r.h }

// Requests returns the number of ranged reads this Reader sent, Open's
// included.
func (r *Reader) Requests() uint64 { return r.requests.Load() }

// BytesFetched returns the number of bytes this Reader has read from the
// bucket, Open's reads included.
func (r *Reader) BytesFetched() uint64 { return r.fetched.Load() }

// Read returns the bytes of the sections refs name, in the order of refs,
// each checksum-verified. Wanted sections at most MergeGap apart are
// fetched with one ranged read, and separate reads run concurrently;
// sections inside the bytes Open fetched cost no read. A section the segment
// lacks is ErrNoSection (wrapped), and nothing is read. The results may
// share memory with each other and with other calls' results: do not modify
// them.
func (r *Reader) Read(ctx context.Context, refs ...Ref) ([][]byte, error) {
	secs := make([]Section, len(refs))
	for i, ref := range refs {
		s, ok := r.h.Section(ref.Kind, ref.Shard)
		if !ok {
			return nil, fmt.Errorf("read segment %s: %w: %v of shard %d", r.name, ErrNoSection, ref.Kind, ref.Shard)
		}
		secs[i] = s
	}
	out := make([][]byte, len(refs))
	ranges := make([]Range, len(refs))
	for i, s := range secs {
		ranges[i] = Range{Offset: s.Offset, Length: s.Length, CRC: s.CRC}
	}
	if err := r.read(ctx, ranges, out, func(i int) string { return secs[i].String() }); err != nil {
		return nil, fmt.Errorf("read segment %s: %w", r.name, err)
	}
	return out, nil
}

// ReadRanges returns the bytes of ranges, in order, each checked against
// its checksum. It reads like Read: ranges at most MergeGap apart share a
// ranged read, reads run concurrently, and bytes Open fetched cost none.
// Each range must lie inside the object.
func (r *Reader) ReadRanges(ctx context.Context, ranges []Range) ([][]byte, error) {
	for _, rg := range ranges {
		if rg.Offset > r.h.Size || rg.Length > r.h.Size-rg.Offset {
			return nil, fmt.Errorf("read segment %s: range %v past the object's %d bytes", r.name, rg, r.h.Size)
		}
	}
	out := make([][]byte, len(ranges))
	if err := r.read(ctx, ranges, out, func(i int) string { return ranges[i].String() }); err != nil {
		return nil, fmt.Errorf("read segment %s: %w", r.name, err)
	}
	return out, nil
}

// read fills out with the verified bytes of ranges; label names range i
// in errors.
func (r *Reader) read(ctx context.Context, ranges []Range, out [][]byte, label func(int) string) error {
	var spans []span
	for _, i := range byOffset(ranges) {
		rg := ranges[i]
		switch {
		case rg.Length == 0:
			out[i] = []byte{}
		case rg.end() <= uint64(len(r.head)):
			b := r.head[rg.Offset:rg.end():rg.end()]
			if err := check(rg, b, label(i)); err != nil {
				return err
			}
			out[i] = b
		case len(spans) > 0 && rg.Offset <= spans[len(spans)-1].end+MergeGap:
			sp := &spans[len(spans)-1]
			sp.end = max(sp.end, rg.end())
			sp.idx = append(sp.idx, i)
		default:
			spans = append(spans, span{off: rg.Offset, end: rg.end(), idx: []int{i}})
		}
	}
	return r.readSpans(ctx, spans, ranges, out, label)
}

func check(rg Range, b []byte, label string) error {
	if got := checksum(b); got != rg.CRC {
		return corrupt("%s: checksum %#08x, stored %#08x", label, got, rg.CRC)
	}
	return nil
}

// span is one ranged read, [off, end) of the object, serving the ranges
// idx.
type span struct {
	off, end uint64
	idx      []int
}

// byOffset returns the indices of ranges in object order.
func byOffset(secs []Range) []int {
	order := make([]int, len(secs))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		return cmp.Compare(secs[a].Offset, secs[b].Offset)
	})
	return order
}

// readSpans fetches spans concurrently and fills out with their sections.
// It returns the error of the first span, in object order, that failed.
func (r *Reader) readSpans(ctx context.Context, spans []span, secs []Range, out [][]byte, label func(int) string) error {
	errs := make([]error, len(spans))
	if len(spans) == 1 {
		errs[0] = r.readSpan(ctx, spans[0], secs, out, label)
	} else {
		var wg sync.WaitGroup
		for i, sp := range spans {
			wg.Go(func() { errs[i] = r.readSpan(ctx, sp, secs, out, label) })
		}
		wg.Wait()
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// readSpan fetches sp and slices its sections into out; each span writes
// distinct elements of out.
func (r *Reader) readSpan(ctx context.Context, sp span, secs []Range, out [][]byte, label func(int) string) error {
	n := sp.end - sp.off
	if n > math.MaxInt {
		return fmt.Errorf("a read of %d bytes at offset %d does not fit in memory", n, sp.off)
	}
	b, err := r.fetch(ctx, sp.off, n)
	if err != nil {
		return err
	}
	if uint64(len(b)) != n {
		return corrupt("truncated: %d bytes at offset %d, the header says %d", len(b), sp.off, n)
	}
	for _, i := range sp.idx {
		s := secs[i]
		lo, hi := s.Offset-sp.off, s.end()-sp.off
		sb := b[lo:hi:hi]
		if err := check(s, sb, label(i)); err != nil {
			return err
		}
		out[i] = sb
	}
	return nil
}

// fetch reads n bytes at off and counts them.
func (r *Reader) fetch(ctx context.Context, off, n uint64) ([]byte, error) {
	r.requests.Add(1)
	b, err := r.b.GetRange(ctx, r.name, int64(off), int64(n))
	if err != nil {
		return nil, fmt.Errorf("read %d bytes at offset %d: %w", n, off, err)
	}
	r.fetched.Add(uint64(len(b)))
	if uint64(len(b)) > n {
		return nil, fmt.Errorf("read %d bytes at offset %d: the bucket returned %d", n, off, len(b))
	}
	return b, nil
}
