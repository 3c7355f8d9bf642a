// Package objstore is Weft's only window onto durable state: buckets, the
// bucket layout (keys.go), the write-ahead log, manifests, and in
// objstore/segment the segment format.
//
// # Why it exists
//
// Weft keeps all state in an object store (DESIGN.md, "Bucket layout"). The
// thanos-io/objstore providers give us reads, ranged reads and listings for
// S3, GCS, Azure and a local filesystem, and Weft uses them for that. They do
// not give two things Weft's invariants need:
//
//   - Atomic visibility. The thanos filesystem provider writes objects in
//     place, without a temporary file, rename or fsync: a concurrent reader can
//     see a truncated object and a crash can leave one behind. [NewFilesystem]
//     writes to a temporary file, fsyncs it, renames (Upload) or links (Create)
//     it into place and fsyncs the parent directory.
//   - Create-if-absent. The released thanos module has no conditional upload,
//     so two indexers or fabrics could overwrite each other's WAL entry or
//     manifest. [Bucket.Create] gives exactly-one-wins semantics: link(2) on a
//     filesystem, "If-None-Match: *" on S3, a lock in memory.
//
// # Entry points
//
//   - [Reader] and [Bucket]: the narrow interfaces the rest of Weft uses;
//     workers get a [Reader].
//   - [Open] builds a bucket from thanos-objstore YAML (FILESYSTEM, S3,
//     IN-MEMORY); [NewFilesystem] and [NewInMemory] build one directly.
//   - [WithPhysics] adds a round trip per call and a transfer rate by size
//     (--objstore-latency, --objstore-bandwidth), for local runs, tests and
//     benchmarks of cold paths; [WithLatency] the round trip alone.
//   - [Generation]: every object name of a namespace generation, built in
//     one place.
//   - [WAL], [EncodeWALEntry], [DecodeWALEntry]: one checksummed object per
//     acknowledged write batch under [Generation.WALPrefix].
//   - [Manifests]: versioned manifests published with create-if-absent, the
//     newest found without a LIST.
//   - Package objstoretest is the acceptance suite every [Bucket] must pass.
//
// # Imports
//
// objstore imports no other Weft package. It imports the thanos providers it
// supports directly, never thanos objstore/client, which links every cloud
// SDK into the binary.
package objstore
