package fabric

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"connectrpc.com/connect"

	"github.com/weftdb/weft/auth"
	weftv1 "github.com/weftdb/weft/proto/gen/weft/v1"
	"github.com/weftdb/weft/proto/gen/weft/v1/weftv1connect"
	workerv1 "github.com/weftdb/weft/proto/gen/weft/worker/v1"
	"github.com/weftdb/weft/proto/gen/weft/worker/v1/workerv1connect"
)

// access is what a procedure needs: a role in the namespace its request
// names, or (namespace nil) in every namespace.
type access struct {
	role      weftv1.Role
	namespace func(any) string
}

func nsOf[T interface{ GetNamespace() string }](m any) string {
	if t, ok := m.(T); ok {
		return t.GetNamespace()
	}
	return ""
}

func nameOf[T interface{ GetName() string }](m any) string {
	if t, ok := m.(T); ok {
		return t.GetName()
	}
	return ""
}

// procedures maps every procedure to its access; one missing from it
// needs admin in every namespace.
var procedures = map[string]access{
	weftv1connect.QueryServiceQueryProcedure:               {weftv1.Role_ROLE_READ, nsOf[*weftv1.QueryRequest]},
	weftv1connect.DocumentServiceGetProcedure:              {weftv1.Role_ROLE_READ, nsOf[*weftv1.GetRequest]},
	weftv1connect.DocumentServiceUpsertProcedure:           {weftv1.Role_ROLE_WRITE, nsOf[*weftv1.UpsertRequest]},
	weftv1connect.DocumentServiceDeleteProcedure:           {weftv1.Role_ROLE_WRITE, nsOf[*weftv1.DeleteRequest]},
	weftv1connect.DocumentServiceUpdateAttributesProcedure: {weftv1.Role_ROLE_WRITE, nsOf[*weftv1.UpdateAttributesRequest]},
	weftv1connect.NamespaceServiceGetNamespaceProcedure:    {weftv1.Role_ROLE_READ, nameOf[*weftv1.GetNamespaceRequest]},
	weftv1connect.NamespaceServiceWarmNamespaceProcedure:   {weftv1.Role_ROLE_READ, nameOf[*weftv1.WarmNamespaceRequest]},
	weftv1connect.NamespaceServiceListNamespacesProcedure:  {weftv1.Role_ROLE_READ, func(any) string { return listedNamespaces }},
	weftv1connect.NamespaceServiceCreateNamespaceProcedure: {weftv1.Role_ROLE_ADMIN, func(m any) string { return m.(*weftv1.CreateNamespaceRequest).GetNamespace().GetName() }},
	weftv1connect.NamespaceServiceUpdateNamespaceProcedure: {weftv1.Role_ROLE_ADMIN, func(m any) string { return m.(*weftv1.UpdateNamespaceRequest).GetNamespace().GetName() }},
	weftv1connect.NamespaceServiceDeleteNamespaceProcedure: {weftv1.Role_ROLE_ADMIN, nameOf[*weftv1.DeleteNamespaceRequest]},
	weftv1connect.PluginServiceListPluginsProcedure:        {weftv1.Role_ROLE_READ, nil},
	weftv1connect.PluginServiceRegisterPluginProcedure:     {weftv1.Role_ROLE_ADMIN, nil},
	weftv1connect.PluginServiceDeletePluginProcedure:       {weftv1.Role_ROLE_ADMIN, nil},
	weftv1connect.AuthServiceCreateKeyProcedure:            {weftv1.Role_ROLE_ADMIN, nil},
	weftv1connect.AuthServiceListKeysProcedure:             {weftv1.Role_ROLE_ADMIN, nil},
	weftv1connect.AuthServiceRevokeKeyProcedure:            {weftv1.Role_ROLE_ADMIN, nil},
	workerv1connect.WorkerServiceSearchShardsProcedure:     {weftv1.Role_ROLE_READ, nsOf[*workerv1.SearchShardsRequest]},
	workerv1connect.WorkerServiceWarmProcedure:             {weftv1.Role_ROLE_READ, nsOf[*workerv1.WarmRequest]},
	workerv1connect.WorkerServiceWalHeadProcedure:          {weftv1.Role_ROLE_READ, nsOf[*workerv1.WalHeadRequest]},
}

// listedNamespaces stands for ListNamespaces' namespaces: any key may
// call it and sees the namespaces it may read.
const listedNamespaces = "\x00list"

type principalKey struct{}

// principal returns the key a request acts as; nil without auth.
func principal(ctx context.Context) *auth.Principal {
	p, _ := ctx.Value(principalKey{}).(*auth.Principal)
	return p
}

