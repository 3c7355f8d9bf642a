package workers

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"github.com/weftdb/weft/cache"
	"github.com/weftdb/weft/index/hnsw"
	"github.com/weftdb/weft/objstore"
	"github.com/weftdb/weft/objstore/segment"
	storagev1 "github.com/weftdb/weft/proto/gen/weft/storage/v1"
	weftv1 "github.com/weftdb/weft/proto/gen/weft/v1"
)

// A lazy segment holds in memory what a search on codes walks (the graph's
// links, the codes) and what answers name (ids, attribute columns), and
// fetches the vectors a refine scores block by block through the cache:
// RAM, then the disk tier, then a ranged read of the bucket, each block
// checked against its checksum in the pieces section. Paths that need
// every vector (filters, exact scoring, full-precision graph walks,
// returning vectors) first materialise the segment: read all its vectors
// into memory, once.

// ErrNotLazy says a segment cannot be opened lazily (written before the
// pieces section, or without codes): open it whole.
var ErrNotLazy = errors.New("segment has no pieces or codes section")

// lazyVectors fetches a lazy segment's vectors.
type lazyVectors struct {
	key    string // the segment's object name
	id     string // its id, a UUID: the cache keys' prefix
	reader *segment.Reader
	pieces *segment.Pieces
	graph  segment.Section
	cache  *cache.Cache
	rows   int
	dim    int
	cosine bool // materialise KindVectors too: the vectors as written

	mu   sync.Mutex  // serialises materialising
	done atomic.Bool // materialised: the graph holds its vectors
}

// OpenLazySegment opens segment key lazily: one read of its first prefix
// bytes (the header, with the manifest's nav_bytes the clusters too), one
// round of reads of its ids, columns, codes, centroid and pieces, then its
// graph's links. Vectors come later through c. ErrNotLazy: open it whole.
func OpenLazySegment(ctx context.Context, b objstore.Reader, key, id string, prefix int, want *storagev1.SegmentMeta, c *cache.Cache) (*Segment, []string, error) {
	r, err := segment.OpenPrefix(ctx, b, key, max(prefix, segment.PrefetchSize))
	if err != nil {
		return nil, nil, err
	}
	h := r.Header()
	meta, err := segmentMeta(id, h, want)
	if err != nil {
		return nil, nil, err
	}
	_, hasCodes := h.Section(segment.KindCodes, shard0)
	_, hasPieces := h.Section(segment.KindPieces, shard0)
	_, hasColumns := h.Section(segment.KindColumns, shard0)
	graphSec, hasGraph := h.Section(segment.KindGraph, shard0)
	if !hasCodes || !hasPieces || !hasColumns || !hasGraph {
		return nil, nil, ErrNotLazy
	}
	refs := []segment.Ref{{Kind: segment.KindIDs}, {Kind: segment.KindColumns}, {Kind: segment.KindCodes}, {Kind: segment.KindPieces}}
	if _, ok := h.Section(segment.KindCentroid, shard0); ok {
		refs = append(refs, segment.Ref{Kind: segment.KindCentroid})
	}
	secs, err := r.Read(ctx, refs...)
	if err != nil {
		return nil, nil, err
	}
	rows, dim := int(meta.GetRows()), int(meta.GetDimension())
	ids, err := segment.DecodeStrings(secs[0])
	if err != nil {
		return nil, nil, fmt.Errorf("segment %s ids: %w", id, err)
	}
	n, cols, err := segment.DecodeColumns(secs[1])
	if err != nil || n != rows {
		return nil, nil, fmt.Errorf("segment %s attributes: %d rows, want %d (%v)", id, n, rows, err)
	}
	pieces, err := segment.DecodePieces(secs[3])
	if err != nil {
		return nil, nil, fmt.Errorf("segment %s: %w", id, err)
	}
	links, err := pieces.Links(graphSec)
	if err != nil {
		return nil, nil, fmt.Errorf("segment %s: %w", id, err)
	}
	lb, err := r.ReadRanges(ctx, []segment.Range{links})
	if err != nil {
		return nil, nil, err
	}
	graph, err := hnsw.DecodeLinks(lb[0])
	if err != nil {
		return nil, nil, fmt.Errorf("segment %s graph: %w", id, err)
	}
	if len(ids) != rows || graph.Len() != rows || graph.Dim() != dim ||
		len(pieces.BlockCRC) != (rows+pieces.BlockRows-1)/pieces.BlockRows {
		return nil, nil, fmt.Errorf("segment %s: %d rows, but %d ids, %d graph nodes of dimension %d, %d vector blocks",
			id, rows, len(ids), graph.Len(), graph.Dim(), len(pieces.BlockCRC))
	}
	g := &Segment{ID: id, Rows: rows, Bytes: int(h.Size), Graph: graph, dim: dim, cols: decodedColumns(cols), List: meta.GetIvfList(),
		Group: meta.GetTenantGroup(), Groups: meta.GetTenantGroups()}
	if g.Codes, err = hnsw.DecodeCodes(secs[2], graph); err != nil {
		return nil, nil, fmt.Errorf("segment %s codes: %w", id, err)
	}
	if len(secs) > 4 {
		if g.Centroid, g.Radius, err = decodeCentroid(id, secs[4], dim); err != nil {
			return nil, nil, err
		}
	}
	if s, ok := h.Section(segment.KindClusters, shard0); ok && s.Offset+s.Length <= 1<<30 {
		g.NavBytes = int(s.Offset + s.Length)
	}
	g.lazy = &lazyVectors{key: key, id: id, reader: r, pieces: pieces, graph: graphSec, cache: c, rows: rows, dim: dim,
		cosine: meta.GetMetric() == weftv1.Metric_METRIC_COSINE}
	return g, ids, nil
}

