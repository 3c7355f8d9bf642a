package segment

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/weftdb/weft/objstore"
)

// clusteredSegment builds a segment of rows whose ids are "row-<r>" and
// whose vectors are (r, r+0.5), in three clusters of 3, 0 and 4 rows, with
// filler sections between them so ranged reads cannot merge.
func clusteredSegment(t testing.TB) ([]byte, *Clusters, []string, []float32) {
	t.Helper()
	const dim, rows = 2, 7
	starts := []uint32{0, 3, 3, 7}
	var ids []string
	var vecs []float32
	for r := range rows {
		ids = append(ids, fmt.Sprintf("row-%d", r*r*r)) // ids of different lengths
		vecs = append(vecs, float32(r), float32(r)+0.5)
	}
	vecBytes := EncodeFloat32s(vecs)
	idBytes := EncodeStrings(ids)
	const vecOff = 64 // the vectors' section starts with something else
	c := &Clusters{Dim: dim, Rows: rows, VectorKind: KindVectors, VectorOffset: vecOff, RowStart: starts,
		Centroids: []float32{1, 1.5, 9, 9, 4.5, 5}}
	strs := 4 + 4*rows
	for i := range len(starts) - 1 {
		lo, hi := int(starts[i]), int(starts[i+1])
		first := 0
		if lo > 0 {
			first = int(le32(idBytes[4+4*(lo-1):]))
		}
		c.IDStart = append(c.IDStart, uint32(first))
		c.VectorCRC = append(c.VectorCRC, Checksum(vecBytes[4*dim*lo:4*dim*hi]))
		c.IDEndCRC = append(c.IDEndCRC, Checksum(idBytes[4+4*lo:4+4*hi]))
		last := first
		if hi > 0 {
			last = int(le32(idBytes[4+4*(hi-1):]))
		}
		c.IDByteCRC = append(c.IDByteCRC, Checksum(idBytes[strs+first:strs+last]))
	}
	c.IDStart = append(c.IDStart, uint32(len(idBytes)-strs))
	data := build(t, []byte("meta"),
		part{KindClusters, 0, EncodeClusters(c)},
		part{KindIDs, 0, idBytes},
		part{KindGraph, 0, make([]byte, 3*MergeGap)},
		part{KindVectors, 0, append(make([]byte, vecOff), vecBytes...)},
	)
	return data, c, ids, vecs
}

func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

func TestClustersRoundTrip(t *testing.T) {
	_, c, _, _ := clusteredSegment(t)
	got, err := DecodeClusters(EncodeClusters(c))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, c) {
		t.Fatalf("decoded %+v, encoded %+v", got, c)
	}
	if got.Len() != 3 || !slices.Equal(got.Centroid(2), []float32{4.5, 5}) {
		t.Fatalf("%d clusters, centroid 2 %v", got.Len(), got.Centroid(2))
	}
}

// TestClusterRangesRead reads each cluster's rows with ReadRanges after a
// one-read open of the header and clusters section: two reads in all per
// cluster set, the vectors and ids exactly the cluster's.
func TestClusterRangesRead(t *testing.T) {
	data, _, ids, vecs := clusteredSegment(t)
	eachBucket(t, func(t *testing.T, b objstore.Bucket) {
		upload(t, b, "seg", data)
		h, err := Decode(data)
		if err != nil {
			t.Fatal(err)
		}
		nav, _ := h.Section(KindClusters, 0)
		c := &countingReader{Reader: b}
		r, err := OpenPrefix(t.Context(), c, "seg", int(nav.end()))
		if err != nil {
			t.Fatal(err)
		}
		c.expect(t, "open", 1, nav.end())
		got, err := r.Read(t.Context(), Ref{KindClusters, 0})
		if err != nil {
			t.Fatal(err)
		}
		c.expect(t, "clusters from the prefix", 0, 0)
		cl, err := DecodeClusters(got[0])
		if err != nil {
			t.Fatal(err)
		}
		for i := range cl.Len() {
			vr, er, br, err := cl.ClusterRanges(r.Header(), i)
			if err != nil {
				t.Fatal(err)
			}
			parts, err := r.ReadRanges(t.Context(), []Range{vr, er, br})
			if err != nil {
				t.Fatal(err)
			}
			lo, hi := int(cl.RowStart[i]), int(cl.RowStart[i+1])
			gotIDs, err := cl.ClusterIDs(i, parts[1], parts[2])
			if err != nil {
				t.Fatal(err)
			}
			gotVecs, err := DecodeFloat32s(parts[0])
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(gotIDs, ids[lo:hi]) || !slices.Equal(gotVecs, vecs[2*lo:2*hi]) {
				t.Fatalf("cluster %d: ids %q vectors %v, want %q %v", i, gotIDs, gotVecs, ids[lo:hi], vecs[2*lo:2*hi])
			}
			// The ids and the vectors are far apart: two reads, except for
			// the empty cluster, which needs none.
			want := 2
			if lo == hi {
				want = 0
			}
			if n := c.ranges.Swap(0); n != int64(want) {
				t.Errorf("cluster %d: %d ranged reads, want %d", i, n, want)
			}
			c.bytes.Store(0)
		}
	})
}

// TestClusterRangesDamage: a flipped byte in a cluster's vectors fails that
// cluster's read, naming it corrupt, and no other.
func TestClusterRangesDamage(t *testing.T) {
	data, _, _, _ := clusteredSegment(t)
	h, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	nav, _ := h.Section(KindClusters, 0)
	navBytes, _ := h.SectionBytes(data, nav)
	cl, err := DecodeClusters(navBytes)
	if err != nil {
		t.Fatal(err)
	}
	vr, _, _, err := cl.ClusterRanges(h, 2)
	if err != nil {
		t.Fatal(err)
	}
	bad := slices.Clone(data)
	bad[vr.Offset+5] ^= 1
	b := objstore.NewInMemory()
	upload(t, b, "seg", bad)
	r, err := OpenPrefix(t.Context(), b, "seg", int(nav.end()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReadRanges(t.Context(), []Range{vr}); !errors.Is(err, objstore.ErrCorrupt) {
		t.Fatalf("damaged cluster: %v, want corrupt", err)
	}
	v0, _, _, _ := cl.ClusterRanges(h, 0)
	if _, err := r.ReadRanges(t.Context(), []Range{v0}); err != nil {
		t.Fatalf("undamaged cluster: %v", err)
	}
	if _, err := r.ReadRanges(t.Context(), []Range{{Offset: h.Size - 2, Length: 4}}); err == nil {
		t.Fatal("a range past the object was read")
	}
}

func FuzzDecodeClusters(f *testing.F) {
	_, c, _, _ := clusteredSegment(f)
	good := EncodeClusters(c)
	f.Add(good)
	f.Add(good[:len(good)-1])
	f.Add(good[:clustersFixed])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeClusters(b)
		if err != nil {
			if !errors.Is(err, objstore.ErrCorrupt) {
				t.Fatalf("error does not wrap ErrCorrupt: %v", err)
			}
			return
		}
		if again := EncodeClusters(c); !slices.Equal(again, b) {
			t.Fatalf("re-encoding differs")
		}
		h := &Header{Size: 1 << 40, Sections: []Section{{Kind: c.VectorKind, Length: 1 << 30}, {Kind: KindIDs, Offset: 1 << 31, Length: 1 << 20}}}
		for i := range c.Len() {
			if _, _, _, err := c.ClusterRanges(h, i); err != nil && !errors.Is(err, objstore.ErrCorrupt) {
				t.Fatalf("ranges: %v", err)
			}
			_, _ = c.ClusterIDs(i, b, b)
		}
	})
}
