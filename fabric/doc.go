// Package fabric is Weft's front end: the Connect handlers of the public API,
// request validation, the write path, the indexer and the orchestration of
// queries. The documents themselves, and their search, live in package
// workers, which the fabric calls in-process.
//
// # Write path
//
// A write is validated in full before anything is written ([validate.go]),
// turned into WAL operations and handed to the namespace's committer, which
// groups the operations of concurrent requests into one WAL object (group
// commit), appends it to the bucket with create-if-absent, applies it to the
// in-memory state and only then acknowledges every request in the group.
// While too many changes wait for the indexer, writes get ResourceExhausted.
//
// # Indexing ([indexer.go])
//
// Each loaded namespace has an indexer that folds the unindexed WAL tail
// into an HNSW segment in the bucket, merges segments, publishes manifests
// and collects what they made garbage. Startup reads the newest manifest,
// its segments and only the WAL after it. docs/architecture.md has the
// whole picture.
//
// # Query path
//
// A namespace's [workers.State] is its segments (searched through their
// graphs, with index/filter's planner when there is a filter) and the
// unindexed tail (scanned exactly). A STRONG query first makes sure it
// knows every acknowledged write: nothing to do while this process holds
// the namespace's write lease ([lease.go]), else one existence check of the
// next WAL entry and a catch-up when it is there; an EVENTUAL query skips
// that and the tail. The fabric validates, resolves plugins, runs the
// worker's search, reranks and answers.
//
// # Plugins
//
// A query runs the namespace's default plugins, then its own, through three
// stages ([workers.PluginChain]): route hooks pick among the namespace's partitions
// (one per shard-key value, or one without a shard key), filter hooks judge
// every document left before the scan (so recall holds at any selectivity),
// and rerank hooks rescore the nearest candidates (at least 100) before the
// top k are cut. A fail-closed plugin's failure fails the query with a code
// that says what happened; a fail-open one is skipped.
//
// # Errors
//
// Handlers return [*Error] values for user mistakes; they carry a Connect
// code, a stable id (also a metric label) and a message that says what to
// fix. Anything else is an internal error whose details are logged, not sent.
//
// fabric imports workers, objstore, index, plugins and proto/gen; it must
// not import cmd.
package fabric
