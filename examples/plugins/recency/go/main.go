//go:build wasip1

// Command recency is the recency-boost rerank plugin, in Go; recency/c is
// the same plugin in C:
//
//	score = -distance + weight · 0.5^(age / half_life_s),  age = max(0, now - ts)
//
// Params:
//   - ts_attr: the attribute holding the document's time, unix seconds
//     (int or float; default "ts"); documents without it get no boost
//   - weight (default 1), half_life_s (default 86400)
//   - now: unix seconds, overrides the host's clock (reproducible queries)
package main

import (
	"math"

	weftplugin "github.com/weftdb/weft/sdk/plugin/go"
)

func main() {}

//go:wasmexport weft_rerank
func rerank(ptr, n uint32) uint64 {
	return weftplugin.Rerank(ptr, n, func(in *weftplugin.Input, scores []float32) error {
		attr := "ts"
		if a, ok := in.Param("ts_attr"); ok {
			attr = a
		}
		weight := in.ParamFloat("weight", 1)
		halfLife := in.ParamFloat("half_life_s", 86400)
		now := in.ParamFloat("now", float64(in.NowUnixMilli())/1000)
		col, ok := in.Column(attr)
		if !ok || halfLife <= 0 {
			return nil
		}
		for i := range in.Count() {
			ts, isNum := col.Number(i)
			if !col.Valid(i) || !isNum {
				continue
			}
			age := max(0, now-ts)
			scores[i] += float32(weight * math.Exp2(-age/halfLife))
		}
		return nil
	})
}
