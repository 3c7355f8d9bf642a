package fabric

import (
	"runtime/debug"
	"time"
)

// An idle namespace costs only its bucket objects: once no request has
// used it for Config.UnloadIdle and everything written is indexed, the
// process drops it (its state, its mapped segments, its indexer
// goroutine); the next request loads it again from the newest manifest
// (a fraction of a second, docs/benchmarks.md).

// unloader drops idle namespaces until the server closes.
func (s *Server) unloader() {
	every := min(max(s.unloadIdle/4, 10*time.Millisecond), 30*time.Second)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-tick.C:
		}
		idle := s.idleNamespaces()
		for _, ns := range idle {
			ns.stopIndexer()
			s.metrics.unloads.Inc()
			s.log.Info("namespace unloaded after idling", "namespace", ns.name, "idle", s.unloadIdle)
		}
		if len(idle) > 0 {
			// An idle process allocates nothing that would run the
			// collector: run it, so the dropped states' segments are
			// unmapped (their cleanups) and their heap goes back to the OS.
			debug.FreeOSMemory()
		}
	}
}

// idleNamespaces removes from the served set, and returns, the loaded
// namespaces that nothing used for unloadIdle and that have nothing
// waiting to be indexed (a namespace without indexing, whose tail lives
// in the WAL, is dropped all the same: its next load reads the tail).
func (s *Server) idleNamespaces() []*namespace {
	s.mu.Lock()
	defer s.mu.Unlock()
	var idle []*namespace
	for name, ns := range s.namespaces {
		select {
		case <-ns.loaded:
		default:
			continue // loading
		}
		if ns.loadErr != nil || s.pinned[name] || time.Since(time.Unix(0, ns.lastUsed.Load())) < s.unloadIdle ||
			ns.indexing.Load() || (!s.index.Disabled && ns.unindexed.Load() > 0) {
			continue
		}
		delete(s.namespaces, name)
		idle = append(idle, ns)
	}
	return idle
}
