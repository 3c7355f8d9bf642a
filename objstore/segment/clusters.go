package segment

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
)

// Clusters is the contents of a KindClusters section: a map of the
// segment's rows, which are stored grouped by cluster, so that a reader
// holding only the segment's header and this section can pick the clusters
// nearest a query and read just their vectors and ids with a few ranged
// reads, each checked against its own checksum.
//
// Encoding (little-endian; k clusters, d dimensions):
//
//	offset      size    field
//	0           4       k, at least 1
//	4           4       d, at least 1
//	8           4       rows n
//	12          2       kind of the section holding the vectors
//	14          2       reserved (0)
//	16          8       offset of row 0's vector within that section; row r's
//	                    d float32s follow at 4·d·r from it
//	24          4(k+1)  first row of each cluster, then n (nondecreasing, from 0)
//	..          4(k+1)  first byte of each cluster's ids within the strings'
//	                    bytes of the KindIDs section, then their total
//	..          4k      CRC-32C of each cluster's vectors
//	..          4k      CRC-32C of each cluster's entries in the ids' end table
//	..          4k      CRC-32C of each cluster's id bytes
//	..          4kd     the clusters' centroids, float32
type Clusters struct {
	Dim, Rows    int
	VectorKind   Kind
	VectorOffset uint64
	RowStart     []uint32 // k+1
	IDStart      []uint32 // k+1
	VectorCRC    []uint32 // k
	IDEndCRC     []uint32 // k
	IDByteCRC    []uint32 // k
	Centroids    []float32
}

// Len returns the number of clusters.
func (c *Clusters) Len() int { return len(c.RowStart) - 1 }

// Centroid returns cluster i's centroid.
func (c *Clusters) Centroid(i int) []float32 { return c.Centroids[i*c.Dim : (i+1)*c.Dim : (i+1)*c.Dim] }

const clustersFixed = 24

// EncodeClusters encodes c. It panics if c's slices disagree in length.
func EncodeClusters(c *Clusters) []byte {
	k := c.Len()
	if k < 1 || len(c.IDStart) != k+1 || len(c.VectorCRC) != k || len(c.IDEndCRC) != k ||
		len(c.IDByteCRC) != k || len(c.Centroids) != k*c.Dim {
		panic("segment: EncodeClusters: inconsistent lengths")
	}
	le := binary.LittleEndian
	out := make([]byte, clustersFixed, clustersFixed+4*(2*(k+1)+3*k+k*c.Dim))
	le.PutUint32(out[0:], uint32(k))
	le.PutUint32(out[4:], uint32(c.Dim))
	le.PutUint32(out[8:], uint32(c.Rows))
	le.PutUint16(out[12:], uint16(c.VectorKind))
	le.PutUint64(out[16:], c.VectorOffset)
	for _, s := range [][]uint32{c.RowStart, c.IDStart, c.VectorCRC, c.IDEndCRC, c.IDByteCRC} {
		for _, v := range s {
			out = le.AppendUint32(out, v)
		}
	}
	for _, f := range c.Centroids {
		out = le.AppendUint32(out, math.Float32bits(f))
	}
	return out
}

// DecodeClusters decodes a KindClusters section. The centroids alias b when
// it is 4-byte aligned. Errors wrap objstore.ErrCorrupt.
func DecodeClusters(b []byte) (*Clusters, error) {
	if len(b) < clustersFixed {
		return nil, corrupt("clusters section of %d bytes, its fixed part takes %d", len(b), clustersFixed)
	}
	le := binary.LittleEndian
	k, d := uint64(le.Uint32(b)), uint64(le.Uint32(b[4:]))
	if k < 1 || d < 1 {
		return nil, corrupt("clusters section: %d clusters of dimension %d", k, d)
	}
	if le.Uint16(b[14:]) != 0 {
		return nil, corrupt("clusters section: reserved field is %d", le.Uint16(b[14:]))
	}
	if want := clustersFixed + 4*(2*(k+1)+3*k) + 4*k*d; k > math.MaxUint32/d || uint64(len(b)) != want {
		return nil, corrupt("clusters section of %d bytes for %d clusters of dimension %d", len(b), k, d)
	}
	c := &Clusters{Dim: int(d), Rows: int(le.Uint32(b[8:])), VectorKind: Kind(le.Uint16(b[12:])), VectorOffset: le.Uint64(b[16:])}
	off := clustersFixed
	u32s := func(n uint64) []uint32 {
		s := make([]uint32, n)
		for i := range s {
			s[i] = le.Uint32(b[off+4*i:])
		}
		off += 4 * int(n)
		return s
	}
	c.RowStart, c.IDStart = u32s(k+1), u32s(k+1)
	c.VectorCRC, c.IDEndCRC, c.IDByteCRC = u32s(k), u32s(k), u32s(k)
	var err error
	if c.Centroids, err = DecodeFloat32s(b[off:]); err != nil {
		return nil, err
	}
	if c.RowStart[0] != 0 || c.IDStart[0] != 0 || int(c.RowStart[k]) != c.Rows {
		return nil, corrupt("clusters section: rows start at %d and end at %d of %d, ids start at %d", c.RowStart[0], c.RowStart[k], c.Rows, c.IDStart[0])
	}
	for i := range int(k) {
		if c.RowStart[i+1] < c.RowStart[i] || c.IDStart[i+1] < c.IDStart[i] {
			return nil, corrupt("clusters section: cluster %d runs backwards", i)
		}
	}
	for _, f := range c.Centroids {
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			return nil, corrupt("clusters section: a centroid holds %v", f)
		}
	}
	return c, nil
}

