package fabric

import (
	"context"
	"errors"
	"fmt"

	"connectrpc.com/connect"

	"github.com/weftdb/weft/plugins"
	weftv1 "github.com/weftdb/weft/proto/gen/weft/v1"
	"github.com/weftdb/weft/proto/gen/weft/v1/weftv1connect"
	"github.com/weftdb/weft/workers"
)

// Plugins is what the fabric needs of the plugin registry.
type Plugins interface {
	// Service serves PluginService.
	Service() weftv1connect.PluginServiceHandler
	// Resolve returns the loaded plugin registered under name.
	Resolve(ctx context.Context, name string) (*plugins.Plugin, error)
}

func (s *Server) resolvePlugins(ctx context.Context, calls []*weftv1.PluginCall) (workers.PluginChain, error) {
	if len(calls) == 0 {
		return nil, nil
	}
	if len(calls) > maxPluginCalls {
		return nil, invalid("plugin-calls", "%d plugins run in this query (namespace defaults included): the limit is %d", len(calls), maxPluginCalls)
	}
	if s.plugins == nil {
		return nil, &Error{Code: connect.CodeFailedPrecondition, ID: "plugins-disabled", Msg: "this server runs without plugins: remove plugins from the query and the namespace's default_plugins"}
	}
	chain := make(workers.PluginChain, len(calls))
	for i, c := range calls {
		p, err := s.plugins.Resolve(ctx, c.GetName())
		if err != nil {
			return nil, err
		}
		chain[i] = workers.PluginStep{Plugin: p, Params: c.GetParams()}
	}
	return chain, nil
}

// pluginError maps a failed (fail-closed) plugin call to a Connect error;
// the plugin's message is safe to show.
func pluginError(err error) (*connect.Error, bool) {
	var pe *plugins.Error
	if !errors.As(err, &pe) {
		return nil, false
	}
	code := connect.CodeFailedPrecondition
	hint := "fix the plugin, or register it with FAILURE_POLICY_FAIL_OPEN to skip it when it fails"
	switch {
	case errors.Is(err, plugins.ErrDeadline):
		code, hint = connect.CodeDeadlineExceeded, "the plugin ran past its deadline_ms"
	case errors.Is(err, plugins.ErrCanceled):
		code, hint = connect.CodeCanceled, "the query was canceled"
	case errors.Is(err, plugins.ErrBusy), errors.Is(err, plugins.ErrClosed):
		code, hint = connect.CodeUnavailable, "retry"
	case errors.Is(err, plugins.ErrTooLarge):
		code, hint = connect.CodeResourceExhausted, "narrow the query's filter"
	}
	return connect.NewError(code, fmt.Errorf("%s (%s)", pe.Error(), hint)), true
}
