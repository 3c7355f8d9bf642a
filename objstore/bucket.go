package objstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
	"syscall"

	"github.com/minio/minio-go/v7"
	tobj "github.com/thanos-io/objstore"
)

// writer is the part of a bucket that each backend implements itself: the
// thanos providers give no atomic or conditional writes.
type writer interface {
	upload(ctx context.Context, name string, data []byte) error
	create(ctx context.Context, name string, data []byte) error
	delete(ctx context.Context, name string) error
	close() error
}

// bucket serves reads and listings from a thanos provider and writes through
// a backend-specific writer. Names are validated here, once, for every backend.
type bucket struct {
	tb tobj.Bucket
	w  writer
}

func (b *bucket) isNotFound(err error) bool {
	if b.tb.IsObjNotFoundErr(err) || errors.Is(err, fs.ErrNotExist) {
		return true
	}
	// A filesystem path through a regular file, or a directory read as a
	// file: no object by that name.
	return errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.EISDIR)
}

func isInvalidRange(err error) bool {
	var er minio.ErrorResponse
	return errors.As(err, &er) && (er.Code == "InvalidRange" || er.StatusCode == 416)
}

func (b *bucket) Get(ctx context.Context, name string) ([]byte, error) {
	return b.GetRange(ctx, name, 0, -1)
}

func (b *bucket) GetRange(ctx context.Context, name string, off, length int64) ([]byte, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	if off < 0 {
		return nil, fmt.Errorf("get range of %s: negative offset %d", name, off)
	}
	if length < 0 {
		length = -1
	}
	if length == 0 {
		// Providers disagree on empty ranges; answer from Exists.
		ok, err := b.Exists(ctx, name)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("get %s: %w", name, ErrNotFound)
		}
		return []byte{}, nil
	}
	data, err := b.read(ctx, name, off, length)
	if err == nil {
		return data, nil
	}
	if b.isNotFound(err) {
		return nil, fmt.Errorf("get %s: %w", name, ErrNotFound)
	}
	if isInvalidRange(err) {
		// S3 answers 416 for an offset at or past the end.
		ok, xerr := b.Exists(ctx, name)
		if xerr != nil {
			return nil, xerr
		}
		if !ok {
			return nil, fmt.Errorf("get %s: %w", name, ErrNotFound)
		}
		return []byte{}, nil
	}
	return nil, fmt.Errorf("get %s: %w", name, unavailable(err))
}

// unavailable marks a provider's failure ErrUnavailable, unless it is an
// answer (the object exists, or is missing) or the caller's context ended.
func unavailable(err error) error {
	if errors.Is(err, ErrExists) || errors.Is(err, ErrNotFound) || errors.Is(err, ErrInvalidName) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

func (b *bucket) read(ctx context.Context, name string, off, length int64) (_ []byte, err error) {
	var rc io.ReadCloser
	if off == 0 && length < 0 {
		rc, err = b.tb.Get(ctx, name)
	} else {
		rc, err = b.tb.GetRange(ctx, name, off, length)
	}
	if errors.Is(err, io.EOF) {
		// The S3 provider reads the first byte to surface errors early and
		// reports an empty object as EOF.
		return []byte{}, nil
	}
	if err != nil {
		return nil, err
	}
	data, err := readAll(rc)
	if cerr := rc.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	if data == nil {
		data = []byte{}
	}
	return data, nil
}

func (b *bucket) Exists(ctx context.Context, name string) (bool, error) {
	if err := ValidateName(name); err != nil {
		return false, err
	}
	ok, err := b.tb.Exists(ctx, name)
	if err != nil {
		if b.isNotFound(err) {
			return false, nil
		}
		return false, fmt.Errorf("check %s exists: %w", name, unavailable(err))
	}
	return ok, nil
}

func (b *bucket) List(ctx context.Context, prefix string) ([]string, error) {
	if err := validatePrefix(prefix); err != nil {
		return nil, err
	}
	// Providers list directories; list the one holding prefix and filter.
	dir := prefix[:strings.LastIndexByte(prefix, '/')+1]
	var names []string
	err := b.tb.Iter(ctx, dir, func(name string) error {
		if strings.HasPrefix(name, prefix) && !hiddenName(name) && !strings.HasSuffix(name, "/") {
			names = append(names, name)
		}
		return nil
	}, tobj.WithRecursiveIter())
	if err != nil {
		return nil, fmt.Errorf("list %q: %w", prefix, unavailable(err))
	}
	slices.Sort(names)
	return names, nil
}

func (b *bucket) ListFolders(ctx context.Context, prefix string) ([]string, error) {
	if err := validatePrefix(prefix); err != nil {
		return nil, err
	}
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		return nil, fmt.Errorf("%w: list folders of %q: a folder ends in /", ErrInvalidName, prefix)
	}
	var names []string
	err := b.tb.Iter(ctx, prefix, func(name string) error {
		if strings.HasSuffix(name, "/") && !hiddenName(strings.TrimSuffix(name, "/")) {
			names = append(names, name)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list folders of %q: %w", prefix, unavailable(err))
	}
	slices.Sort(names)
	return names, nil
}

func (b *bucket) Upload(ctx context.Context, name string, data []byte) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	if err := b.w.upload(ctx, name, data); err != nil {
		return fmt.Errorf("upload %s: %w", name, unavailable(err))
	}
	return nil
}

func (b *bucket) Create(ctx context.Context, name string, data []byte) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	if err := b.w.create(ctx, name, data); err != nil {
		return fmt.Errorf("create %s: %w", name, unavailable(err))
	}
	return nil
}

func (b *bucket) Delete(ctx context.Context, name string) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	if err := b.w.delete(ctx, name); err != nil {
		if b.isNotFound(err) {
			return nil
		}
		return fmt.Errorf("delete %s: %w", name, unavailable(err))
	}
	return nil
}

func (b *bucket) Close() error {
	return errors.Join(b.w.close(), b.tb.Close())
}

// readAll reads r to the end into one allocation when r knows its size
// (the providers' readers do): io.ReadAll doubles and clears its buffer as
// it goes, which cost more than the read itself for a 650 MB segment.
func readAll(r io.Reader) ([]byte, error) {
	n, err := tobj.TryToGetSize(r)
	if err != nil || n < 0 || n > 1<<40 {
		return io.ReadAll(r)
	}
	buf := bytes.NewBuffer(make([]byte, 0, n+bytes.MinRead))
	_, err = buf.ReadFrom(r)
	return buf.Bytes(), err
}
