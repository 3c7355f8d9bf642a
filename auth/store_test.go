package auth

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/weftdb/weft/objstore"
	weftv1 "github.com/weftdb/weft/proto/gen/weft/v1"
)

func TestKeys(t *testing.T) {
	ctx := t.Context()
	bucket := objstore.NewInMemory()
	clock := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	now := func() time.Time { return clock }
	a, err := NewStore(bucket, Options{Bootstrap: "bootstrap-secret-0123456789"})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewStore(bucket, Options{}) // another process on the bucket
	a.now, b.now = now, now

	key, secret, err := a.Create(ctx, "reader", []*weftv1.Grant{
		{Namespace: "docs", Role: weftv1.Role_ROLE_READ},
		{Namespace: "tenant-*", Role: weftv1.Role_ROLE_WRITE},
	}, clock.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, "wk_"+key.GetId()+"_") || len(secret) < 40 {
		t.Fatalf("secret %q for key %s", secret, key.GetId())
	}
	raw, err := bucket.Get(ctx, objstore.AuthKeyKey(key.GetId()))
	if err != nil || strings.Contains(string(raw), secret[20:]) {
		t.Fatalf("the bucket holds the secret in the clear (or %v)", err)
	}
	for _, s := range []*Store{a, b} {
		p, err := s.Authenticate(ctx, secret)
		if err != nil {
			t.Fatal(err)
		}
		for ns, want := range map[string]weftv1.Role{"docs": weftv1.Role_ROLE_READ, "tenant-x": weftv1.Role_ROLE_WRITE, "tenant": weftv1.Role_ROLE_UNSPECIFIED, "docs2": weftv1.Role_ROLE_UNSPECIFIED} {
			if got := p.Role(ns); got != want {
				t.Fatalf("role in %s: %v, want %v", ns, got, want)
			}
		}
		if p.MayAll(weftv1.Role_ROLE_READ) || p.Grants() != "read on docs, write on tenant-*" {
			t.Fatalf("principal %+v: %s", p, p.Grants())
		}
	}
	for _, bad := range []string{"", "nope", "wk_0123456789abcdef_x", secret + "x", "wk_" + key.GetId()} {
		if _, err := b.Authenticate(ctx, bad); !errors.Is(err, ErrUnknown) && !errors.Is(err, ErrMissing) {
			t.Fatalf("secret %q: %v, want not recognised", bad, err)
		}
	}
	if p, err := a.Authenticate(ctx, "bootstrap-secret-0123456789"); err != nil || !p.MayAll(weftv1.Role_ROLE_ADMIN) {
		t.Fatalf("bootstrap: %v, %v", p, err)
	}
	if _, err := b.Authenticate(ctx, "bootstrap-secret-0123456789"); !errors.Is(err, ErrUnknown) {
		t.Fatalf("bootstrap on a store without it: %v", err)
	}

	// Revoked on a: b, which read the key before, sees it within its TTL.
	if _, err := a.Revoke(ctx, key.GetId()); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Authenticate(ctx, secret); !errors.Is(err, ErrRevoked) {
		t.Fatalf("after revoke, on the revoking store: %v", err)
	}
	if _, err := b.Authenticate(ctx, secret); err != nil {
		t.Fatalf("within the TTL the other store may still accept the key: %v", err)
	}
	clock = clock.Add(DefaultTTL)
	if _, err := b.Authenticate(ctx, secret); !errors.Is(err, ErrRevoked) {
		t.Fatalf("after the TTL, on the other store: %v", err)
	}

	// Expiry.
	k2, s2, err := a.Create(ctx, "short", []*weftv1.Grant{{Namespace: "*", Role: weftv1.Role_ROLE_READ}}, clock.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Authenticate(ctx, s2); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(time.Minute)
	if _, err := b.Authenticate(ctx, s2); !errors.Is(err, ErrExpired) {
		t.Fatalf("after expiry: %v", err)
	}
	keys, err := b.List(ctx)
	if err != nil || len(keys) != 2 {
		t.Fatalf("list: %v, %v", keys, err)
	}
	for _, k := range keys {
		if (k.GetId() == key.GetId()) != (k.GetRevokeTime() != nil) || k.GetId() != key.GetId() && k.GetId() != k2.GetId() {
			t.Fatalf("listed %v", k)
		}
	}
	if _, err := a.Revoke(ctx, "0123456789abcdef"); !errors.Is(err, ErrNoSuchKey) {
		t.Fatalf("revoke of a missing key: %v", err)
	}

	// Bad input.
	for _, g := range [][]*weftv1.Grant{nil, {{Namespace: "a", Role: 0}}, {{Namespace: "", Role: 1}}, {{Namespace: "a*b*", Role: 1}}} {
		if _, _, err := a.Create(ctx, "x", g, time.Time{}); err == nil {
			t.Fatalf("grants %v accepted", g)
		}
	}
	if _, _, err := a.Create(ctx, "x", []*weftv1.Grant{{Namespace: "a", Role: 1}}, clock.Add(-time.Second)); err == nil {
		t.Fatal("an expiry in the past was accepted")
	}
	if _, err := NewStore(bucket, Options{Bootstrap: "short"}); err == nil {
		t.Fatal("a short bootstrap secret was accepted")
	}
}
