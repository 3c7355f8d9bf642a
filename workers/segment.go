package workers

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/weftdb/weft/index/distance"
	"github.com/weftdb/weft/index/hnsw"
	"github.com/weftdb/weft/index/ivf"
	"github.com/weftdb/weft/objstore"
	"github.com/weftdb/weft/objstore/segment"
	"github.com/weftdb/weft/plugins"
	storagev1 "github.com/weftdb/weft/proto/gen/weft/storage/v1"
	weftv1 "github.com/weftdb/weft/proto/gen/weft/v1"
)

// A segment holds one shard: the sections below, shard 0.
//
//	KindIDs         row → document id
//	KindColumns     the rows' attributes, one typed column per name and
//	                type (segments of the first release hold a
//	                storagev1.SegmentAttributes, one entry per row, in a
//	                KindAttributes section instead; both are read)
//	KindVectors     the documents' vectors as written (cosine only: the
//	                graph keeps them normalised; other metrics read the
//	                graph's copy, which is the same bytes)
//	KindGraph       the HNSW graph with its vectors (index/hnsw encoding)
//	KindCodes       RaBitQ codes of the graph's vectors (index/hnsw's
//	                codes encoding; only when built with BuildConfig.Codes)
//	KindCentroid    the mean of the graph's vectors, then the largest L2
//	                distance of one from it (dimension + 1 floats;
//	                absent from segments written before it)
//	KindPieces      checksums of the graph's links and of its vectors in
//	                blocks of about blockBytes, so a lazy reader keeps the
//	                links and codes in memory and fetches vectors block by
//	                block through the cache (absent from older segments)
//	KindClusters    the rows' clusters (segment.Clusters), the first
//	                section, so the header and it are one prefix of the
//	                object (SegmentRef.nav_bytes): rows are stored
//	                grouped by cluster, and a cold reader picks the
//	                clusters nearest a query and reads only their vectors
//	                (the graph's) and ids (absent from older segments)
const shard0 = 0

// clusterRows is how many rows a segment's cluster holds on average. A
// cold query reads whole clusters: smaller ones waste fewer bytes per
// read, but the clusters section, which a cold reader fetches first,
// grows by a centroid per cluster (512 bytes per 1,024 rows at 128
// dimensions: 0.1 % of the vectors).
const clusterRows = 1024

// blockBytes is about how many bytes of vectors a lazy segment fetches
// and caches as one piece: a refine needs a few rows scattered over the
// segment, so pieces are small (one row of 784 dimensions, eight of 128).
const blockBytes = 4 << 10

// Segment is a segment open in memory. Its graph's tombstones are
// the only mutable part: a write that deletes or replaces one of its rows
// tombstones it, so approximate searches skip it. States that share a
// segment share its tombstones, which only ever grow.
type Segment struct {
	ID    string
	Rows  int
	Bytes int
	Graph *hnsw.Index
	// Codes, when the segment has them, let a search walk the graph on
	// compressed vectors (SearchOptions.Refine).
	Codes *hnsw.Codes
	vecs  []float32 // as written, row-major; nil: the graph's vectors
	dim   int
	// NavBytes is the length of the object's prefix that holds its
	// header and clusters section; 0 without one.
	NavBytes int
	// Centroid is the mean of the segment's vectors as its graph holds
	// them (normalised for cosine) and Radius the largest L2 distance of
	// one from it: no row is nearer to a query than its distance to the
	// centroid minus Radius. nil for a segment written without one (it is
	// always searched).
	Centroid []float32
	Radius   float32
	// List reports one IVF list of a partition the indexer trained
	// (SearchOptions.NProbe counts lists).
	List bool
	// Group and Groups say which tenant group the segment holds, in a
	// namespace with a shard key (tenants.go); Groups ≤ 1: any.
	Group, Groups uint32
	// lazy, when not nil, fetches the vectors the graph does not hold
	// (lazy.go).
	lazy *lazyVectors
	// cols holds the rows' attributes, one column per name and type,
	// aliasing the segment's bytes. A segment row's attributes never
	// change: an update moves the row to the tail.
	cols []plugins.Column
}

