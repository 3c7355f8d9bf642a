package fabric

import (
	"connectrpc.com/connect"
	"connectrpc.com/otelconnect"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Tracing (Config.Tracer): every request a server answers is a span, and
// so is every request a fabric sends (shard searches, WAL heads, forwarded
// writes), with W3C trace context on the wire, so one trace follows a
// query from the fabric to its workers and back. Workers and fabrics
// continue the trace of the fabric that called them (internal calls);
// the public API starts its own trace and links the caller's, as a server
// facing the internet should.

// tracingInterceptor returns the interceptor of tp, for requests from
// other Weft processes when internal; nil without a tracer.
func tracingInterceptor(tp trace.TracerProvider, internal bool) connect.Interceptor {
	if tp == nil {
		return nil
	}
	opts := []otelconnect.Option{otelconnect.WithTracerProvider(tp), otelconnect.WithPropagator(propagation.TraceContext{}),
		otelconnect.WithoutMetrics(), otelconnect.WithoutServerPeerAttributes()}
	if internal {
		opts = append(opts, otelconnect.WithTrustRemote())
	}
	i, err := otelconnect.NewInterceptor(opts...)
	if err != nil { // only for bad options, which these are not
		panic(err)
	}
	return i
}

// clientOptions are the options of the clients a server calls other Weft
// processes with (made once, in New).
func clientOptions(tp trace.TracerProvider) []connect.ClientOption {
	if i := tracingInterceptor(tp, true); i != nil {
		return []connect.ClientOption{connect.WithInterceptors(i)}
	}
	return nil
}
