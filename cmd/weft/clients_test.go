package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/weftdb/weft/sdk/weft"
)

// The Python client (sdk/python) and the Go SDK make the same requests to
// one real weft serve: each creates a namespace, upserts the same 10,000
// documents in one request and runs the same 20 queries with a filter and
// a Wasm plugin; the answers have the same ids and bit-identical float32
// distances. The Python side runs on Debian's python3 with its protobuf
// and NumPy packages (scripts/test-deps.sh installs them).
func TestPythonClientMatchesGo(t *testing.T) {
	python := "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import google.protobuf, numpy").Run(); err != nil {
		t.Fatalf("%s cannot import protobuf and numpy (%v): run scripts/test-deps.sh (make test does)", python, err)
	}
	dir, addr, goAnswers := crossClientRun(t)
	cmd := exec.Command(python, filepath.Join("..", "..", "sdk", "python", "tests", "crossclient.py"), addr, "py",
		filepath.Join(dir, "vectors.npy"), filepath.Join(dir, "attrs.json"), filepath.Join(dir, "queries.npy"), "attrfilter")
	compareAnswers(t, "the Python client", cmd, goAnswers)
}

// crossAnswer is one query's answer: ids and float32 distance bits.
type crossAnswer struct {
	IDs  []string `json:"ids"`
	Bits []uint32 `json:"bits"`
}

// crossQueries is how many queries a cross-client test compares.
const crossQueries = 20

// crossClientRun writes the cross-client test's documents (vectors.npy,
// attrs.json) and queries (queries.npy) into a folder, starts a weft serve
// with the attrfilter plugin, upserts the documents with the Go SDK in one
// request and answers the queries; it returns the folder, the server's
// address and the Go SDK's answers.
func crossClientRun(t *testing.T) (string, string, []crossAnswer) {
	t.Helper()
	dir := t.TempDir()
	const n, dim, queries = 10_000, 16, crossQueries
	r := rand.New(rand.NewPCG(71, 72))
	vecs := make([][]float32, n)
	attrs := make([]map[string]any, n)
	langs := []string{"en", "de", "fr"}
	for i := range vecs {
		vecs[i] = make([]float32, dim)
		for j := range vecs[i] {
			vecs[i][j] = float32(r.NormFloat64())
		}
		attrs[i] = map[string]any{"lang": langs[i%3], "n": i}
	}
	qs := make([][]float32, queries)
	for i := range qs {
		qs[i] = make([]float32, dim)
		for j := range qs[i] {
			qs[i][j] = float32(r.NormFloat64())
		}
	}
	writeNPY(t, filepath.Join(dir, "vectors.npy"), vecs)
	writeNPY(t, filepath.Join(dir, "queries.npy"), qs)
	b, _ := json.Marshal(attrs)
	if err := os.WriteFile(filepath.Join(dir, "attrs.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}

	p := startServe(t, t.TempDir(), "--index.disabled")
	ctx := context.Background()
	c, err := weft.New(p.addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.RegisterPlugin(ctx, "attrfilter", examplePlugin(t, "attrfilter", "go"), weft.FailClosed()); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateNamespace(ctx, "go", dim, weft.L2); err != nil {
		t.Fatal(err)
	}
	docs := make([]*weft.Document, n)
	for i := range docs {
		docs[i] = &weft.Document{Id: fmt.Sprintf("d%d", i), Vector: vecs[i], Attributes: map[string]*weft.Value{
			"lang": weft.String(attrs[i]["lang"].(string)), "n": weft.Int(int64(i))}}
	}
	ns := c.Namespace("go")
	if _, err := ns.Upsert(ctx, docs...); err != nil {
		t.Fatal(err)
	}
	var goAnswers []crossAnswer
	for _, q := range qs {
		resp, err := ns.Query(ctx, q, 10, weft.RecallTarget(1), weft.Filter(weft.Eq("lang", weft.String("de"))),
			weft.UsePlugin("attrfilter", map[string]string{"attr": "n", "min": "1000"}))
		if err != nil {
			t.Fatal(err)
		}
		var a crossAnswer
		for _, res := range resp.GetResults() {
			a.IDs = append(a.IDs, res.GetId())
			a.Bits = append(a.Bits, math.Float32bits(res.GetDistance()))
		}
		if len(a.IDs) != 10 {
			t.Fatalf("the Go query found %d results, want 10", len(a.IDs))
		}
		for _, id := range a.IDs {
			i, _ := strconv.Atoi(id[1:])
			if i%3 != 1 || i < 1000 {
				t.Fatalf("result %s passes neither the filter (lang de) nor the plugin (n ≥ 1000)", id)
			}
		}
		goAnswers = append(goAnswers, a)
	}

	return dir, p.addr, goAnswers
}

// compareAnswers runs another client's half of the test and checks that
// its answers, one JSON line each, equal the Go SDK's.
func compareAnswers(t *testing.T, who string, cmd *exec.Cmd, goAnswers []crossAnswer) {
	t.Helper()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", who, err, stderr.String())
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for i := 0; sc.Scan(); i++ {
		var a crossAnswer
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			t.Fatalf("%s's answer %d: %v", who, i, err)
		}
		if i >= len(goAnswers) || !slices.Equal(a.IDs, goAnswers[i].IDs) || !slices.Equal(a.Bits, goAnswers[i].Bits) {
			t.Fatalf("query %d: %s %v, Go %v", i, who, a, goAnswers[min(i, len(goAnswers)-1)])
		}
		if i == crossQueries-1 {
			return
		}
	}
	t.Fatalf("%s answered fewer than %d queries:\n%s", who, crossQueries, out)
}

// writeNPY writes rows as a float32 NumPy array.
func writeNPY(t *testing.T, path string, rows [][]float32) {
	t.Helper()
	hdr := fmt.Sprintf("{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }", len(rows), len(rows[0]))
	for (10+len(hdr)+1)%64 != 0 {
		hdr += " "
	}
	hdr += "\n"
	b := append([]byte("\x93NUMPY\x01\x00"), byte(len(hdr)), byte(len(hdr)>>8))
	b = append(b, hdr...)
	for _, row := range rows {
		for _, x := range row {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
		}
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
