package segment

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/v1.golden from the Builder's output")

const goldenPath = "testdata/v1.golden"

// goldenSHA256 is the sha256 of the golden segment's bytes. -update rewrites
// the hex dump but not this: a change here is a change of format v1, which
// readers of existing objects cannot follow. Change the format only with a
// new Version.
const goldenSHA256 = "d96ef63a08cc95c7f5ca7b4754de511aa777700c76bd439753627b29abfef8e5"

// goldenParts is the fixed segment the golden file pins: every kind, an
// empty section, a second shard and a meta.
func goldenParts() (meta []byte, parts []part) {
	return []byte("weft golden segment v1"), []part{
		{KindIDs, 0, EncodeStrings([]string{"a", "bb", "ccc"})},
		{KindAttributes, 0, []byte{0x0a, 0x02, 'h', 'i'}},
		{KindVectors, 0, EncodeFloat32s([]float32{1, -2, 0.5, 3})},
		{KindGraph, 0, []byte("graph!")},
		{KindCentroid, 0, EncodeFloat32s([]float32{0.25, -0.25})},
		{KindDeleted, 0, nil},
		{KindVectors, 7, EncodeFloat32s([]float32{42})},
	}
}

// TestGolden pins the encoding byte for byte. After a deliberate change
// (with a new Version), run
//
//	go test ./objstore/segment -run Golden -update
//
// and update goldenSHA256.
func TestGolden(t *testing.T) {
	meta, parts := goldenParts()
	built := build(t, meta, parts...)
	dump := hex.Dump(built)
	if *update {
		if err := os.MkdirAll(filepath.Dir(goldenPath), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(goldenPath, []byte(dump), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	file, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatalf("%v (go test -run Golden -update writes it)", err)
	}
	if string(file) != dump {
		t.Errorf("the Builder's output differs from %s at %s", goldenPath, firstDiff(string(file), dump))
	}
	if sum := fmt.Sprintf("%x", sha256.Sum256(built)); sum != goldenSHA256 {
		t.Errorf("the golden segment's sha256 is %s, goldenSHA256 says %s: format v1 changed", sum, goldenSHA256)
	}

	// The decoder reads the pinned bytes, not just what this Builder writes.
	pinned, err := parseDump(string(file))
	if err != nil {
		t.Fatalf("parse %s: %v", goldenPath, err)
	}
	h, err := Decode(pinned)
	if err != nil {
		t.Fatalf("decode %s: %v", goldenPath, err)
	}
	if string(h.Meta) != string(meta) || len(h.Sections) != len(parts) {
		t.Fatalf("decode %s: header %+v", goldenPath, h)
	}
	for i, p := range parts {
		s := h.Sections[i]
		b, err := h.SectionBytes(pinned, s)
		if err != nil || s.Kind != p.kind || s.Shard != p.shard || !bytes.Equal(b, p.data) {
			t.Errorf("decode %s: section %d = %+v %x, %v; want %v shard %d %x", goldenPath, i, s, b, err, p.kind, p.shard, p.data)
		}
	}
}

// parseDump reads back the output of hex.Dump.
func parseDump(dump string) ([]byte, error) {
	var out []byte
	for i, line := range strings.Split(strings.TrimSuffix(dump, "\n"), "\n") {
		// "00000010  xx xx xx xx xx xx xx xx  xx xx xx xx xx xx xx xx  |...|"
		if len(line) < 60 {
			return nil, fmt.Errorf("line %d is too short", i+1)
		}
		for _, f := range strings.Fields(line[10:59]) {
			b, err := hex.DecodeString(f)
			if err != nil || len(b) != 1 {
				return nil, fmt.Errorf("line %d: %q is not a byte", i+1, f)
			}
			out = append(out, b[0])
		}
	}
	return out, nil
}

func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range min(len(al), len(bl)) {
		if al[i] != bl[i] {
			return fmt.Sprintf("line %d:\n  file:  %s\n  built: %s", i+1, al[i], bl[i])
		}
	}
	return fmt.Sprintf("the end: %d lines in the file, %d built", len(al), len(bl))
}
