package objstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Manifests is a namespace generation's manifest log: immutable objects at
// Generation.ManifestKey(v), v = 1, 2, …, each published with
// create-if-absent, so two indexers can never both publish one version. The
// newest version wins. Payloads are opaque here (the fabric stores a
// protobuf) and framed like WAL entries: magic "WFTM", version, checksum.
//
// Finding the newest needs no LIST: the head object holds a version known
// to exist, and the versions after it are probed one by one. Publish
// advances the head after the manifest lands, so a crash in between leaves
// a head that lags by one, which the probe covers. Old manifests are
// deleted only below the head (DeleteBelow), which keeps the invariant the
// probe relies on: every version from the head to the newest exists.
type Manifests struct {
	b   Bucket
	gen Generation
}

// NewManifests returns the manifest log of gen in b.
func NewManifests(b Bucket, gen Generation) *Manifests { return &Manifests{b: b, gen: gen} }

// Publish writes manifest version v (v ≥ 1) and advances the head. It
// returns ErrExists (wrapped) when v is already published, by anyone, or
// a newer version is.
func (m *Manifests) Publish(ctx context.Context, v uint64, payload []byte) error {
	if v == 0 {
		return errors.New("manifest publish: versions start at 1")
	}
	if err := m.b.Create(ctx, m.gen.ManifestKey(v), encodeFrame(manifestMagic, v, payload)); err != nil {
		return fmt.Errorf("manifest publish %s: %w", m.gen.ManifestKey(v), err)
	}
	// v may have been free only because it was collected below a newer
	// head: then this manifest is stale, and readers never see it.
	if newer, err := m.b.Exists(ctx, m.gen.ManifestKey(v+1)); err != nil || newer {
		if err == nil {
			err = fmt.Errorf("%w: manifest %d is newer", ErrExists, v+1)
		}
		return fmt.Errorf("manifest publish %s: %w", m.gen.ManifestKey(v), err)
	}
	// Published: should the head fail to advance, a stale head only costs
	// readers a probe, and a stale pointer a cold reader a slower path.
	_ = m.b.Upload(ctx, m.gen.HeadKey(), []byte(strconv.FormatUint(v, 10)))
	_ = m.b.Upload(ctx, PointerKey(m.gen.Namespace), encodeFrame(pointerMagic, v, append([]byte(m.gen.ID+"\n"), payload...)))
	return nil
}

const pointerMagic = "WFTP"

// Pointer is what a namespace's pointer object says: the newest manifest
// a publisher knew of when it wrote it, of some generation. It is a hint:
// a reader checks the generation against the config and that no newer
// manifest exists before it trusts it.
type Pointer struct {
	Generation string
	Version    uint64
	Manifest   []byte // the payload of manifest Version
}

// ReadPointer reads namespace ns's pointer: ErrNotFound (wrapped) when
// there is none, ErrCorrupt when it is damaged.
func ReadPointer(ctx context.Context, b Reader, ns string) (Pointer, error) {
	data, err := b.Get(ctx, PointerKey(ns))
	if err != nil {
		return Pointer{}, err
	}
	v, payload, err := decodeFrame(pointerMagic, "namespace pointer", data)
	if err != nil {
		return Pointer{}, fmt.Errorf("%s: %w", PointerKey(ns), err)
	}
	gen, man, ok := strings.Cut(string(payload), "\n")
	if !ok || gen == "" || v == 0 {
		return Pointer{}, fmt.Errorf("%w: %s names no generation", ErrCorrupt, PointerKey(ns))
	}
	return Pointer{Generation: gen, Version: v, Manifest: []byte(man)}, nil
}

// Head returns the version the head object names, 0 when there is none.
func (m *Manifests) Head(ctx context.Context) (uint64, error) {
	data, err := m.b.Get(ctx, m.gen.HeadKey())
	if errors.Is(err, ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseUint(strings.TrimSpace(string(data)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: manifest head %s holds %q", ErrCorrupt, m.gen.HeadKey(), data)
	}
	return v, nil
}

// Latest returns the newest manifest's version and payload; 0 and nil when
// none was published.
func (m *Manifests) Latest(ctx context.Context) (uint64, []byte, error) {
	v, err := m.Head(ctx)
	if err != nil {
		return 0, nil, err
	}
	for {
		ok, err := m.b.Exists(ctx, m.gen.ManifestKey(v+1))
		if err != nil {
			return 0, nil, err
		}
		if !ok {
			break
		}
		v++
	}
	if v == 0 {
		return 0, nil, nil
	}
	payload, err := m.Read(ctx, v)
	return v, payload, err
}

// Read returns manifest version v's payload, checksum-verified.
func (m *Manifests) Read(ctx context.Context, v uint64) ([]byte, error) {
	return readFrame(ctx, m.b, m.gen.ManifestKey(v), manifestMagic, "manifest", v)
}

// DeleteBelow deletes the manifests older than both v and the head.
func (m *Manifests) DeleteBelow(ctx context.Context, v uint64) error {
	head, err := m.Head(ctx)
	if err != nil {
		return err
	}
	v = min(v, head)
	names, err := m.b.List(ctx, m.gen.ManifestPrefix())
	if err != nil {
		return err
	}
	for _, n := range names {
		if ver, ok := parseSeqKey(m.gen.ManifestPrefix(), n); ok && ver < v {
			if err := m.b.Delete(ctx, n); err != nil {
				return err
			}
		}
	}
	return nil
}