// attrs returns row's attributes, built from the columns.
func (g *Segment) attrs(row int) Attrs { return rowAttrs(g.cols, row) }

// vector returns row's vector as written, aliasing the segment.
func (g *Segment) vector(row int) []float32 {
	if g.Lazy() {
		panic("workers: vector of a lazy segment before it was materialised")
	}
	if g.vecs != nil {
		return g.vecs[row*g.dim : (row+1)*g.dim : (row+1)*g.dim]
	}
	return g.Graph.Vector(uint32(row))
}

// SegmentRows is what a fold writes into a new segment: live documents
// in row order.
type SegmentRows struct {
	IDs     []string
	attrs   []Attrs
	vectors []float32 // as written, row-major
}

func (r *SegmentRows) add(id string, a Attrs, v []float32) {
	r.IDs = append(r.IDs, id)
	r.attrs = append(r.attrs, a)
	r.vectors = append(r.vectors, v...)
}

func indexMetric(m weftv1.Metric) distance.Metric {
	switch m {
	case weftv1.Metric_METRIC_COSINE:
		return distance.Cosine
	case weftv1.Metric_METRIC_DOT:
		return distance.Dot
	}
	return distance.L2
}

// BuildConfig says how a segment's graph is built.
type BuildConfig struct {
	M, EfConstruction int  // HNSW build parameters
	Threads           int  // goroutines building the graph
	Codes             bool // also RaBitQ codes (not for the dot metric)
}

// BuildSegment indexes rows and returns the segment's bytes. It reorders
// rows: the segment stores them grouped by cluster.
func BuildSegment(ctx context.Context, meta *storagev1.SegmentMeta, rows *SegmentRows, cfg BuildConfig) ([]byte, error) {
	dim := int(meta.GetDimension())
	starts, centroids, err := clusterRowsInPlace(ctx, rows, dim, meta.GetMetric(), cfg.Threads)
	if err != nil {
		return nil, fmt.Errorf("cluster rows: %w", err)
	}
	graph, err := hnsw.Build(ctx, rows.vectors, dim, hnsw.Config{
		M: cfg.M, EfConstruction: cfg.EfConstruction, Metric: indexMetric(meta.GetMetric()), Seed: 1,
	}, cfg.Threads)
	if err != nil {
		return nil, fmt.Errorf("build graph: %w", err)
	}
	meta = proto.CloneOf(meta)
	meta.Rows = uint64(len(rows.IDs))
	meta.HnswM, meta.HnswEfConstruction = uint32(cfg.M), uint32(cfg.EfConstruction)
	mb, err := proto.Marshal(meta)
	if err != nil {
		return nil, err
	}
	colBytes, err := segment.EncodeColumns(len(rows.IDs), encodeColumns(rows.attrs))
	if err != nil {
		return nil, err
	}
	b := segment.NewBuilder(mb)
	add := func(k segment.Kind, data []byte) {
		if err == nil {
			err = b.Add(k, shard0, data)
		}
	}
	idBytes := segment.EncodeStrings(rows.IDs)
	graphBytes := graph.AppendEncoding(nil)
	add(segment.KindClusters, segment.EncodeClusters(clustersOf(starts, centroids, dim, idBytes, graphBytes, graph.EncodedVectorsOffset())))
	add(segment.KindIDs, idBytes)
	add(segment.KindColumns, colBytes)
	if meta.GetMetric() == weftv1.Metric_METRIC_COSINE {
		add(segment.KindVectors, segment.EncodeFloat32s(rows.vectors))
	}
	add(segment.KindGraph, graphBytes)
	add(segment.KindPieces, segment.EncodePieces(piecesOf(graphBytes, graph.EncodedVectorsOffset(), dim)))
	centroid, radius := graphCentroid(graph)
	if cfg.Codes && meta.GetMetric() != weftv1.Metric_METRIC_DOT {
		// Relative to the segment's centroid: an IVF list's codes are
		// relative to its own centre, where their estimates are tightest.
		codes, cerr := graph.BuildCodes(ctx, centroid, 1, cfg.Threads)
		if cerr != nil {
			return nil, fmt.Errorf("build codes: %w", cerr)
		}
		add(segment.KindCodes, codes.AppendEncoding(nil))
	}
	add(segment.KindCentroid, segment.EncodeFloat32s(append(slices.Clip(centroid), radius)))
	if err != nil {
		return nil, err
	}
	return b.Bytes()
}

