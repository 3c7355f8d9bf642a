package quant

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/weftdb/weft/index/internal/parallel"

	"github.com/weftdb/weft/index/distance"
	"github.com/weftdb/weft/index/internal/kmeans"
)

// PQ is a trained product quantiser: the vector is cut into M sub-vectors of
// Dim/M values, each replaced by the index of its nearest of 256 centroids.
type PQ struct {
	dim, m, dsub int
	centroids    []float32 // m × 256 × dsub
}

// PQConfig tunes training.
type PQConfig struct {
	M          int    // sub-quantisers; must divide the dimension
	MaxSample  int    // rows used for training (default 16384)
	Iterations int    // k-means iterations (default 12)
	Seed       uint64 //
	Threads    int    // default GOMAXPROCS
}

const ksub = 256

// TrainPQ trains a product quantiser on rows of data.
func TrainPQ(ctx context.Context, data []float32, dim int, cfg PQConfig) (*PQ, error) {
	if cfg.M <= 0 || dim <= 0 || dim%cfg.M != 0 {
		return nil, fmt.Errorf("quant: M %d must divide dimension %d", cfg.M, dim)
	}
	if len(data)%dim != 0 || len(data) == 0 {
		return nil, errors.New("quant: training data is not whole rows")
	}
	n := len(data) / dim
	sample := cfg.MaxSample
	if sample <= 0 {
		sample = 16384
	}
	iters := cfg.Iterations
	if iters <= 0 {
		iters = 12
	}
	threads := cfg.Threads
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	p := &PQ{dim: dim, m: cfg.M, dsub: dim / cfg.M}
	p.centroids = make([]float32, p.m*ksub*p.dsub)
	// Rows used for every sub-quantiser: an even stride through the data.
	step := max(1, n/sample)
	var rows []int
	for i := 0; i < n && len(rows) < sample; i += step {
		rows = append(rows, i)
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		next = make(chan int, p.m)
	)
	for j := range p.m {
		next <- j
	}
	close(next)
	for range threads {
		wg.Go(func() {
			sub := make([]float32, len(rows)*p.dsub)
			for j := range next {
				for r, i := range rows {
					copy(sub[r*p.dsub:(r+1)*p.dsub], data[i*dim+j*p.dsub:i*dim+(j+1)*p.dsub])
				}
				cent, err := kmeans.Train(ctx, sub, p.dsub, kmeans.Config{
					K: ksub, Iterations: iters, MaxSample: len(rows), Seed: cfg.Seed + uint64(j), Threads: 1,
				})
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					return
				}
				copy(p.centroids[j*ksub*p.dsub:], cent)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return p, nil
}

// Dim returns the vector dimension.
func (p *PQ) Dim() int { return p.dim }

// M returns the number of sub-quantisers, which is also the code size in bytes.
func (p *PQ) M() int { return p.m }

func (p *PQ) centroid(j, c int) []float32 {
	o := (j*ksub + c) * p.dsub
	return p.centroids[o : o+p.dsub]
}

// Encode writes v's M-byte code to code.
func (p *PQ) Encode(v []float32, code []byte) {
	for j := range p.m {
		sv := v[j*p.dsub : (j+1)*p.dsub]
		best, bd := 0, float32(math.Inf(1))
		for c := range ksub {
			if d := distance.L2Sq(sv, p.centroid(j, c)); d < bd {
				best, bd = c, d
			}
		}
		code[j] = byte(best)
	}
}

// EncodeAll returns the codes of all rows of data, M bytes each, encoded on
// threads goroutines.
func (p *PQ) EncodeAll(data []float32, threads int) []byte {
	n := len(data) / p.dim
	codes := make([]byte, n*p.m)
	parallel.For(n, threads, func(i int) {
		p.Encode(data[i*p.dim:(i+1)*p.dim], codes[i*p.m:(i+1)*p.m])
	})
	return codes
}

// Reconstruct writes the vector code stands for to out.
func (p *PQ) Reconstruct(code []byte, out []float32) {
	for j := range p.m {
		copy(out[j*p.dsub:(j+1)*p.dsub], p.centroid(j, int(code[j])))
	}
}

// LUT fills lut (M×256 floats) with q's per-sub-quantiser distances to each
// centroid, so distance.PQAccumulate(lut, code) estimates q's distance to the
// coded vector: squared L2 for distance.L2, −dot for distance.Dot and
// distance.Cosine (add 1 for the cosine distance of normalised vectors).
func (p *PQ) LUT(q []float32, m distance.Metric, lut []float32) {
	lut = lut[:p.m*ksub]
	for j := range p.m {
		sq := q[j*p.dsub : (j+1)*p.dsub]
		row := lut[j*ksub : (j+1)*ksub]
		if m == distance.L2 {
			for c := range ksub {
				row[c] = distance.L2Sq(sq, p.centroid(j, c))
			}
		} else {
			for c := range ksub {
				row[c] = -distance.DotProduct(sq, p.centroid(j, c))
			}
		}
	}
}

// LUTSize returns the floats LUT needs.
func (p *PQ) LUTSize() int { return p.m * ksub }

const pqMagic = "WEFTPQ01"

// AppendEncoding appends p's encoding: magic, dim and M as uint32, then the
// centroids as little-endian float32.
func (p *PQ) AppendEncoding(dst []byte) []byte {
	dst = append(dst, pqMagic...)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(p.dim))
	dst = binary.LittleEndian.AppendUint32(dst, uint32(p.m))
	for _, v := range p.centroids {
		dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(v))
	}
	return dst
}

// EncodedSize returns the length of p's encoding.
func (p *PQ) EncodedSize() int { return 16 + 4*len(p.centroids) }

// DecodePQ decodes an encoding made by AppendEncoding and returns the bytes
// after it.
func DecodePQ(b []byte) (*PQ, []byte, error) {
	if len(b) < 16 || string(b[:8]) != pqMagic {
		return nil, nil, errors.New("quant: not a PQ encoding")
	}
	dim := int(binary.LittleEndian.Uint32(b[8:]))
	m := int(binary.LittleEndian.Uint32(b[12:]))
	if dim <= 0 || dim > 1<<16 || m <= 0 || dim%m != 0 {
		return nil, nil, fmt.Errorf("quant: PQ encoding with dimension %d and M %d", dim, m)
	}
	size := 4 * ksub * dim
	if len(b)-16 < size {
		return nil, nil, errors.New("quant: truncated PQ encoding")
	}
	p := &PQ{dim: dim, m: m, dsub: dim / m, centroids: make([]float32, ksub*dim)}
	for i := range p.centroids {
		p.centroids[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[16+4*i:]))
	}
	return p, b[16+size:], nil
}
