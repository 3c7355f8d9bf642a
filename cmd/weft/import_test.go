package main

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/weftdb/weft/internal/dataset"
	weftv1 "github.com/weftdb/weft/proto/gen/weft/v1"
	"github.com/weftdb/weft/proto/gen/weft/v1/weftv1connect"
)

// toolFake records namespaces created and documents upserted, and answers
// queries with the vector's first component as every distance.
type toolFake struct {
	weftv1connect.UnimplementedNamespaceServiceHandler
	weftv1connect.UnimplementedDocumentServiceHandler
	weftv1connect.UnimplementedQueryServiceHandler

	mu        sync.Mutex
	created   []*weftv1.Namespace
	docs      map[string]*weftv1.Document
	batches   []int
	failAfter int // fail upserts once this many documents are stored (0: never)
	lastQuery *weftv1.QueryRequest
}

func (f *toolFake) CreateNamespace(_ context.Context, r *connect.Request[weftv1.CreateNamespaceRequest]) (*connect.Response[weftv1.CreateNamespaceResponse], error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, ns := range f.created {
		if ns.GetName() == r.Msg.GetNamespace().GetName() {
			return nil, connect.NewError(connect.CodeAlreadyExists, fmt.Errorf("namespace %q exists", ns.GetName()))
		}
	}
	f.created = append(f.created, r.Msg.GetNamespace())
	return connect.NewResponse(&weftv1.CreateNamespaceResponse{Namespace: r.Msg.GetNamespace()}), nil
}

func (f *toolFake) Upsert(_ context.Context, r *connect.Request[weftv1.UpsertRequest]) (*connect.Response[weftv1.UpsertResponse], error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failAfter > 0 && len(f.docs) >= f.failAfter {
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("document 3: vector has dimension 2, want 3"))
	}
	resp := &weftv1.UpsertResponse{}
	for i, d := range r.Msg.GetDocuments() {
		id := d.GetId()
		if id == "" {
			id = fmt.Sprintf("assigned-%d-%d", len(f.batches), i)
		}
		f.docs[id] = d
		resp.Ids = append(resp.Ids, id)
	}
	f.batches = append(f.batches, len(r.Msg.GetDocuments()))
	return connect.NewResponse(resp), nil
}

func (f *toolFake) Query(_ context.Context, r *connect.Request[weftv1.QueryRequest]) (*connect.Response[weftv1.QueryResponse], error) {
	f.mu.Lock()
	f.lastQuery = r.Msg
	f.mu.Unlock()
	if r.Msg.GetNamespace() != "docs" {
		return nil, connect.NewError(connect.CodeNotFound, fmt.Errorf("namespace %q does not exist", r.Msg.GetNamespace()))
	}
	resp := &weftv1.QueryResponse{Stats: &weftv1.QueryStats{DocumentsScanned: 9, ShardsProbed: 1}}
	for i := range r.Msg.GetTopK() {
		res := &weftv1.QueryResult{Id: "d" + strconv.Itoa(int(i)), Distance: r.Msg.GetVector()[0] + float32(i)}
		if r.Msg.GetIncludeAttributes() {
			res.Attributes = map[string]*weftv1.AttributeValue{
				"lang": {Kind: &weftv1.AttributeValue_StringValue{StringValue: "en"}},
				"year": {Kind: &weftv1.AttributeValue_IntValue{IntValue: 2024}},
			}
		}
		if r.Msg.GetIncludeVectors() {
			res.Vector = r.Msg.GetVector()
		}
		resp.Results = append(resp.Results, res)
	}
	return connect.NewResponse(resp), nil
}

// startToolFake serves f over HTTP/1.1 and h2c on 127.0.0.1.
func startToolFake(t *testing.T, f *toolFake) string {
	t.Helper()
	f.docs = map[string]*weftv1.Document{}
	mux := http.NewServeMux()
	mux.Handle(weftv1connect.NewNamespaceServiceHandler(f))
	mux.Handle(weftv1connect.NewDocumentServiceHandler(f))
	mux.Handle(weftv1connect.NewQueryServiceHandler(f))
	srv := httptest.NewUnstartedServer(mux)
	var p http.Protocols
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	srv.Config.Protocols = &p
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.URL
}

