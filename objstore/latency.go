package objstore

import (
	"context"
	"time"
)

// WithLatency returns b with d added before every call, as a stand-in for a
// remote bucket's round trip in tests and benchmarks of cold paths. A call
// whose context ends during the delay returns the context's error.
func WithLatency(b Bucket, d time.Duration) Bucket {
	return &latencyBucket{b: b, d: d}
}

type latencyBucket struct {
	b Bucket
	d time.Duration
}

func (l *latencyBucket) wait(ctx context.Context) error {
	if l.d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(l.d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (l *latencyBucket) Get(ctx context.Context, name string) ([]byte, error) {
	if err := l.wait(ctx); err != nil {
		return nil, err
	}
	return l.b.Get(ctx, name)
}

func (l *latencyBucket) GetRange(ctx context.Context, name string, off, length int64) ([]byte, error) {
	if err := l.wait(ctx); err != nil {
		return nil, err
	}
	return l.b.GetRange(ctx, name, off, length)
}

func (l *latencyBucket) Exists(ctx context.Context, name string) (bool, error) {
	if err := l.wait(ctx); err != nil {
		return false, err
	}
	return l.b.Exists(ctx, name)
}

func (l *latencyBucket) List(ctx context.Context, prefix string) ([]string, error) {
	if err := l.wait(ctx); err != nil {
		return nil, err
	}
	return l.b.List(ctx, prefix)
}

func (l *latencyBucket) ListFolders(ctx context.Context, prefix string) ([]string, error) {
	if err := l.wait(ctx); err != nil {
		return nil, err
	}
	return l.b.ListFolders(ctx, prefix)
}

func (l *latencyBucket) Upload(ctx context.Context, name string, data []byte) error {
	if err := l.wait(ctx); err != nil {
		return err
	}
	return l.b.Upload(ctx, name, data)
}

func (l *latencyBucket) Create(ctx context.Context, name string, data []byte) error {
	if err := l.wait(ctx); err != nil {
		return err
	}
	return l.b.Create(ctx, name, data)
}

func (l *latencyBucket) Delete(ctx context.Context, name string) error {
	if err := l.wait(ctx); err != nil {
		return err
	}
	return l.b.Delete(ctx, name)
}

func (l *latencyBucket) Close() error { return l.b.Close() }
