// Package plugins is Weft's WebAssembly plugin host: it validates, compiles,
// pools and calls user modules that route, filter and rerank inside queries,
// on wazero, sandboxed. docs/plugins.md specifies the ABI (version 1) that
// modules implement; sdk/plugin/go and sdk/plugin/c implement it for
// plugin authors; examples/plugins has five plugins in both languages.
//
// The package owns the wazero runtime, the compile cache, instance pools,
// the limits and the wire format, and the registry: Store keeps registered
// plugins in the bucket (plugins/<sha256>.wasm and .json, through the small
// Bucket interface that objstore satisfies), Resolve loads them into the
// host on first use, and Service serves weft.v1.PluginService over it.
// Which plugins a query runs (PluginCall, namespace defaults) is the
// caller's business. Of Weft it imports only the generated API
// (proto/gen/weft/v1): not objstore, not fabric.
//
// # Lifecycle
//
//	host, err := plugins.NewHost(cfg, logger, reg) // one per process
//	defer host.Close(ctx)
//
//	// RegisterPlugin: check the bytes, then store them under Info.SHA256.
//	info, err := host.Validate(ctx, wasm) // exports, ABI version, size, imports
//
//	// Any process, before a query uses the plugin (e.g. on first use, from
//	// the bucket): compiles once per digest, instantiates the pool.
//	p, err := host.Load(ctx, "recency", wasm, plugins.Options{
//		Policy:   plugins.FailOpen, // from Plugin.failure_policy
//		Deadline: 50 * time.Millisecond, // from Plugin.deadline_ms; 0 = cfg
//	})
//	p = host.Get("recency")         // later lookups; nil if not loaded
//	host.Unload(ctx, "recency")     // DeletePlugin
//
// In a server the registry does the above:
//
//	store, err := plugins.NewStore(bucket, host, logger, plugins.DefaultStoreConfig())
//	mux.Handle(plugins.NewService(store, logger).Handler()) // RegisterPlugin, ListPlugins, DeletePlugin
//	p, err := store.Resolve(ctx, call.GetName())           // per query: loaded once, cached
//
// Load with the same name and bytes returns the loaded plugin; with new
// bytes it swaps it in and drains the old one.
//
// # Hooks in the query path
//
// Every hook call takes the query's PluginCall.params and one columnar batch
// for the whole stage; it is safe for concurrent use.
//
//	params := call.GetParams()
//
//	// Route, before fan-out: which shards to probe.
//	rr, err := p.Route(ctx, params, plugins.RouteRequest{Shards: shards, Query: q, TopK: k, NProbe: nprobe})
//	for _, i := range rr.Selected(len(shards)) { probe(shards[i]) }
//
//	// Filter, post-ANN (Distances set) or pre-ANN (Distances nil: an
//	// allow-list over documents for the filtered-search planner).
//	batch := &plugins.Batch{IDs: ids, Distances: dists, Attributes: cols, Metric: plugins.MetricCosine, TopK: k}
//	fr, err := p.Filter(ctx, params, batch)
//	batch = batch.Select(fr.Kept()) // kept indexes, in order: the next stage's input
//
//	// Rerank, after merge and refine: new scores, higher is better.
//	rk, err := p.Rerank(ctx, params, batch)
//	for _, i := range rk.Order { emit(batch.IDs[i], rk.Scores[i]) } // Scores nil if skipped
//
// A plugin that lacks a hook passes the stage through (Plugin.Has tells).
// Attributes are columns (Column), one per name, typed string, int64,
// float64, bool or string list, with an optional validity mask;
// ColumnsFromRows builds them from row-wise maps. Vectors and the query
// vector are optional (the mmr example needs them).
//
// # Failures
//
// A failed call returns an *Error naming the plugin, the hook and what
// went wrong; it wraps one kind, to test with errors.Is: ErrDeadline,
// ErrTrap, ErrOutput, ErrGuest, ErrABI, ErrBusy, ErrTooLarge, ErrClosed,
// ErrCanceled (Validate and Load also return ErrInvalidModule). Suggested
// Connect codes: DeadlineExceeded for ErrDeadline; ResourceExhausted for
// ErrBusy and ErrTooLarge; InvalidArgument for ErrInvalidModule and ErrABI
// at registration; FailedPrecondition for the others at query time; the
// caller's own code for ErrCanceled. The message is safe to show users.
//
// With FailOpen the call returns no error: the result passes the stage's
// input through (Route: nil Weights; Filter: all kept; Rerank: identity
// Order, nil Scores) and carries the error in Skipped, for query stats.
// ErrCanceled (the query's own context ended) is never swallowed.
//
// # Sandbox
//
// Modules may import only WASI (no files, env, args, network; fake clocks;
// stdout discarded, the first 2 KiB of stderr kept to explain traps). Each
// instance has Config.MemoryLimitPages of memory. Each call has a
// wall-clock deadline covering the wait for an instance and the guest run:
// every module is compiled from plugins/meter's rewrite of it, whose budget
// counter makes the guest call back into the host every 65,536
// instructions or so, and the host ends the call there once the deadline
// has passed. A trap, a deadline or a bad output discards the instance; a
// background goroutine replaces it, so queries never instantiate. Outputs
// are bounds-checked and must have the exact expected size.
//
// # Cost
//
// A call costs 1–3 µs of fixed overhead (C–Go guest) plus the input's
// encoding: hence one call per stage. The meter's check at each loop header
// and function entry is three native instructions; wazero's own deadline
// mechanism, WithCloseOnContextDone, left native code for Go at every loop
// iteration (about 70 ns) and started a goroutine per call, which made a Go
// guest's rerank of 100 candidates 2.5× slower. See docs/benchmarks.md,
// "## Plugins".
//
// # Metrics
//
// weft_plugin_calls_total, weft_plugin_errors_total (by reason),
// weft_plugin_fail_open_total, weft_plugin_call_duration_seconds (by plugin
// and hook), weft_plugin_instances, weft_plugin_instantiations_total (by
// plugin), weft_plugin_compilations_total and
// weft_plugin_compile_duration_seconds, on the injected registerer.
package plugins
