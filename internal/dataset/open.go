package dataset

import (
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Format is a file format of this package.
type Format string

// The formats.
const (
	Fvecs Format = "fvecs"
	Ivecs Format = "ivecs"
	IDX   Format = "idx"
	JSONL Format = "jsonl"
	NPY   Format = "npy" // a NumPy array (numpy.save)
	NPZ   Format = "npz" // an archive of NumPy arrays (numpy.savez)
	// Parquet files: a list column of vectors, other columns attributes.
	Parquet Format = "parquet"
)

// ParseFormat returns the format called s (fvecs, ivecs, idx, jsonl, npy,
// npz or parquet).
func ParseFormat(s string) (Format, error) {
	switch f := Format(strings.ToLower(s)); f {
	case Fvecs, Ivecs, IDX, JSONL, NPY, NPZ, Parquet:
		return f, nil
	}
	return "", fmt.Errorf("unknown format %q: want fvecs, ivecs, idx, jsonl, npy, npz or parquet", s)
}

// FormatOf guesses a file's format from its name: .fvecs, .ivecs, .jsonl
// (or .ndjson), .npy, IDX names ending in -ubyte or .idx, each optionally
// followed by .gz; .npz; .parquet (or .pq); any other .gz file is taken
// for gzipped IDX, as MNIST ships.
func FormatOf(path string) (Format, error) {
	base := strings.ToLower(filepath.Base(path))
	inner, gz := strings.CutSuffix(base, ".gz")
	switch {
	case strings.HasSuffix(inner, ".fvecs"):
		return Fvecs, nil
	case strings.HasSuffix(inner, ".ivecs"):
		return Ivecs, nil
	case strings.HasSuffix(inner, ".jsonl"), strings.HasSuffix(inner, ".ndjson"):
		return JSONL, nil
	case strings.HasSuffix(inner, ".npy"):
		return NPY, nil
	case strings.HasSuffix(base, ".npz"):
		return NPZ, nil
	case strings.HasSuffix(base, ".parquet"), strings.HasSuffix(base, ".pq"):
		return Parquet, nil
	case strings.HasSuffix(inner, "-ubyte"), strings.HasSuffix(inner, ".idx"), gz:
		return IDX, nil
	}
	return "", fmt.Errorf("%s: cannot tell the format from the name: name it (fvecs, ivecs, idx, jsonl, npy, npz or parquet)", path)
}

// File is an open data file, decompressed if it was gzipped.
type File struct {
	io.Reader
	f *os.File
}

// Close closes the file.
func (f *File) Close() error { return f.f.Close() }

// Open opens a file for one of the readers, undoing gzip compression when
// the content starts with gzip's magic bytes.
func Open(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(f, 1<<16)
	magic, err := br.Peek(2)
	if err != nil && !errors.Is(err, io.EOF) {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		z, err := gzip.NewReader(br)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return &File{Reader: z, f: f}, nil
	}
	return &File{Reader: br, f: f}, nil
}
