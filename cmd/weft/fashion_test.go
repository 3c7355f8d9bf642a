package main

import (
	"compress/gzip"
	"context"
	"encoding/binary"
	"io"
	"math"
	"net/http"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	weftv1 "github.com/weftdb/weft/proto/gen/weft/v1"
	"github.com/weftdb/weft/proto/gen/weft/v1/weftv1connect"
)

// fashionDir is where Debian's dataset-fashion-mnist puts the data;
// scripts/test-deps.sh (run by make test) installs it.
const fashionDir = "/usr/share/datasets/fashion-mnist"

// readIDX reads a gzipped IDX image file as rows of uint8 pixels. It is
// the test's own reader, independent of the one weft import uses.
func readIDX(t *testing.T, path string) [][]uint8 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("%v: run scripts/test-deps.sh (make test does) to install Debian's dataset-fashion-mnist", err)
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var hdr [4]uint32
	if err := binary.Read(z, binary.BigEndian, &hdr); err != nil {
		t.Fatal(err)
	}
	if hdr[0] != 0x803 {
		t.Fatalf("%s: magic %#x, want 0x803", path, hdr[0])
	}
	n, dim := int(hdr[1]), int(hdr[2]*hdr[3])
	flat := make([]uint8, n*dim)
	if _, err := io.ReadFull(z, flat); err != nil {
		t.Fatal(err)
	}
	rows := make([][]uint8, n)
	for i := range rows {
		rows[i] = flat[i*dim : (i+1)*dim]
	}
	return rows
}

// l2sq is the exact squared distance of two images, in integers, or some
// value above bound once the partial sum passes it.
func l2sq(a, b []uint8, bound int32) int32 {
	var s int32
	for i := 0; i < len(a); i += 16 {
		for j := i; j < min(i+16, len(a)); j++ {
			d := int32(a[j]) - int32(b[j])
			s += d * d
		}
		if s > bound {
			return s
		}
	}
	return s
}

