package fabric

import (
	"cmp"
	"hash/fnv"
	"net/http"
	"slices"
	"sync"
	"time"

	"connectrpc.com/connect"

	"github.com/weftdb/weft/proto/gen/weft/worker/v1/workerv1connect"
)

// Members tells a fabric which workers exist now: a static list, a DNS
// name, heartbeats in the bucket (members.go). Members is called for
// every query, so it answers from memory.
type Members interface {
	Members() []string // base URLs, e.g. http://10.0.0.7:7600
}

// StaticMembers is a fixed list of worker base URLs.
type StaticMembers []string

// Members returns the list.
func (m StaticMembers) Members() []string { return m }

// ClusterConfig makes a Server a fabric of workers (weft fabric): its
// queries fan out to the workers that own the shards they route to,
// instead of searching this process's own state.
type ClusterConfig struct {
	Members Members
	// Client carries the shard requests (and the server's other calls to
	// Weft processes); nil means peerClient's.
	Client *http.Client
	// HedgeAfter sends a shard request that has not answered after this
	// long to the next worker as well, and takes the first answer; 0 means
	// 50 ms, negative never hedges.
	HedgeAfter time.Duration
	// ShardTimeout bounds one shard request when the query's own deadline
	// is later; 0 means 10 s.
	ShardTimeout time.Duration
	// BreakerFailures consecutive failures of a worker take it out of
	// routing for BreakerCooldown (0s mean 3 and 5 s); then one request
	// tries it again.
	BreakerFailures int
	BreakerCooldown time.Duration
	// HotShardRate is the requests per second past which a shard is hot:
	// its requests then alternate between the first two workers of its
	// rendezvous order, so one worker does not carry it alone (both keep
	// it cached). 0 means 200; negative, never.
	HotShardRate int
}

// workerPool is the fabric's view of its workers: one client each, and a
// circuit breaker each.
type workerPool struct {
	cfg  ClusterConfig
	opts []connect.ClientOption

	mu      sync.Mutex
	workers map[string]*worker
	heat    shardHeat
}

// worker is one worker as the pool sees it.
type worker struct {
	url    string
	client workerv1connect.WorkerServiceClient

	mu       sync.Mutex
	failures int       // in a row
	openTill time.Time // routing skips it until then; after it, the next request tries it
}

// peerClient is a client for many requests in flight to few hosts: other
// Weft processes.
func peerClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64
	return &http.Client{Transport: t}
}

func newWorkerPool(cfg ClusterConfig, opts ...connect.ClientOption) *workerPool {
	if cfg.HedgeAfter == 0 {
		cfg.HedgeAfter = 50 * time.Millisecond
	}
	if cfg.ShardTimeout == 0 {
		cfg.ShardTimeout = 10 * time.Second
	}
	if cfg.BreakerFailures == 0 {
		cfg.BreakerFailures = 3
	}
	if cfg.BreakerCooldown == 0 {
		cfg.BreakerCooldown = 5 * time.Second
	}
	if cfg.HotShardRate == 0 {
		cfg.HotShardRate = 200
	}
	return &workerPool{cfg: cfg, opts: opts, workers: map[string]*worker{}}
}

// current returns the workers the membership lists now, in its order.
func (p *workerPool) current() []*worker {
	urls := p.cfg.Members.Members()
	out := make([]*worker, 0, len(urls))
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.workers) > 2*len(urls)+8 { // members came and went (DNS, heartbeats): forget the gone
		kept := make(map[string]*worker, len(urls))
		for _, u := range urls {
			if w := p.workers[u]; w != nil {
				kept[u] = w
			}
		}
		p.workers = kept
	}
	for _, u := range urls {
		w := p.workers[u]
		if w == nil {
			w = &worker{url: u, client: workerv1connect.NewWorkerServiceClient(p.cfg.Client, u, p.opts...)}
			p.workers[u] = w
		}
		out = append(out, w)
	}
	return out
}

// rank orders ws for shard by rendezvous (highest random weight) hashing:
// every fabric computes the same order, so a shard's requests go to the
// same worker and its cache stays warm, and a worker joining or leaving
// moves only the shards it wins or held. Workers whose breaker is open go
// last, in the same order among themselves.
func rank(ws []*worker, shard string, now time.Time) []*worker {
	type scored struct {
		w    *worker
		open bool
		h    uint64
	}
	s := make([]scored, len(ws))
	for i, w := range ws {
		s[i] = scored{w: w, open: w.isOpen(now), h: weight(w.url, shard)}
	}
	slices.SortFunc(s, func(a, b scored) int {
		if a.open != b.open {
			if a.open {
				return 1
			}
			return -1
		}
		return cmp.Compare(b.h, a.h) // highest weight first
	})
	out := make([]*worker, len(s))
	for i := range s {
		out[i] = s[i].w
	}
	return out
}

// weight is the rendezvous weight of a worker for a shard: FNV-1a over
// both, finished by a 64-bit mixer so that near names spread evenly.
func weight(url, shard string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(url))
	h.Write([]byte{0})
	h.Write([]byte(shard))
	x := h.Sum64()
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

// isOpen reports whether routing should skip w now: its breaker opened
// and the cooldown has not passed. After it, requests try w again, and
// one failure opens the breaker again (the failures in a row still count).
func (w *worker) isOpen(now time.Time) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return now.Before(w.openTill)
}

// ok records a request w answered.
func (w *worker) ok() {
	w.mu.Lock()
	w.failures, w.openTill = 0, time.Time{}
	w.mu.Unlock()
}

// failed records a request w did not answer, and opens its breaker after
// enough in a row.
func (w *worker) failed(p *workerPool, now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.failures++
	if w.failures >= p.cfg.BreakerFailures {
		w.openTill = now.Add(p.cfg.BreakerCooldown)
	}
}

// shardHeat counts each shard's requests in the current second and the
// one before.
type shardHeat struct {
	mu     sync.Mutex
	second int64
	now    map[string]int
	before map[string]int
}

// hit counts a request for shard and returns how many came this second,
// and whether the shard is hot: at least rate requests this second or the
// last.
func (h *shardHeat) hit(shard string, at time.Time, rate int) (int, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch sec := at.Unix(); {
	case sec == h.second:
	case sec == h.second+1:
		h.second, h.before, h.now = sec, h.now, map[string]int{}
	default:
		h.second, h.before, h.now = sec, nil, map[string]int{}
	}
	if h.now == nil {
		h.now = map[string]int{}
	}
	h.now[shard]++
	n := h.now[shard]
	return n, rate > 0 && (n >= rate || h.before[shard] >= rate)
}
