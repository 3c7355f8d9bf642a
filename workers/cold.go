package workers

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/weftdb/weft/index/distance"
	"github.com/weftdb/weft/index/topk"
	"github.com/weftdb/weft/objstore"
	"github.com/weftdb/weft/objstore/segment"
	storagev1 "github.com/weftdb/weft/proto/gen/weft/storage/v1"
	weftv1 "github.com/weftdb/weft/proto/gen/weft/v1"
)

// ColdSegment is a segment known by its header and clusters section
// alone: enough for a cold search to pick the clusters nearest a query
// and read only their rows, before (or instead of) loading the segment.
type ColdSegment struct {
	Key      string // the object's name
	reader   *segment.Reader
	clusters *segment.Clusters
	deleted  *roaring.Bitmap // rows a manifest lists as deleted; nil: none
}

// OpenColdSegment reads the first navBytes of segment key (one ranged
// read: the header and clusters section, as a manifest's nav_bytes says)
// and checks that the segment belongs to want's generation, dimension and
// metric. deleted is the manifest's bitmap of the segment's deleted rows.
func OpenColdSegment(ctx context.Context, b objstore.Reader, key string, navBytes int, deleted []byte, want *storagev1.SegmentMeta) (*ColdSegment, error) {
	r, err := segment.OpenPrefix(ctx, b, key, navBytes)
	if err != nil {
		return nil, err
	}
	meta, err := segmentMeta(key, r.Header(), want)
	if err != nil {
		return nil, err
	}
	secs, err := r.Read(ctx, segment.Ref{Kind: segment.KindClusters})
	if err != nil {
		return nil, err
	}
	c, err := segment.DecodeClusters(secs[0])
	if err != nil {
		return nil, fmt.Errorf("segment %s: %w", key, err)
	}
	if c.Dim != int(meta.GetDimension()) || c.Rows != int(meta.GetRows()) {
		return nil, fmt.Errorf("segment %s: clusters of %d rows of dimension %d, the segment has %d of %d",
			key, c.Rows, c.Dim, meta.GetRows(), meta.GetDimension())
	}
	g := &ColdSegment{Key: key, reader: r, clusters: c}
	if len(deleted) > 0 {
		g.deleted = roaring.New()
		if _, err := g.deleted.FromUnsafeBytes(deleted); err != nil {
			return nil, fmt.Errorf("segment %s: deleted rows: %w", key, err)
		}
	}
	return g, nil
}

// ColdHit is one row a cold search found: its document id and distance
// (the metric's internal one, as State.Finish takes it).
type ColdHit struct {
	ID   string
	Dist float32
}

// ColdStats is what a cold search cost.
type ColdStats struct {
	Clusters, Scanned int    // clusters read, rows scored
	Requests          uint64 // ranged reads, the segments' opening ones included
	Bytes             uint64 // bytes read, likewise
}

// ColdSearch returns the k rows nearest q among the probes clusters, over
// all segs, whose centroids are nearest q: their vectors and ids are read
// in one round of concurrent ranged reads (nearby ranges merged), each
// range checked against its checksum, and scored exactly. q is as the
// graphs search it (normalised for cosine). Rows the manifest deleted and
// ids skip reports are passed over; hits come nearest first, ties by id.
func ColdSearch(ctx context.Context, segs []*ColdSegment, q []float32, metric weftv1.Metric, k, probes int, skip func(id string) bool) ([]ColdHit, ColdStats, error) {
	type pick struct {
		seg, cluster int
		dist         float32
	}
	var picks []pick
	for s, g := range segs {
		for c := range g.clusters.Len() {
			if g.clusters.RowStart[c] == g.clusters.RowStart[c+1] {
				continue
			}
			picks = append(picks, pick{s, c, distance.L2Sq(q, g.clusters.Centroid(c))})
		}
	}
	slices.SortFunc(picks, func(a, b pick) int { return cmp.Compare(a.dist, b.dist) })
	picks = picks[:min(probes, len(picks))]

	// One ReadRanges per segment, all concurrent.
	bySeg := make(map[int][]int) // segment → its picks
	for i, p := range picks {
		bySeg[p.seg] = append(bySeg[p.seg], i)
	}
	parts := make([][3][]byte, len(picks))
	var wg sync.WaitGroup
	errs := make([]error, len(segs))
	for s, idx := range bySeg {
		wg.Go(func() {
			g := segs[s]
			ranges := make([]segment.Range, 0, 3*len(idx))
			for _, i := range idx {
				v, e, b, err := g.clusters.ClusterRanges(g.reader.Header(), picks[i].cluster)
				if err != nil {
					errs[s] = fmt.Errorf("segment %s: %w", g.Key, err)
					return
				}
				ranges = append(ranges, v, e, b)
			}
			got, err := g.reader.ReadRanges(ctx, ranges)
			if err != nil {
				errs[s] = err
				return
			}
			for j, i := range idx {
				parts[i] = [3][]byte{got[3*j], got[3*j+1], got[3*j+2]}
			}
		})
	}
	wg.Wait()
	var st ColdStats
	for _, g := range segs {
		st.Requests += g.reader.Requests()
		st.Bytes += g.reader.BytesFetched()
	}
	for _, err := range errs {
		if err != nil {
			return nil, st, err
		}
	}

	fn := indexMetric(metric).Func()
	var names []string
	var dists []float32
	for i, p := range picks {
		g := segs[p.seg]
		ids, err := g.clusters.ClusterIDs(p.cluster, parts[i][1], parts[i][2])
		if err != nil {
			return nil, st, fmt.Errorf("segment %s: %w", g.Key, err)
		}
		vecs, err := segment.DecodeFloat32s(parts[i][0])
		if err != nil {
			return nil, st, fmt.Errorf("segment %s: %w", g.Key, err)
		}
		first := g.clusters.RowStart[p.cluster]
		dim := g.clusters.Dim
		for j, id := range ids {
			if g.deleted != nil && g.deleted.Contains(first+uint32(j)) || skip != nil && skip(id) {
				continue
			}
			names = append(names, id)
			dists = append(dists, fn(q, vecs[j*dim:(j+1)*dim]))
		}
		st.Clusters++
	}
	st.Scanned = len(names)
	keep := topk.NewKeeper(k, names)
	for i, d := range dists {
		keep.Offer(topk.Result{ID: uint32(i), Dist: d})
	}
	best := keep.Sorted()
	hits := make([]ColdHit, len(best))
	for i, r := range best {
		hits[i] = ColdHit{ID: names[r.ID], Dist: r.Dist}
	}
	return hits, st, nil
}
