package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

// weft serve --otel.endpoint sends its requests' spans over OTLP/HTTP,
// named by procedure, under the service name weft-serve; a bad endpoint
// is refused at start.
func TestServeSendsTraces(t *testing.T) {
	var mu sync.Mutex
	var names, services []string
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req := &coltracepb.ExportTraceServiceRequest{}
		if r.URL.Path != "/v1/traces" || proto.Unmarshal(body, req) != nil {
			http.Error(w, "not an OTLP traces export", http.StatusBadRequest)
			return
		}
		mu.Lock()
		for _, rs := range req.GetResourceSpans() {
			for _, a := range rs.GetResource().GetAttributes() {
				if a.GetKey() == "service.name" {
					services = append(services, a.GetValue().GetStringValue())
				}
			}
			for _, ss := range rs.GetScopeSpans() {
				for _, s := range ss.GetSpans() {
					names = append(names, s.GetName())
				}
			}
		}
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(nil)
	}))
	defer collector.Close()
	p := startServe(t, t.TempDir(), "--otel.endpoint", collector.URL+"/v1/traces", "--otel.sample", "1")
	if code, body := postJSON(t, p.addr, "/weft.v1.NamespaceService/CreateNamespace", `{"namespace":{"name":"tr","dimension":2,"metric":"METRIC_L2"}}`); code != http.StatusOK {
		t.Fatalf("create: %d %s", code, body)
	}
	if code, body := postJSON(t, p.addr, "/weft.v1.QueryService/Query", `{"namespace":"tr","vector":[1,2],"topK":1}`); code != http.StatusOK {
		t.Fatalf("query: %d %s", code, body)
	}
	p.stop(t) // flushes the batch
	mu.Lock()
	defer mu.Unlock()
	if !slices.Contains(names, "weft.v1.QueryService/Query") || !slices.Contains(names, "weft.v1.NamespaceService/CreateNamespace") || !slices.Contains(services, "weft-serve") {
		t.Fatalf("the collector got spans %v of services %v; want the query's and the create's, of weft-serve", names, services)
	}
	out, err := exec.Command(weftBin, "serve", "--listen", "127.0.0.1:0", "--data", t.TempDir(), "--otel.endpoint", "collector:4318").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "want an OTLP/HTTP URL") {
		t.Fatalf("a bad --otel.endpoint: %v\n%s", err, out)
	}
}
