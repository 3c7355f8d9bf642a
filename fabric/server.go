package fabric

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/weftdb/weft/cache"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/weftdb/weft/auth"
	"github.com/weftdb/weft/objstore"
	"github.com/weftdb/weft/proto/gen/weft/v1/weftv1connect"
	"github.com/weftdb/weft/proto/gen/weft/worker/v1/workerv1connect"
)

// Config wires a Server.
type Config struct {
	// Bucket holds every namespace; it is the only state.
	Bucket objstore.Bucket
	// Logger receives internal errors and lifecycle events; nil discards.
	Logger *slog.Logger
	// Registerer receives the fabric's metrics; nil means none.
	Registerer prometheus.Registerer
	// Plugins serves PluginService and runs the plugins queries name; nil
	// answers Unimplemented and rejects queries that name plugins.
	Plugins Plugins
	// BucketTimeout bounds one bucket operation on the write path, which runs
	// detached from the request that started it (a group commit serves many
	// requests). Zero means 30 s.
	BucketTimeout time.Duration
	// Index says when and how namespaces are indexed.
	Index IndexConfig
	// WriteLease is how long a batch's writer may answer STRONG queries
	// without reading the bucket, and others wait before writing after it
	// (see lease.go). Zero means 3 s; negative disables leases.
	WriteLease time.Duration
	// RecallSample is the share of approximate queries re-run exactly in
	// the background to measure recall (recall.go); 0 samples none.
	RecallSample float64
	// RecallSampleCPU is the share of one core those re-runs may take;
	// zero means 0.05.
	RecallSampleCPU float64
	// Auth checks every request's API key; nil serves everyone (loopback
	// and trusted networks only) and answers AuthService with
	// FailedPrecondition.
	Auth *auth.Store
	// KeyRate and KeyInFlight bound each API key's requests per second and
	// in flight on this process (ResourceExhausted past them); 0: no bound.
	KeyRate     float64
	KeyInFlight int
	// UnloadIdle drops a namespace from memory once no request used it for
	// this long and everything written is indexed; the next request loads
	// it again. 0: never.
	UnloadIdle time.Duration
	// MaxDocuments bounds each namespace's documents: an upsert that would
	// add past it gets ResourceExhausted; 0: no bound.
	MaxDocuments int
	// RecallAlarm is the sampled recall under which a namespace's alarm
	// fires (weft_recall_alarm, a log line), for namespaces whose
	// default_search sets no recall_target (which is their target); 0: no
	// alarm for them.
	RecallAlarm float64
	// ColdQueries answers the queries that arrive while their namespace
	// loads from the bucket's segments by ranged reads of their nearest
	// clusters (cold.go), instead of waiting for the load.
	ColdQueries bool
	// Cache, when set in a process that does not index, opens segments
	// lazily (workers/lazy.go): links, codes, ids and attributes in
	// memory, vectors fetched block by block through it as refines need
	// them. nil: segments are read whole.
	Cache *cache.Cache
	// Pinned namespaces load when the server starts and never unload when
	// idle.
	Pinned []string
	// Cluster, when it names workers, makes this server a fabric: queries
	// fan out to the workers (fanout.go).
	Cluster ClusterConfig
	// Tracer, when set, traces every request this server answers or sends
	// (tracing.go); nil traces nothing.
	Tracer trace.TracerProvider
	// Advertise is the URL other processes reach this one's API at. When
	// set, the WAL batches it writes name it, and while its write lease
	// holds other processes forward their writes to it (forward.go)
	// instead of waiting the lease out.
	Advertise string
}

// DefaultWriteLease is the write lease when Config.WriteLease is zero.
const DefaultWriteLease = 3 * time.Second

// compressMinBytes is the smallest response the server compresses, when
// the client accepts compression.
const compressMinBytes = 8 << 10