// OpenSegment decodes a whole segment object. The graph and vectors alias
// data. It checks that the segment belongs to the namespace generation
// and fits its dimension and metric.
func OpenSegment(id string, data []byte, want *storagev1.SegmentMeta) (*Segment, []string, error) {
	// The header alone, then each section as it is used: SectionBytes
	// checks its checksum, so no section is checked twice (segment.Decode
	// would check them all first: a quarter of a second at 1M rows).
	h, need, err := segment.DecodeHeader(data)
	if err != nil {
		return nil, nil, fmt.Errorf("segment %s: %w", id, err)
	}
	if need > 0 || h.Size != uint64(len(data)) {
		return nil, nil, fmt.Errorf("segment %s: %w: %d bytes, the header says %d", id, objstore.ErrCorrupt, len(data), h.Size)
	}
	meta, err := segmentMeta(id, h, want)
	if err != nil {
		return nil, nil, err
	}
	section := func(k segment.Kind) ([]byte, error) {
		s, ok := h.Section(k, shard0)
		if !ok {
			return nil, fmt.Errorf("segment %s has no section %d", id, k)
		}
		return h.SectionBytes(data, s)
	}
	rows := int(meta.GetRows())
	idBytes, err := section(segment.KindIDs)
	if err != nil {
		return nil, nil, err
	}
	ids, err := segment.DecodeStrings(idBytes)
	if err != nil {
		return nil, nil, fmt.Errorf("segment %s ids: %w", id, err)
	}
	cols, err := readColumns(h, data, id, rows)
	if err != nil {
		return nil, nil, err
	}
	graphBytes, err := section(segment.KindGraph)
	if err != nil {
		return nil, nil, err
	}
	graph, err := hnsw.Decode(graphBytes)
	if err != nil {
		return nil, nil, fmt.Errorf("segment %s graph: %w", id, err)
	}
	if len(ids) != rows || graph.Len() != rows || graph.Dim() != int(meta.GetDimension()) {
		return nil, nil, fmt.Errorf("segment %s: %d rows, but %d ids, %d graph nodes of dimension %d",
			id, rows, len(ids), graph.Len(), graph.Dim())
	}
	g := &Segment{ID: id, Rows: rows, Bytes: len(data), Graph: graph, dim: int(meta.GetDimension()), cols: cols, List: meta.GetIvfList(),
		Group: meta.GetTenantGroup(), Groups: meta.GetTenantGroups()}
	if s, ok := h.Section(segment.KindClusters, shard0); ok && s.Offset+s.Length <= 1<<30 {
		g.NavBytes = int(s.Offset + s.Length)
	}
	if s, ok := h.Section(segment.KindCodes, shard0); ok {
		b, err := h.SectionBytes(data, s)
		if err != nil {
			return nil, nil, err
		}
		if g.Codes, err = hnsw.DecodeCodes(b, graph); err != nil {
			return nil, nil, fmt.Errorf("segment %s codes: %w", id, err)
		}
	}
	if s, ok := h.Section(segment.KindCentroid, shard0); ok {
		b, err := h.SectionBytes(data, s)
		if err != nil {
			return nil, nil, err
		}
		if g.Centroid, g.Radius, err = decodeCentroid(id, b, g.dim); err != nil {
			return nil, nil, err
		}
	}
	if meta.GetMetric() == weftv1.Metric_METRIC_COSINE {
		vb, err := section(segment.KindVectors)
		if err != nil {
			return nil, nil, err
		}
		if g.vecs, err = segment.DecodeFloat32s(vb); err != nil {
			return nil, nil, fmt.Errorf("segment %s vectors: %w", id, err)
		}
		if len(g.vecs) != rows*g.dim {
			return nil, nil, fmt.Errorf("segment %s: %d vector values for %d rows of dimension %d", id, len(g.vecs), rows, g.dim)
		}
	}
	return g, ids, nil
}

