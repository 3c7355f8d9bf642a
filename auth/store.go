package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/weftdb/weft/objstore"
	storagev1 "github.com/weftdb/weft/proto/gen/weft/storage/v1"
	weftv1 "github.com/weftdb/weft/proto/gen/weft/v1"
)

// Errors Authenticate returns; their messages reach clients.
var (
	ErrMissing = errors.New("no API key: send \"Authorization: Bearer <key>\" (weft keys create makes one; WEFT_API_KEY for the CLI)")
	ErrUnknown = errors.New("API key not recognised: check the key, or create one with weft keys create")
	ErrRevoked = errors.New("API key revoked")
	ErrExpired = errors.New("API key expired")
	// ErrInvalid wraps Create's errors about its arguments.
	ErrInvalid = errors.New("invalid API key request")
)

// DefaultTTL is how long a process trusts its copy of a key: revocations
// and expiries take effect everywhere within it.
const DefaultTTL = 500 * time.Millisecond

// maxCached bounds the keys a store remembers, unknown ones included (a
// flood of made-up keys must not grow it without bound).
const maxCached = 10_000

// Store creates, lists, revokes and checks API keys kept in a bucket.
type Store struct {
	bucket    objstore.Bucket
	ttl       time.Duration
	bootstrap [sha256.Size]byte // zero: none
	now       func() time.Time

	mu     sync.Mutex
	cached map[string]cachedKey
}

type cachedKey struct {
	key  *storagev1.StoredKey // nil: no such key
	read time.Time
}

// Options configure a Store.
type Options struct {
	// Bootstrap is a secret that acts as an admin of every namespace
	// without being stored: the way to create the first keys.
	Bootstrap string
	// TTL is DefaultTTL when zero.
	TTL time.Duration
}

// NewStore returns a Store over bucket.
func NewStore(bucket objstore.Bucket, o Options) (*Store, error) {
	s := &Store{bucket: bucket, ttl: o.TTL, now: time.Now, cached: map[string]cachedKey{}}
	if s.ttl <= 0 {
		s.ttl = DefaultTTL
	}
	if o.Bootstrap != "" {
		if len(o.Bootstrap) < 16 {
			return nil, errors.New("the bootstrap API key must be at least 16 characters (e.g. openssl rand -hex 32)")
		}
		s.bootstrap = sha256.Sum256([]byte(o.Bootstrap))
	}
	return s, nil
}

// BootstrapID names the bootstrap secret's principal.
const BootstrapID = "bootstrap"

// Authenticate returns the principal a bearer secret stands for.
func (s *Store) Authenticate(ctx context.Context, secret string) (*Principal, error) {
	if secret == "" {
		return nil, ErrMissing
	}
	sum := sha256.Sum256([]byte(secret))
	if s.bootstrap != ([sha256.Size]byte{}) && subtle.ConstantTimeCompare(sum[:], s.bootstrap[:]) == 1 {
		return &Principal{ID: BootstrapID, Name: BootstrapID, grants: []*weftv1.Grant{{Namespace: "*", Role: weftv1.Role_ROLE_ADMIN}}}, nil
	}
	id, ok := parseSecret(secret)
	if !ok {
		return nil, ErrUnknown
	}
	k, err := s.lookup(ctx, id)
	if err != nil {
		return nil, err
	}
	if k == nil || subtle.ConstantTimeCompare(sum[:], k.GetSecretSha256()) != 1 {
		return nil, ErrUnknown
	}
	meta := k.GetKey()
	if meta.GetRevokeTime() != nil {
		return nil, fmt.Errorf("%w: key %s was revoked at %s", ErrRevoked, id, meta.GetRevokeTime().AsTime().Format(time.RFC3339))
	}
	if e := meta.GetExpireTime(); e != nil && !s.now().Before(e.AsTime()) {
		return nil, fmt.Errorf("%w: key %s expired at %s", ErrExpired, id, e.AsTime().Format(time.RFC3339))
	}
	return &Principal{ID: id, Name: meta.GetName(), grants: meta.GetGrants()}, nil
}

// lookup returns key id's record, read from the bucket when the cached one
// is older than the TTL; nil when there is none.
func (s *Store) lookup(ctx context.Context, id string) (*storagev1.StoredKey, error) {
	s.mu.Lock()
	c, ok := s.cached[id]
	s.mu.Unlock()
	if ok && s.now().Sub(c.read) < s.ttl {
		return c.key, nil
	}
	read := s.now()
	k, err := s.read(ctx, id)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if len(s.cached) >= maxCached {
		clear(s.cached)
	}
	s.cached[id] = cachedKey{key: k, read: read}
	s.mu.Unlock()
	return k, nil
}

