//go:build wasip1

// Command attrfilter is the attribute filter plugin, in Go; attrfilter/c is
// the same plugin in C. It works before ANN (an allow-list over documents)
// and after (a verdict over candidates) alike.
//
// Params:
//   - attr (required): the attribute to test
//   - eq: keep candidates whose value equals eq (strings; numbers; "true" or
//     "false" for bools); a string list matches when it contains eq
//   - min, max: keep candidates whose numeric value lies in [min, max]
//   - missing=keep: keep candidates without the attribute (default: drop)
package main

import (
	"errors"
	"math"
	"strconv"

	weftplugin "github.com/weftdb/weft/sdk/plugin/go"
)

func main() {}

//go:wasmexport weft_filter
func filter(ptr, n uint32) uint64 {
	return weftplugin.Filter(ptr, n, func(in *weftplugin.Input, keep []bool) error {
		attr, ok := in.Param("attr")
		if !ok {
			return errors.New("param attr is required")
		}
		eq, hasEq := in.Param("eq")
		lo := in.ParamFloat("min", math.Inf(-1))
		hi := in.ParamFloat("max", math.Inf(1))
		missing, _ := in.Param("missing")
		col, has := in.Column(attr)
		if has && hasEq && (col.Type() == weftplugin.TypeString || col.Type() == weftplugin.TypeStringList) {
			col.MatchString(eq, missing == "keep", keep)
			return nil
		}
		for i := range in.Count() {
			if !has || !col.Valid(i) {
				keep[i] = missing == "keep"
				continue
			}
			k := true
			switch col.Type() {
			case weftplugin.TypeString:
				k = !hasEq || col.String(i) == eq
			case weftplugin.TypeStringList:
				k = !hasEq || col.ListContains(i, eq)
			case weftplugin.TypeBool:
				k = !hasEq || strconv.FormatBool(col.Bool(i)) == eq
			case weftplugin.TypeInt64, weftplugin.TypeFloat64:
				v, _ := col.Number(i)
				if hasEq {
					want, err := strconv.ParseFloat(eq, 64)
					k = err == nil && v == want
				}
				k = k && v >= lo && v <= hi
			}
			keep[i] = k
		}
		return nil
	})
}
