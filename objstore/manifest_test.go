package objstore

import (
	"errors"
	"testing"
)

func TestManifests(t *testing.T) {
	ctx := t.Context()
	b := NewInMemory()
	g := Generation{Namespace: "n", ID: "g1"}
	m := NewManifests(b, g)
	if v, p, err := m.Latest(ctx); err != nil || v != 0 || p != nil {
		t.Fatalf("Latest of an empty log = %d, %q, %v", v, p, err)
	}
	for v := uint64(1); v <= 3; v++ {
		if err := m.Publish(ctx, v, []byte{byte(v)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Publish(ctx, 2, []byte("rival")); !errors.Is(err, ErrExists) {
		t.Fatalf("publishing a taken version: %v, want ErrExists", err)
	}
	if v, p, err := m.Latest(ctx); err != nil || v != 3 || string(p) != "\x03" {
		t.Fatalf("Latest = %d, %q, %v", v, p, err)
	}
	// A crash between the manifest and the head: the probe finds it.
	if err := b.Create(ctx, g.ManifestKey(4), encodeFrame(manifestMagic, 4, []byte("four"))); err != nil {
		t.Fatal(err)
	}
	if v, p, err := m.Latest(ctx); err != nil || v != 4 || string(p) != "four" {
		t.Fatalf("Latest past a stale head = %d, %q, %v", v, p, err)
	}
	// Deleting old versions stops at the head (3), so the probe still works.
	if err := m.DeleteBelow(ctx, 4); err != nil {
		t.Fatal(err)
	}
	names, _ := b.List(ctx, g.ManifestPrefix())
	if len(names) != 2 || names[0] != g.ManifestKey(3) {
		t.Fatalf("after DeleteBelow(4): %v, want versions 3 and 4", names)
	}
	if v, _, err := m.Latest(ctx); err != nil || v != 4 {
		t.Fatalf("Latest after GC = %d, %v", v, err)
	}
	// Damage is reported, naming the object.
	if err := b.Upload(ctx, g.ManifestKey(4), encodeFrame(manifestMagic, 5, []byte("x"))); err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.Latest(ctx); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("a manifest holding another version: %v, want ErrCorrupt", err)
	}
	if err := b.Upload(ctx, g.ManifestKey(4), EncodeWALEntry(4, []byte("x"))); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Read(ctx, 4); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("a WAL entry read as a manifest: %v, want ErrCorrupt", err)
	}
}

// TestPointer: each publish leaves the namespace's pointer naming its
// generation, version and manifest bytes; damage is ErrCorrupt.
func TestPointer(t *testing.T) {
	ctx := t.Context()
	b := NewInMemory()
	if _, err := ReadPointer(ctx, b, "n"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("no pointer yet: %v, want ErrNotFound", err)
	}
	m := NewManifests(b, Generation{Namespace: "n", ID: "g1"})
	for v := uint64(1); v <= 2; v++ {
		if err := m.Publish(ctx, v, []byte{'m', byte(v), '\n'}); err != nil {
			t.Fatal(err)
		}
	}
	p, err := ReadPointer(ctx, b, "n")
	if err != nil || p.Generation != "g1" || p.Version != 2 || string(p.Manifest) != "m\x02\n" {
		t.Fatalf("pointer = %+v, %v", p, err)
	}
	// A new generation's publish takes the pointer over.
	if err := NewManifests(b, Generation{Namespace: "n", ID: "g2"}).Publish(ctx, 1, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if p, err := ReadPointer(ctx, b, "n"); err != nil || p.Generation != "g2" || p.Version != 1 {
		t.Fatalf("pointer after g2 = %+v, %v", p, err)
	}
	if err := b.Upload(ctx, PointerKey("n"), encodeFrame(pointerMagic, 1, []byte("no generation"))); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadPointer(ctx, b, "n"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("a pointer without a generation: %v, want ErrCorrupt", err)
	}
}
