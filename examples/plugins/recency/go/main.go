//go:build wasip1

// Command recency is the recency-boost rerank plugin, in Go; recency/c is
// the same plugin in C (bit for bit):
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
			// 0.5^x: the integer part by the exponent, the fraction by a
			// Taylor series of e^(−f·ln 2) (error < 1e-9, exact for whole
			// x). Written out in the loop rather than calling math.Exp2:
			// in a Wasm guest every call costs a check of the host's
			// deadline. recency/c uses the same formula, so both builds
			// give the same scores bit for bit.
			age := now - ts
			if age < 0 { // not max(0, age): for floats that is a runtime call
				age = 0
			}
			x := age / halfLife
			if x >= 1000 {
				continue
			}
			k := float64(int64(x))
			y := -(x - k) * math.Ln2
			e := 1 + y*(1+y/2*(1+y/3*(1+y/4*(1+y/5*(1+y/6*(1+y/7*(1+y/8*(1+y/9*(1+y/10)))))))))
			scores[i] += float32(weight * e * math.Float64frombits(uint64(1023-int64(k))<<52))
		}
		return nil
	})
}
