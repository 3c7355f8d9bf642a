package objstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// Mapper is a bucket that can map an object into memory read-only instead
// of copying it into the heap: the filesystem bucket. Reading a 600 MB
// segment into a fresh buffer costs more in page faults and copying than
// everything else a restart does; a mapping shares the page cache's pages.
//
// Map returns the object's bytes and a function that unmaps them; the
// bytes must not be used once it ran. Objects are immutable and replaced
// only by renaming a new file into place, so a mapping never changes, even
// when the object is deleted meanwhile. Buckets that cannot map return an
// error wrapping errors.ErrUnsupported; ErrNotFound when the object is
// absent.
type Mapper interface {
	Map(ctx context.Context, name string) (data []byte, unmap func() error, err error)
}

// Map maps the object into memory when the bucket can (see Mapper), else
// reads it; unmap is then a no-op.
func Map(ctx context.Context, r Reader, name string) (data []byte, unmap func() error, err error) {
	if m, ok := r.(Mapper); ok {
		data, unmap, err = m.Map(ctx, name)
		if !errors.Is(err, errors.ErrUnsupported) {
			return data, unmap, err
		}
	}
	data, err = r.Get(ctx, name)
	return data, func() error { return nil }, err
}

func (b *bucket) Map(ctx context.Context, name string) ([]byte, func() error, error) {
	w, ok := b.w.(*fsWriter)
	if !ok {
		return nil, nil, fmt.Errorf("map %s: %w", name, errors.ErrUnsupported)
	}
	if err := ValidateName(name); err != nil {
		return nil, nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	f, err := os.Open(w.path(name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("map %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("map %s: %w", name, err)
	}
	defer f.Close() // the mapping outlives the descriptor
	info, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("map %s: %w", name, err)
	}
	if info.IsDir() {
		return nil, nil, fmt.Errorf("map %s: %w", name, ErrNotFound)
	}
	size := info.Size()
	if size == 0 || int64(int(size)) != size {
		return nil, nil, fmt.Errorf("map %s (%d bytes): %w", name, size, errors.ErrUnsupported)
	}
	data, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED|syscall.MAP_POPULATE)
	if err != nil {
		return nil, nil, fmt.Errorf("map %s: %w", name, err)
	}
	return data, func() error { return syscall.Munmap(data) }, nil
}
