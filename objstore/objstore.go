package objstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// ErrNotFound reports that an object does not exist.
var ErrNotFound = errors.New("objstore: object not found")

// ErrExists reports that Create found the object already present.
var ErrExists = errors.New("objstore: object already exists")

// ErrCorrupt reports an object whose bytes fail validation (a bad WAL entry).
var ErrCorrupt = errors.New("objstore: corrupt object")

// ErrInvalidName reports an object name or prefix that Weft does not accept.
var ErrInvalidName = errors.New("objstore: invalid object name")

// ErrUnavailable marks a failure of the store itself (unreachable,
// refusing, erroring): the same call may succeed later.
var ErrUnavailable = errors.New("objstore: bucket unavailable")

// Reader is the read side of a bucket. Workers get only this.
type Reader interface {
	// Get returns the whole object; ErrNotFound (wrapped) if absent.
	Get(ctx context.Context, name string) ([]byte, error)
	// GetRange returns up to length bytes from off; a negative length reads
	// to the end. A range past the end returns the bytes that exist (maybe
	// none); ErrNotFound if the object is absent.
	GetRange(ctx context.Context, name string, off, length int64) ([]byte, error)
	// Exists reports whether the object exists.
	Exists(ctx context.Context, name string) (bool, error)
	// List returns the full names of all objects whose name starts with
	// prefix, recursively, sorted ascending.
	List(ctx context.Context, prefix string) ([]string, error)
	// ListFolders returns the folders directly under prefix (a folder path
	// ending in '/' or ""), each as its full name with a trailing '/',
	// sorted ascending: one listing call, however many objects they hold.
	ListFolders(ctx context.Context, prefix string) ([]string, error)
}

// Bucket is a Reader that can also write.
type Bucket interface {
	Reader
	// Upload writes the object atomically: a reader sees the old or the new
	// object, never part of one.
	Upload(ctx context.Context, name string, data []byte) error
	// Create writes the object only if it does not exist, atomically; it
	// returns ErrExists (wrapped) when present. Of N concurrent Creates of one
	// name exactly one succeeds.
	Create(ctx context.Context, name string, data []byte) error
	// Delete removes the object; deleting a missing object is not an error.
	Delete(ctx context.Context, name string) error
	Close() error
}

// reservedPrefix is the first path segment kept for a bucket's own use (the
// filesystem bucket's temporary files). No object may be named under it.
const reservedPrefix = ".weft-tmp"

// maxNameLen is S3's limit on key length.
const maxNameLen = 1024

// ValidateName reports whether name is an acceptable object name: non-empty,
// at most 1024 bytes, '/'-separated segments that are neither empty, "." nor
// "..", no leading '/', no NUL byte, and not under the reserved ".weft-tmp/".
func ValidateName(name string) error {
	if name == "" {
		return fmt.Errorf("%w: name is empty", ErrInvalidName)
	}
	return validatePath(name, false)
}

// validatePrefix accepts "" and a trailing '/' (an empty last segment),
// otherwise the same rules as ValidateName.
func validatePrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	return validatePath(prefix, true)
}

func validatePath(s string, isPrefix bool) error {
	if len(s) > maxNameLen {
		return fmt.Errorf("%w: %d bytes, the limit is %d", ErrInvalidName, len(s), maxNameLen)
	}
	if strings.HasPrefix(s, "/") {
		return fmt.Errorf("%w: %q starts with '/'", ErrInvalidName, s)
	}
	if strings.IndexByte(s, 0) >= 0 {
		return fmt.Errorf("%w: %q contains a NUL byte", ErrInvalidName, s)
	}
	segs := strings.Split(s, "/")
	for i, seg := range segs {
		last := i == len(segs)-1
		switch {
		case seg == "" && !(isPrefix && last):
			return fmt.Errorf("%w: %q has an empty path segment", ErrInvalidName, s)
		case seg == "." || seg == "..":
			return fmt.Errorf("%w: %q has a %q path segment", ErrInvalidName, s, seg)
		}
	}
	if segs[0] == reservedPrefix {
		return fmt.Errorf("%w: %q is under the reserved %q", ErrInvalidName, s, reservedPrefix+"/")
	}
	return nil
}

// hiddenName reports names a bucket keeps for itself and never lists.
func hiddenName(name string) bool {
	return name == reservedPrefix || strings.HasPrefix(name, reservedPrefix+"/")
}
