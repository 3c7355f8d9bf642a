package plugins

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"

	"connectrpc.com/connect"

	weftv1 "github.com/weftdb/weft/proto/gen/weft/v1"
	"github.com/weftdb/weft/proto/gen/weft/v1/weftv1connect"
)

// Service serves weft.v1.PluginService over a Store. Its errors are
// *connect.Error with codes InvalidArgument (bad name, options or module),
// AlreadyExists (the bytes are registered under another name), NotFound
// (DeletePlugin of an unknown name), ResourceExhausted (module too large)
// and messages that say what to fix.
type Service struct {
	store *Store
	log   *slog.Logger
}

var _ weftv1connect.PluginServiceHandler = (*Service)(nil)

// NewService returns the service over store. A nil logger discards logs.
func NewService(store *Store, logger *slog.Logger) *Service {
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Service{store: store, log: logger}
}

// Handler returns the service's path and HTTP handler. It caps request
// messages at the module size limit plus 64 KiB for the other fields;
// opts come after, so a caller may override it.
func (s *Service) Handler(opts ...connect.HandlerOption) (string, http.Handler) {
	limit := connect.WithReadMaxBytes(s.store.host.cfg.MaxModuleBytes + 64<<10)
	return weftv1connect.NewPluginServiceHandler(s, append([]connect.HandlerOption{limit}, opts...)...)
}

// RegisterPlugin validates and stores a module under a name.
func (s *Service) RegisterPlugin(ctx context.Context, req *connect.Request[weftv1.RegisterPluginRequest]) (*connect.Response[weftv1.RegisterPluginResponse], error) {
	p, err := s.store.Register(ctx, req.Msg)
	if err != nil {
		return nil, s.toConnect(ctx, "RegisterPlugin", err)
	}
	return connect.NewResponse(&weftv1.RegisterPluginResponse{Plugin: p}), nil
}

// ListPlugins lists registered plugins in name order.
func (s *Service) ListPlugins(ctx context.Context, _ *connect.Request[weftv1.ListPluginsRequest]) (*connect.Response[weftv1.ListPluginsResponse], error) {
	ps, err := s.store.List(ctx)
	if err != nil {
		return nil, s.toConnect(ctx, "ListPlugins", err)
	}
	return connect.NewResponse(&weftv1.ListPluginsResponse{Plugins: ps}), nil
}

// DeletePlugin removes a plugin's name.
func (s *Service) DeletePlugin(ctx context.Context, req *connect.Request[weftv1.DeletePluginRequest]) (*connect.Response[weftv1.DeletePluginResponse], error) {
	if err := s.store.Delete(ctx, req.Msg.GetName()); err != nil {
		return nil, s.toConnect(ctx, "DeletePlugin", err)
	}
	return connect.NewResponse(&weftv1.DeletePluginResponse{}), nil
}

// ConnectCode is the Connect code of a Store error, and whether the error
// is the caller's (its message is then safe and useful to show).
func ConnectCode(err error) (connect.Code, bool) {
	var re *registryError
	if !errors.As(err, &re) {
		return connect.CodeInternal, false
	}
	switch {
	case errors.Is(err, ErrTooLarge):
		return connect.CodeResourceExhausted, true
	case errors.Is(err, ErrNotRegistered):
		return connect.CodeNotFound, true
	case errors.Is(err, ErrAlreadyRegistered):
		return connect.CodeAlreadyExists, true
	}
	return connect.CodeInvalidArgument, true
}

func (s *Service) toConnect(ctx context.Context, proc string, err error) error {
	if code, ok := ConnectCode(err); ok {
		return connect.NewError(code, errors.New(err.Error()))
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded):
		return connect.NewError(connect.CodeDeadlineExceeded, errors.New("the request's deadline passed before it finished"))
	case errors.Is(err, context.Canceled) || errors.Is(ctx.Err(), context.Canceled):
		return connect.NewError(connect.CodeCanceled, errors.New("the request was canceled"))
	case errors.Is(err, ErrClosed):
		return connect.NewError(connect.CodeUnavailable, errors.New("the server is shutting down: retry on another"))
	}
	s.log.Error("plugin request failed", "procedure", proc, "err", err)
	return connect.NewError(connect.CodeInternal, errors.New("internal error: the server logged the details"))
}