// Server implements the public API over one bucket.
type Server struct {
	bucket        objstore.Bucket
	log           *slog.Logger
	metrics       *metrics
	plugins       Plugins
	bucketTimeout time.Duration
	index         IndexConfig
	id            string        // this process, as a WAL batch's writer
	writeLease    time.Duration // 0: none
	recall        *recallSampler
	wire          *wireDocs // upserted documents' bytes, from wireCodec
	auth          *auth.Store
	keyLimits     *keyLimits
	cond          condCheck // the bucket honours create-if-absent
	maxDocuments  int
	unloadIdle    time.Duration
	coldQueries   bool
	cache         *cache.Cache
	pinned        map[string]bool
	pool          *workerPool // nil: queries search this process's state
	advertise     string
	peers         *http.Client // carries calls to other Weft processes: shard searches, WAL heads, forwarded writes
	tracer        trace.TracerProvider
	clientOpts    []connect.ClientOption // of calls to other Weft processes

	// ctx ends when the server closes: it stops indexers and pending
	// garbage collection.
	ctx   context.Context
	close context.CancelFunc

	mu         sync.Mutex // guards namespaces; serialises create and delete
	namespaces map[string]*namespace
}

// New returns a Server. It does not touch the bucket: namespaces load on
// first use.
func New(cfg Config) (*Server, error) {
	if cfg.Bucket == nil {
		return nil, errors.New("fabric: Config.Bucket is nil")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	timeout := cfg.BucketTimeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	lease := cfg.WriteLease
	if lease == 0 {
		lease = DefaultWriteLease
	}
	if cfg.RecallSample < 0 || cfg.RecallSample > 1 || cfg.RecallSampleCPU < 0 || cfg.RecallSampleCPU > 1 {
		return nil, fmt.Errorf("fabric: RecallSample %v and RecallSampleCPU %v must be within 0..1", cfg.RecallSample, cfg.RecallSampleCPU)
	}
	cpu := cfg.RecallSampleCPU
	if cpu == 0 {
		cpu = 0.05
	}
	// Always there: a namespace may ask for samples of its own.
	recall := &recallSampler{share: cfg.RecallSample, cpu: cpu, alarm: cfg.RecallAlarm, jobs: make(chan recallJob, 256)}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		recall:        recall,
		wire:          newWireDocs(),
		auth:          cfg.Auth,
		keyLimits:     newKeyLimits(cfg.KeyRate, cfg.KeyInFlight),
		maxDocuments:  cfg.MaxDocuments,
		unloadIdle:    cfg.UnloadIdle,
		coldQueries:   cfg.ColdQueries,
		cache:         cfg.Cache,
		pinned:        make(map[string]bool, len(cfg.Pinned)),
		id:            uuid.NewString(),
		writeLease:    max(lease, 0),
		bucket:        cfg.Bucket,
		log:           log,
		metrics:       m,
		plugins:       cfg.Plugins,
		bucketTimeout: timeout,
		index:         cfg.Index.withDefaults(),
		ctx:           ctx,
		close:         cancel,
		namespaces:    make(map[string]*namespace),
	}
	s.tracer, s.clientOpts = cfg.Tracer, clientOptions(cfg.Tracer)
	s.peers = cfg.Cluster.Client
	if s.peers == nil {
		s.peers = peerClient()
	}
	if cfg.Cluster.Members != nil {
		cfg.Cluster.Client = s.peers
		s.pool = newWorkerPool(cfg.Cluster, s.clientOpts...)
	}
	s.advertise = strings.TrimRight(cfg.Advertise, "/")
	for _, name := range cfg.Pinned {
		if err := validNamespaceName(name); err != nil {
			cancel()
			return nil, fmt.Errorf("pinned namespace: %w", err)
		}
		s.pinned[name] = true
		s.lookup(name) // loads in the background
	}
	go s.runRecallSampler()
	if s.unloadIdle > 0 {
		go s.unloader()
	}
	return s, nil
}

// Close stops the server's background work (indexers, garbage
// collection) and waits for the indexers. Handlers must have returned.
func (s *Server) Close() {
	s.close()
	s.mu.Lock()
	all := make([]*namespace, 0, len(s.namespaces))
	for _, ns := range s.namespaces {
		all = append(all, ns)
	}
	s.mu.Unlock()
	for _, ns := range all {
		select {
		case <-ns.loaded:
			if ns.loadErr == nil {
				ns.stopIndexer()
			}
		default:
		}
	}
}