// segmentMeta decodes a segment header's metadata and checks that the
// segment belongs to want's namespace generation and fits its dimension
// and metric.
func segmentMeta(id string, h *segment.Header, want *storagev1.SegmentMeta) (*storagev1.SegmentMeta, error) {
	meta := &storagev1.SegmentMeta{}
	if err := proto.Unmarshal(h.Meta, meta); err != nil {
		return nil, fmt.Errorf("segment %s: metadata: %w", id, err)
	}
	if meta.GetNamespace() != want.GetNamespace() || meta.GetGeneration() != want.GetGeneration() ||
		meta.GetDimension() != want.GetDimension() || meta.GetMetric() != want.GetMetric() {
		return nil, fmt.Errorf("segment %s belongs to namespace %q generation %s (dimension %d, %s), not %q generation %s (dimension %d, %s)",
			id, meta.GetNamespace(), meta.GetGeneration(), meta.GetDimension(), meta.GetMetric(),
			want.GetNamespace(), want.GetGeneration(), want.GetDimension(), want.GetMetric())
	}
	return meta, nil
}

// decodeCentroid decodes a KindCentroid section: the centroid, then the
// radius.
func decodeCentroid(id string, b []byte, dim int) ([]float32, float32, error) {
	c, err := segment.DecodeFloat32s(b)
	if err != nil || len(c) != dim+1 {
		return nil, 0, fmt.Errorf("segment %s: centroid of %d values for dimension %d (%v)", id, len(c), dim, err)
	}
	return c[:dim:dim], c[dim], nil
}

// graphCentroid returns the mean of g's vectors and the largest L2
// distance of one from it (rounded up, so it bounds every row).
func graphCentroid(g *hnsw.Index) ([]float32, float32) {
	c := g.Mean()
	var far float64
	for i := range g.Len() {
		var d float64
		for j, x := range g.Vector(uint32(i)) {
			e := float64(x) - float64(c[j])
			d += e * e
		}
		far = max(far, d)
	}
	return c, math.Nextafter32(float32(math.Sqrt(far)), float32(math.Inf(1)))
}

// readColumns returns a segment's attribute columns: its KindColumns
// section, or the per-row protobuf of a first-release segment.
func readColumns(h *segment.Header, data []byte, id string, rows int) ([]plugins.Column, error) {
	if s, ok := h.Section(segment.KindColumns, shard0); ok {
		b, err := h.SectionBytes(data, s)
		if err != nil {
			return nil, err
		}
		n, cols, err := segment.DecodeColumns(b)
		if err != nil {
			return nil, fmt.Errorf("segment %s attributes: %w", id, err)
		}
		if n != rows {
			return nil, fmt.Errorf("segment %s: attribute columns of %d rows, want %d", id, n, rows)
		}
		return decodedColumns(cols), nil
	}
	s, ok := h.Section(segment.KindAttributes, shard0)
	if !ok {
		return nil, fmt.Errorf("segment %s has no attribute section", id)
	}
	b, err := h.SectionBytes(data, s)
	if err != nil {
		return nil, err
	}
	ab := &storagev1.SegmentAttributes{}
	if err := proto.Unmarshal(b, ab); err != nil {
		return nil, fmt.Errorf("segment %s attributes: %w", id, err)
	}
	if len(ab.GetRows()) != rows {
		return nil, fmt.Errorf("segment %s: %d attribute rows, want %d", id, len(ab.GetRows()), rows)
	}
	as := make([]Attrs, rows)
	for i, r := range ab.GetRows() {
		as[i] = r.GetAttributes()
	}
	return decodedColumns(encodeColumns(as)), nil
}

