package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// tracingFlags select where traces go (fabric.Config.Tracer).
type tracingFlags struct {
	endpoint string
	sample   float64
}

func (c *tracingFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.endpoint, "otel.endpoint", os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"), "Send OpenTelemetry traces of every request (a fabric's query and its workers' shard searches in one trace) to this OTLP/HTTP traces URL, e.g. http://otel-collector:4318/v1/traces; empty traces nothing.")
	fs.Float64Var(&c.sample, "otel.sample", 0.1, "Share of requests traced (a caller's sampled trace is always continued), 0..1.")
}

// tracer returns the tracer provider the flags ask for, nil for none, and
// a function that flushes and stops it.
func (c *tracingFlags) tracer(ctx context.Context, service string, log *slog.Logger) (trace.TracerProvider, func(), error) {
	if c.endpoint == "" {
		return nil, func() {}, nil
	}
	if u, err := url.Parse(c.endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, nil, fmt.Errorf("--otel.endpoint %q: want an OTLP/HTTP URL, e.g. http://otel-collector:4318/v1/traces", c.endpoint)
	}
	if c.sample < 0 || c.sample > 1 {
		return nil, nil, fmt.Errorf("--otel.sample %v: want a share within 0..1", c.sample)
	}
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(c.endpoint))
	if err != nil {
		return nil, nil, err
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(c.sample))),
		sdktrace.WithResource(resource.NewSchemaless(semconv.ServiceName(service))))
	log.Info("tracing", "endpoint", c.endpoint, "sample", c.sample)
	return tp, func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := tp.Shutdown(sctx); err != nil {
			log.Warn("flushing traces failed", "err", err)
		}
	}, nil
}