// Handle mounts the public services on mux, and the internal
// WorkerService. Every service accepts Connect, gRPC and gRPC-web; a
// request over its service's size (MaxRequestBytes for documents and
// plugins, 4 MiB for queries, 1 MiB for namespaces and keys) gets
// ResourceExhausted before it is read.
func (s *Server) Handle(mux *http.ServeMux, opts ...connect.HandlerOption) {
	// internal: the WorkerService, called by other Weft processes, whose
	// traces it continues.
	options := func(internal bool) []connect.HandlerOption {
		var interceptors []connect.Interceptor
		if t := tracingInterceptor(s.tracer, internal); t != nil {
			interceptors = append(interceptors, t) // outermost: the span covers the rest
		}
		interceptors = append(interceptors, s.errorInterceptor())
		if s.auth != nil {
			interceptors = append(interceptors, s.authInterceptor())
		}
		return append([]connect.HandlerOption{
			connect.WithInterceptors(interceptors...),
			// Compressing small responses costs more than it saves on any
			// network a query crosses (gzip of a top-10 answer: ~20 µs).
			connect.WithCompressMinBytes(compressMinBytes),
		}, opts...)
	}
	base, internal := options(false), options(true)
	limit := func(n int, more ...connect.HandlerOption) []connect.HandlerOption {
		return append(append(slices.Clip(base), connect.WithReadMaxBytes(n)), more...)
	}
	mux.Handle(weftv1connect.NewNamespaceServiceHandler(namespaceService{s}, limit(maxAdminRequestBytes)...))
	mux.Handle(weftv1connect.NewDocumentServiceHandler(documentService{s}, limit(MaxRequestBytes, connect.WithCodec(wireCodec{s.wire}))...))
	mux.Handle(weftv1connect.NewQueryServiceHandler(queryService{s}, limit(maxQueryRequestBytes)...))
	mux.Handle(workerv1connect.NewWorkerServiceHandler(workerService{s}, append(slices.Clip(internal), connect.WithReadMaxBytes(maxQueryRequestBytes))...))
	if s.auth != nil {
		mux.Handle(weftv1connect.NewAuthServiceHandler(authService{s}, limit(maxAdminRequestBytes)...))
	} else {
		mux.Handle(weftv1connect.NewAuthServiceHandler(authOff{}, limit(maxAdminRequestBytes)...))
	}
	if s.plugins != nil {
		mux.Handle(weftv1connect.NewPluginServiceHandler(s.plugins.Service(), limit(MaxRequestBytes)...))
	} else {
		mux.Handle(weftv1connect.NewPluginServiceHandler(weftv1connect.UnimplementedPluginServiceHandler{}, limit(MaxRequestBytes)...))
	}
}

// Ready reports whether the bucket answers.
func (s *Server) Ready(ctx context.Context) error {
	_, err := s.bucket.Exists(ctx, "namespaces/.ready")
	return err
}

// errorInterceptor turns handler errors into Connect errors: an *Error
// keeps its code and message; anything else is logged and sent as Internal
// without details, since it may carry bucket paths or provider messages.
func (s *Server) errorInterceptor() connect.UnaryInterceptorFunc {
	return func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			start := time.Now()
			proc := req.Spec().Procedure
			resp, err := next(ctx, req)
			err = s.toConnect(ctx, proc, err)
			s.metrics.observe(proc, err, time.Since(start))
			return resp, err
		}
	}
}

