package workers

import (
	"context"
	"fmt"
	"math"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/weftdb/weft/index/distance"
	"github.com/weftdb/weft/index/hnsw"
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
const shard0 = 0

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
	// cols holds the rows' attributes, one column per name and type,
	// aliasing the segment's bytes. A segment row's attributes never
	// change: an update moves the row to the tail.
	cols []plugins.Column
}

// attrs returns row's attributes, built from the columns.
func (g *Segment) attrs(row int) Attrs { return rowAttrs(g.cols, row) }

// vector returns row's vector as written, aliasing the segment.
func (g *Segment) vector(row int) []float32 {
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

// BuildSegment indexes rows and returns the segment's bytes.
func BuildSegment(ctx context.Context, meta *storagev1.SegmentMeta, rows *SegmentRows, cfg BuildConfig) ([]byte, error) {
	dim := int(meta.GetDimension())
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
	add(segment.KindIDs, segment.EncodeStrings(rows.IDs))
	add(segment.KindColumns, colBytes)
	if meta.GetMetric() == weftv1.Metric_METRIC_COSINE {
		add(segment.KindVectors, segment.EncodeFloat32s(rows.vectors))
	}
	add(segment.KindGraph, graph.AppendEncoding(nil))
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
	meta := &storagev1.SegmentMeta{}
	if err := proto.Unmarshal(h.Meta, meta); err != nil {
		return nil, nil, fmt.Errorf("segment %s: metadata: %w", id, err)
	}
	if meta.GetNamespace() != want.GetNamespace() || meta.GetGeneration() != want.GetGeneration() ||
		meta.GetDimension() != want.GetDimension() || meta.GetMetric() != want.GetMetric() {
		return nil, nil, fmt.Errorf("segment %s belongs to namespace %q generation %s (dimension %d, %s), not %q generation %s (dimension %d, %s)",
			id, meta.GetNamespace(), meta.GetGeneration(), meta.GetDimension(), meta.GetMetric(),
			want.GetNamespace(), want.GetGeneration(), want.GetDimension(), want.GetMetric())
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
	g := &Segment{ID: id, Rows: rows, Bytes: len(data), Graph: graph, dim: int(meta.GetDimension()), cols: cols, List: meta.GetIvfList()}
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
		c, err := segment.DecodeFloat32s(b)
		if err != nil || len(c) != g.dim+1 {
			return nil, nil, fmt.Errorf("segment %s: centroid of %d values for dimension %d (%v)", id, len(c), g.dim, err)
		}
		g.Centroid, g.Radius = c[:g.dim:g.dim], c[g.dim]
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
