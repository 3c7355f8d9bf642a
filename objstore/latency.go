package objstore

import (
	"context"
	"time"
)

// Physics is what a remote bucket costs that a local one does not: a
// round trip per request and a transfer rate per request.
type Physics struct {
	// Latency is added before every call.
	Latency time.Duration
	// Bandwidth is bytes per second one request moves (an S3 GET streams
	// at some tens of MB/s); 0 is unlimited.
	Bandwidth int64
}

// WithPhysics returns b with p's costs added to every call, as a stand-in
// for a remote bucket in local runs, tests and benchmarks of cold paths
// (weft serve --objstore-latency, --objstore-bandwidth). A call whose
// context ends during a delay returns the context's error.
func WithPhysics(b Bucket, p Physics) Bucket {
	return &latencyBucket{b: b, p: p}
}

// WithLatency is WithPhysics with a round trip only.
func WithLatency(b Bucket, d time.Duration) Bucket {
	return WithPhysics(b, Physics{Latency: d})
}

type latencyBucket struct {
	b Bucket
	p Physics
}

func (l *latencyBucket) wait(ctx context.Context) error { return sleep(ctx, l.p.Latency) }

// move waits as long as n bytes take at the bandwidth.
func (l *latencyBucket) move(ctx context.Context, n int) error {
	if l.p.Bandwidth <= 0 || n <= 0 {
		return ctx.Err()
	}
	return sleep(ctx, time.Duration(float64(n)/float64(l.p.Bandwidth)*float64(time.Second)))
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
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
	b, err := l.b.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	if err := l.move(ctx, len(b)); err != nil {
		return nil, err
	}
	return b, nil
}

func (l *latencyBucket) GetRange(ctx context.Context, name string, off, length int64) ([]byte, error) {
	if err := l.wait(ctx); err != nil {
		return nil, err
	}
	b, err := l.b.GetRange(ctx, name, off, length)
	if err != nil {
		return nil, err
	}
	if err := l.move(ctx, len(b)); err != nil {
		return nil, err
	}
	return b, nil
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
	if err := l.move(ctx, len(data)); err != nil {
		return err
	}
	return l.b.Upload(ctx, name, data)
}

func (l *latencyBucket) Create(ctx context.Context, name string, data []byte) error {
	if err := l.wait(ctx); err != nil {
		return err
	}
	if err := l.move(ctx, len(data)); err != nil {
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