// Range is a byte range of an object whose bytes must have checksum CRC.
type Range struct {
	Offset, Length uint64
	CRC            uint32
}

func (r Range) end() uint64 { return r.Offset + r.Length }

// ClusterRanges returns where cluster i's rows are in the object h heads:
// its vectors, its entries in the ids' end table, and its id bytes. It
// checks they lie inside their sections.
func (c *Clusters) ClusterRanges(h *Header, i int) (vectors, idEnds, idBytes Range, err error) {
	vs, ok := h.Section(c.VectorKind, 0)
	if !ok {
		return vectors, idEnds, idBytes, corrupt("clusters name a %v section the segment lacks", c.VectorKind)
	}
	is, ok := h.Section(KindIDs, 0)
	if !ok {
		return vectors, idEnds, idBytes, corrupt("clusters without an ids section")
	}
	lo, hi := uint64(c.RowStart[i]), uint64(c.RowStart[i+1])
	row := 4 * uint64(c.Dim)
	vectors = Range{Offset: vs.Offset + c.VectorOffset + row*lo, Length: row * (hi - lo), CRC: c.VectorCRC[i]}
	idEnds = Range{Offset: is.Offset + 4 + 4*lo, Length: 4 * (hi - lo), CRC: c.IDEndCRC[i]}
	strings := 4 + 4*uint64(c.Rows)
	idBytes = Range{Offset: is.Offset + strings + uint64(c.IDStart[i]), Length: uint64(c.IDStart[i+1] - c.IDStart[i]), CRC: c.IDByteCRC[i]}
	if c.VectorOffset > vs.Length || vectors.end() > vs.end() || idEnds.end() > is.end() || idBytes.end() > is.end() {
		return vectors, idEnds, idBytes, corrupt("cluster %d reaches past its sections", i)
	}
	return vectors, idEnds, idBytes, nil
}

// ClusterIDs decodes cluster i's ids from its ranges' bytes (as
// ClusterRanges names them).
func (c *Clusters) ClusterIDs(i int, idEnds, idBytes []byte) ([]string, error) {
	n := int(c.RowStart[i+1] - c.RowStart[i])
	if len(idEnds) != 4*n || len(idBytes) != int(c.IDStart[i+1]-c.IDStart[i]) {
		return nil, corrupt("cluster %d: %d end bytes and %d id bytes for %d rows", i, len(idEnds), len(idBytes), n)
	}
	all := string(idBytes)
	ids := make([]string, n)
	base, prev := uint64(c.IDStart[i]), uint64(c.IDStart[i])
	for j := range ids {
		end := uint64(binary.LittleEndian.Uint32(idEnds[4*j:]))
		if end < prev || end > uint64(c.IDStart[i+1]) {
			return nil, corrupt("cluster %d: id %d ends at %d, after %d and within %d", i, j, end, prev, c.IDStart[i+1])
		}
		ids[j] = all[prev-base : end-base]
		prev = end
	}
	if prev != uint64(c.IDStart[i+1]) {
		return nil, corrupt("cluster %d: ids end at %d, not %d", i, prev, c.IDStart[i+1])
	}
	return ids, nil
}

// Verify checks b against r's checksum.
func (r Range) Verify(b []byte) error {
	if uint64(len(b)) != r.Length {
		return corrupt("%d bytes at offset %d, want %d", len(b), r.Offset, r.Length)
	}
	if got := crc32.Checksum(b, castagnoli); got != r.CRC {
		return corrupt("%d bytes at offset %d: checksum %#08x, stored %#08x", r.Length, r.Offset, got, r.CRC)
	}
	return nil
}

// Checksum returns the CRC-32C the format uses, for callers that build
// sections with checksummed parts (Clusters).
func Checksum(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

func (r Range) String() string { return fmt.Sprintf("[%d, %d)", r.Offset, r.end()) }
