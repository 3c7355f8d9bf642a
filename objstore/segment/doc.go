// Package segment owns Weft's segment container, format v1: one immutable
// object in a bucket that holds several checksummed sections (document ids,
// attributes, vectors, a graph encoding, a centroid) behind a small,
// separately checksummed header.
//
// # Layout
//
// All integers are little-endian. H is the header length, m the meta length,
// n the section count.
//
//	offset       size  field
//	0            4     magic "WFTS"
//	4            2     format version (1)
//	6            2     flags (0; any other value is rejected)
//	8            4     header length H = 32 + m + 32n, at most 16 MiB
//	12           4     meta length m
//	16           m     meta: opaque caller bytes (a protobuf, say)
//	16+m         4     section count n
//	20+m         32n   table of contents, one 32-byte entry per section:
//	                     +0   2  kind (not 0)
//	                     +2   2  reserved (0)
//	                     +4   4  shard
//	                     +8   8  offset of the section's first byte
//	                     +16  8  section length
//	                     +24  4  CRC-32C (Castagnoli) of the section's bytes
//	                     +28  4  reserved (0)
//	H-12         8     object size S
//	H-4          4     CRC-32C of bytes [0, H-4)
//	H            ...   zero padding up to A, H rounded up to a multiple
//	                   of 64 (none when there are no sections: S = H)
//	A            ...   the sections in table order, each followed by zero
//	                   padding up to a multiple of 64, except the last,
//	                   which ends the object at S
//
// The layout is canonical: section i starts at the first multiple of 64 at or
// after the end of section i-1 (of the header for i = 0), (kind, shard) pairs
// are unique, padding is zeros and reserved fields are 0. An empty section
// takes no bytes, at the offset where the next one starts. The decoders check
// all of it, so a valid object has exactly one encoding and [Builder] rebuilds
// any object [Decode] accepts byte for byte. Offsets are stored even though
// they follow from the lengths so that a reader turns an entry into a ranged
// read without summing the ones before it.
//
// # Why sections are 64-byte aligned
//
// A section's bytes are used where they land: float32 vectors and uint32
// tables are sliced in place, and index/hnsw's Decode aliases its buffer only
// when it is 4-byte aligned. Object offsets that are multiples of 64 keep
// every section as aligned as the buffer it is read into (Go's allocator
// aligns buffers of 16 bytes or more to 8 bytes), whether the whole object
// was read or a ranged read began at a section. 64 bytes is also a cache line, so no two sections
// share one. The cost is under 64 bytes of padding per section.
//
// # Why the header has its own checksum
//
// A reader first fetches only the navigation part, the header with its table
// of contents, and then the few sections it needs with ranged reads; it never
// holds the whole object, so one checksum over the object could never be
// checked. The header checksum lets the table of contents be trusted before
// any offset in it is used, and each section's checksum, kept in the table,
// is checked against just that section's bytes when they arrive.
//
// # Entry points
//
//   - [Builder] encodes a segment: [NewBuilder], [Builder.Add], [Builder.Bytes].
//   - [Decode] checks a whole object in memory; [Header.SectionBytes] slices
//     a section out of it.
//   - [DecodeHeader] decodes the navigation part from a prefix of an object
//     and says how many bytes it needs when the prefix is too short.
//   - [Open] and [Reader.Read] read a segment in a bucket with ranged reads:
//     one read of [PrefetchSize] bytes for the header (two when the header
//     is longer), then one read per run of wanted sections at most
//     [MergeGap] apart.
//   - [EncodeStrings], [DecodeStrings], [EncodeFloat32s] and
//     [DecodeFloat32s] encode the common section contents.
//
// Every decoding error wraps [objstore.ErrCorrupt] and names what is wrong;
// no input makes a decoder panic.
//
// # Imports
//
// segment imports objstore and the standard library, nothing else of Weft's.
// Section contents are opaque here: index/hnsw's encoding or the caller's
// protobufs go in and come out as bytes.
package segment
