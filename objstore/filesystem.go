package objstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/thanos-io/objstore/providers/filesystem"
)

// staleTempAge is how old a temporary file must be before NewFilesystem
// removes it. A live write holds its temporary file for milliseconds, so an
// hour only ever catches writers that crashed.
const staleTempAge = time.Hour

// NewFilesystem returns a bucket rooted at dir, creating dir if needed.
//
// Writes go to a temporary file under dir/.weft-tmp (the same file system, so
// rename and link work), which is fsynced and then renamed (Upload) or linked
// (Create, where EEXIST means ErrExists) into place; the parent directory is
// then fsynced. Temporary files never show in List; ones left by a crashed
// writer are removed by a later NewFilesystem once older than an hour.
//
// An object name cannot also be a "directory" of other objects here (S3
// allows "a" and "a/b" side by side; a file system does not).
func NewFilesystem(dir string) (Bucket, error) {
	root, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("open filesystem bucket %s: %w", dir, err)
	}
	tmp := filepath.Join(root, reservedPrefix)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return nil, fmt.Errorf("open filesystem bucket %s: %w", dir, err)
	}
	if err := removeStaleTemps(tmp, time.Now().Add(-staleTempAge)); err != nil {
		return nil, fmt.Errorf("open filesystem bucket %s: %w", dir, err)
	}
	tb, err := filesystem.NewBucket(root)
	if err != nil {
		return nil, fmt.Errorf("open filesystem bucket %s: %w", dir, err)
	}
	return &bucket{tb: tb, w: &fsWriter{root: root, tmp: tmp}}, nil
}

func removeStaleTemps(tmp string, before time.Time) error {
	entries, err := os.ReadDir(tmp)
	if err != nil {
		return err
	}
	for _, e := range entries {
		info, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue // a live writer finished meanwhile
		}
		if err != nil {
			return err
		}
		if info.ModTime().Before(before) {
			if err := os.RemoveAll(filepath.Join(tmp, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
	}
	return nil
}

type fsWriter struct {
	root string // absolute bucket directory
	tmp  string // root/.weft-tmp
}

func (w *fsWriter) path(name string) string {
	return filepath.Join(w.root, filepath.FromSlash(name))
}

// writeTemp writes data to a new fsynced temporary file and returns its path.
func (w *fsWriter) writeTemp(data []byte) (_ string, err error) {
	f, err := os.CreateTemp(w.tmp, "obj-*")
	if err != nil {
		return "", err
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	if _, err := f.Write(data); err != nil {
		return "", err
	}
	if err := f.Sync(); err != nil {
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return f.Name(), nil
}

// place moves the temporary file into dst with op (rename or link), creating
// missing parent directories. A parent removed by a concurrent Delete of its
// last object is recreated and the op retried.
func (w *fsWriter) place(tmp, dst string, op func(string, string) error) error {
	parent := filepath.Dir(dst)
	var err error
	for range 3 {
		if err = w.mkdirs(parent); err != nil {
			return err
		}
		err = op(tmp, dst)
		if !errors.Is(err, fs.ErrNotExist) {
			break
		}
	}
	if err != nil {
		return err
	}
	return syncDir(parent)
}

func (w *fsWriter) upload(ctx context.Context, name string, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	tmp, err := w.writeTemp(data)
	if err != nil {
		return err
	}
	if err := w.place(tmp, w.path(name), os.Rename); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return nil
}

func (w *fsWriter) create(ctx context.Context, name string, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	dst := w.path(name)
	if _, err := os.Lstat(dst); err == nil {
		return ErrExists // cheap early answer; link below decides races
	}
	tmp, err := w.writeTemp(data)
	if err != nil {
		return err
	}
	defer func() { _ = os.Remove(tmp) }()
	err = w.place(tmp, dst, os.Link)
	if errors.Is(err, fs.ErrExist) {
		return ErrExists
	}
	return err
}

func (w *fsWriter) delete(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p := w.path(name)
	info, err := os.Lstat(p)
	if err != nil {
		return err // not-found kinds become nil in bucket.Delete
	}
	if info.IsDir() {
		return nil // a "directory" is not an object
	}
	if err := os.Remove(p); err != nil {
		return err
	}
	// Empty parent directories stay: pruning them would race with writers.
	return syncDir(filepath.Dir(p))
}

// mkdirs creates dir and missing parents up to the root, fsyncing each new
// directory's parent so the new entry is durable.
func (w *fsWriter) mkdirs(dir string) error {
	info, err := os.Stat(dir)
	if err == nil {
		if !info.IsDir() {
			return &fs.PathError{Op: "mkdir", Path: dir, Err: syscall.ENOTDIR}
		}
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) || dir == w.root {
		return err
	}
	parent := filepath.Dir(dir)
	if err := w.mkdirs(parent); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return syncDir(parent)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

func (w *fsWriter) close() error { return nil }