func writeFvecs(t *testing.T, rows, dim int) string {
	t.Helper()
	var b bytes.Buffer
	for i := range rows {
		binary.Write(&b, binary.LittleEndian, int32(dim))
		for j := range dim {
			binary.Write(&b, binary.LittleEndian, float32(i*100+j))
		}
	}
	path := filepath.Join(t.TempDir(), "base.fvecs")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestImportFlags(t *testing.T) {
	t.Setenv("WEFT_ADDR", "http://10.0.0.1:7600")
	c, err := parseImportFlags([]string{"--namespace", "ns", "--file", "d/train-images-idx3-ubyte.gz"}, new(bytes.Buffer))
	if err != nil {
		t.Fatal(err)
	}
	if c.addr != "http://10.0.0.1:7600" || c.format != dataset.IDX || c.batch != 1000 || c.concurrency != 8 || c.protocol != "connect" || c.limit != 0 {
		t.Fatalf("defaults: %+v", c)
	}
	c, err = parseImportFlags([]string{"--addr", "127.0.0.1:9", "--namespace", "ns", "--file", "x.bin", "--format", "jsonl",
		"--create", "--dim", "3", "--metric", "cosine", "--batch", "10", "--concurrency", "2", "--limit", "5", "--protocol", "grpc"}, new(bytes.Buffer))
	if err != nil {
		t.Fatal(err)
	}
	if c.addr != "127.0.0.1:9" || c.format != dataset.JSONL || !c.create || c.dim != 3 || c.metric != weftv1.Metric_METRIC_COSINE ||
		c.batch != 10 || c.concurrency != 2 || c.limit != 5 || c.protocol != "grpc" {
		t.Fatalf("parsed: %+v", c)
	}

	// Every problem is reported at once.
	_, err = parseImportFlags([]string{"--batch", "0", "--concurrency", "0", "--metric", "hamming"}, new(bytes.Buffer))
	for _, want := range []string{"--namespace is required", "--file is required", "--batch 0", "--concurrency 0", `--metric "hamming"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
	for _, args := range [][]string{
		{"--namespace", "n", "--file", "data.csv"},
		{"--namespace", "n", "--file", "gt.ivecs"},
		{"--namespace", "n", "--file", "d.jsonl", "--id-prefix", "x"},
		{"--namespace", "n", "--file", "d.fvecs", "extra"},
	} {
		if _, err := parseImportFlags(args, new(bytes.Buffer)); err == nil {
			t.Errorf("%q accepted", args)
		}
	}

	var help bytes.Buffer
	if _, err := parseImportFlags([]string{"-h"}, &help); !errors.Is(err, flag.ErrHelp) {
		t.Fatal(err)
	}
	for _, want := range []string{"usage: weft import", "-concurrency", "-id-prefix", "rows/s"} {
		if !strings.Contains(help.String(), want) {
			t.Errorf("help lacks %q:\n%s", want, help.String())
		}
	}
	if err := runImport(context.Background(), []string{"-h"}, new(bytes.Buffer), new(bytes.Buffer)); err != nil {
		t.Fatalf("-h: %v", err)
	}
}

func TestImportFvecs(t *testing.T) {
	for _, protocol := range []string{"connect", "grpc", "grpcweb"} {
		t.Run(protocol, func(t *testing.T) {
			f := &toolFake{}
			addr := startToolFake(t, f)
			path := writeFvecs(t, 25, 3)
			var out bytes.Buffer
			err := runImport(context.Background(), []string{"--addr", addr, "--namespace", "vecs", "--file", path, "--create", "--metric", "dot",
				"--batch", "4", "--concurrency", "3", "--id-prefix", "v", "--protocol", protocol}, &out, new(bytes.Buffer))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(out.String(), "imported 25 rows into vecs in ") || !strings.HasSuffix(out.String(), " rows/s)\n") {
				t.Fatalf("output %q", out.String())
			}
			if len(f.created) != 1 || f.created[0].GetDimension() != 3 || f.created[0].GetMetric() != weftv1.Metric_METRIC_DOT {
				t.Fatalf("created %v: the dimension comes from the file", f.created)
			}
			if len(f.docs) != 25 {
				t.Fatalf("%d documents stored, want 25", len(f.docs))
			}
			for i := range 25 {
				d := f.docs["v"+strconv.Itoa(i)]
				if d == nil || d.GetVector()[0] != float32(i*100) || d.GetVector()[2] != float32(i*100+2) {
					t.Fatalf("row %d stored as %v", i, d)
				}
			}
			slices.Sort(f.batches)
			if !slices.Equal(f.batches, []int{1, 4, 4, 4, 4, 4, 4}) {
				t.Fatalf("batch sizes %v", f.batches)
			}
		})
	}
}

func TestImportLimitAndJSONL(t *testing.T) {
	f := &toolFake{}
	addr := startToolFake(t, f)
	path := filepath.Join(t.TempDir(), "docs.jsonl")
	data := `{"id":"a","vector":[1,2],"attributes":{"lang":"en","n":3}}
{"vector":[3,4]}
{"id":"c","vector":[5,6]}
`
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := runImport(context.Background(), []string{"--addr", addr, "--namespace", "docs", "--file", path, "--limit", "2"}, &out, new(bytes.Buffer)); err != nil {
		t.Fatal(err)
	}
	if len(f.created) != 0 {
		t.Fatal("created a namespace without --create")
	}
	if len(f.docs) != 2 || f.docs["a"].GetAttributes()["n"].GetIntValue() != 3 || f.docs["assigned-0-1"] == nil {
		t.Fatalf("stored %v", f.docs)
	}
	if !strings.HasPrefix(out.String(), "imported 2 rows") {
		t.Fatal(out.String())
	}

	// A bad line stops the import with the file and line.
	if err := os.WriteFile(path, []byte(data+`{"vector":[1,2],"attributes":{"x":null}}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := runImport(context.Background(), []string{"--addr", addr, "--namespace", "docs", "--file", path}, new(bytes.Buffer), new(bytes.Buffer))
	if err == nil || !strings.Contains(err.Error(), "docs.jsonl:4: attribute \"x\"") {
		t.Fatalf("error %v", err)
	}
}

func TestImportStopsAtFirstServerError(t *testing.T) {
	f := &toolFake{failAfter: 10}
	addr := startToolFake(t, f)
	path := writeFvecs(t, 1000, 3)
	err := runImport(context.Background(), []string{"--addr", addr, "--namespace", "vecs", "--file", path, "--batch", "5", "--concurrency", "2"},
		new(bytes.Buffer), new(bytes.Buffer))
	if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), "document 3: vector has dimension 2, want 3") {
		t.Fatalf("error %v: want the server's message", err)
	}
	if n := len(f.docs); n > 20 {
		t.Fatalf("%d documents stored: the import went on after the error", n)
	}

	// --create on an existing namespace says what to do.
	f.created = []*weftv1.Namespace{{Name: "vecs"}}
	err = runImport(context.Background(), []string{"--addr", addr, "--namespace", "vecs", "--file", path, "--create"}, new(bytes.Buffer), new(bytes.Buffer))
	if connect.CodeOf(err) != connect.CodeAlreadyExists || !strings.Contains(err.Error(), "leave out --create") {
		t.Fatalf("error %v", err)
	}
}

