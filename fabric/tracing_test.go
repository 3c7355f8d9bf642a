package fabric_test

import (
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/weftdb/weft/fabric"
	"github.com/weftdb/weft/objstore"
	weftv1 "github.com/weftdb/weft/proto/gen/weft/v1"
)

// One trace follows a query from the fabric to its worker and back: the
// fabric's Query span, its SearchShards client span inside it, and the
// worker's SearchShards span (another process's tracer) as that client
// span's child.
func TestQueryTraceSpansFabricAndWorker(t *testing.T) {
	bucket := objstore.NewInMemory()
	fabricSpans, workerSpans := tracetest.NewSpanRecorder(), tracetest.NewSpanRecorder()
	worker := startWorkerWith(t, fabric.Config{Bucket: bucket, Tracer: sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(workerSpans))})
	c := serveFabric(t, fabric.Config{Bucket: bucket, Index: eagerIndex, WriteLease: testLease,
		Tracer:  sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(fabricSpans)),
		Cluster: fabric.ClusterConfig{Members: fabric.StaticMembers{worker.hs.URL}, HedgeAfter: -1}})
	createNamespace(t, c, "tr", 4, weftv1.Metric_METRIC_L2)
	upsert(t, c, "tr", []*weftv1.Document{{Id: "a", Vector: []float32{1, 2, 3, 4}}})
	query(t, c, &weftv1.QueryRequest{Namespace: "tr", Vector: []float32{1, 2, 3, 4}, TopK: 1})

	byName := func(spans []sdktrace.ReadOnlySpan, name string) sdktrace.ReadOnlySpan {
		t.Helper()
		for _, s := range spans {
			if s.Name() == name {
				return s
			}
		}
		var names []string
		for _, s := range spans {
			names = append(names, s.Name())
		}
		t.Fatalf("no span %q among %v", name, names)
		return nil
	}
	q := byName(fabricSpans.Ended(), "weft.v1.QueryService/Query")
	call := byName(fabricSpans.Ended(), "weft.worker.v1.WorkerService/SearchShards")
	served := byName(workerSpans.Ended(), "weft.worker.v1.WorkerService/SearchShards")
	if call.Parent().SpanID() != q.SpanContext().SpanID() || call.SpanContext().TraceID() != q.SpanContext().TraceID() {
		t.Fatalf("the fabric's shard request is not a child of its query span: %v under %v", call.Parent(), q.SpanContext())
	}
	if served.SpanContext().TraceID() != q.SpanContext().TraceID() || served.Parent().SpanID() != call.SpanContext().SpanID() {
		t.Fatalf("the worker's span (trace %s, parent %s) does not continue the fabric's request (trace %s, span %s)",
			served.SpanContext().TraceID(), served.Parent().SpanID(), q.SpanContext().TraceID(), call.SpanContext().SpanID())
	}
}
