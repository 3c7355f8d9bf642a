package fabric

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/weftdb/weft/objstore"
	storagev1 "github.com/weftdb/weft/proto/gen/weft/storage/v1"
	"github.com/weftdb/weft/workers"
)

// maxGroupBytes bounds the WAL object one group commit writes; a single
// request larger than it still gets its own object.
const maxGroupBytes = 16 << 20

// pendingWrite is one request's operation waiting for a group commit.
type pendingWrite struct {
	op   *storagev1.WALOp
	wire []byte        // op as a WALBatch ops field
	done chan struct{} // closed when seq/result/err are set

	seq    uint64
	result workers.OpResult
	err    error
}

// write makes op durable in a WAL object, applies it and returns what it
// did. wire is op as a WALBatch ops field, or nil: write marshals it, in
// the request's goroutine (a commit only concatenates). Concurrent writes to a namespace share WAL objects: the first
// writer to find no commit running becomes the committer and writes every
// pending request's operations, batch after batch, until none are left.
//
// The bucket calls run detached from ctx: a request that gives up must not
// fail the others in its group. If ctx ends first the write may still land.
func (s *Server) write(ctx context.Context, ns *namespace, op *storagev1.WALOp, wire []byte) (uint64, workers.OpResult, error) {
	if n := ns.unindexed.Load(); !s.index.Disabled && n >= int64(s.index.MaxUnindexed) {
		return 0, workers.OpResult{}, tooLarge("index-behind", "namespace %q has %d document changes waiting for the indexer (the limit is %d): retry this write in a few seconds, or write more slowly", ns.name, n, s.index.MaxUnindexed)
	}
	if err := s.checkWritable(ctx); err != nil {
		return 0, workers.OpResult{}, err
	}
	if failed := ns.state().Failed; len(failed) > 0 {
		return 0, workers.OpResult{}, errPartial(ns, failed, "take writes")
	}
	if wire == nil {
		var err error
		if wire, err = encodeOp(op); err != nil {
			return 0, workers.OpResult{}, err
		}
	}
	w := &pendingWrite{op: op, wire: wire, done: make(chan struct{})}
	ns.commitMu.Lock()
	ns.pending = append(ns.pending, w)
	lead := !ns.committing
	ns.committing = true
	ns.commitMu.Unlock()
	if lead {
		s.commitLoop(ns)
	}
	select {
	case <-w.done:
		return w.seq, w.result, w.err
	case <-ctx.Done():
		return 0, workers.OpResult{}, ctx.Err()
	}
}

func (s *Server) commitLoop(ns *namespace) {
	for {
		ns.commitMu.Lock()
		n, size := 0, 0
		for n < len(ns.pending) && (n == 0 || size+len(ns.pending[n].wire) <= maxGroupBytes) {
			size += len(ns.pending[n].wire)
			n++
		}
		group := ns.pending[:n:n]
		ns.pending = ns.pending[n:]
		if n == 0 {
			ns.committing = false
			ns.pending = nil
		}
		ns.commitMu.Unlock()
		if n == 0 {
			return
		}
		s.commitGroup(ns, group)
	}
}

// commitGroup writes one WAL object for group, applies it and wakes its
// requests.
func (s *Server) commitGroup(ns *namespace, group []*pendingWrite) {
	batch := &storagev1.WALBatch{Ops: make([]*storagev1.WALOp, len(group))}
	wire := make([][]byte, len(group))
	for i, w := range group {
		batch.Ops[i], wire[i] = w.op, w.wire
	}
	seq, results, err := s.appendAndApply(ns, batch, wire)
	for i, w := range group {
		w.seq, w.err = seq, err
		if err == nil {
			w.result = results[i]
		}
		close(w.done)
	}
	s.metrics.groupSize.Observe(float64(len(group)))
}

// appendAndApply appends batch as the next WAL entry and applies it. wire
// holds its operations, each as a WALBatch ops field (encodeOp), copied
// straight into the entry. When another process
// took that sequence number first, it catches up with the WAL and tries
// the next one.
func (s *Server) appendAndApply(ns *namespace, batch *storagev1.WALBatch, wire [][]byte) (uint64, []workers.OpResult, error) {
	// Bounded by the bucket timeout per attempt, and by another process's
	// write lease while it lasts.
	ctx, cancel := context.WithTimeout(s.ctx, s.bucketTimeout+2*s.writeLease)
	defer cancel()
	ns.walMu.Lock()
	defer ns.walMu.Unlock()
	if ns.deleted.Load() {
		return 0, nil, errNamespaceNotFound(ns.name)
	}
	return s.appendLocked(ctx, ns, batch, wire)
}

// appendLocked is appendAndApply for a caller that holds walMu.
func (s *Server) appendLocked(ctx context.Context, ns *namespace, batch *storagev1.WALBatch, wire [][]byte) (uint64, []workers.OpResult, error) {
	batch.Nonce = make([]byte, 16)
	if _, err := rand.Read(batch.Nonce); err != nil {
		return 0, nil, err
	}
	// Appending after a WAL entry that was folded elsewhere and collected
	// would re-create a sequence every reader skips: the write would be
	// lost.
	if err := s.checkHeadLocked(ctx, ns); err != nil {
		return 0, nil, err
	}
	for attempt := 0; ; attempt++ {
		if s.foreignLeaseLocked(ns) > 0 {
			// Learn the newest entries before waiting: the wait then runs
			// from the newest lease, once, instead of once for the entry
			// known and again for each found behind it at the append (a
			// fabric taking over from a killed one waits one lease).
			if _, err := s.catchUpLocked(ctx, ns); err != nil {
				return 0, nil, err
			}
		}
		if err := s.waitForeignLeaseLocked(ctx, ns); err != nil {
			return 0, nil, err
		}
		s.stampLocked(ns, batch)
		seq := ns.state().Applied + 1 // only this goroutine changes applied while it holds walMu
		head := &storagev1.WALBatch{Nonce: batch.GetNonce(), Writer: batch.GetWriter(), LeaseMs: batch.GetLeaseMs(), WriterUrl: batch.GetWriterUrl()}
		size := proto.Size(head)
		for _, w := range wire {
			size += len(w)
		}
		entry := objstore.NewWALEntry(seq, size)
		payload, err := proto.MarshalOptions{UseCachedSize: true}.MarshalAppend(entry.Payload(), head)
		if err != nil {
			return 0, nil, err
		}
		for _, w := range wire {
			payload = append(payload, w...)
		}
		entry.SetPayload(payload)
		start := time.Now()
		err = ns.wal.AppendEntry(ctx, entry)
		if err == nil {
			s.metrics.walAppends.Observe(time.Since(start).Seconds())
			results := ns.applyLocked(seq, batch)
			s.noteBatchLocked(ns, batch.GetWriter(), batch.GetWriterUrl(), batch.GetLeaseMs(), start)
			return seq, results, nil
		}
		if !errors.Is(err, objstore.ErrExists) || attempt == 100 {
			return 0, nil, fmt.Errorf("append WAL entry %d of %s: %w", seq, ns.name, err)
		}
		if _, err := s.catchUpLocked(ctx, ns); err != nil {
			return 0, nil, err
		}
	}
}
