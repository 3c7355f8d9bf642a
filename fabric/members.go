package fabric

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/weftdb/weft/objstore"
)

// polledMembers is a member list refreshed in the background; Members
// answers from memory.
type polledMembers struct {
	mu   sync.Mutex
	urls []string
}

func (p *polledMembers) Members() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.urls
}

func (p *polledMembers) set(urls []string) {
	p.mu.Lock()
	p.urls = urls
	p.mu.Unlock()
}

// DNSMembers resolves host every period, until ctx ends, to the workers
// scheme://<address>:port: a Kubernetes headless Service's name resolves
// to its ready pods. A failed lookup keeps the last list. The first
// lookup runs before it returns, and its error is returned (with the
// members, which stay empty until a lookup succeeds).
func DNSMembers(ctx context.Context, scheme, host, port string, period time.Duration, log *slog.Logger) (Members, error) {
	m := &polledMembers{}
	lookup := func() error {
		addrs, err := net.DefaultResolver.LookupHost(ctx, host)
		if err != nil {
			return err
		}
		urls := make([]string, len(addrs))
		for i, a := range addrs {
			urls[i] = scheme + "://" + net.JoinHostPort(a, port)
		}
		slices.Sort(urls)
		m.set(urls)
		return nil
	}
	err := lookup()
	go every(ctx, period, func() {
		if err := lookup(); err != nil && log != nil {
			log.Warn("worker lookup failed; keeping the last list", "host", host, "err", err)
		}
	})
	return m, err
}

// every calls f every period until ctx ends.
func every(ctx context.Context, period time.Duration, f func()) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f()
		}
	}
}

// heartbeat is a worker's heartbeat object: where fabrics reach it, and a
// count that moves with every beat. Fabrics compare counts between their
// own polls, never clocks across machines.
type heartbeat struct {
	URL  string `json:"url"`
	Beat uint64 `json:"beat"`
}

// Heartbeat writes worker id's heartbeat object, naming url, every
// period until ctx ends, then deletes it (a graceful stop leaves the
// membership at once; a killed worker's beats stop moving).
func Heartbeat(ctx context.Context, bucket objstore.Bucket, id, url string, period time.Duration, log *slog.Logger) {
	key := objstore.WorkerKey(id)
	beat := func(n uint64) {
		b, _ := json.Marshal(heartbeat{URL: url, Beat: n})
		wctx, cancel := context.WithTimeout(ctx, period)
		defer cancel()
		if err := bucket.Upload(wctx, key, b); err != nil && ctx.Err() == nil && log != nil {
			log.Warn("worker heartbeat failed", "err", err)
		}
	}
	beat(1)
	t := time.NewTicker(period)
	defer t.Stop()
	for n := uint64(2); ; n++ {
		select {
		case <-ctx.Done():
			dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := bucket.Delete(dctx, key); err != nil && log != nil {
				log.Warn("could not delete the worker heartbeat", "err", err)
			}
			return
		case <-t.C:
			beat(n)
		}
	}
}

// bucketDeadAfter is how many of a fabric's polls a worker's beat count
// may stay unchanged before the worker leaves the membership.
const bucketDeadAfter = 3

// BucketMembers reads the workers' heartbeat objects every period until
// ctx ends: a worker is a member from its first beat until its count
// stays still for bucketDeadAfter polls or its object is gone. Poll at
// least as often as the workers beat. The first poll runs before it
// returns.
func BucketMembers(ctx context.Context, bucket objstore.Bucket, period time.Duration, log *slog.Logger) Members {
	m := &polledMembers{}
	type seen struct {
		beat  uint64
		still int
	}
	known := map[string]*seen{} // heartbeat key → last count
	poll := func() error {
		keys, err := bucket.List(ctx, objstore.WorkersPrefix())
		if err != nil {
			return err
		}
		var urls []string
		next := map[string]*seen{}
		for _, key := range keys {
			b, err := bucket.Get(ctx, key)
			if err != nil {
				continue // deleted meanwhile
			}
			var hb heartbeat
			if err := json.Unmarshal(b, &hb); err != nil || hb.URL == "" {
				return fmt.Errorf("heartbeat %s: not a heartbeat object (%v)", key, err)
			}
			s := known[key]
			switch {
			case s == nil:
				s = &seen{beat: hb.Beat}
			case s.beat == hb.Beat:
				s.still++
			default:
				s.beat, s.still = hb.Beat, 0
			}
			next[key] = s
			if s.still < bucketDeadAfter {
				urls = append(urls, strings.TrimRight(hb.URL, "/"))
			}
		}
		known = next
		slices.Sort(urls)
		m.set(slices.Compact(urls))
		return nil
	}
	report := func(err error) {
		if err != nil && ctx.Err() == nil && log != nil {
			log.Warn("reading worker heartbeats failed; keeping the last list", "err", err)
		}
	}
	report(poll())
	go every(ctx, period, func() { report(poll()) })
	return m
}
