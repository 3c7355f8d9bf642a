package auth

import (
	"fmt"
	"strings"

	weftv1 "github.com/weftdb/weft/proto/gen/weft/v1"
)

// A Principal is who a request acts as: a key, or the bootstrap secret.
type Principal struct {
	ID, Name string
	grants   []*weftv1.Grant
}

// Role returns the strongest role p has in namespace ns.
func (p *Principal) Role(ns string) weftv1.Role {
	best := weftv1.Role_ROLE_UNSPECIFIED
	for _, g := range p.grants {
		if Matches(g.GetNamespace(), ns) && g.GetRole() > best {
			best = g.GetRole()
		}
	}
	return best
}

// May reports whether p has role (or a stronger one) in namespace ns.
func (p *Principal) May(role weftv1.Role, ns string) bool { return p.Role(ns) >= role }

// MayAll reports whether p has role in every namespace (a "*" grant):
// what plugins and keys, which span namespaces, need.
func (p *Principal) MayAll(role weftv1.Role) bool {
	for _, g := range p.grants {
		if g.GetNamespace() == "*" && g.GetRole() >= role {
			return true
		}
	}
	return false
}

// Grants describes p's grants for error messages: "read on a, admin on b*".
func (p *Principal) Grants() string {
	if len(p.grants) == 0 {
		return "no grants"
	}
	parts := make([]string, len(p.grants))
	for i, g := range p.grants {
		parts[i] = RoleName(g.GetRole()) + " on " + g.GetNamespace()
	}
	return strings.Join(parts, ", ")
}

// Matches reports whether a grant's pattern names namespace ns: the same
// name, "*", or a prefix ending in "*".
func Matches(pattern, ns string) bool {
	if prefix, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(ns, prefix)
	}
	return pattern == ns
}

// RoleName is a role as people write it: read, write or admin.
func RoleName(r weftv1.Role) string {
	switch r {
	case weftv1.Role_ROLE_READ:
		return "read"
	case weftv1.Role_ROLE_WRITE:
		return "write"
	case weftv1.Role_ROLE_ADMIN:
		return "admin"
	}
	return "none"
}

// ParseRole is RoleName's inverse.
func ParseRole(s string) (weftv1.Role, error) {
	for _, r := range []weftv1.Role{weftv1.Role_ROLE_READ, weftv1.Role_ROLE_WRITE, weftv1.Role_ROLE_ADMIN} {
		if s == RoleName(r) {
			return r, nil
		}
	}
	return 0, fmt.Errorf("role %q: use read, write or admin", s)
}

// CheckGrants validates grants: at least one; each a role and a pattern
// that is "*", a namespace name, or a prefix ending in "*".
func CheckGrants(grants []*weftv1.Grant) error {
	if len(grants) == 0 {
		return fmt.Errorf("grants is empty: give the key a role in at least one namespace pattern (e.g. read on \"docs\", write on \"tenant-a-*\")")
	}
	for i, g := range grants {
		if g.GetRole() == weftv1.Role_ROLE_UNSPECIFIED || weftv1.Role_name[int32(g.GetRole())] == "" {
			return fmt.Errorf("grants[%d]: role is %v: use ROLE_READ, ROLE_WRITE or ROLE_ADMIN", i, g.GetRole())
		}
		p := strings.TrimSuffix(g.GetNamespace(), "*")
		if g.GetNamespace() == "" || strings.Contains(p, "*") || len(p) > 128 {
			return fmt.Errorf("grants[%d]: namespace pattern %q: use a namespace name, a prefix ending in *, or *", i, g.GetNamespace())
		}
	}
	return nil
}
