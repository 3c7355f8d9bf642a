package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	connectcors "connectrpc.com/cors"
	"github.com/grafana/pyroscope-go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/cors"

	"github.com/weftdb/weft/auth"
	"github.com/weftdb/weft/cache"
	"github.com/weftdb/weft/console"
	"github.com/weftdb/weft/fabric"
	"github.com/weftdb/weft/objstore"
	"github.com/weftdb/weft/plugins"
	weftv1 "github.com/weftdb/weft/proto/gen/weft/v1"
)

// serveFlags are weft serve's settings.
type serveFlags struct {
	listen          string
	data            string
	objstoreConfig  string
	logFormat       string
	logLevel        string
	shutdownTimeout time.Duration
	pyroscopeURL    string
	pyroscopeApp    string
	pyroscopeTags   string
	plugins         plugins.Config
	pluginStore     plugins.StoreConfig
	index           fabric.IndexConfig
	writeLease      time.Duration
	recallSample    float64
	recallSampleCPU float64
	recallAlarm     float64
	authRequired    bool
	bootstrapFile   string
	insecure        bool
	tlsCert         string
	tlsKey          string
	tlsClientCA     string
	keyRate         float64
	keyInFlight     int
	authMetrics     bool
	maxDocuments    int
	physics         objstore.Physics
	coldQueries     bool
	cache           cache.Options
	pinned          []string
	unloadIdle      time.Duration
	timeouts        httpTimeouts
	tracing         tracingFlags
	corsOrigins     []string
	console         bool
}

// httpTimeouts bound how long a client may take, so slow or stalled
// clients cannot hold connections without end.
type httpTimeouts struct {
	readHeader, read, idle time.Duration
}

func (t *httpTimeouts) register(fs *flag.FlagSet) {
	fs.DurationVar(&t.readHeader, "http.read-header-timeout", 10*time.Second, "Close a connection whose request headers take longer than this (slow clients).")
	fs.DurationVar(&t.read, "http.read-timeout", 5*time.Minute, "Close a connection whose request (headers and body) takes longer than this.")
	fs.DurationVar(&t.idle, "http.idle-timeout", 2*time.Minute, "Close a kept-alive connection idle for this long.")
}

