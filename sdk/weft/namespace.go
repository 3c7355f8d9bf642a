package weft

import (
	"context"
	"math"
	"time"

	"connectrpc.com/connect"

	weftv1 "github.com/weftdb/weft/proto/gen/weft/v1"
)

// NamespaceOption sets an optional field of a namespace at creation.
type NamespaceOption func(*weftv1.Namespace)

// WithAttribute declares the type of an attribute: every document that has
// it must give it that type.
func WithAttribute(name string, t AttributeType) NamespaceOption {
	return func(ns *weftv1.Namespace) {
		ns.Schema = append(ns.Schema, &weftv1.AttributeSchema{Name: name, Type: t})
	}
}

// WithShardKey partitions the namespace by the values of an attribute, e.g.
// "tenant_id". It cannot change later.
func WithShardKey(attr string) NamespaceOption {
	return func(ns *weftv1.Namespace) { ns.ShardKey = attr }
}

// WithDefaultPlugin runs a registered plugin in every query of the
// namespace. It may be given several times; plugins run in order.
func WithDefaultPlugin(name string, params map[string]string) NamespaceOption {
	return func(ns *weftv1.Namespace) {
		ns.DefaultPlugins = append(ns.DefaultPlugins, &weftv1.PluginCall{Name: name, Params: params})
	}
}

// WithDefaultSearch sets the search knobs that queries leaving them zero
// use; zero here means Weft's own defaults.
func WithDefaultSearch(nprobe, ef int) NamespaceOption {
	return func(ns *weftv1.Namespace) {
		ns.DefaultSearch = &weftv1.SearchParams{Nprobe: uint32(nprobe), Ef: uint32(ef)}
	}
}

// clampUint32 maps ints outside uint32 to 0, which the server rejects with
// its own message, rather than letting them wrap to a valid value.
func clampUint32(n int) uint32 {
	if n < 0 || uint64(n) > math.MaxUint32 {
		return 0
	}
	return uint32(n)
}

// CreateNamespace creates a namespace of vectors of dimension dim compared
// under metric, and returns it as the server stored it. The error has code
// AlreadyExists when the name is taken.
func (c *Client) CreateNamespace(ctx context.Context, name string, dim int, metric Metric, opts ...NamespaceOption) (*weftv1.Namespace, error) {
	ns := &weftv1.Namespace{Name: name, Dimension: clampUint32(dim), Metric: metric}
	for _, o := range opts {
		o(ns)
	}
	resp, err := c.raw.Namespaces.CreateNamespace(ctx, connect.NewRequest(&weftv1.CreateNamespaceRequest{Namespace: ns}))
	if err != nil {
		return nil, err
	}
	return resp.Msg.GetNamespace(), nil
}

// GetNamespace returns a namespace's configuration and statistics.
func (c *Client) GetNamespace(ctx context.Context, name string) (*weftv1.GetNamespaceResponse, error) {
	resp, err := c.raw.Namespaces.GetNamespace(ctx, connect.NewRequest(&weftv1.GetNamespaceRequest{Name: name}))
	if err != nil {
		return nil, err
	}
	return resp.Msg, nil
}

// ListNamespaces returns every namespace in name order, fetching all pages.
func (c *Client) ListNamespaces(ctx context.Context) ([]*weftv1.Namespace, error) {
	var out []*weftv1.Namespace
	token := ""
	for {
		resp, err := c.raw.Namespaces.ListNamespaces(ctx, connect.NewRequest(&weftv1.ListNamespacesRequest{PageToken: token}))
		if err != nil {
			return nil, err
		}
		out = append(out, resp.Msg.GetNamespaces()...)
		token = resp.Msg.GetNextPageToken()
		if token == "" {
			return out, nil
		}
	}
}

// DeleteNamespace deletes a namespace and all its documents.
func (c *Client) DeleteNamespace(ctx context.Context, name string) error {
	_, err := c.raw.Namespaces.DeleteNamespace(ctx, connect.NewRequest(&weftv1.DeleteNamespaceRequest{Name: name}))
	return err
}

// WarmNamespace makes the server load a namespace's navigation data now, so
// that the next queries are served warm.
func (c *Client) WarmNamespace(ctx context.Context, name string) (*weftv1.NamespaceStats, error) {
	resp, err := c.raw.Namespaces.WarmNamespace(ctx, connect.NewRequest(&weftv1.WarmNamespaceRequest{Name: name}))
	if err != nil {
		return nil, err
	}
	return resp.Msg.GetStats(), nil
}

// PluginOption sets an optional field of a plugin at registration.
type PluginOption func(*weftv1.RegisterPluginRequest)

// FailClosed makes queries fail when the plugin fails (a trap, its
// deadline, bad output). It is the server's default, since a filter that
// silently stops filtering could show users what they must not see.
func FailClosed() PluginOption {
	return func(r *weftv1.RegisterPluginRequest) {
		r.FailurePolicy = weftv1.FailurePolicy_FAILURE_POLICY_FAIL_CLOSED
	}
}

// FailOpen makes queries go on without the plugin when it fails: its hook
// is skipped and its input passes through unchanged. Suits rerankers and
// other plugins whose absence only makes results less good.
func FailOpen() PluginOption {
	return func(r *weftv1.RegisterPluginRequest) {
		r.FailurePolicy = weftv1.FailurePolicy_FAILURE_POLICY_FAIL_OPEN
	}
}

// PluginDeadline bounds each call of the plugin.
func PluginDeadline(d time.Duration) PluginOption {
	return func(r *weftv1.RegisterPluginRequest) { r.DeadlineMs = uint32(d.Milliseconds()) }
}

// PluginDescription describes the plugin for people listing plugins.
func PluginDescription(s string) PluginOption {
	return func(r *weftv1.RegisterPluginRequest) { r.Description = s }
}

// RegisterPlugin registers a WebAssembly plugin module under name.
func (c *Client) RegisterPlugin(ctx context.Context, name string, wasm []byte, opts ...PluginOption) (*weftv1.Plugin, error) {
	req := &weftv1.RegisterPluginRequest{Name: name, Wasm: wasm}
	for _, o := range opts {
		o(req)
	}
	resp, err := c.raw.Plugins.RegisterPlugin(ctx, connect.NewRequest(req))
	if err != nil {
		return nil, err
	}
	return resp.Msg.GetPlugin(), nil
}

// ListPlugins returns the registered plugins.
func (c *Client) ListPlugins(ctx context.Context) ([]*weftv1.Plugin, error) {
	resp, err := c.raw.Plugins.ListPlugins(ctx, connect.NewRequest(&weftv1.ListPluginsRequest{}))
	if err != nil {
		return nil, err
	}
	return resp.Msg.GetPlugins(), nil
}

// DeletePlugin deletes a registered plugin.
func (c *Client) DeletePlugin(ctx context.Context, name string) error {
	_, err := c.raw.Plugins.DeletePlugin(ctx, connect.NewRequest(&weftv1.DeletePluginRequest{Name: name}))
	return err
}
