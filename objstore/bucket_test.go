package objstore_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/weftdb/weft/objstore"
	"github.com/weftdb/weft/objstore/objstoretest"
)

func TestInMemory(t *testing.T) {
	objstoretest.Run(t, func(*testing.T) objstore.Bucket { return objstore.NewInMemory() })
}

func TestFilesystem(t *testing.T) {
	objstoretest.Run(t, func(t *testing.T) objstore.Bucket {
		b, err := objstore.NewFilesystem(filepath.Join(t.TempDir(), "bucket"))
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
}

func TestLatency(t *testing.T) {
	objstoretest.Run(t, func(*testing.T) objstore.Bucket {
		return objstore.WithLatency(objstore.NewInMemory(), time.Millisecond)
	})
}

func TestS3(t *testing.T) {
	objstoretest.Run(t, func(t *testing.T) objstore.Bucket {
		b, _ := openFakeS3(t)
		return b
	})
}

// fakeS3 counts what reaches the in-process S3 server.
type fakeS3 struct {
	conditionalPuts atomic.Int64 // PUTs carrying If-None-Match: *
	rejected        atomic.Int64 // answered 412
}

// openFakeS3 serves gofakes3 (in-memory backend) on 127.0.0.1 and opens it
// through Open with S3 YAML. gofakes3 v1.2.0 implements If-None-Match: * on
// PutObject itself (checked and written under its backend lock, answering 412
// PreconditionFailed), so no precondition shim is needed; the handler in
// front only counts requests, which proves our client sends the header.
func openFakeS3(t *testing.T) (objstore.Bucket, *fakeS3) {
	t.Helper()
	backend := s3mem.New()
	if err := backend.CreateBucket("weft"); err != nil {
		t.Fatal(err)
	}
	faker := gofakes3.New(backend)
	fs := &fakeS3{}
	h := faker.Server()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && r.Header.Get("If-None-Match") == "*" {
			fs.conditionalPuts.Add(1)
			rec := &statusRecorder{ResponseWriter: w}
			h.ServeHTTP(rec, r)
			if rec.status == http.StatusPreconditionFailed {
				fs.rejected.Add(1)
			}
			return
		}
		h.ServeHTTP(w, r)
	}))
	srv.Start() // httptest listens on 127.0.0.1 only
	t.Cleanup(srv.Close)
	cfg := fmt.Sprintf(`type: S3
config:
  bucket: weft
  endpoint: %s
  access_key: test
  secret_key: test
  insecure: true
  bucket_lookup_type: path
  region: us-east-1
`, strings.TrimPrefix(srv.URL, "http://"))
	b, err := objstore.Open(t.Context(), []byte(cfg), nil)
	if err != nil {
		t.Fatal(err)
	}
	return b, fs
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func TestS3CreateSendsIfNoneMatch(t *testing.T) {
	ctx := t.Context()
	b, fs := openFakeS3(t)
	if err := b.Upload(ctx, "plain", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if n := fs.conditionalPuts.Load(); n != 0 {
		t.Fatalf("Upload sent If-None-Match (%d conditional puts)", n)
	}
	if err := b.Create(ctx, "c", []byte("1")); err != nil {
		t.Fatal(err)
	}
	if err := b.Create(ctx, "c", []byte("2")); err == nil || !isExists(err) {
		t.Fatalf("second create: %v, want ErrExists", err)
	}
	if n, r := fs.conditionalPuts.Load(), fs.rejected.Load(); n != 2 || r != 1 {
		t.Fatalf("conditional puts %d, rejected %d; want 2 and 1", n, r)
	}
}

func TestOpen(t *testing.T) {
	ctx := t.Context()
	dir := filepath.Join(t.TempDir(), "fs")
	b, err := objstore.Open(ctx, []byte("type: filesystem\nconfig:\n  directory: "+dir+"\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Upload(ctx, "a/b", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "a", "b")); err != nil {
		t.Fatalf("FILESYSTEM config did not write under its directory: %v", err)
	}
	if _, err := objstore.Open(ctx, []byte("type: IN-MEMORY\n"), nil); err != nil {
		t.Fatal(err)
	}
	for cfg, want := range map[string]string{
		"type: GCS\nconfig: {}\n":        `"GCS" is not supported: use one of FILESYSTEM, S3, IN-MEMORY`,
		"config: {}\n":                   "no type",
		"type: FILESYSTEM\n":             "config.directory",
		"type: S3\nconfig:\n  bucket: x": "endpoint",
		"type: S3\nbogus: 1\n":           "bogus",
	} {
		_, err := objstore.Open(ctx, []byte(cfg), nil)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Open(%q) error = %v, want it to mention %q", cfg, err, want)
		}
	}
}

func TestFilesystemStaleTemp(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	b, err := objstore.NewFilesystem(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Upload(ctx, "keep", []byte("k")); err != nil {
		t.Fatal(err)
	}
	// A writer crashed between writing its temporary file and renaming it.
	stale := filepath.Join(dir, ".weft-tmp", "obj-crashed")
	fresh := filepath.Join(dir, ".weft-tmp", "obj-inflight")
	for _, p := range []string{stale, fresh} {
		if err := os.WriteFile(p, []byte("half"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	if got, err := b.List(ctx, ""); err != nil || !slices.Equal(got, []string{"keep"}) {
		t.Fatalf("list with temp files = %q, %v", got, err)
	}
	b2, err := objstore.NewFilesystem(dir)
	if err != nil {
		t.Fatalf("reopen with a stale temp file: %v", err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale temp file survived reopen: %v", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("a recent temp file (a live writer's) was removed: %v", err)
	}
	if got, err := b2.Get(ctx, "keep"); err != nil || string(got) != "k" {
		t.Fatalf("get after reopen = %q, %v", got, err)
	}
	if err := b2.Create(ctx, "new", []byte("n")); err != nil {
		t.Fatal(err)
	}
	if got, err := b2.List(ctx, ""); err != nil || !slices.Equal(got, []string{"keep", "new"}) {
		t.Fatalf("list after reopen = %q, %v", got, err)
	}
}

func TestLatencyHonoursContext(t *testing.T) {
	b := objstore.WithLatency(objstore.NewInMemory(), time.Hour)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := b.Get(ctx, "x"); err == nil {
		t.Fatal("get succeeded")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("get ignored its context for %v", d)
	}
}

// WithPhysics: a round trip per call, and a transfer time by size: 1 MiB
// at 10 MiB/s takes a tenth of a second on top of the round trip.
func TestPhysics(t *testing.T) {
	ctx := t.Context()
	b := objstore.WithPhysics(objstore.NewInMemory(), objstore.Physics{Latency: 20 * time.Millisecond, Bandwidth: 10 << 20})
	data := make([]byte, 1<<20)
	timed := func(what string, f func() error, least time.Duration) {
		t.Helper()
		start := time.Now()
		if err := f(); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d < least || d > least+2*time.Second {
			t.Fatalf("%s took %v, want about %v", what, d, least)
		}
	}
	timed("upload of 1 MiB", func() error { return b.Upload(ctx, "x", data) }, 120*time.Millisecond)
	timed("get of 1 MiB", func() error { _, err := b.Get(ctx, "x"); return err }, 120*time.Millisecond)
	timed("ranged get of 1 KiB", func() error { _, err := b.GetRange(ctx, "x", 0, 1024); return err }, 20*time.Millisecond)
	timed("exists", func() error { _, err := b.Exists(ctx, "x"); return err }, 20*time.Millisecond)
}

// TestRealS3 runs the acceptance suite against a real S3-compatible server
// on loopback: `make test-s3` starts one (scripts/s3-server.sh) and sets
// WEFT_TEST_S3 to its endpoint, access key, secret and bucket
// ("host:port,access,secret,bucket"). Without it there is no server to
// test against, and the test says so.
func TestRealS3(t *testing.T) {
	spec := os.Getenv("WEFT_TEST_S3")
	if spec == "" {
		t.Skip("no S3 server: make test-s3 runs this against one")
	}
	objstoretest.Run(t, func(t *testing.T) objstore.Bucket { return openRealS3(t, spec) })
}

// openRealS3 opens the bucket of WEFT_TEST_S3 and empties it first.
func openRealS3(t *testing.T, spec string) objstore.Bucket {
	t.Helper()
	parts := strings.Split(spec, ",")
	if len(parts) != 4 {
		t.Fatalf("WEFT_TEST_S3=%q: want host:port,access,secret,bucket", spec)
	}
	cfg := fmt.Sprintf(`type: S3
config:
  bucket: %s
  endpoint: %s
  access_key: %s
  secret_key: %s
  insecure: true
  bucket_lookup_type: path
  region: us-east-1
`, parts[3], parts[0], parts[1], parts[2])
	b, err := objstore.Open(t.Context(), []byte(cfg), nil)
	if err != nil {
		t.Fatal(err)
	}
	names, err := b.List(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if err := b.Delete(t.Context(), n); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// A store that does not answer is ErrUnavailable, not a missing object,
// and says so within seconds.
func TestUnavailableStore(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	cfg := fmt.Sprintf("type: S3\nconfig:\n  bucket: weft\n  endpoint: %s\n  access_key: a\n  secret_key: b\n  insecure: true\n  bucket_lookup_type: path\n  region: us-east-1\n", addr)
	b, err := objstore.Open(t.Context(), []byte(cfg), nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = b.Get(t.Context(), "x")
	if !errors.Is(err, objstore.ErrUnavailable) || errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("get from a store that is down: %v", err)
	}
	_, err = b.Exists(t.Context(), "x")
	if !errors.Is(err, objstore.ErrUnavailable) {
		t.Fatalf("exists on a store that is down: %v", err)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Fatalf("the store's failure took %v to show", d)
	}
	t.Logf("a store that is down answered ErrUnavailable after %v", time.Since(start))
}