func (c *serveFlags) register(fs *flag.FlagSet) {
	c.registerProcess(fs, "127.0.0.1:7600", "Address to serve Connect, gRPC and gRPC-web (HTTP/1.1 and h2c), /metrics, /healthz and /readyz on.", "weft")
	c.plugins.RegisterFlags("plugins.", fs)
	c.pluginStore.RegisterFlags("plugins.", fs)
	c.index.RegisterFlags("index.", fs)
	c.tracing.register(fs)
	fs.BoolVar(&c.console, "console", true, "Serve the web console at /console (namespaces, a query playground, plugins, live latency); weft worker never does.")
	fs.Func("cors.origins", "Origins whose pages may call the API from a browser (CORS), e.g. https://app.example.com (repeat the flag, or a comma-separated list; * for any). Default: none, only same-origin pages such as /console.", func(v string) error {
		for _, o := range strings.Split(v, ",") {
			if o = strings.TrimSpace(o); o != "" {
				if o != "*" && !strings.HasPrefix(o, "http://") && !strings.HasPrefix(o, "https://") {
					return fmt.Errorf("origin %q: want scheme://host[:port], or *", o)
				}
				c.corsOrigins = append(c.corsOrigins, strings.TrimRight(o, "/"))
			}
		}
		return nil
	})
	fs.Float64Var(&c.recallSample, "recall-sample", 0, "Share of approximate queries re-run exactly in the background to measure recall (weft_recall_sampled, GetNamespace's sampled_recall); 0 samples none.")
	fs.Float64Var(&c.recallSampleCPU, "recall-sample-cpu", 0.05, "Share of one core the recall sampler's exact re-runs may take.")
	fs.Float64Var(&c.recallAlarm, "recall-alarm", 0.9, "Sampled recall under which a namespace's alarm fires (weft_recall_alarm and a log line); a namespace's default recall_target overrides it; 0: none.")
	fs.StringVar(&c.tlsCert, "tls-cert", "", "PEM certificate (chain) to serve TLS with, on the same port (HTTP/1.1 and HTTP/2); read again when it changes.")
	fs.StringVar(&c.tlsKey, "tls-key", "", "PEM private key of --tls-cert.")
	fs.StringVar(&c.tlsClientCA, "tls-client-ca", "", "PEM CA certificates: clients must present a certificate one of them signed (mutual TLS).")
	fs.BoolVar(&c.authRequired, "auth", false, "Require an API key on every call (keys live in the bucket; on by itself when a bootstrap key is given).")
	fs.StringVar(&c.bootstrapFile, "auth.bootstrap-key-file", "", "File holding a bootstrap API key (≥ 16 characters), an admin of every namespace that is never stored: use it to create keys (weft keys create). $WEFT_AUTH_BOOTSTRAP_KEY does the same.")
	fs.Float64Var(&c.keyRate, "auth.key-rate", 0, "Requests per second one API key may make on this process (ResourceExhausted past it); 0: no limit.")
	fs.IntVar(&c.keyInFlight, "auth.key-in-flight", 256, "Requests one API key may have in flight on this process; 0: no limit.")
	fs.Int64Var(&c.cache.RAMBytes, "cache.ram-bytes", 0, "With --index.disabled, open segments lazily: graph links, codes, ids and attributes in memory, vectors fetched block by block as refines need them through a RAM cache of this many bytes (0: read segments whole). Segments without codes (--index.codes) are read whole.")
	fs.StringVar(&c.cache.DiskDir, "cache.dir", "", "A local folder for the segment cache's disk tier, between RAM and the bucket (needs --cache.ram-bytes).")
	fs.Int64Var(&c.cache.DiskBytes, "cache.disk-bytes", 0, "The disk tier's budget in bytes (needs --cache.dir).")
	fs.Func("namespace-pin", "A namespace to load at start and never unload when idle (repeat the flag, or a comma-separated list).", func(v string) error {
		for _, name := range strings.Split(v, ",") {
			if name = strings.TrimSpace(name); name != "" {
				c.pinned = append(c.pinned, name)
			}
		}
		return nil
	})
	fs.BoolVar(&c.coldQueries, "cold-queries", true, "Answer the queries that arrive while their namespace loads from the bucket by ranged reads of the segments' nearest clusters (three dependent round trips) instead of waiting for the load. Queries with filters, plugins, attributes, vectors or explain always wait.")
	fs.DurationVar(&c.unloadIdle, "namespace-unload-idle", 10*time.Minute, "Drop a namespace from memory once no request used it for this long and everything written is indexed (the next request loads it again); 0: never.")
	fs.IntVar(&c.maxDocuments, "limits.max-documents", 0, "Most documents in one namespace; upserts that would add past it are refused (ResourceExhausted); 0: no limit.")
	fs.BoolVar(&c.authMetrics, "auth.metrics", false, "Require an API key with read on every namespace (*) for /metrics.")
	fs.BoolVar(&c.insecure, "insecure", false, "Listen beyond loopback without API keys: anyone who reaches the port may read, write and delete everything.")
	fs.DurationVar(&c.writeLease, "write-lease", fabric.DefaultWriteLease, "How long the process that last wrote a namespace answers STRONG queries without reading the bucket; another process that writes meanwhile waits up to this long, once. 0 disables leases.")
}