// Fashion-MNIST's 60,000 training images go in through `weft import` and
// are indexed; for 1,000 test images a query with recall_target 1 returns
// the true top 10 of an independent integer brute force (a result tied with
// the tenth distance, within float32 rounding, counts as true), and the
// default approximate query keeps recall@10 ≥ 0.95 of that.
func TestFashionMNISTExactTop10(t *testing.T) {
	train := readIDX(t, fashionDir+"/train-images-idx3-ubyte.gz")
	test := readIDX(t, fashionDir+"/t10k-images-idx3-ubyte.gz")[:1000]

	p := startServe(t, t.TempDir())
	ctx := context.Background()
	start := time.Now()
	out := runWeft(t, ctx, "import", "--addr", p.addr, "--namespace", "fashion", "--create", "--dim", "784", "--metric", "l2",
		"--file", fashionDir+"/train-images-idx3-ubyte.gz")
	elapsed := time.Since(start)
	t.Logf("weft import: %s(wall %.2f s including process start, %.0f rows/s)", out, elapsed.Seconds(), float64(len(train))/elapsed.Seconds())

	ns := weftv1connect.NewNamespaceServiceClient(http.DefaultClient, p.addr)
	got, err := ns.GetNamespace(ctx, connect.NewRequest(&weftv1.GetNamespaceRequest{Name: "fashion"}))
	if err != nil {
		t.Fatal(err)
	}
	if n := got.Msg.GetStats().GetDocumentCount(); n != uint64(len(train)) {
		t.Fatalf("namespace holds %d documents after the import, want %d", n, len(train))
	}
	istart := time.Now()
	for st := got.Msg.GetStats(); st.GetUnindexedDocuments() > 0 || st.GetIndexing() || st.GetManifestVersion() == 0; st = got.Msg.GetStats() {
		if time.Since(istart) > 5*time.Minute {
			t.Fatalf("not indexed after 5 minutes: %v", st)
		}
		time.Sleep(100 * time.Millisecond)
		if got, err = ns.GetNamespace(ctx, connect.NewRequest(&weftv1.GetNamespaceRequest{Name: "fashion"})); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("indexed %v within %.1f s after the import", got.Msg.GetStats(), time.Since(istart).Seconds())

	// Run the 1,000 queries through the API first.
	query := weftv1connect.NewQueryServiceClient(http.DefaultClient, p.addr)
	idPattern := regexp.MustCompile(`^[0-9]+$`)
	found := make([][]int, len(test))
	qstart := time.Now()
	for qi, img := range test {
		v := make([]float32, len(img))
		for i, x := range img {
			v[i] = float32(x)
		}
		resp, err := query.Query(ctx, connect.NewRequest(&weftv1.QueryRequest{Namespace: "fashion", Vector: v, TopK: 10, Search: &weftv1.SearchParams{RecallTarget: 1}}))
		if err != nil {
			t.Fatal(err)
		}
		if n := len(resp.Msg.GetResults()); n != 10 {
			t.Fatalf("query %d: %d results", qi, n)
		}
		for _, r := range resp.Msg.GetResults() {
			if !idPattern.MatchString(r.GetId()) {
				t.Fatalf("query %d: id %q is not a row number", qi, r.GetId())
			}
			row, _ := strconv.Atoi(r.GetId())
			found[qi] = append(found[qi], row)
			exact := float32(math.Sqrt(float64(l2sq(img, train[row], math.MaxInt32))))
			if !closeTo(r.GetDistance(), exact, 1e-4) {
				t.Fatalf("query %d, id %s: distance %v, exact %v", qi, r.GetId(), r.GetDistance(), exact)
			}
		}
	}
	queryTime := time.Since(qstart)

	// The reference: the exact tenth-nearest distance of every query, by an
	// integer scan of all 60,000 images, seeded with the API's answers.
	tenth := tenthDistances(train, test, found)

	correct, total := 0, 0
	for qi, rows := range found {
		for _, row := range rows {
			// float32 sums of up to 5e7 round at about 1e-7 relative.
			if float64(l2sq(test[qi], train[row], math.MaxInt32)) <= float64(tenth[qi])*(1+1e-6) {
				correct++
			}
			total++
		}
	}
	recall := float64(correct) / float64(total)
	t.Logf("recall@10 = %.4f over %d queries (%.1f ms per exact query over 60k×784)", recall, len(test), float64(queryTime.Milliseconds())/float64(len(test)))
	if correct != total {
		t.Fatalf("recall@10 = %.4f, want 1.0", recall)
	}

	// The default query searches the graph: recall@10 against the exact
	// answers just checked.
	astart := time.Now()
	approx, hits := 0, 0
	for qi, img := range test {
		v := make([]float32, len(img))
		for i, x := range img {
			v[i] = float32(x)
		}
		resp, err := query.Query(ctx, connect.NewRequest(&weftv1.QueryRequest{Namespace: "fashion", Vector: v, TopK: 10}))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range resp.Msg.GetResults() {
			row, _ := strconv.Atoi(r.GetId())
			if float64(l2sq(test[qi], train[row], math.MaxInt32)) <= float64(tenth[qi])*(1+1e-6) {
				hits++
			}
			approx++
		}
	}
	annRecall := float64(hits) / float64(10*len(test))
	t.Logf("graph search: recall@10 = %.4f (%d results), %.0f µs per query", annRecall, approx, float64(time.Since(astart).Microseconds())/float64(len(test)))
	if annRecall < 0.95 {
		t.Fatalf("graph search recall@10 = %.4f, want ≥ 0.95", annRecall)
	}

	// A restart keeps everything: same count, same answers.
	p.stop(t)
	p = startServe(t, p.data)
	rstart := time.Now()
	ns = weftv1connect.NewNamespaceServiceClient(http.DefaultClient, p.addr)
	got, err = ns.GetNamespace(ctx, connect.NewRequest(&weftv1.GetNamespaceRequest{Name: "fashion"}))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("after a restart the namespace loaded in %.2f s: %v", time.Since(rstart).Seconds(), got.Msg.GetStats())
	if n := got.Msg.GetStats().GetDocumentCount(); n != uint64(len(train)) {
		t.Fatalf("after a restart the namespace holds %d documents, want %d", n, len(train))
	}
	query = weftv1connect.NewQueryServiceClient(http.DefaultClient, p.addr)
	for qi := range 50 {
		v := make([]float32, len(test[qi]))
		for i, x := range test[qi] {
			v[i] = float32(x)
		}
		resp, err := query.Query(ctx, connect.NewRequest(&weftv1.QueryRequest{Namespace: "fashion", Vector: v, TopK: 10, Search: &weftv1.SearchParams{RecallTarget: 1}}))
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range resp.Msg.GetResults() {
			if r.GetId() != strconv.Itoa(found[qi][i]) {
				t.Fatalf("after a restart query %d result %d is %s, before it was %d", qi, i, r.GetId(), found[qi][i])
			}
		}
	}
}

// tenthDistances is the exact squared distance of each test image's
// tenth-nearest training image, by an integer scan of all of them. Partial
// sums stop once past the tenth best so far, which starts as the worst of
// seeds[qi] (rows some search returned: a wrong one only loosens that
// bound, it never changes the result); seeds may be nil.
func tenthDistances(train, test [][]uint8, seeds [][]int) []int32 {
	tenth := make([]int32, len(test))
	var wg sync.WaitGroup
	next := make(chan int)
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			best := make([]int32, 0, 11)
			for qi := range next {
				best = best[:0]
				seen := map[int]bool{}
				if seeds != nil {
					for _, row := range seeds[qi] {
						best = append(best, l2sq(test[qi], train[row], math.MaxInt32))
						seen[row] = true
					}
				}
				slices.Sort(best)
				for row, x := range train {
					switch {
					case seen[row]:
					case len(best) < 10:
						best = append(best, l2sq(test[qi], x, math.MaxInt32))
						slices.Sort(best)
					default:
						if d := l2sq(test[qi], x, best[9]); d < best[9] {
							best[9] = d
							slices.Sort(best)
						}
					}
				}
				tenth[qi] = best[9]
			}
		})
	}
	for qi := range test {
		next <- qi
	}
	close(next)
	wg.Wait()
	return tenth
}

func closeTo(a, b float32, rel float64) bool {
	d := float64(a) - float64(b)
	return d*d <= rel*rel*max(1, float64(b)*float64(b))
}