func (s *Store) read(ctx context.Context, id string) (*storagev1.StoredKey, error) {
	b, err := s.bucket.Get(ctx, objstore.AuthKeyKey(id))
	if errors.Is(err, objstore.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read API key %s: %w", id, err)
	}
	k := &storagev1.StoredKey{}
	if err := proto.Unmarshal(b, k); err != nil {
		return nil, fmt.Errorf("API key %s: %w", id, err)
	}
	return k, nil
}

// Create makes a key with grants, valid until expire (zero: no expiry),
// and returns it with its secret.
func (s *Store) Create(ctx context.Context, name string, grants []*weftv1.Grant, expire time.Time) (*weftv1.ApiKey, string, error) {
	if err := CheckGrants(grants); err != nil {
		return nil, "", fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if !expire.IsZero() && !expire.After(s.now()) {
		return nil, "", fmt.Errorf("%w: expire_time %s is not in the future", ErrInvalid, expire.Format(time.RFC3339))
	}
	idBytes, secretBytes := make([]byte, 8), make([]byte, 32)
	if _, err := rand.Read(idBytes); err != nil {
		return nil, "", err
	}
	if _, err := rand.Read(secretBytes); err != nil {
		return nil, "", err
	}
	id := hex.EncodeToString(idBytes)
	secret := "wk_" + id + "_" + base64.RawURLEncoding.EncodeToString(secretBytes)
	key := &weftv1.ApiKey{Id: id, Name: name, Grants: grants, CreateTime: timestamppb.New(s.now())}
	if !expire.IsZero() {
		key.ExpireTime = timestamppb.New(expire)
	}
	sum := sha256.Sum256([]byte(secret))
	b, err := proto.Marshal(&storagev1.StoredKey{Key: key, SecretSha256: sum[:]})
	if err != nil {
		return nil, "", err
	}
	if err := s.bucket.Create(ctx, objstore.AuthKeyKey(id), b); err != nil {
		return nil, "", fmt.Errorf("store API key %s: %w", id, err)
	}
	return key, secret, nil
}

// List returns every key, revoked and expired ones too, in id order.
func (s *Store) List(ctx context.Context) ([]*weftv1.ApiKey, error) {
	names, err := s.bucket.List(ctx, objstore.AuthKeysPrefix())
	if err != nil {
		return nil, err
	}
	var keys []*weftv1.ApiKey
	for _, n := range names {
		k, err := s.read(ctx, strings.TrimPrefix(n, objstore.AuthKeysPrefix()))
		if err != nil {
			return nil, err
		}
		if k != nil {
			keys = append(keys, k.GetKey())
		}
	}
	slices.SortFunc(keys, func(a, b *weftv1.ApiKey) int { return strings.Compare(a.GetId(), b.GetId()) })
	return keys, nil
}

// ErrNoSuchKey is Revoke's error for an id with no key.
var ErrNoSuchKey = errors.New("no such API key")

// Revoke marks key id revoked; revoking it again changes nothing.
func (s *Store) Revoke(ctx context.Context, id string) (*weftv1.ApiKey, error) {
	if !validID(id) {
		return nil, fmt.Errorf("%w: %q is not a key id (16 hex digits, as weft keys list shows)", ErrNoSuchKey, id)
	}
	k, err := s.read(ctx, id)
	if err != nil {
		return nil, err
	}
	if k == nil {
		return nil, fmt.Errorf("%w: %s", ErrNoSuchKey, id)
	}
	if k.GetKey().GetRevokeTime() == nil {
		k.GetKey().RevokeTime = timestamppb.New(s.now())
		b, err := proto.Marshal(k)
		if err != nil {
			return nil, err
		}
		if err := s.bucket.Upload(ctx, objstore.AuthKeyKey(id), b); err != nil {
			return nil, fmt.Errorf("revoke API key %s: %w", id, err)
		}
	}
	s.mu.Lock()
	delete(s.cached, id)
	s.mu.Unlock()
	return k.GetKey(), nil
}

// parseSecret returns the id of a secret of the form wk_<id>_<random>.
func parseSecret(secret string) (string, bool) {
	rest, ok := strings.CutPrefix(secret, "wk_")
	if !ok {
		return "", false
	}
	id, _, ok := strings.Cut(rest, "_")
	return id, ok && validID(id)
}

func validID(id string) bool {
	if len(id) != 16 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil
}
