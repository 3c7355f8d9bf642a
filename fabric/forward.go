package fabric

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"connectrpc.com/connect"

	"github.com/weftdb/weft/proto/gen/weft/v1/weftv1connect"
)

// Writes go to the lease holder. While another process holds a
// namespace's write lease, a process appending to its WAL would wait the
// lease out first (lease.go). A process that knows where the holder takes
// writes (WALBatch.writer_url: fabrics started with --advertise) forwards
// the request there instead, with the caller's API key, and answers with
// the holder's answer. A holder that cannot be reached is taken over: the
// write goes on here, after the lease, which fences the old holder.
// A forwarded request is never forwarded again.

// forwardedHeader marks a request one process forwarded to another; its
// value is the forwarder's id.
const forwardedHeader = "Weft-Forwarded-By"

// holderFor returns a client of the process holding ns's write lease when
// a write arriving with header h should go there.
func (s *Server) holderFor(ctx context.Context, ns *namespace, h http.Header) (weftv1connect.DocumentServiceClient, bool) {
	if s.advertise == "" || h.Get(forwardedHeader) != "" || ns.holdsLease() { // only processes that take forwarded writes forward them
		return nil, false
	}
	// Learn the newest writer first: one existence check of the next WAL
	// entry, as a STRONG read makes.
	if err := s.refresh(ctx, ns); err != nil {
		return nil, false
	}
	lh := ns.holder.Load()
	if lh == nil || lh.url == s.advertise || time.Now().After(lh.until) {
		return nil, false
	}
	return weftv1connect.NewDocumentServiceClient(s.peers, lh.url, s.clientOpts...), true
}

// forward sends write req to ns's lease holder, when another process
// holds the lease, with method (a DocumentServiceClient method) and the
// caller's key. ok is false when there is no holder or it could not be
// reached: the caller writes it itself.
func forward[Req, Resp any](ctx context.Context, s *Server, ns *namespace, req *connect.Request[Req],
	method func(weftv1connect.DocumentServiceClient, context.Context, *connect.Request[Req]) (*connect.Response[Resp], error)) (resp *connect.Response[Resp], ok bool, err error) {
	holder, ok := s.holderFor(ctx, ns, req.Header())
	if !ok {
		return nil, false, nil
	}
	r := connect.NewRequest(req.Msg)
	if a := req.Header().Get("Authorization"); a != "" {
		r.Header().Set("Authorization", a)
	}
	r.Header().Set(forwardedHeader, s.id)
	resp, err = method(holder, ctx, r)
	// Only a holder that could not be dialled surely did not take the
	// write: any other failure is the caller's to retry, since writing it
	// here too could store it twice (documents whose ids the server makes).
	var op *net.OpError
	if err != nil && ctx.Err() == nil && errors.As(err, &op) && op.Op == "dial" {
		s.log.Warn("the write lease holder cannot be reached; writing here after its lease", "err", err)
		return nil, false, nil
	}
	if err != nil && ctx.Err() == nil && connect.CodeOf(err) == connect.CodeCanceled {
		// The connection broke mid-request (the holder went away): it may
		// have taken the write, so the caller, not this process, retries.
		err = unavailable("lease-holder-gone", "namespace %q: the process holding its write lease went away while taking this write (%v); retry it", ns.name, err)
	}
	if resp != nil {
		resp.Header().Set(forwardedHeader, s.id)
	}
	return resp, true, err
}
