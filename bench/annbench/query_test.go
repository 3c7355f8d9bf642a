package annbench

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/weftdb/weft/fabric"
	"github.com/weftdb/weft/objstore"
)

// `weft bench query` loads a dataset through the API of a real server,
// waits for the indexer and measures recall against the ground truth,
// plain and filtered.
func TestRunQueryThroughTheAPI(t *testing.T) {
	dir := writeDataset(t, 2000, 30, 16, 20)
	srv, err := fabric.New(fabric.Config{Bucket: objstore.NewInMemory(), Index: fabric.IndexConfig{Idle: 20 * time.Millisecond, M: 12, EfConstruction: 100, Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	mux := http.NewServeMux()
	srv.Handle(mux)
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)

	type result struct {
		Engine string             `json:"engine"`
		Params map[string]float64 `json:"params"`
		K      int                `json:"k"`
		Recall float64            `json:"recall"`
		QPS    float64            `json:"qps"`
		P50    float64            `json:"p50_us"`
	}
	bench := func(args ...string) []result {
		t.Helper()
		var out, errOut bytes.Buffer
		if err := RunQuery(context.Background(), append([]string{"--addr", hs.URL, "--data", dir}, args...), &out, &errOut); err != nil {
			t.Fatalf("RunQuery %v: %v\n%s", args, err, errOut.String())
		}
		var rs []result
		for _, s := range strings.Split(strings.TrimSpace(out.String()), "\n") {
			var r result
			if err := json.Unmarshal([]byte(s), &r); err != nil {
				t.Fatalf("bad JSON line %q: %v", s, err)
			}
			rs = append(rs, r)
		}
		return rs
	}
	rs := bench("--load", "true", "--ef", "16,64", "--k", "10")
	if len(rs) != 2 || rs[0].Engine != "weft-api" || rs[1].Params["ef"] != 64 || rs[1].K != 10 || rs[1].QPS <= 0 || rs[1].P50 <= 0 {
		t.Fatalf("lines %+v", rs)
	}
	if rs[1].Recall < 0.95 {
		t.Fatalf("recall@10 at ef 64: %.3f, want ≥ 0.95", rs[1].Recall)
	}
	f := bench("--filter-percent", "10", "--recall-target", "0.95")
	if len(f) != 1 || f[0].Params["filter_percent"] != 10 || f[0].Recall < 0.95 {
		t.Fatalf("filtered lines %+v: want recall ≥ 0.95", f)
	}

	for _, bad := range [][]string{
		{"--filter-percent", "101"},
		{"--namespace", "missing"},
		{"--bogus", "1"},
	} {
		var out, errOut bytes.Buffer
		if err := RunQuery(context.Background(), append([]string{"--addr", hs.URL, "--data", dir}, bad...), &out, &errOut); err == nil {
			t.Errorf("RunQuery %v succeeded", bad)
		}
	}
}
