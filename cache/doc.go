// Package cache keeps pieces of immutable bucket objects close to a worker:
// in RAM, optionally on a local disk, and otherwise fetched by a caller's
// loader (a ranged GET from the bucket).
//
// A piece is named by a string key, for example object name, offset and
// length. Segment objects are immutable, so a key's bytes never change and
// a cached copy never goes stale; the cache never revalidates.
//
// # Tiers
//
// Get looks in RAM, then on disk, then calls the loader. Bytes found on
// disk or loaded are put in RAM; loaded bytes are also written to disk
// before Get returns, so a later Get, even in a new process, finds them
// there. Each tier has its own byte budget:
//
//   - RAM is a ristretto cache (TinyLFU admission, sampled LFU eviction)
//     whose MaxCost is Options.RAMBytes. An entry costs its key and bytes
//     plus EntryOverhead. Admission may turn a piece away under pressure:
//     a returned piece is not necessarily kept.
//   - Disk appends pieces to slab files in Options.DiskDir (each slab up to
//     an eighth of Options.DiskBytes, at most 64 MiB) and deletes the oldest
//     slab once their total passes Options.DiskBytes: first in, first out.
//     An index in memory says where each key's record is, so a disk hit is
//     one positioned read of an open file. Startup rebuilds the index from
//     the records' headers.
//
// # Loads
//
// Concurrent Gets of one key that miss both tiers share one load. A caller
// whose context ends stops waiting and gets its ctx.Err(), but the shared
// load goes on for the others: it runs under a context detached from every
// caller (it keeps the first caller's values, not its cancellation), bounded
// by Options.LoadTimeout and cancelled by Close. A load that finishes after
// all its callers left is still cached, since someone asked for the piece.
// Errors are returned to the callers that shared the load and not cached.
//
// # Disk records
//
// A record holds a header (magic, CRC-32C, key length, data length), the key
// and the bytes. Records are appended and never rewritten; slabs are not
// fsynced: a cache may lose pieces, and every read checks the CRC and the
// key, so a record that fails (a crash in the middle of an append, damage)
// is dropped from the index and treated as a miss, never served. Startup
// cuts a slab at its first record whose header does not parse, and deletes
// the per-piece files of earlier versions. A directory must be used by one
// Cache at a time.
//
// # Metrics
//
// New registers Prometheus metrics named weft_cache_*: hits by tier, misses
// (loader calls), load errors, load latency, evictions by tier, bytes held by
// tier, and corrupt or failed disk files.
package cache