// runServe is weft serve, weft fabric and weft worker: the same server,
// with every role, as the API front end over workers (queries fan out to
// them; it does not index), or as a worker (it does not index; fabrics ask
// it for shard searches).
func runServe(ctx context.Context, r role, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet(string(r), flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c serveFlags
	c.register(fs)
	var cl clusterFlags
	cl.register(r, fs)
	configPath := fs.String("config", os.Getenv("WEFT_CONFIG"), "YAML file of settings, keyed by flag name; flags and WEFT_* environment variables override it.")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s takes no arguments, got %q", r, fs.Args())
	}
	if err := applyConfig(fs, *configPath); err != nil {
		return err
	}
	if err := errors.Join(c.plugins.Validate(), c.pluginStore.Validate()); err != nil {
		return err
	}
	p, err := startProcess(ctx, c, stderr)
	if err != nil {
		return err
	}
	defer p.close()
	log, bucket, reg := p.log, p.bucket, p.reg
	plog := log.With("component", "plugins")
	host, err := plugins.NewHost(c.plugins, plog, reg)
	if err != nil {
		return err
	}
	defer host.Close(context.Background())
	store, err := plugins.NewStore(bucket, host, plog, c.pluginStore)
	if err != nil {
		return err
	}
	keys, err := authStore(c, bucket, log)
	if err != nil {
		return err
	}
	segCache, err := segmentCache(&c, log, reg)
	if err != nil {
		return err
	}
	if segCache != nil {
		defer segCache.Close()
	}
	tlsCfg, err := tlsConfig(c.tlsCert, c.tlsKey, c.tlsClientCA, log)
	if err != nil {
		return err
	}
	if tlsCfg == nil && !loopback(c.listen) {
		log.Warn("serving without TLS beyond loopback: requests, API keys included, cross the network in the clear (--tls-cert, --tls-key)", "listen", c.listen)
	}
	if c.authMetrics && keys == nil {
		return errors.New("--auth.metrics needs API keys (--auth or a bootstrap key)")
	}
	ln, err := net.Listen("tcp", c.listen)
	if err != nil {
		return err
	}
	defer ln.Close() // when serving never started
	var cluster fabric.ClusterConfig
	var advertise string
	switch r {
	case roleFabric: // weft indexer indexes; workers search
		c.index.Disabled, c.coldQueries = true, false
		if cluster.Members, err = cl.members(ctx, bucket, log); err != nil {
			return err
		}
		cluster.HedgeAfter, cluster.ShardTimeout, cluster.HotShardRate = cl.hedgeAfter, cl.shardTimeout, cl.hotShardRate
		if advertise, err = cl.advertiseURL(ln.Addr().String(), tlsCfg != nil); err != nil {
			return err
		}
	case roleWorker:
		c.index.Disabled = true
	}
	tracer, stopTracing, err := c.tracing.tracer(ctx, "weft-"+string(r), log)
	if err != nil {
		return err
	}
	defer stopTracing()
	srv, err := fabric.New(fabric.Config{Bucket: bucket, Logger: log, Registerer: reg, Plugins: store, Index: c.index, WriteLease: writeLease(c.writeLease),
		RecallSample: c.recallSample, RecallSampleCPU: c.recallSampleCPU, RecallAlarm: c.recallAlarm, Auth: keys,
		KeyRate: c.keyRate, KeyInFlight: c.keyInFlight, MaxDocuments: c.maxDocuments, UnloadIdle: c.unloadIdle, ColdQueries: c.coldQueries,
		Cache: segCache, Pinned: c.pinned, Cluster: cluster, Advertise: advertise, Tracer: tracer})
	if err != nil {
		return err
	}
	defer srv.Close()
	var metricsKeys *auth.Store
	if c.authMetrics {
		metricsKeys = keys
	}
	mux := opsMux(reg, srv.Ready, metricsKeys, log)
	srv.Handle(mux)
	if c.console && r != roleWorker {
		console.Handle(mux)
	}
	if r == roleWorker { // fabrics find it by its heartbeats from now on
		stop, err := cl.startHeartbeat(ctx, bucket, ln.Addr().String(), tlsCfg != nil, log)
		if err != nil {
			return err
		}
		defer stop()
	}
	return serveListener(ctx, "weft "+string(r), ln, withCORS(mux, c.corsOrigins), tlsCfg, c.timeouts, c.shutdownTimeout, log, "bucket", p.where)
}

