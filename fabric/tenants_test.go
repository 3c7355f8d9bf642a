package fabric_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"connectrpc.com/connect"

	"github.com/weftdb/weft/fabric"
	"github.com/weftdb/weft/objstore"
	weftv1 "github.com/weftdb/weft/proto/gen/weft/v1"
)

// buildGoPlugin builds the Go plugin in dir (a path from the repository
// root) for wasip1 and returns its module.
func buildGoPlugin(t *testing.T, dir string) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "plugin.wasm")
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-trimpath", "-ldflags=-s", "-o", out, ".")
	cmd.Dir = filepath.Join("..", dir)
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", dir, err, b)
	}
	wasm, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return wasm
}

// A plugin written to leak (plugins/testdata/go/leak: it scores every
// candidate with a fingerprint of the previous batch's first candidate,
// kept in a global) never shows one namespace another's data: each
// namespace's calls get instances of their own. Within a namespace it does
// leak, which shows the test would see a leak across namespaces.
func TestPluginInstancesPerNamespace(t *testing.T) {
	ctx := context.Background()
	bucket := objstore.NewInMemory()
	c := serveFabric(t, fabric.Config{Bucket: bucket, Plugins: pluginRegistry(t, bucket), WriteLease: testLease})
	if _, err := c.plugins.RegisterPlugin(ctx, connect.NewRequest(&weftv1.RegisterPluginRequest{
		Name: "leak", Wasm: buildGoPlugin(t, "plugins/testdata/go/leak"), DeadlineMs: 2000})); err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{"tenant-a", "tenant-b", "tenant-c"} {
		createNamespace(t, c, ns, 2, weftv1.Metric_METRIC_L2)
		upsert(t, c, ns, []*weftv1.Document{{Id: ns + "-secret", Vector: []float32{1, 1}}, {Id: ns + "-other", Vector: []float32{5, 5}}})
	}
	scores := func(ns string) float32 {
		t.Helper()
		resp := query(t, c, &weftv1.QueryRequest{Namespace: ns, Vector: []float32{1, 1}, TopK: 2, Plugins: []*weftv1.PluginCall{{Name: "leak"}}})
		got := resp.GetResults()[0].GetScore()
		for _, r := range resp.GetResults() {
			if r.GetScore() != got {
				t.Fatalf("%s: scores differ within one answer: %v", ns, resp.GetResults())
			}
		}
		return got
	}
	first := scores("tenant-a")
	if first != 0 {
		t.Fatalf("tenant-a's first query scored %v, want 0 (a fresh instance)", first)
	}
	again := scores("tenant-a")
	if again == 0 {
		t.Fatal("the plugin does not leak within a namespace: the test could not see a leak across them")
	}
	for round := range 3 {
		for _, ns := range []string{"tenant-b", "tenant-c"} {
			got := scores(ns)
			if got == again {
				t.Fatalf("round %d: %s's answer carries tenant-a's data (%v)", round, ns, got)
			}
			if round == 0 && got != 0 {
				t.Fatalf("%s's first query scored %v, want 0 (a fresh instance)", ns, got)
			}
		}
		if got := scores("tenant-a"); got != again {
			t.Fatalf("round %d: tenant-a scored %v, want its own %v", round, got, again)
		}
	}
}
