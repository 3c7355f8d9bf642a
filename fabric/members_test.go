package fabric_test

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weftdb/weft/fabric"
	"github.com/weftdb/weft/objstore"
)

// Bucket membership: a worker is a member from its first heartbeat; one
// whose heartbeats stop moving (killed) leaves after three polls, one that
// stops gracefully (deletes its heartbeat) at the next poll.
func TestBucketMembers(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	bucket := objstore.NewInMemory()
	const beat = 10 * time.Millisecond
	stopA, stopB := beatFor(ctx, bucket, "a", "http://127.0.0.1:1", beat), beatFor(ctx, bucket, "b", "http://127.0.0.1:2/", beat)
	m := fabric.BucketMembers(ctx, bucket, beat, nil)
	waitMembers(t, m, []string{"http://127.0.0.1:1", "http://127.0.0.1:2"})
	stopA(false) // killed: the object stays, its count stops
	waitMembers(t, m, []string{"http://127.0.0.1:2"})
	stopB(true)
	waitMembers(t, m, nil)
	if keys, _ := bucket.List(ctx, objstore.WorkersPrefix()); len(keys) != 1 {
		t.Fatalf("heartbeat objects %v: want only the killed worker's", keys)
	}
}

// beatFor runs a worker's heartbeat; stop(true) stops it gracefully,
// stop(false) as a kill would (the object stays).
func beatFor(ctx context.Context, bucket objstore.Bucket, id, url string, every time.Duration) func(graceful bool) {
	hctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	b := &killable{Bucket: bucket}
	go func() { defer close(done); fabric.Heartbeat(hctx, b, id, url, every, nil) }()
	return func(graceful bool) {
		if !graceful {
			b.dead.Store(true)
		}
		cancel()
		<-done
	}
}

func waitMembers(t *testing.T, m fabric.Members, want []string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !slices.Equal(m.Members(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("members %v, want %v", m.Members(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// DNS membership: every address a name resolves to, as worker URLs.
func TestDNSMembers(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m, err := fabric.DNSMembers(ctx, "http", "localhost", "7600", time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(m.Members(), "http://127.0.0.1:7600") {
		t.Fatalf("localhost resolved to members %v; want http://127.0.0.1:7600 among them", m.Members())
	}
}

// killable is a bucket whose writer dies: once dead, its uploads and
// deletes never happen.
type killable struct {
	objstore.Bucket
	dead atomic.Bool
}

func (k *killable) Upload(ctx context.Context, name string, data []byte) error {
	if k.dead.Load() {
		return context.Canceled
	}
	return k.Bucket.Upload(ctx, name, data)
}

func (k *killable) Delete(ctx context.Context, name string) error {
	if k.dead.Load() {
		return context.Canceled
	}
	return k.Bucket.Delete(ctx, name)
}