// process is what every role's process sets up first: its logger, its
// profiler, its bucket and its metrics registry.
type process struct {
	log    *slog.Logger
	bucket objstore.Bucket
	where  string // the bucket, for the log
	reg    *prometheus.Registry
	close  func()
}

func startProcess(ctx context.Context, c serveFlags, stderr io.Writer) (*process, error) {
	log, err := newLogger(stderr, c.logFormat, c.logLevel)
	if err != nil {
		return nil, err
	}
	stopProfiling, err := startProfiling(c, log)
	if err != nil {
		return nil, err
	}
	bucket, where, err := openBucket(ctx, c, log)
	if err != nil {
		stopProfiling()
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return &process{log: log, bucket: bucket, where: where, reg: reg, close: func() {
		bucket.Close()
		stopProfiling()
	}}, nil
}

// authStore returns the API key store the flags ask for, nil for none, and
// refuses to serve beyond loopback without keys unless --insecure.
func authStore(c serveFlags, bucket objstore.Bucket, log *slog.Logger) (*auth.Store, error) {
	bootstrap := os.Getenv("WEFT_AUTH_BOOTSTRAP_KEY")
	if c.bootstrapFile != "" {
		b, err := os.ReadFile(c.bootstrapFile)
		if err != nil {
			return nil, fmt.Errorf("--auth.bootstrap-key-file: %w", err)
		}
		bootstrap = strings.TrimSpace(string(b))
	}
	if bootstrap == "" && !c.authRequired {
		if !loopback(c.listen) && !c.insecure {
			return nil, fmt.Errorf("--listen %s reaches beyond this machine without API keys: give a bootstrap key (--auth.bootstrap-key-file or $WEFT_AUTH_BOOTSTRAP_KEY) and use keys, or pass --insecure to serve everyone", c.listen)
		}
		if c.insecure {
			log.Warn("serving without API keys beyond loopback (--insecure): anyone who reaches the port may read, write and delete everything", "listen", c.listen)
		}
		return nil, nil
	}
	store, err := auth.NewStore(bucket, auth.Options{Bootstrap: bootstrap})
	if err != nil {
		return nil, err
	}
	log.Info("API keys required", "bootstrap_key", bootstrap != "")
	return store, nil
}

// loopback reports whether a listen address only takes connections from
// this machine.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// startProfiling starts sending continuous profiles when --pyroscope-url
// is set; the returned func stops it.
func startProfiling(c serveFlags, log *slog.Logger) (func(), error) {
	if c.pyroscopeURL == "" {
		return func() {}, nil
	}
	tags, err := parseTags(c.pyroscopeTags)
	if err != nil {
		return nil, err
	}
	prof, err := pyroscope.Start(pyroscope.Config{
		ApplicationName: c.pyroscopeApp,
		ServerAddress:   c.pyroscopeURL,
		Tags:            tags,
		Logger:          pyroscopeLogger{log.With("component", "pyroscope")},
	})
	if err != nil {
		return nil, fmt.Errorf("start pyroscope: %w", err)
	}
	log.Info("continuous profiling on", "url", c.pyroscopeURL, "app", c.pyroscopeApp)
	return func() { _ = prof.Stop() }, nil
}

// withCORS answers browsers' CORS requests for origins, with the headers
// Connect, gRPC-web and API keys need; h alone without origins.
func withCORS(h http.Handler, origins []string) http.Handler {
	if len(origins) == 0 {
		return h
	}
	return cors.New(cors.Options{
		AllowedOrigins: origins,
		AllowedMethods: connectcors.AllowedMethods(),
		AllowedHeaders: append(connectcors.AllowedHeaders(), "Authorization"),
		ExposedHeaders: connectcors.ExposedHeaders(),
		MaxAge:         7200,
	}).Handler(h)
}

// opsMux is a mux with /metrics, /healthz and /readyz (ready checks the
// bucket answers). With keys, /metrics needs a key that may read every
// namespace.
func opsMux(reg *prometheus.Registry, ready func(context.Context) error, keys *auth.Store, log *slog.Logger) *http.ServeMux {
	mux := http.NewServeMux()
	metrics := promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		if keys != nil {
			secret, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			p, err := keys.Authenticate(r.Context(), strings.TrimSpace(secret))
			if err != nil {
				http.Error(w, err.Error(), http.StatusUnauthorized)
				return
			}
			if !p.MayAll(weftv1.Role_ROLE_READ) {
				http.Error(w, "/metrics needs an API key with read on every namespace (*); this key has "+p.Grants(), http.StatusForbidden)
				return
			}
		}
		metrics.ServeHTTP(w, r)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		if err := ready(ctx); err != nil {
			log.Warn("not ready", "err", err)
			http.Error(w, "bucket unreachable", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok\n")
	})
	return mux
}

// serveHTTP serves h on addr until ctx ends, then drains in-flight
// requests for up to shutdown: HTTP/1.1 and h2c, or with tlsCfg HTTP/1.1
// and HTTP/2 over TLS. It logs "<name> listening" with the address and
// attrs once it listens.
func serveHTTP(ctx context.Context, name, addr string, h http.Handler, tlsCfg *tls.Config, timeouts httpTimeouts, shutdown time.Duration, log *slog.Logger, attrs ...any) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return serveListener(ctx, name, ln, h, tlsCfg, timeouts, shutdown, log, attrs...)
}

