package annbench

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/weftdb/weft/index/distance"
	"github.com/weftdb/weft/index/indextest"
)

// writeDataset writes a small dataset folder in the layout of
// scripts/dataset.py, with exact ground truth.
func writeDataset(t *testing.T, nb, nq, dim, gtK int) string {
	t.Helper()
	dir := t.TempDir()
	base := indextest.Clustered(1, nb, dim, 10)
	query := indextest.Clustered(2, nq, dim, 10)
	writeVecs := func(name string, rows [][]uint32) {
		var b []byte
		for _, r := range rows {
			b = binary.LittleEndian.AppendUint32(b, uint32(len(r)))
			for _, v := range r {
				b = binary.LittleEndian.AppendUint32(b, v)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	asRows := func(v []float32) [][]uint32 {
		var rows [][]uint32
		for i := 0; i < len(v); i += dim {
			r := make([]uint32, dim)
			for j := range dim {
				r[j] = math.Float32bits(v[i+j])
			}
			rows = append(rows, r)
		}
		return rows
	}
	writeVecs("base.fvecs", asRows(base))
	writeVecs("query.fvecs", asRows(query))
	var ids, dists [][]uint32
	for i := range nq {
		truth := indextest.BruteForce(base, query[i*dim:(i+1)*dim], distance.L2, gtK, nil)
		ir, dr := make([]uint32, gtK), make([]uint32, gtK)
		for j, n := range truth {
			ir[j] = n.ID
			dr[j] = math.Float32bits(float32(math.Sqrt(float64(n.Dist))))
		}
		ids, dists = append(ids, ir), append(dists, dr)
	}
	writeVecs("groundtruth.ivecs", ids)
	writeVecs("distances.fvecs", dists)
	meta := `{"name":"tiny","metric":"l2","dim":` + strconv.Itoa(dim) + `,"n_base":` + strconv.Itoa(nb) + `,"n_query":` + strconv.Itoa(nq) + `,"gt_k":` + strconv.Itoa(gtK) + `}`
	if err := os.WriteFile(filepath.Join(dir, "meta.json"), []byte(meta), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

type line struct {
	Engine  string         `json:"engine"`
	Dataset string         `json:"dataset"`
	Params  map[string]int `json:"params"`
	K       int            `json:"k"`
	Recall  float64        `json:"recall"`
	QPS     float64        `json:"qps"`
	Code    float64        `json:"code_bytes_per_vector"`
}

func run(t *testing.T, args ...string) []line {
	t.Helper()
	var out, errOut bytes.Buffer
	if err := Run(context.Background(), args, &out, &errOut); err != nil {
		t.Fatalf("Run %v: %v\n%s", args, err, errOut.String())
	}
	var lines []line
	for _, s := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var l line
		if err := json.Unmarshal([]byte(s), &l); err != nil {
			t.Fatalf("bad JSON line %q: %v", s, err)
		}
		lines = append(lines, l)
	}
	return lines
}

func TestRunEngines(t *testing.T) {
	dir := writeDataset(t, 1500, 40, 64, 20)
	var out bytes.Buffer
	if err := Run(context.Background(), []string{"--data", dir, "--index", "hnsw", "--ef", "50", "--k", "5", "--build-threads", "2"}, &out, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	// Field order as annpeer prints it.
	want := `{"engine":"weft-hnsw","dataset":"tiny","params":{"M":16,"efc":200,"ef":50},"k":5,"recall":`
	if !strings.HasPrefix(out.String(), want) {
		t.Fatalf("line %q does not start with %q", out.String(), want)
	}
	for _, key := range []string{`"qps":`, `"p50_us":`, `"p99_us":`, `"build_s":`, `"build_threads":2,"search_threads":1,"index_bytes":`, `"bytes_per_vector":`} {
		if !strings.Contains(out.String(), key) {
			t.Errorf("line lacks %s", key)
		}
	}
	cases := []struct {
		args      []string
		minRecall float64
		code      bool
	}{
		{[]string{"--data", dir, "--index", "hnsw", "--ef", "64"}, 0.95, false},
		{[]string{"weft-hnsw-filtered", "--data", dir, "--ef", "64", "--filter-percent", "50,1"}, 0.95, false},
		{[]string{"--data", dir, "--index", "ivfpq", "--nlist", "8", "--m", "16", "--nprobe", "8", "--refine", "50"}, 0.95, true},
		{[]string{"--data", dir, "--engine", "weft-rabitq", "--nlist", "8", "--nprobe", "8", "--refine", "200"}, 0.95, true},
	}
	for _, c := range cases {
		for _, l := range run(t, c.args...) {
			if l.Recall < c.minRecall || l.K != 10 || l.Dataset != "tiny" {
				t.Errorf("%v: %+v", c.args, l)
			}
			if c.code != (l.Code > 0) {
				t.Errorf("%v: code_bytes_per_vector %v", c.args, l.Code)
			}
		}
	}
}

func TestRunRejectsBadOptions(t *testing.T) {
	dir := writeDataset(t, 50, 2, 4, 10)
	for _, args := range [][]string{
		{"--data", dir, "--index", "hnsw", "--nprobe", "3"},
		{"--data", dir, "--index", "nope"},
		{"--index", "hnsw"},
		{"--data", dir, "--k", "11"},
		{"--data", dir, "--ef"},
	} {
		if err := Run(context.Background(), args, &bytes.Buffer{}, &bytes.Buffer{}); err == nil {
			t.Errorf("Run %v: no error", args)
		}
	}
}