// authInterceptor authenticates each request's bearer key, checks the
// procedure's access, and logs admin calls and denials (an audit trail).
func (s *Server) authInterceptor() connect.UnaryInterceptorFunc {
	return func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			proc := req.Spec().Procedure
			secret, _ := strings.CutPrefix(req.Header().Get("Authorization"), "Bearer ")
			p, err := s.auth.Authenticate(ctx, strings.TrimSpace(secret))
			if err != nil {
				if errors.Is(err, auth.ErrMissing) || errors.Is(err, auth.ErrUnknown) || errors.Is(err, auth.ErrRevoked) || errors.Is(err, auth.ErrExpired) {
					s.log.Warn("denied", "procedure", proc, "peer", req.Peer().Addr, "reason", err.Error())
					return nil, &Error{Code: connect.CodeUnauthenticated, ID: "unauthenticated", Msg: err.Error()}
				}
				return nil, err
			}
			a, ok := procedures[proc]
			if !ok {
				a = access{role: weftv1.Role_ROLE_ADMIN}
			}
			ns := ""
			if a.namespace != nil {
				ns = a.namespace(req.Any())
			}
			switch {
			case ns == listedNamespaces:
			case a.namespace == nil && !p.MayAll(a.role):
				return nil, s.deny(proc, p, fmt.Sprintf("%s needs %s on every namespace (a grant on \"*\")", shortProc(proc), auth.RoleName(a.role)))
			case a.namespace != nil && !p.May(a.role, ns):
				return nil, s.deny(proc, p, fmt.Sprintf("%s on namespace %q needs %s", shortProc(proc), ns, auth.RoleName(a.role)))
			}
			release, lerr := s.keyLimits.admit(p.ID, time.Now())
			if lerr != nil {
				s.log.Warn("denied", "procedure", proc, "key", p.ID, "key_name", p.Name, "reason", lerr.Msg)
				return nil, lerr
			}
			defer release()
			if a.role == weftv1.Role_ROLE_ADMIN {
				s.log.Info("admin call", "procedure", proc, "key", p.ID, "key_name", p.Name, "namespace", ns)
			}
			return next(context.WithValue(ctx, principalKey{}, p), req)
		}
	}
}

func (s *Server) deny(proc string, p *auth.Principal, why string) *Error {
	s.log.Warn("denied", "procedure", proc, "key", p.ID, "key_name", p.Name, "reason", why)
	return &Error{Code: connect.CodePermissionDenied, ID: "permission-denied",
		Msg: fmt.Sprintf("API key %s (%s) may not: %s; it has %s", p.ID, p.Name, why, p.Grants())}
}

// shortProc is "Service.Method" of "/weft.v1.Service/Method".
func shortProc(proc string) string {
	svc, method, _ := strings.Cut(strings.TrimPrefix(proc, "/"), "/")
	return svc[strings.LastIndexByte(svc, '.')+1:] + "." + method
}

// authService implements weftv1connect.AuthServiceHandler.
type authService struct{ s *Server }

func (h authService) CreateKey(ctx context.Context, req *connect.Request[weftv1.CreateKeyRequest]) (*connect.Response[weftv1.CreateKeyResponse], error) {
	var expire time.Time
	if t := req.Msg.GetExpireTime(); t != nil {
		expire = t.AsTime()
	}
	key, secret, err := h.s.auth.Create(ctx, req.Msg.GetName(), req.Msg.GetGrants(), expire)
	if errors.Is(err, auth.ErrInvalid) {
		return nil, invalid("key-invalid", "%v", err)
	}
	if err != nil {
		return nil, err
	}
	h.s.log.Info("API key created", "key", key.GetId(), "key_name", key.GetName(), "by", principal(ctx).ID)
	return connect.NewResponse(&weftv1.CreateKeyResponse{Key: key, Secret: secret}), nil
}

func (h authService) ListKeys(ctx context.Context, _ *connect.Request[weftv1.ListKeysRequest]) (*connect.Response[weftv1.ListKeysResponse], error) {
	keys, err := h.s.auth.List(ctx)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&weftv1.ListKeysResponse{Keys: keys}), nil
}

func (h authService) RevokeKey(ctx context.Context, req *connect.Request[weftv1.RevokeKeyRequest]) (*connect.Response[weftv1.RevokeKeyResponse], error) {
	key, err := h.s.auth.Revoke(ctx, req.Msg.GetId())
	if errors.Is(err, auth.ErrNoSuchKey) {
		return nil, notFound("key-not-found", "%v", err)
	}
	if err != nil {
		return nil, err
	}
	h.s.log.Info("API key revoked", "key", key.GetId(), "key_name", key.GetName(), "by", principal(ctx).ID)
	return connect.NewResponse(&weftv1.RevokeKeyResponse{Key: key}), nil
}

// authOff answers AuthService on a server without keys.
type authOff struct {
	weftv1connect.UnimplementedAuthServiceHandler
}

func errAuthOff() error {
	return connect.NewError(connect.CodeFailedPrecondition, errors.New("API keys are off on this server: start it with a bootstrap key (--auth.bootstrap-key-file or WEFT_AUTH_BOOTSTRAP_KEY) to manage keys"))
}

func (authOff) CreateKey(context.Context, *connect.Request[weftv1.CreateKeyRequest]) (*connect.Response[weftv1.CreateKeyResponse], error) {
	return nil, errAuthOff()
}

func (authOff) ListKeys(context.Context, *connect.Request[weftv1.ListKeysRequest]) (*connect.Response[weftv1.ListKeysResponse], error) {
	return nil, errAuthOff()
}

func (authOff) RevokeKey(context.Context, *connect.Request[weftv1.RevokeKeyRequest]) (*connect.Response[weftv1.RevokeKeyResponse], error) {
	return nil, errAuthOff()
}
