package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/weftdb/weft/fabric"
	"github.com/weftdb/weft/objstore"
)

// role is what a process of the one binary plays: serve (all of it),
// fabric (the API front end over workers) or worker (shard search).
type role string

const (
	roleServe  role = "serve"
	roleFabric role = "fabric"
	roleWorker role = "worker"
)

// clusterFlags are the settings of weft fabric and weft worker.
type clusterFlags struct {
	workers      string        // fabric: where the workers are
	workersPoll  time.Duration // fabric: how often DNS or heartbeats are read
	hedgeAfter   time.Duration
	shardTimeout time.Duration
	hotShardRate int
	advertise    string        // the URL other processes reach it at; default from the listener
	heartbeat    time.Duration // worker: 0 writes none
}

func (c *clusterFlags) register(r role, fs *flag.FlagSet) {
	switch r {
	case roleFabric:
		fs.StringVar(&c.workers, "workers", "", "The workers queries fan out to: a comma-separated list of URLs (http://10.0.0.7:7600,...), dns:HOST:PORT for every address HOST resolves to (a Kubernetes headless Service), or bucket for the workers that write heartbeats into the bucket (weft worker --heartbeat).")
		fs.DurationVar(&c.workersPoll, "workers.poll", 2*time.Second, "How often dns: and bucket membership is read again.")
		fs.DurationVar(&c.hedgeAfter, "hedge-after", 50*time.Millisecond, "Send a shard request that has not answered after this long to the next worker as well; the first answer wins. Negative: never.")
		fs.DurationVar(&c.shardTimeout, "shard-timeout", 10*time.Second, "The longest one shard request may take before the fabric tries another worker.")
		fs.IntVar(&c.hotShardRate, "hot-shard-rate", 200, "Requests per second past which a shard is hot: its requests then alternate between its first two workers. Negative: never.")
		fs.StringVar(&c.advertise, "advertise", "", "The URL other fabrics reach this one's API at: while it holds a namespace's write lease they forward writes to it (default: http:// and the address it listens on; for 0.0.0.0, this machine's first non-loopback IPv4 address).")
	case roleWorker:
		fs.StringVar(&c.advertise, "advertise", "", "The URL fabrics reach this worker at, written into its heartbeat (default: http:// and the address it listens on; for 0.0.0.0, this machine's first non-loopback IPv4 address).")
		fs.DurationVar(&c.heartbeat, "heartbeat", 0, "Write a heartbeat object into the bucket this often, for fabrics started with --workers bucket; 0 writes none.")
	}
}

// members turns --workers into the fabric's membership; it runs until
// ctx ends.
func (c *clusterFlags) members(ctx context.Context, bucket objstore.Bucket, log *slog.Logger) (fabric.Members, error) {
	w := strings.TrimSpace(c.workers)
	switch {
	case w == "":
		return nil, errors.New("weft fabric needs --workers: a list of worker URLs, dns:HOST:PORT or bucket")
	case w == "bucket":
		return fabric.BucketMembers(ctx, bucket, c.workersPoll, log), nil
	case strings.HasPrefix(w, "dns:"):
		host, port, err := net.SplitHostPort(strings.TrimPrefix(w, "dns:"))
		if err != nil || host == "" || port == "" {
			return nil, fmt.Errorf("--workers %q: want dns:HOST:PORT, e.g. dns:weft-workers.default.svc.cluster.local:7600", w)
		}
		m, err := fabric.DNSMembers(ctx, "http", host, port, c.workersPoll, log)
		if err != nil {
			log.Warn("no workers resolved yet; retrying", "host", host, "err", err)
		}
		return m, nil
	}
	var urls fabric.StaticMembers
	for _, s := range strings.Split(w, ",") {
		s = strings.TrimRight(strings.TrimSpace(s), "/")
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return nil, fmt.Errorf("--workers: %q is not a worker URL: want http://HOST:PORT or https://HOST:PORT", s)
		}
		urls = append(urls, s)
	}
	return urls, nil
}

// advertiseURL is --advertise, or by default the URL of the address the
// process listens on (for 0.0.0.0 or ::, this machine's first
// non-loopback IPv4 address).
func (c *clusterFlags) advertiseURL(listen string, tls bool) (string, error) {
	if adv := c.advertise; adv != "" {
		if u, err := url.Parse(adv); err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return "", fmt.Errorf("--advertise %q: want the URL other processes reach this one at, e.g. http://10.0.0.7:7600", adv)
		}
		return strings.TrimRight(adv, "/"), nil
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", err
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		if host, err = interfaceAddr(); err != nil {
			return "", fmt.Errorf("--advertise is unset and %w: set it to the URL other processes reach this one at", err)
		}
	}
	scheme := "http"
	if tls {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(host, port), nil
}

// startHeartbeat writes the worker's heartbeats until ctx ends, when
// --heartbeat asks for them.
func (c *clusterFlags) startHeartbeat(ctx context.Context, bucket objstore.Bucket, listen string, tls bool, log *slog.Logger) (func(), error) {
	if c.heartbeat <= 0 {
		return func() {}, nil
	}
	adv, err := c.advertiseURL(listen, tls)
	if err != nil {
		return nil, err
	}
	hctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		fabric.Heartbeat(hctx, bucket, uuid.NewString(), adv, c.heartbeat, log)
	}()
	return func() { cancel(); <-done }, nil
}

// interfaceAddr is the first IPv4 address of this machine that is not a
// loopback one (a container's or a pod's own), for a worker listening on
// every interface.
func interfaceAddr() (string, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return "", err
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			return n.IP.String(), nil
		}
	}
	return "", errors.New("no interface has a non-loopback IPv4 address")
}
