//go:build wasip1

// Command mmr is the maximal-marginal-relevance diversity rerank plugin, in
// Go; mmr/c is the same plugin in C. It needs the candidates' vectors.
//
// It picks candidates greedily by
//
//	λ · rel(d) − (1 − λ) · max over picked p of cos(d, p)
//
// where rel(d) is cos(query, d) when the query vector is sent, else
// −distance, and scores the k-th pick count − k, so the host's descending
// sort keeps the MMR order.
//
// Params: lambda (default 0.5; 1 = pure relevance, 0 = pure diversity).
package main

import (
	"errors"
	"math"

	weftplugin "github.com/weftdb/weft/sdk/plugin/go"
)

func main() {}

// dot is unrolled by 8: in a Wasm guest each loop iteration costs a check
// of the host's deadline. The sum keeps the sequential order of mmr/c's.
func dot(a, b []float32) float64 {
	var s float64
	i := 0
	for ; i+8 <= len(a); i += 8 {
		x, y := a[i:i+8:i+8], b[i:i+8:i+8]
		s += float64(x[0]) * float64(y[0])
		s += float64(x[1]) * float64(y[1])
		s += float64(x[2]) * float64(y[2])
		s += float64(x[3]) * float64(y[3])
		s += float64(x[4]) * float64(y[4])
		s += float64(x[5]) * float64(y[5])
		s += float64(x[6]) * float64(y[6])
		s += float64(x[7]) * float64(y[7])
	}
	for ; i < len(a); i++ {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}

//go:wasmexport weft_rerank
func rerank(ptr, n uint32) uint64 {
	return weftplugin.Rerank(ptr, n, func(in *weftplugin.Input, scores []float32) error {
		count := in.Count()
		if count > 0 && in.Vector(0) == nil {
			return errors.New("mmr needs the candidates' vectors (include_vectors)")
		}
		lambda := in.ParamFloat("lambda", 0.5)
		norm := make([]float64, count)
		for i := range count {
			v := in.Vector(i)
			norm[i] = math.Sqrt(dot(v, v))
		}
		cos := func(a, b []float32, na, nb float64) float64 {
			if na == 0 || nb == 0 {
				return 0
			}
			return dot(a, b) / (na * nb)
		}
		rel := make([]float64, count)
		q := in.Query()
		dist := in.Distances()
		for i := range count {
			if q != nil {
				rel[i] = cos(q, in.Vector(i), math.Sqrt(dot(q, q)), norm[i])
			} else {
				rel[i] = -float64(dist[i])
			}
		}
		maxSim := make([]float64, count)
		for i := range maxSim {
			maxSim[i] = math.Inf(-1)
		}
		picked := make([]bool, count)
		for rank := range count {
			best, bestVal := -1, math.Inf(-1)
			for i := range count {
				if picked[i] {
					continue
				}
				div := maxSim[i]
				if rank == 0 {
					div = 0
				}
				if v := lambda*rel[i] - (1-lambda)*div; best < 0 || v > bestVal {
					best, bestVal = i, v
				}
			}
			picked[best] = true
			scores[best] = float32(count - rank)
			vb := in.Vector(best)
			for i := range count {
				if !picked[i] {
					maxSim[i] = max(maxSim[i], cos(in.Vector(i), vb, norm[i], norm[best]))
				}
			}
		}
		return nil
	})
}