// weft import of a NumPy array (.npy, and one array of an .npz): rows get
// the ids <prefix><row>, the dimension comes from the array's shape, and
// float64 values arrive as float32.
func TestImportNumPy(t *testing.T) {
	dir := t.TempDir()
	// numpy.save of np.arange(12, dtype='<f8').reshape(4, 3).
	hdr := "{'descr': '<f8', 'fortran_order': False, 'shape': (4, 3), }"
	for (10+len(hdr)+1)%64 != 0 {
		hdr += " "
	}
	hdr += "\n"
	file := append([]byte("\x93NUMPY\x01\x00"), byte(len(hdr)), byte(len(hdr)>>8))
	file = append(file, hdr...)
	for i := range 12 {
		file = binary.LittleEndian.AppendUint64(file, math.Float64bits(float64(i)))
	}
	npyPath := filepath.Join(dir, "emb.npy")
	if err := os.WriteFile(npyPath, file, 0o644); err != nil {
		t.Fatal(err)
	}
	npzPath := filepath.Join(dir, "emb.npz")
	zf, err := os.Create(npzPath)
	if err != nil {
		t.Fatal(err)
	}
	z := zip.NewWriter(zf)
	for _, name := range []string{"a.npy", "b.npy"} {
		w, _ := z.Create(name)
		w.Write(file)
	}
	z.Close()
	zf.Close()
	for _, c := range []struct {
		name string
		args []string
	}{
		{"npy", []string{"--file", npyPath}},
		{"npz", []string{"--file", npzPath, "--array", "b"}},
	} {
		f := &toolFake{}
		addr := startToolFake(t, f)
		args := append([]string{"--addr", addr, "--namespace", "np", "--create", "--id-prefix", "r"}, c.args...)
		if err := runImport(context.Background(), args, new(bytes.Buffer), new(bytes.Buffer)); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if len(f.created) != 1 || f.created[0].GetDimension() != 3 || len(f.docs) != 4 {
			t.Fatalf("%s: created %v, %d documents", c.name, f.created, len(f.docs))
		}
		if v := f.docs["r2"].GetVector(); !slices.Equal(v, []float32{6, 7, 8}) {
			t.Fatalf("%s: row 2 is %v", c.name, v)
		}
	}
	f := &toolFake{}
	err = runImport(context.Background(), []string{"--addr", startToolFake(t, f), "--namespace", "np", "--file", npzPath}, new(bytes.Buffer), new(bytes.Buffer))
	if err == nil || !strings.Contains(err.Error(), "name one with --array") {
		t.Fatalf("an .npz of two arrays without --array: %v", err)
	}
}

// Progress reports: rate and time left from the rows acknowledged so far,
// as a terminal line or a JSON line.
func TestImportProgress(t *testing.T) {
	r := newProgressReport(250_000, 1_000_000, 2*time.Second)
	if r.Rate != 125_000 || r.ETASecs != 6 {
		t.Fatalf("report %+v: want 125,000 rows/s and 6 s left", r)
	}
	if got := r.line(); got != "import: 250000 / 1000000 rows (25 %), 125000 rows/s, 6s left" {
		t.Fatalf("terminal line %q", got)
	}
	b, _ := json.Marshal(r)
	if string(b) != `{"rows_acknowledged":250000,"rows_total":1000000,"rows_per_second":125000,"eta_seconds":6}` {
		t.Fatalf("JSON line %s", b)
	}
	unknown := newProgressReport(10, 0, time.Second)
	if unknown.line() != "import: 10 rows acknowledged, 10 rows/s" || unknown.ETASecs != 0 {
		t.Fatalf("without a total: %+v %q", unknown, unknown.line())
	}
	if isTerminal(new(bytes.Buffer)) {
		t.Fatal("a buffer is not a terminal")
	}
}