// serveListener is serveHTTP on a listener already open.
func serveListener(ctx context.Context, name string, ln net.Listener, h http.Handler, tlsCfg *tls.Config, timeouts httpTimeouts, shutdown time.Duration, log *slog.Logger, attrs ...any) error {
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	if tlsCfg != nil {
		protocols.SetHTTP2(true)
	} else {
		protocols.SetUnencryptedHTTP2(true)
	}
	hs := &http.Server{
		Handler:           h,
		Protocols:         &protocols,
		TLSConfig:         tlsCfg,
		ReadHeaderTimeout: timeouts.readHeader,
		ReadTimeout:       timeouts.read,
		IdleTimeout:       timeouts.idle,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info(name+" listening", append([]any{"addr", ln.Addr().String(), "tls", tlsCfg != nil}, attrs...)...)

	errc := make(chan error, 1)
	go func() {
		if tlsCfg != nil {
			errc <- hs.ServeTLS(ln, "", "")
			return
		}
		errc <- hs.Serve(ln)
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: draining in-flight requests", "timeout", shutdown)
	sctx, cancel := context.WithTimeout(context.Background(), shutdown)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("graceful shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info("stopped")
	return nil
}

// registerProcess registers the flags every role's process has: where it
// listens, its bucket, logs, profiles and HTTP timeouts.
func (c *serveFlags) registerProcess(fs *flag.FlagSet, listen, listenUsage, app string) {
	fs.StringVar(&c.listen, "listen", listen, listenUsage)
	fs.StringVar(&c.data, "data", "./weft-data", "Folder used as a filesystem bucket, when --objstore-config is not set.")
	fs.StringVar(&c.objstoreConfig, "objstore-config", "", "thanos-objstore YAML file selecting the bucket (type: FILESYSTEM, S3 or IN-MEMORY); overrides --data.")
	c.registerPhysics(fs)
	fs.StringVar(&c.logFormat, "log-format", "text", "Log format: text or json.")
	fs.StringVar(&c.logLevel, "log-level", "info", "Log level: debug, info, warn or error.")
	fs.DurationVar(&c.shutdownTimeout, "shutdown-timeout", 30*time.Second, "How long a graceful shutdown waits for in-flight requests.")
	fs.StringVar(&c.pyroscopeURL, "pyroscope-url", "", "Pyroscope server to send continuous profiles to; empty disables profiling.")
	fs.StringVar(&c.pyroscopeApp, "pyroscope-app", app, "Application name of the profiles.")
	fs.StringVar(&c.pyroscopeTags, "pyroscope-tags", "", "Tags of the profiles, as k=v,k2=v2.")
	c.timeouts.register(fs)
}

// registerPhysics registers the flags that make a local bucket behave like
// a remote one.
func (c *serveFlags) registerPhysics(fs *flag.FlagSet) {
	fs.DurationVar(&c.physics.Latency, "objstore-latency", 0, "Add this round trip to every bucket request (e.g. 50ms), so local runs show object-storage physics.")
	fs.Int64Var(&c.physics.Bandwidth, "objstore-bandwidth", 0, "Move at most this many bytes per second per bucket request (e.g. 100000000); 0: unlimited.")
}

// openBucket opens --objstore-config's bucket, or else --data's folder,
// with --objstore-latency and --objstore-bandwidth added.
func openBucket(ctx context.Context, c serveFlags, log *slog.Logger) (objstore.Bucket, string, error) {
	if c.physics.Latency < 0 || c.physics.Bandwidth < 0 {
		return nil, "", errors.New("--objstore-latency and --objstore-bandwidth must not be negative")
	}
	b, where, err := openBareBucket(ctx, c, log)
	if err != nil || (c.physics.Latency == 0 && c.physics.Bandwidth == 0) {
		return b, where, err
	}
	log.Info("bucket physics added", "latency", c.physics.Latency, "bandwidth_bytes_per_second", c.physics.Bandwidth)
	return objstore.WithPhysics(b, c.physics), where, nil
}

func openBareBucket(ctx context.Context, c serveFlags, log *slog.Logger) (objstore.Bucket, string, error) {
	if c.objstoreConfig != "" {
		conf, err := os.ReadFile(c.objstoreConfig)
		if err != nil {
			return nil, "", fmt.Errorf("read --objstore-config: %w", err)
		}
		b, err := objstore.Open(ctx, conf, log.With("component", "objstore"))
		if err != nil {
			return nil, "", fmt.Errorf("--objstore-config %s: %w", c.objstoreConfig, err)
		}
		return b, c.objstoreConfig, nil
	}
	b, err := objstore.NewFilesystem(c.data)
	if err != nil {
		return nil, "", fmt.Errorf("--data %s: %w", c.data, err)
	}
	return b, c.data, nil
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: use debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: use text or json", format)
}

func parseTags(s string) (map[string]string, error) {
	tags := map[string]string{}
	if s == "" {
		return tags, nil
	}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--pyroscope-tags: %q is not k=v", kv)
		}
		tags[k] = v
	}
	return tags, nil
}

// pyroscopeLogger sends pyroscope's messages, upload failures included, to
// slog.
type pyroscopeLogger struct{ log *slog.Logger }

func (l pyroscopeLogger) Infof(format string, args ...any) { l.log.Info(fmt.Sprintf(format, args...)) }
func (l pyroscopeLogger) Debugf(format string, args ...any) {
	l.log.Debug(fmt.Sprintf(format, args...))
}
func (l pyroscopeLogger) Errorf(format string, args ...any) {
	l.log.Error(fmt.Sprintf(format, args...))
}

// writeLease maps the flag (0 disables) to fabric.Config.WriteLease (0 is
// the default, negative disables).
func writeLease(d time.Duration) time.Duration {
	if d <= 0 {
		return -1
	}
	return d
}

// segmentCache is the cache of lazy segments' vectors that --cache.ram-bytes
// asks for; nil without it.
func segmentCache(c *serveFlags, log *slog.Logger, reg prometheus.Registerer) (*cache.Cache, error) {
	if c.cache.RAMBytes == 0 {
		if c.cache.DiskDir != "" || c.cache.DiskBytes != 0 {
			return nil, errors.New("--cache.dir and --cache.disk-bytes need --cache.ram-bytes")
		}
		return nil, nil
	}
	if !c.index.Disabled {
		log.Warn("--cache.ram-bytes has no effect in a process that indexes (it folds whole segments): run it with --index.disabled beside weft indexer")
	}
	sc, err := cache.New(c.cache, reg)
	if err != nil {
		return nil, fmt.Errorf("--cache.ram-bytes, --cache.dir, --cache.disk-bytes: %w", err)
	}
	return sc, nil
}
