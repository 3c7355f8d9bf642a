package segment

import (
	"encoding/binary"
	"math"
)

// Pieces is the contents of a KindPieces section: checksums of the parts of
// a graph section that a lazy reader fetches apart, so that it can hold the
// graph's links in memory and fetch rows' vectors block by block, checking
// each piece on arrival without ever reading the whole section.
//
// The graph section (index/hnsw's encoding) holds the links first and the
// vectors last: LinksLength bytes of links, then the rows' vectors back to
// back, in blocks of BlockRows rows (the last block may be shorter).
//
// Encoding (little-endian):
//
//	offset  size  field
//	0       4     BlockRows, at least 1
//	4       4     reserved (0)
//	8       8     LinksLength
//	16      4     CRC-32C of the links
//	20      4     block count b
//	24      4b    CRC-32C of each block's vectors
type Pieces struct {
	BlockRows   int
	LinksLength uint64
	LinksCRC    uint32
	BlockCRC    []uint32
}

const piecesFixed = 24

// EncodePieces encodes p.
func EncodePieces(p *Pieces) []byte {
	le := binary.LittleEndian
	out := make([]byte, piecesFixed, piecesFixed+4*len(p.BlockCRC))
	le.PutUint32(out[0:], uint32(p.BlockRows))
	le.PutUint64(out[8:], p.LinksLength)
	le.PutUint32(out[16:], p.LinksCRC)
	le.PutUint32(out[20:], uint32(len(p.BlockCRC)))
	for _, c := range p.BlockCRC {
		out = le.AppendUint32(out, c)
	}
	return out
}

// DecodePieces decodes a KindPieces section. Errors wrap
// objstore.ErrCorrupt.
func DecodePieces(b []byte) (*Pieces, error) {
	if len(b) < piecesFixed {
		return nil, corrupt("pieces section of %d bytes, its fixed part takes %d", len(b), piecesFixed)
	}
	le := binary.LittleEndian
	p := &Pieces{BlockRows: int(le.Uint32(b)), LinksLength: le.Uint64(b[8:]), LinksCRC: le.Uint32(b[16:])}
	n := uint64(le.Uint32(b[20:]))
	switch {
	case p.BlockRows < 1:
		return nil, corrupt("pieces section: blocks of %d rows", p.BlockRows)
	case le.Uint32(b[4:]) != 0:
		return nil, corrupt("pieces section: reserved field is %d", le.Uint32(b[4:]))
	case p.LinksLength > math.MaxInt64:
		return nil, corrupt("pieces section: links of %d bytes", p.LinksLength)
	case uint64(len(b)) != piecesFixed+4*n:
		return nil, corrupt("pieces section of %d bytes for %d blocks", len(b), n)
	}
	p.BlockCRC = make([]uint32, n)
	for i := range p.BlockCRC {
		p.BlockCRC[i] = le.Uint32(b[piecesFixed+4*i:])
	}
	return p, nil
}

// Links returns the range of the graph section g that holds its links.
func (p *Pieces) Links(g Section) (Range, error) {
	if p.LinksLength > g.Length {
		return Range{}, corrupt("links of %d bytes in a graph section of %d", p.LinksLength, g.Length)
	}
	return Range{Offset: g.Offset, Length: p.LinksLength, CRC: p.LinksCRC}, nil
}

// Block returns the range of graph section g holding block i's vectors,
// for rows of dim float32s: rows [i·BlockRows, min((i+1)·BlockRows, rows)).
func (p *Pieces) Block(g Section, i, rows, dim int) (Range, error) {
	if i < 0 || i >= len(p.BlockCRC) {
		return Range{}, corrupt("block %d of %d", i, len(p.BlockCRC))
	}
	row := uint64(4 * dim)
	lo := uint64(i) * uint64(p.BlockRows)
	hi := min(lo+uint64(p.BlockRows), uint64(rows))
	r := Range{Offset: g.Offset + p.LinksLength + lo*row, Length: (hi - lo) * row, CRC: p.BlockCRC[i]}
	if lo >= hi || r.end() > g.end() {
		return Range{}, corrupt("block %d (rows %d to %d) past the graph section", i, lo, hi)
	}
	return r, nil
}
