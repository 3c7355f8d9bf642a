package fabric

import (
	"context"
	"strings"
	"time"

	"github.com/weftdb/weft/workers"
)

// A segment the newest manifest names but that cannot be read (missing,
// damaged, the bucket erring) leaves a namespace partial: it answers only
// queries that allow a partial answer (stats.shards_failed says how many
// shards are missing), refuses writes, reads by id that miss, and folds
// (a fold would drop the unreadable rows for good), and tries to read the
// manifest again at most once per healEvery while it is used.

// healEvery is how often a partial namespace retries its segments.
const healEvery = time.Second

// errPartial is the refusal of a partial namespace.
func errPartial(ns *namespace, failed []workers.FailedSegment, what string) *Error {
	keys := make([]string, len(failed))
	for i, f := range failed {
		keys[i] = f.Key
	}
	hint := ""
	if what == "answer in full" {
		hint = ", or set allow_partial to answer from the other shards"
	}
	return unavailable("segment-unreadable", "namespace %q cannot %s: segment %s could not be read (%v); the server retries it, retry shortly%s",
		ns.name, what, strings.Join(keys, ", "), failed[0].Err, hint)
}

// heal reads the newest manifest again when ns is partial and its last
// try is older than healEvery; a whole state replaces the partial one.
func (s *Server) heal(ctx context.Context, ns *namespace) {
	if len(ns.state().Failed) == 0 {
		return
	}
	last := ns.healed.Load()
	if time.Since(time.Unix(0, last)) < healEvery || !ns.healed.CompareAndSwap(last, time.Now().UnixNano()) {
		return
	}
	ns.walMu.Lock()
	defer ns.walMu.Unlock()
	if ns.deleted.Load() || len(ns.state().Failed) == 0 {
		return
	}
	next, man, err := s.openManifest(ctx, ns)
	if err != nil || len(next.Failed) > 0 || s.swapLocked(ctx, ns, next, man) != nil {
		return
	}
	s.log.Info("segments readable again: the namespace is whole", "namespace", ns.name, "manifest", man.GetVersion())
}
