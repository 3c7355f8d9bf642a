package annbench

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/weftdb/weft/index/distance"
)

// dataset is a benchmark folder: base and query vectors, the exact k nearest
// neighbours and their distances.
type dataset struct {
	name    string
	metric  string // l2, cosine or ip
	dim     int
	nb, nq  int
	gtK     int
	base    []float32
	query   []float32
	gtDist  []float32
	gtIDs   []int32
	metricW distance.Metric
}

func loadDataset(dir string) (*dataset, error) {
	raw, err := os.ReadFile(filepath.Join(dir, "meta.json"))
	if err != nil {
		return nil, fmt.Errorf("read dataset meta (make it with scripts/dataset.py NAME): %w", err)
	}
	var meta struct {
		Name   string `json:"name"`
		Metric string `json:"metric"`
	}
	if err := json.Unmarshal(raw, &meta); err != nil {
		return nil, fmt.Errorf("parse %s: %w", filepath.Join(dir, "meta.json"), err)
	}
	ds := &dataset{name: meta.Name, metric: meta.Metric}
	switch meta.Metric {
	case "l2":
		ds.metricW = distance.L2
	case "cosine":
		ds.metricW = distance.Cosine
	case "ip":
		ds.metricW = distance.Dot
	default:
		return nil, fmt.Errorf("dataset %s: unknown metric %q", dir, meta.Metric)
	}
	var qdim, k2, nq2, nq3 int
	if ds.base, ds.dim, ds.nb, err = readFvecs(filepath.Join(dir, "base.fvecs")); err != nil {
		return nil, err
	}
	if ds.query, qdim, ds.nq, err = readFvecs(filepath.Join(dir, "query.fvecs")); err != nil {
		return nil, err
	}
	if ds.gtDist, k2, nq2, err = readFvecs(filepath.Join(dir, "distances.fvecs")); err != nil {
		return nil, err
	}
	var gt []float32
	if gt, ds.gtK, nq3, err = readFvecs(filepath.Join(dir, "groundtruth.ivecs")); err != nil {
		return nil, err
	}
	ds.gtIDs = make([]int32, len(gt))
	for i, v := range gt {
		ds.gtIDs[i] = int32(math.Float32bits(v))
	}
	if qdim != ds.dim || k2 != ds.gtK || nq2 != ds.nq || nq3 != ds.nq {
		return nil, fmt.Errorf("dataset %s: files do not match", dir)
	}
	if ds.metric == "cosine" { // as annpeer: normalise once, then search by inner product
		for i := 0; i < len(ds.base); i += ds.dim {
			normalize64(ds.base[i : i+ds.dim])
		}
		for i := 0; i < len(ds.query); i += ds.dim {
			normalize64(ds.query[i : i+ds.dim])
		}
	}
	return ds, nil
}

func normalize64(v []float32) {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	inv := float32(0)
	if s > 0 {
		inv = float32(1 / math.Sqrt(s))
	}
	for i := range v {
		v[i] *= inv
	}
}

// readFvecs reads a TEXMEX .fvecs (or .ivecs, whose int32 values come back as
// float32 bit patterns) file.
func readFvecs(path string) (vals []float32, dim, rows int, err error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("read vectors: %w", err)
	}
	if len(raw) < 4 {
		return nil, 0, 0, fmt.Errorf("%s: not a vecs file", path)
	}
	dim = int(int32(binary.LittleEndian.Uint32(raw)))
	row := 4 + 4*dim
	if dim <= 0 || len(raw)%row != 0 {
		return nil, 0, 0, fmt.Errorf("%s: not a vecs file", path)
	}
	rows = len(raw) / row
	vals = make([]float32, rows*dim)
	for i := range rows {
		r := raw[i*row:]
		if int(binary.LittleEndian.Uint32(r)) != dim {
			return nil, 0, 0, fmt.Errorf("%s: rows of different dims", path)
		}
		for j := range dim {
			vals[i*dim+j] = math.Float32frombits(binary.LittleEndian.Uint32(r[4+4*j:]))
		}
	}
	return vals, dim, rows, nil
}

// exactDist is the distance distances.fvecs holds: Euclidean for l2,
// 1 − cosine for cosine, −dot for ip, in float64.
func (ds *dataset) exactDist(q []float32, id int) float64 {
	x := ds.base[id*ds.dim : (id+1)*ds.dim]
	var s float64
	if ds.metric == "l2" {
		for j := range x {
			d := float64(q[j]) - float64(x[j])
			s += d * d
		}
		return math.Sqrt(s)
	}
	for j := range x {
		s += float64(q[j]) * float64(x[j])
	}
	if ds.metric == "cosine" {
		return 1 - s
	}
	return -s
}

// recall scores one query's answer as annpeer does: distinct in-range ids
// no farther than the k-th true distance (relative 1e-5) are hits.
func (ds *dataset) recall(qi int, ids []int64, k int, kth float64) float64 {
	limit := kth + 1e-5*math.Abs(kth)
	q := ds.query[qi*ds.dim : (qi+1)*ds.dim]
	seen := make(map[int64]bool, len(ids))
	hits := 0
	for _, id := range ids {
		if id < 0 || id >= int64(ds.nb) || seen[id] {
			continue
		}
		seen[id] = true
		if ds.exactDist(q, int(id)) <= limit {
			hits++
		}
	}
	return float64(hits) / float64(k)
}
