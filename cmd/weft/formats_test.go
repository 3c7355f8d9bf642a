package main

import (
	"context"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"connectrpc.com/connect"
	"github.com/parquet-go/parquet-go"

	weftv1 "github.com/weftdb/weft/proto/gen/weft/v1"
	"github.com/weftdb/weft/proto/gen/weft/v1/weftv1connect"
)

// Fashion-MNIST's 60,000 training images imported three ways through a
// real weft serve — the IDX file, a NumPy .npy of float32 and a Parquet
// file with the vectors as a list column — make the same namespace: the
// same count, and Get of every id returns the same vector.
func TestImportFormatsAgreeOnFashionMNIST(t *testing.T) {
	train := readIDX(t, fashionDir+"/train-images-idx3-ubyte.gz")
	dir := t.TempDir()
	dim := len(train[0])

	// The .npy: a float32 array, rows × 784.
	rows32 := make([][]float32, len(train))
	for i, img := range train {
		rows32[i] = make([]float32, dim)
		for j, px := range img {
			rows32[i][j] = float32(px)
		}
	}
	npyPath := filepath.Join(dir, "fashion.npy")
	writeNPY(t, npyPath, rows32)
	// The Parquet file: one list<float> column, no ids (row numbers).
	type image struct {
		Pixels []float32 `parquet:"pixels,list"`
	}
	rows := make([]image, len(train))
	for i := range train {
		rows[i].Pixels = rows32[i]
	}
	pqPath := filepath.Join(dir, "fashion.parquet")
	if err := parquet.WriteFile(pqPath, rows); err != nil {
		t.Fatal(err)
	}

	p := startServe(t, t.TempDir(), "--index.disabled")
	ctx := context.Background()
	for ns, file := range map[string]string{"idx": fashionDir + "/train-images-idx3-ubyte.gz", "npy": npyPath, "pq": pqPath} {
		runWeft(t, ctx, "import", "--addr", p.addr, "--namespace", ns, "--create", "--metric", "l2", "--file", file)
	}
	nsc := weftv1connect.NewNamespaceServiceClient(http.DefaultClient, p.addr)
	docs := weftv1connect.NewDocumentServiceClient(http.DefaultClient, p.addr)
	for _, ns := range []string{"idx", "npy", "pq"} {
		got, err := nsc.GetNamespace(ctx, connect.NewRequest(&weftv1.GetNamespaceRequest{Name: ns}))
		if err != nil {
			t.Fatal(err)
		}
		if n := got.Msg.GetStats().GetDocumentCount(); n != uint64(len(train)) || got.Msg.GetNamespace().GetDimension() != uint32(dim) {
			t.Fatalf("namespace %s: %d documents of dimension %d, want %d of %d", ns, n, got.Msg.GetNamespace().GetDimension(), len(train), dim)
		}
	}
	for start := 0; start < len(train); start += 1000 {
		ids := make([]string, 0, 1000)
		for i := start; i < min(start+1000, len(train)); i++ {
			ids = append(ids, strconv.Itoa(i))
		}
		var byNS [3][]*weftv1.Document
		for k, ns := range []string{"idx", "npy", "pq"} {
			resp, err := docs.Get(ctx, connect.NewRequest(&weftv1.GetRequest{Namespace: ns, Ids: ids, IncludeVectors: true}))
			if err != nil {
				t.Fatal(err)
			}
			byNS[k] = resp.Msg.GetDocuments()
			if len(byNS[k]) != len(ids) {
				t.Fatalf("namespace %s: Get of ids %s..%s found %d of %d", ns, ids[0], ids[len(ids)-1], len(byNS[k]), len(ids))
			}
		}
		for i := range ids {
			a, b, c := byNS[0][i], byNS[1][i], byNS[2][i]
			if a.GetId() != b.GetId() || a.GetId() != c.GetId() || !slices.Equal(a.GetVector(), b.GetVector()) || !slices.Equal(a.GetVector(), c.GetVector()) {
				t.Fatalf("id %s: the IDX, .npy and Parquet imports differ (%s %s %s)", ids[i], a.GetId(), b.GetId(), c.GetId())
			}
		}
	}
}
