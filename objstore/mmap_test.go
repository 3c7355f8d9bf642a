package objstore_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/weftdb/weft/objstore"
)

// The filesystem bucket maps objects; the mapping keeps the bytes it had
// when the object is replaced or deleted; other buckets read instead.
func TestMap(t *testing.T) {
	ctx := context.Background()
	fsb, err := objstore.NewFilesystem(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	want := bytes.Repeat([]byte("segment!"), 10_000)
	if err := fsb.Upload(ctx, "a/b", want); err != nil {
		t.Fatal(err)
	}
	data, unmap, err := fsb.(objstore.Mapper).Map(ctx, "a/b")
	if err != nil || !bytes.Equal(data, want) {
		t.Fatalf("Map: %v, equal %v", err, bytes.Equal(data, want))
	}
	if err := fsb.Upload(ctx, "a/b", []byte("replaced")); err != nil {
		t.Fatal(err)
	}
	if err := fsb.Delete(ctx, "a/b"); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, want) {
		t.Fatal("the mapping changed when the object was replaced and deleted")
	}
	if err := unmap(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := fsb.(objstore.Mapper).Map(ctx, "a/b"); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("Map of a deleted object: %v, want ErrNotFound", err)
	}
	if _, _, err := fsb.(objstore.Mapper).Map(ctx, "../x"); !errors.Is(err, objstore.ErrInvalidName) {
		t.Fatalf("Map of a bad name: %v, want ErrInvalidName", err)
	}
	// Map falls back to Get where a bucket cannot map.
	mem := objstore.NewInMemory()
	if err := mem.Upload(ctx, "x", want); err != nil {
		t.Fatal(err)
	}
	if _, _, err := mem.(objstore.Mapper).Map(ctx, "x"); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("in-memory Map: %v, want ErrUnsupported", err)
	}
	got, unmap, err := objstore.Map(ctx, mem, "x")
	if err != nil || !bytes.Equal(got, want) || unmap() != nil {
		t.Fatalf("objstore.Map on memory: %v", err)
	}
}
