package objstore

import (
	"fmt"
	"strconv"
	"strings"
)

// The bucket layout, built here and nowhere else:
//
//	namespaces/<ns>/namespace.json              config and current generation
//	namespaces/<ns>/pointer                     the newest manifest, inline (a hint)
//	namespaces/<ns>/<gen>/wal/<seq>             one object per acknowledged write batch
//	namespaces/<ns>/<gen>/manifests/<version>   immutable manifests, newest wins
//	namespaces/<ns>/<gen>/head                  the newest manifest version known (a hint)
//	namespaces/<ns>/<gen>/segments/<id>         immutable segments
//	auth/keys/<id>                              API keys (hashed secrets)
//	probes/<uuid>                               a conditional-write check, deleted at once
//
// Sequence numbers and versions are zero-padded to 20 digits so that names
// sort in numeric order.
const (
	namespacesPrefix = "namespaces/"
	seqDigits        = 20
)

// ProbeKey is a short-lived object a process creates twice to check the
// store refuses the second create.
func ProbeKey(id string) string { return "probes/" + id }

// WorkersPrefix is the folder of worker heartbeats (fabric's bucket
// membership).
func WorkersPrefix() string { return "workers/" }

// WorkerKey is worker id's heartbeat object.
func WorkerKey(id string) string { return WorkersPrefix() + id }

// AuthKeysPrefix is the folder of API keys.
func AuthKeysPrefix() string { return "auth/keys/" }

// AuthKeyKey is API key id's object.
func AuthKeyKey(id string) string { return AuthKeysPrefix() + id }

// NamespacesPrefix is the folder holding every namespace.
func NamespacesPrefix() string { return namespacesPrefix }

// NamespacePrefix is the folder of one namespace, every generation.
func NamespacePrefix(ns string) string { return namespacesPrefix + ns + "/" }

// NamespaceKey is a namespace's config object, which names its generation.
func NamespaceKey(ns string) string { return NamespacePrefix(ns) + "namespace.json" }

// PointerKey is the object a cold reader reads beside the config: the
// generation and newest manifest it knows of, manifest inline, so that the
// manifest costs no dependent read.
func PointerKey(ns string) string { return NamespacePrefix(ns) + "pointer" }

// LegacyWALPrefix is where Weft before generations kept a namespace's WAL;
// such namespaces are migrated on load.
func LegacyWALPrefix(ns string) string { return NamespacePrefix(ns) + "wal/" }

// Generation names the objects of one incarnation of a namespace: a delete
// and re-create makes a new generation, so the objects of the old one can
// never mix with the new one's, even in a process still serving the old.
type Generation struct {
	Namespace string
	ID        string // a UUID made when the namespace was created
}

// Prefix is the folder of the generation's objects.
func (g Generation) Prefix() string { return NamespacePrefix(g.Namespace) + g.ID + "/" }

// WALPrefix is the folder of the generation's WAL entries.
func (g Generation) WALPrefix() string { return g.Prefix() + "wal/" }

// ManifestPrefix is the folder of the generation's manifests.
func (g Generation) ManifestPrefix() string { return g.Prefix() + "manifests/" }

// ManifestKey is manifest version v.
func (g Generation) ManifestKey(v uint64) string { return seqKey(g.ManifestPrefix(), v) }

// HeadKey is the object that names the newest manifest version.
func (g Generation) HeadKey() string { return g.Prefix() + "head" }

// SegmentPrefix is the folder of the generation's segments.
func (g Generation) SegmentPrefix() string { return g.Prefix() + "segments/" }

// SegmentKey is segment id.
func (g Generation) SegmentKey(id string) string { return g.SegmentPrefix() + id }

// seqKey is the name of sequence number (or version) seq under prefix.
func seqKey(prefix string, seq uint64) string {
	return fmt.Sprintf("%s%0*d", prefix, seqDigits, seq)
}

// parseSeqKey is the inverse of seqKey; false for any other name.
func parseSeqKey(prefix, name string) (uint64, bool) {
	s, ok := strings.CutPrefix(name, prefix)
	if !ok || len(s) != seqDigits {
		return 0, false
	}
	seq, err := strconv.ParseUint(s, 10, 64)
	return seq, err == nil && seq > 0
}