// vectors fills dst[i] with row ids[i]'s vector as the graph holds it,
// fetching the blocks that hold them concurrently.
func (l *lazyVectors) vectors(ctx context.Context, ids []uint32, dst [][]float32, fs *FetchStats) error {
	at := make(map[int]int, len(ids)) // block → its index in blocks
	var blocks []int
	for _, id := range ids {
		b := int(id) / l.pieces.BlockRows
		if _, ok := at[b]; !ok {
			at[b] = len(blocks)
			blocks = append(blocks, b)
		}
	}
	// Cached blocks in line, in two halves at once when there are many
	// (a disk hit is a read: two cores do twice as many); the rest loaded
	// concurrently.
	got := make([][]float32, len(blocks))
	miss := make([]bool, len(blocks))
	cached := func(lo, hi int) error {
		for i := lo; i < hi; i++ {
			data, src, ok := l.cache.Cached(l.blockKey(blocks[i]))
			if !ok {
				miss[i] = true
				continue
			}
			if src == cache.SourceDisk {
				fs.disk.Add(1)
			}
			v, err := l.decode(blocks[i], data)
			if err != nil {
				return err
			}
			got[i] = v
		}
		return nil
	}
	if half := len(blocks) / 2; half >= 8 {
		var other error
		done := make(chan struct{})
		go func() { other = cached(half, len(blocks)); close(done) }()
		err := cached(0, half)
		<-done
		if err := errors.Join(err, other); err != nil {
			return err
		}
	} else if err := cached(0, len(blocks)); err != nil {
		return err
	}
	var missing []int
	for i, m := range miss {
		if m {
			missing = append(missing, i)
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, i := range missing {
		g.Go(func() (err error) {
			got[i], err = l.block(gctx, blocks[i], fs)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for i, id := range ids {
		off := (int(id) % l.pieces.BlockRows) * l.dim
		dst[i] = got[at[int(id)/l.pieces.BlockRows]][off : off+l.dim : off+l.dim]
	}
	return nil
}

// block returns block b's vectors: from the cache, else read and checked.
func (l *lazyVectors) block(ctx context.Context, b int, fs *FetchStats) ([]float32, error) {
	data, src, err := l.cache.Get(ctx, l.blockKey(b), func(ctx context.Context) ([]byte, error) {
		rg, err := l.pieces.Block(l.graph, b, l.rows, l.dim)
		if err != nil {
			return nil, fmt.Errorf("segment %s: %w", l.key, err)
		}
		got, err := l.reader.ReadRanges(ctx, []segment.Range{rg})
		if err != nil {
			return nil, err
		}
		return got[0], nil
	})
	if err != nil {
		return nil, err
	}
	switch src {
	case cache.SourceDisk:
		fs.disk.Add(1)
	case cache.SourceLoad:
		fs.bucket.Add(1)
		fs.bytes.Add(uint64(len(data)))
	}
	return l.decode(b, data)
}

// FetchStats counts where a search's lazy vector blocks came from.
type FetchStats struct {
	disk, bucket, bytes atomic.Uint64
}

// Disk, Bucket and Bytes return the blocks read from the disk tier, the
// ranged reads of the bucket, and the bytes those brought.
func (f *FetchStats) Disk() uint64   { return f.disk.Load() }
func (f *FetchStats) Bucket() uint64 { return f.bucket.Load() }
func (f *FetchStats) Bytes() uint64  { return f.bytes.Load() }

// blockKey is block b's key in the cache: short, as every lookup hashes
// it, and unique, as segment ids are UUIDs.
func (l *lazyVectors) blockKey(b int) string { return l.id + "#v" + strconv.Itoa(b) }

// decode returns block b's vectors from its bytes.
func (l *lazyVectors) decode(b int, data []byte) ([]float32, error) {
	v, err := segment.DecodeFloat32s(data)
	if err != nil || len(v)%l.dim != 0 {
		return nil, fmt.Errorf("segment %s: vector block %d of %d bytes (%v)", l.key, b, len(data), err)
	}
	return v, nil
}

// materialize reads every vector of g into memory, once: the graph's
// (attached to it) and, for cosine, the vectors as written. Until it
// succeeds, nothing reads g's vectors but through lazyVectors.
func (g *Segment) materialize(ctx context.Context) error {
	l := g.lazy
	if l == nil || l.done.Load() {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done.Load() {
		return nil
	}
	refs := []segment.Ref{{Kind: segment.KindGraph}}
	if l.cosine {
		refs = append(refs, segment.Ref{Kind: segment.KindVectors})
	}
	secs, err := l.reader.Read(ctx, refs...)
	if err != nil {
		return fmt.Errorf("read the vectors of segment %s: %w", l.key, err)
	}
	v, err := segment.DecodeFloat32s(secs[0][l.pieces.LinksLength:])
	if err == nil {
		err = g.Graph.AttachVectors(v)
	}
	if err == nil && l.cosine {
		if g.vecs, err = segment.DecodeFloat32s(secs[1]); err == nil && len(g.vecs) != l.rows*l.dim {
			err = fmt.Errorf("%d vector values for %d rows", len(g.vecs), l.rows)
		}
	}
	if err != nil {
		return fmt.Errorf("segment %s vectors: %w", l.key, err)
	}
	l.done.Store(true)
	return nil
}

// Lazy reports whether g fetches its vectors on demand (not yet
// materialised).
func (g *Segment) Lazy() bool { return g.lazy != nil && !g.lazy.done.Load() }

// WarmSegment reads every vector block of segment key into c (its disk
// tier, and RAM as admission allows), so that queries on it find them
// there: a segment a compaction published is warmed before the manifest
// naming it is served. It reads the header and the pieces section, then
// the vectors: none of what OpenLazySegment keeps in memory. It returns the
// bytes of vectors read; ErrNotLazy for a segment without pieces.
func WarmSegment(ctx context.Context, b objstore.Reader, key, id string, prefix int, want *storagev1.SegmentMeta, c *cache.Cache) (uint64, error) {
	r, err := segment.OpenPrefix(ctx, b, key, max(prefix, segment.PrefetchSize))
	if err != nil {
		return 0, err
	}
	meta, err := segmentMeta(id, r.Header(), want)
	if err != nil {
		return 0, err
	}
	graphSec, hasGraph := r.Header().Section(segment.KindGraph, shard0)
	if _, ok := r.Header().Section(segment.KindPieces, shard0); !ok || !hasGraph {
		return 0, ErrNotLazy
	}
	secs, err := r.Read(ctx, segment.Ref{Kind: segment.KindPieces})
	if err != nil {
		return 0, err
	}
	pieces, err := segment.DecodePieces(secs[0])
	if err != nil {
		return 0, fmt.Errorf("segment %s: %w", id, err)
	}
	l := &lazyVectors{key: key, id: id, reader: r, pieces: pieces, graph: graphSec, cache: c,
		rows: int(meta.GetRows()), dim: int(meta.GetDimension())}
	return l.warm(ctx)
}

// warmChunk is how many vector blocks warm reads at once.
const warmChunk = 256

// warm reads every block into the cache and returns the bytes read.
func (l *lazyVectors) warm(ctx context.Context) (uint64, error) {
	var read uint64
	for lo := 0; lo < len(l.pieces.BlockCRC); lo += warmChunk {
		hi := min(lo+warmChunk, len(l.pieces.BlockCRC))
		ranges := make([]segment.Range, 0, hi-lo)
		for b := lo; b < hi; b++ {
			rg, err := l.pieces.Block(l.graph, b, l.rows, l.dim)
			if err != nil {
				return read, fmt.Errorf("segment %s: %w", l.key, err)
			}
			ranges = append(ranges, rg)
		}
		got, err := l.reader.ReadRanges(ctx, ranges)
		if err != nil {
			return read, err
		}
		for i, data := range got {
			l.cache.Put(l.blockKey(lo+i), data)
			read += uint64(len(data))
		}
	}
	return read, nil
}