// clusterRowsInPlace groups rows by cluster: k-means (on a sample, in the
// space the graph searches) trains a centroid per clusterRows rows, each
// row goes to its nearest, and rows are reordered cluster by cluster. It
// returns each cluster's first row (then the row count) and the centroids.
func clusterRowsInPlace(ctx context.Context, rows *SegmentRows, dim int, metric weftv1.Metric, threads int) ([]uint32, []float32, error) {
	n := rows.Len()
	k := max(1, (n+clusterRows/2)/clusterRows)
	data := rows.vectors
	if metric == weftv1.Metric_METRIC_COSINE {
		data = slices.Clone(data)
		for i := range n {
			distance.Normalize(data[i*dim : (i+1)*dim])
		}
	}
	if n == 0 {
		return []uint32{0, 0}, make([]float32, dim), nil
	}
	x, err := ivf.Train(ctx, data, dim, ivf.Config{NList: min(k, n), MaxSample: 32 * k, Iterations: 8, Seed: 1, Threads: threads})
	if err != nil {
		return nil, nil, err
	}
	starts := make([]uint32, 0, x.NList()+1)
	order := make([]uint32, 0, n)
	for c := range x.NList() {
		starts = append(starts, uint32(len(order)))
		order = append(order, x.List(c)...)
	}
	starts = append(starts, uint32(n))
	ids := make([]string, n)
	attrs := make([]Attrs, n)
	vecs := make([]float32, n*dim)
	for to, from := range order {
		ids[to], attrs[to] = rows.IDs[from], rows.attrs[from]
		copy(vecs[to*dim:(to+1)*dim], rows.vectors[int(from)*dim:(int(from)+1)*dim])
	}
	rows.IDs, rows.attrs, rows.vectors = ids, attrs, vecs
	return starts, x.Centroids(), nil
}

// clustersOf describes the clusters of rows grouped at starts for the
// clusters section: where each cluster's vectors are in the graph's
// encoding and its ids in the ids section, with their checksums.
func clustersOf(starts []uint32, centroids []float32, dim int, idBytes, graphBytes []byte, vecOffset int) *segment.Clusters {
	k := len(starts) - 1
	n := int(starts[k])
	c := &segment.Clusters{Dim: dim, Rows: n, VectorKind: segment.KindGraph, VectorOffset: uint64(vecOffset),
		RowStart: starts, Centroids: centroids}
	strs := 4 + 4*n
	idEnd := func(row int) int { // the end of row's id in the strings' bytes
		if row < 0 {
			return 0
		}
		return int(binary.LittleEndian.Uint32(idBytes[4+4*row:]))
	}
	rowBytes := 4 * dim
	for i := range k {
		lo, hi := int(starts[i]), int(starts[i+1])
		first, last := idEnd(lo-1), idEnd(hi-1)
		c.IDStart = append(c.IDStart, uint32(first))
		c.VectorCRC = append(c.VectorCRC, segment.Checksum(graphBytes[vecOffset+rowBytes*lo:vecOffset+rowBytes*hi]))
		c.IDEndCRC = append(c.IDEndCRC, segment.Checksum(idBytes[4+4*lo:4+4*hi]))
		c.IDByteCRC = append(c.IDByteCRC, segment.Checksum(idBytes[strs+first:strs+last]))
	}
	c.IDStart = append(c.IDStart, uint32(idEnd(n-1)))
	return c
}

// piecesOf checksums the graph encoding's links (the bytes before vecOffset)
// and its vectors in blocks of about blockBytes.
func piecesOf(graphBytes []byte, vecOffset, dim int) *segment.Pieces {
	rowBytes := 4 * dim
	p := &segment.Pieces{BlockRows: max(1, blockBytes/rowBytes), LinksLength: uint64(vecOffset),
		LinksCRC: segment.Checksum(graphBytes[:vecOffset])}
	vecs := graphBytes[vecOffset:]
	step := p.BlockRows * rowBytes
	for lo := 0; lo < len(vecs); lo += step {
		p.BlockCRC = append(p.BlockCRC, segment.Checksum(vecs[lo:min(lo+step, len(vecs))]))
	}
	return p
}
