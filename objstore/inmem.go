package objstore

import (
	"bytes"
	"context"
	"sync"

	tobj "github.com/thanos-io/objstore"
)

// NewInMemory returns an empty bucket held in memory, for tests and
// single-process experiments.
func NewInMemory() Bucket {
	tb := tobj.NewInMemBucket()
	return &bucket{tb: tb, w: &memWriter{tb: tb}}
}

// memWriter serialises writes so that Create's check and write are one step.
// The thanos in-memory bucket copies data in and out under its own lock, so
// each write is already atomic to readers.
type memWriter struct {
	mu sync.Mutex
	tb *tobj.InMemBucket
}

func (w *memWriter) upload(ctx context.Context, name string, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.tb.Upload(ctx, name, bytes.NewReader(data))
}

func (w *memWriter) create(ctx context.Context, name string, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	ok, err := w.tb.Exists(ctx, name)
	if err != nil {
		return err
	}
	if ok {
		return ErrExists
	}
	return w.tb.Upload(ctx, name, bytes.NewReader(data))
}

func (w *memWriter) delete(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.tb.Delete(ctx, name)
}

func (w *memWriter) close() error { return nil }
