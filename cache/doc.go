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
//   - Disk keeps one file per piece in Options.DiskDir and evicts the least
//     recently used files once their total size exceeds Options.DiskBytes.
//     Recency lives in memory; at startup it is rebuilt from the files'
//     modification times.
//
// # Loads
//
// Concurrent Gets of one key share one lookup (disk read or load). A caller
// whose context ends stops waiting and gets its ctx.Err(), but the shared
// load goes on for the others: it runs under a context detached from every
// caller (it keeps the first caller's values, not its cancellation), bounded
// by Options.LoadTimeout and cancelled by Close. A load that finishes after
// all its callers left is still cached, since someone asked for the piece.
// Errors are returned to the callers that shared the load and not cached.
//
// # Disk files
//
// A piece file is named by the SHA-256 of its key, in hex, so any key makes a
// safe name. It holds a header (magic, CRC-32C, key length, data length),
// the key and the bytes. Files are written to a temporary file in the same
// directory, fsynced and renamed, so a crash leaves either a whole file or a
// temporary one, which the next start deletes. Startup also deletes files
// whose header or length is wrong; every read checks the CRC and the key, and
// a file that fails is deleted and treated as a miss, never served. A
// directory must be used by one Cache at a time.
//
// # Metrics
//
// New registers Prometheus metrics named weft_cache_*: hits by tier, misses
// (loader calls), load errors, load latency, evictions by tier, bytes held by
// tier, and corrupt or failed disk files.
package cache
