package fabric

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/weftdb/weft/index/distance"
	"github.com/weftdb/weft/index/hnsw"
	"github.com/weftdb/weft/objstore/segment"
	storagev1 "github.com/weftdb/weft/proto/gen/weft/storage/v1"
	weftv1 "github.com/weftdb/weft/proto/gen/weft/v1"
)

// A segment holds one shard: the sections below, shard 0.
//
//	KindIDs         row → document id
//	KindAttributes  a storagev1.SegmentAttributes, one entry per row
//	KindVectors     the documents' vectors as written (cosine only: the
//	                graph keeps them normalised; other metrics read the
//	                graph's copy, which is the same bytes)
//	KindGraph       the HNSW graph with its vectors (index/hnsw encoding)
const shard0 = 0

// indexedSegment is a segment open in memory. Its graph's tombstones are
// the only mutable part: a write that deletes or replaces one of its rows
// tombstones it, so approximate searches skip it. States that share a
// segment share its tombstones, which only ever grow.
type indexedSegment struct {
	id    string
	rows  int
	bytes int
	graph *hnsw.Index
	vecs  []float32 // as written, row-major; nil: the graph's vectors
	dim   int
}

// vector returns row's vector as written, aliasing the segment.
func (g *indexedSegment) vector(row int) []float32 {
	if g.vecs != nil {
		return g.vecs[row*g.dim : (row+1)*g.dim : (row+1)*g.dim]
	}
	return g.graph.Vector(uint32(row))
}

// segmentRows is what a fold writes into a new segment: live documents
// in row order.
type segmentRows struct {
	ids     []string
	attrs   []attrs
	vectors []float32 // as written, row-major
}

func (r *segmentRows) add(id string, a attrs, v []float32) {
	r.ids = append(r.ids, id)
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

// buildSegment indexes rows and returns the segment's bytes.
func buildSegment(ctx context.Context, meta *storagev1.SegmentMeta, rows *segmentRows, cfg IndexConfig) ([]byte, error) {
	dim := int(meta.GetDimension())
	graph, err := hnsw.Build(ctx, rows.vectors, dim, hnsw.Config{
		M: cfg.M, EfConstruction: cfg.EfConstruction, Metric: indexMetric(meta.GetMetric()), Seed: 1,
	}, cfg.Threads)
	if err != nil {
		return nil, fmt.Errorf("build graph: %w", err)
	}
	meta = proto.CloneOf(meta)
	meta.Rows = uint64(len(rows.ids))
	meta.HnswM, meta.HnswEfConstruction = uint32(cfg.M), uint32(cfg.EfConstruction)
	mb, err := proto.Marshal(meta)
	if err != nil {
		return nil, err
	}
	ab := &storagev1.SegmentAttributes{Rows: make([]*storagev1.SegmentRow, len(rows.attrs))}
	for i, a := range rows.attrs {
		ab.Rows[i] = &storagev1.SegmentRow{Attributes: a}
	}
	attrBytes, err := proto.MarshalOptions{Deterministic: true}.Marshal(ab)
	if err != nil {
		return nil, err
	}
	b := segment.NewBuilder(mb)
	add := func(k segment.Kind, data []byte) {
		if err == nil {
			err = b.Add(k, shard0, data)
		}
	}
	add(segment.KindIDs, segment.EncodeStrings(rows.ids))
	add(segment.KindAttributes, attrBytes)
	if meta.GetMetric() == weftv1.Metric_METRIC_COSINE {
		add(segment.KindVectors, segment.EncodeFloat32s(rows.vectors))
	}
	add(segment.KindGraph, graph.AppendEncoding(nil))
	if err != nil {
		return nil, err
	}
	return b.Bytes()
}

// openSegment decodes a whole segment object. The graph and vectors alias
// data. It checks that the segment belongs to the namespace generation
// and fits its dimension and metric.
func openSegment(id string, data []byte, want *storagev1.SegmentMeta) (*indexedSegment, []string, []attrs, error) {
	h, err := segment.Decode(data)
	if err != nil {
		return nil, nil, nil, err
	}
	meta := &storagev1.SegmentMeta{}
	if err := proto.Unmarshal(h.Meta, meta); err != nil {
		return nil, nil, nil, fmt.Errorf("segment %s: metadata: %w", id, err)
	}
	if meta.GetNamespace() != want.GetNamespace() || meta.GetGeneration() != want.GetGeneration() ||
		meta.GetDimension() != want.GetDimension() || meta.GetMetric() != want.GetMetric() {
		return nil, nil, nil, fmt.Errorf("segment %s belongs to namespace %q generation %s (dimension %d, %s), not %q generation %s (dimension %d, %s)",
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
		return nil, nil, nil, err
	}
	ids, err := segment.DecodeStrings(idBytes)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("segment %s ids: %w", id, err)
	}
	attrBytes, err := section(segment.KindAttributes)
	if err != nil {
		return nil, nil, nil, err
	}
	ab := &storagev1.SegmentAttributes{}
	if err := proto.Unmarshal(attrBytes, ab); err != nil {
		return nil, nil, nil, fmt.Errorf("segment %s attributes: %w", id, err)
	}
	graphBytes, err := section(segment.KindGraph)
	if err != nil {
		return nil, nil, nil, err
	}
	graph, err := hnsw.Decode(graphBytes)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("segment %s graph: %w", id, err)
	}
	if len(ids) != rows || len(ab.GetRows()) != rows || graph.Len() != rows || graph.Dim() != int(meta.GetDimension()) {
		return nil, nil, nil, fmt.Errorf("segment %s: %d rows, but %d ids, %d attribute rows, %d graph nodes of dimension %d",
			id, rows, len(ids), len(ab.GetRows()), graph.Len(), graph.Dim())
	}
	g := &indexedSegment{id: id, rows: rows, bytes: len(data), graph: graph, dim: int(meta.GetDimension())}
	if meta.GetMetric() == weftv1.Metric_METRIC_COSINE {
		vb, err := section(segment.KindVectors)
		if err != nil {
			return nil, nil, nil, err
		}
		if g.vecs, err = segment.DecodeFloat32s(vb); err != nil {
			return nil, nil, nil, fmt.Errorf("segment %s vectors: %w", id, err)
		}
		if len(g.vecs) != rows*g.dim {
			return nil, nil, nil, fmt.Errorf("segment %s: %d vector values for %d rows of dimension %d", id, len(g.vecs), rows, g.dim)
		}
	}
	as := make([]attrs, rows)
	for i, r := range ab.GetRows() {
		as[i] = r.GetAttributes()
	}
	return g, ids, as, nil
}
