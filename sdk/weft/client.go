package weft

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"connectrpc.com/connect"

	"github.com/weftdb/weft/proto/gen/weft/v1/weftv1connect"
)

// protocol is the RPC protocol a Client speaks.
type protocol int

const (
	protocolConnect protocol = iota
	protocolGRPC
	protocolGRPCWeb
)

type config struct {
	tls        *tls.Config
	protocol   protocol
	httpClient connect.HTTPClient
	header     http.Header
	timeout    time.Duration
	extra      []connect.ClientOption
}

// Option configures a [Client].
type Option func(*config)

// WithGRPC makes the client speak gRPC (over HTTP/2; h2c for http:// URLs).
func WithGRPC() Option { return func(c *config) { c.protocol = protocolGRPC } }

// WithGRPCWeb makes the client speak gRPC-web.
func WithGRPCWeb() Option { return func(c *config) { c.protocol = protocolGRPCWeb } }

// WithHTTPClient sends requests through h (an *http.Client, or anything with
// its Do method) instead of the client's own transport. For gRPC, h must
// speak HTTP/2 to the server.
func WithHTTPClient(h connect.HTTPClient) Option { return func(c *config) { c.httpClient = h } }

// WithHeader adds a header to every request, e.g.
// WithHeader("Authorization", "Bearer "+token). It may be given several times.
func WithHeader(key, value string) Option {
	return func(c *config) {
		if c.header == nil {
			c.header = http.Header{}
		}
		c.header.Add(key, value)
	}
}

// WithTLS sets the TLS settings of https:// connections, e.g. RootCAs for a
// server whose certificate a private CA signed, or a client certificate
// for mutual TLS. Ignored with WithHTTPClient.
func WithTLS(cfg *tls.Config) Option { return func(c *config) { c.tls = cfg } }

// WithAPIKey sends key (a secret from AuthService.CreateKey or weft keys
// create) as "Authorization: Bearer <key>" with every request.
func WithAPIKey(key string) Option { return WithHeader("Authorization", "Bearer "+key) }

// WithTimeout bounds every call whose context has no deadline of its own.
// The deadline travels to the server, which stops work when it passes; the
// call then fails with connect.CodeDeadlineExceeded.
func WithTimeout(d time.Duration) Option { return func(c *config) { c.timeout = d } }

// WithConnectOptions passes options to the underlying connect clients, e.g.
// connect.WithInterceptors or connect.WithSendGzip.
func WithConnectOptions(opts ...connect.ClientOption) Option {
	return func(c *config) { c.extra = append(c.extra, opts...) }
}

// Client is a Weft client. It is safe for concurrent use; create one per
// server and reuse it.
type Client struct {
	raw       Raw
	transport *http.Transport // ours to close; nil with WithHTTPClient
}

// Raw holds the generated clients behind a [Client].
type Raw struct {
	Namespaces weftv1connect.NamespaceServiceClient
	Documents  weftv1connect.DocumentServiceClient
	Queries    weftv1connect.QueryServiceClient
	Plugins    weftv1connect.PluginServiceClient
	Auth       weftv1connect.AuthServiceClient
}

// New returns a client of the Weft server at baseURL, e.g.
// "http://127.0.0.1:7600". It does not connect yet.
func New(baseURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("weft: server address %q: %w", baseURL, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("weft: server address %q: want http://host:port or https://host:port", baseURL)
	}
	cfg := config{}
	for _, o := range opts {
		o(&cfg)
	}
	c := &Client{}
	if cfg.httpClient == nil {
		c.transport = newTransport(cfg.protocol == protocolGRPC, u.Scheme == "https")
		if cfg.tls != nil {
			c.transport.TLSClientConfig = cfg.tls.Clone()
		}
		cfg.httpClient = &http.Client{Transport: c.transport}
	}
	var copts []connect.ClientOption
	switch cfg.protocol {
	case protocolGRPC:
		copts = append(copts, connect.WithGRPC())
	case protocolGRPCWeb:
		copts = append(copts, connect.WithGRPCWeb())
	}
	if len(cfg.header) > 0 || cfg.timeout > 0 {
		copts = append(copts, connect.WithInterceptors(callInterceptor(cfg.header, cfg.timeout)))
	}
	copts = append(copts, cfg.extra...)
	c.raw = Raw{
		Namespaces: weftv1connect.NewNamespaceServiceClient(cfg.httpClient, baseURL, copts...),
		Documents:  weftv1connect.NewDocumentServiceClient(cfg.httpClient, baseURL, copts...),
		Queries:    weftv1connect.NewQueryServiceClient(cfg.httpClient, baseURL, copts...),
		Plugins:    weftv1connect.NewPluginServiceClient(cfg.httpClient, baseURL, copts...),
		Auth:       weftv1connect.NewAuthServiceClient(cfg.httpClient, baseURL, copts...),
	}
	return c, nil
}

// newTransport returns a transport for one protocol: HTTP/2 only for gRPC
// (unencrypted over http://), otherwise HTTP/1.1, and HTTP/2 when TLS
// negotiates it.
func newTransport(grpc, tls bool) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64 // concurrent bulk writers reuse their connections
	var p http.Protocols
	switch {
	case grpc && tls:
		p.SetHTTP2(true)
	case grpc:
		p.SetUnencryptedHTTP2(true)
	default:
		p.SetHTTP1(true)
		p.SetHTTP2(true)
	}
	t.Protocols = &p
	return t
}

// callInterceptor adds headers to every request and a deadline to calls
// without one.
func callInterceptor(header http.Header, timeout time.Duration) connect.UnaryInterceptorFunc {
	return func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			for k, vs := range header {
				for _, v := range vs {
					req.Header().Add(k, v)
				}
			}
			if _, ok := ctx.Deadline(); !ok && timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			return next(ctx, req)
		}
	}
}

// Raw returns the generated clients, configured like c.
func (c *Client) Raw() Raw { return c.raw }

// Close closes the idle connections of the client's own transport. Calls
// made after Close open new ones.
func (c *Client) Close() {
	if c.transport != nil {
		c.transport.CloseIdleConnections()
	}
}
