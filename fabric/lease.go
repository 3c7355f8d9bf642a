package fabric

import (
	"context"
	"time"

	storagev1 "github.com/weftdb/weft/proto/gen/weft/storage/v1"
)

// The write lease lets the one process writing a namespace answer STRONG
// queries without a bucket round trip (the existence check of the next WAL
// entry, a HEAD on S3). It lives in the WAL itself, so the sequence numbers
// fence it and no clock is shared:
//
//   - Every batch names its writer and may take a lease of d. A process
//     that learns of the entry (applies it, or adopts a manifest that
//     covers it) appends nothing for d from that moment.
//   - The writer trusts that it knows every entry until d after it began
//     the append (a tenth less, for clocks that run at different rates).
//     Anyone else learned of the entry after that, so waits at least as
//     long; and a process that is behind cannot append after the entry
//     without first reading it, since the sequence number is taken.
//   - A batch takes a lease only when its writer has seen no other
//     writer's batch for 2d, so two processes writing one namespace both
//     keep checking the bucket instead of stalling each other; a process
//     that wants to write during another's lease waits for it to end, once.
//   - A STRONG query that finds the lease about to end renews it with an
//     empty batch in the background: one PUT per d/2 while queries come,
//     instead of one HEAD per query.

// leaseTrust is the share of the lease its holder relies on.
const leaseTrust = 0.9

// noteBatchLocked records the writer and lease of the newest batch this
// process applied or adopted; at is when it began appending it (its own)
// or learned of it. The caller holds walMu.
func (s *Server) noteBatchLocked(ns *namespace, writer, writerURL string, leaseMs uint32, at time.Time) {
	ns.leaseWriter, ns.leaseFor, ns.leaseFrom = writer, time.Duration(leaseMs)*time.Millisecond, at
	if writer != s.id && leaseMs > 0 && writerURL != "" {
		ns.holder.Store(&leaseHolder{url: writerURL, until: at.Add(ns.leaseFor)})
	} else {
		ns.holder.Store(nil)
	}
	if writer != s.id {
		if writer != "" { // "": no batch yet, or one of a release without leases
			ns.lastForeign = at
		}
		ns.trustUntil.Store(0)
		return
	}
	if leaseMs == 0 {
		ns.trustUntil.Store(0)
		return
	}
	ns.trustUntil.Store(at.Add(time.Duration(leaseTrust * float64(ns.leaseFor))).UnixNano())
}

// leaseHolder is another process that holds a namespace's write lease
// and takes its writes at url (WALBatch.writer_url) until then.
type leaseHolder struct {
	url   string
	until time.Time
}

// holdsLease reports whether no other process can have appended to the
// namespace's WAL since this one last applied an entry.
func (ns *namespace) holdsLease() bool {
	return time.Now().UnixNano() < ns.trustUntil.Load()
}

// foreignLeaseLocked returns how long another process's lease still bars
// this one from appending. The caller holds walMu.
func (s *Server) foreignLeaseLocked(ns *namespace) time.Duration {
	if ns.leaseWriter == s.id || ns.leaseFor == 0 {
		return 0
	}
	return max(0, time.Until(ns.leaseFrom.Add(ns.leaseFor)))
}

// stampLocked names this process as the batch's writer and has the batch
// take a lease when no other writer was seen lately. The caller holds
// walMu.
func (s *Server) stampLocked(ns *namespace, b *storagev1.WALBatch) {
	b.Writer, b.LeaseMs, b.WriterUrl = s.id, 0, s.advertise
	if s.writeLease > 0 && time.Since(ns.lastForeign) > 2*s.writeLease {
		b.LeaseMs = uint32(s.writeLease.Milliseconds())
	}
}

// waitForeignLeaseLocked waits, holding walMu, until no other process's
// lease bars an append, or ctx ends.
func (s *Server) waitForeignLeaseLocked(ctx context.Context, ns *namespace) error {
	wait := s.foreignLeaseLocked(ns)
	if wait == 0 {
		return nil
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return unavailable("write-lease", "namespace %q is being written by another process, whose write lease ends in %v: retry", ns.name, wait.Round(time.Millisecond))
	}
}

// renewLeaseSoon renews this process's lease in the background when it
// ends within half its length and this process wrote the newest batch: a
// STRONG query calls it, so the lease lives while queries come.
func (s *Server) renewLeaseSoon(ns *namespace) {
	// trustUntil is 0 unless this process wrote the newest batch, with a
	// lease.
	until := ns.trustUntil.Load()
	if s.writeLease <= 0 || until == 0 || ns.deleted.Load() || time.Until(time.Unix(0, until)) > s.writeLease/2 {
		return
	}
	if !ns.renewing.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer ns.renewing.Store(false)
		ctx, cancel := context.WithTimeout(s.ctx, s.bucketTimeout)
		defer cancel()
		ns.walMu.Lock()
		defer ns.walMu.Unlock()
		// Only the writer of the newest batch renews, when it would take
		// the lease with a batch.
		if ns.deleted.Load() || ns.leaseWriter != s.id || time.Since(ns.lastForeign) <= 2*s.writeLease {
			if !ns.holdsLease() {
				ns.trustUntil.Store(0) // no more tries until this process writes again
			}
			return
		}
		if _, _, err := s.appendLocked(ctx, ns, &storagev1.WALBatch{}, nil); err != nil && ctx.Err() == nil {
			s.log.Warn("renewing the write lease failed", "namespace", ns.name, "err", err)
		}
	}()
}
