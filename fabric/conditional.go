package fabric

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"connectrpc.com/connect"
	"github.com/google/uuid"

	"github.com/weftdb/weft/objstore"
)

// Every write Weft makes to a WAL, a manifest or a namespace's config
// relies on create-if-absent: of two processes creating one name exactly
// one succeeds. A store that silently overwrites instead (an S3-compatible
// server that ignores If-None-Match) would lose acknowledged writes, so a
// process checks the store once, before its first write, and refuses to
// write to one that fails. Processes that only read never check.

// condCheck remembers the outcome of the check; a transient failure is
// retried by the next write.
type condCheck struct {
	passed atomic.Bool // read without the lock: every write asks
	mu     sync.Mutex
	failed error // permanent: the store overwrote
}

// errNoConditionalWrites is the refusal of a store that overwrote.
var errNoConditionalWrites = errors.New("the bucket does not honour create-if-absent (S3 If-None-Match, or the provider's equivalent): a second create of one object succeeded, so Weft cannot keep two writers from overwriting each other's WAL entries and refuses to write; use a store that does (AWS S3, GCS, Azure, a local folder, or an S3-compatible server with conditional writes)")

// checkWritable runs the conditional-write check once per process.
func (s *Server) checkWritable(ctx context.Context) error {
	c := &s.cond
	if c.passed.Load() {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.passed.Load() {
		return nil
	}
	if c.failed != nil {
		return c.failed
	}
	key := objstore.ProbeKey(uuid.NewString())
	if err := s.bucket.Create(ctx, key, []byte("first")); err != nil {
		return fmt.Errorf("check the bucket's conditional writes: %w", err)
	}
	err := s.bucket.Create(ctx, key, []byte("second"))
	_ = s.bucket.Delete(ctx, key)
	switch {
	case errors.Is(err, objstore.ErrExists):
		c.passed.Store(true)
		return nil
	case err == nil:
		c.failed = connect.NewError(connect.CodeFailedPrecondition, errNoConditionalWrites)
		s.log.Error("refusing to write", "err", errNoConditionalWrites)
		return c.failed
	}
	return fmt.Errorf("check the bucket's conditional writes: %w", err)
}