func (s *Server) toConnect(ctx context.Context, proc string, err error) error {
	if err == nil {
		return nil
	}
	if ue, ok := userError(err); ok {
		s.metrics.userErrors.WithLabelValues(ue.ID).Inc()
		return connect.NewError(ue.Code, errors.New(ue.Msg))
	}
	if pe, ok := pluginError(err); ok {
		return pe
	}
	var ce *connect.Error
	if errors.As(err, &ce) {
		return ce
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded):
		return connect.NewError(connect.CodeDeadlineExceeded, errors.New("the request's deadline passed before it finished"))
	case errors.Is(err, context.Canceled) || errors.Is(ctx.Err(), context.Canceled):
		return connect.NewError(connect.CodeCanceled, errors.New("the request was canceled"))
	}
	if errors.Is(err, objstore.ErrUnavailable) {
		s.log.Warn("bucket unavailable", "procedure", proc, "err", err)
		return connect.NewError(connect.CodeUnavailable, errors.New("the bucket did not answer: retry shortly (the server logged the details)"))
	}
	s.log.Error("request failed", "procedure", proc, "err", err)
	return connect.NewError(connect.CodeInternal, errors.New("internal error: the server logged the details"))
}

// metrics are the fabric's Prometheus metrics.
type metrics struct {
	requests   *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	userErrors *prometheus.CounterVec
	walAppends prometheus.Histogram
	groupSize  prometheus.Histogram

	indexDuration prometheus.Histogram
	indexedRows   prometheus.Counter
	indexFailures prometheus.Counter
	unloads       prometheus.Counter
	recallSampled *prometheus.HistogramVec
	recallSkipped prometheus.Counter
	recallAlarm   *prometheus.GaugeVec
	recallBusy    prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weft_requests_total", Help: "API requests by procedure and Connect code.",
		}, []string{"procedure", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "weft_request_duration_seconds", Help: "API request latency by procedure.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18),
		}, []string{"procedure"}),
		userErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weft_user_errors_total", Help: "Rejected requests by reason.",
		}, []string{"reason"}),
		walAppends: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "weft_wal_append_duration_seconds", Help: "Time to make one WAL object durable in the bucket.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18),
		}),
		groupSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "weft_wal_group_requests", Help: "Write requests acknowledged by one WAL object (group commit).",
			Buckets: prometheus.ExponentialBuckets(1, 2, 10),
		}),
		indexDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "weft_index_fold_duration_seconds", Help: "Time to fold the WAL into a segment and publish its manifest.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 16),
		}),
		indexedRows: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "weft_index_rows_total", Help: "Rows written into new segments (merges count again).",
		}),
		indexFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "weft_index_failures_total", Help: "Folds that failed and will be retried.",
		}),
		unloads: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "weft_namespaces_unloaded_total", Help: "Namespaces dropped from memory after idling (--namespace-unload-idle); the next request loads them again.",
		}),
		recallSampled: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "weft_recall_sampled",
			Help:    "recall@k of sampled approximate queries against an exact re-run over the same documents, by namespace and query shape.",
			Buckets: []float64{0.5, 0.7, 0.8, 0.85, 0.9, 0.93, 0.95, 0.97, 0.98, 0.99, 0.995, 1},
		}, []string{"namespace", "filtered", "plugins"}),
		recallAlarm: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "weft_recall_alarm",
			Help: "1 while a namespace's sampled recall is below its target (the upper end of the 95 % interval of its last 100 samples), else 0.",
		}, []string{"namespace"}),
		recallBusy: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "weft_recall_sampler_seconds_total", Help: "Time the recall sampler spent re-running queries exactly (one goroutine: its share of a core is the rate of this).",
		}),
		recallSkipped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "weft_recall_samples_skipped_total", Help: "Sampled queries not re-run: the sampler was busy or the namespace changed first.",
		}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.requests, m.latency, m.userErrors, m.walAppends, m.groupSize, m.indexDuration, m.indexedRows, m.indexFailures, m.unloads, m.recallSampled, m.recallSkipped, m.recallAlarm, m.recallBusy} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

func (m *metrics) observe(proc string, err error, d time.Duration) {
	code := "ok"
	if err != nil {
		code = connect.CodeOf(err).String()
	}
	m.requests.WithLabelValues(proc, code).Inc()
	m.latency.WithLabelValues(proc).Observe(d.Seconds())
}
