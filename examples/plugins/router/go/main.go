//go:build wasip1

// Command router is the tenant/region route plugin, in Go; router/c is the
// same plugin in C. Shard keys are "tenant" or "region/tenant".
//
// Params:
//   - tenant: probe only this tenant's shards; tenants: a comma-separated list
//   - region: weight this region's shards 2 (others 1); with region_only=true
//     probe only them
//   - nprobe: probe at most this many shards (highest weight first)
package main

import (
	"strconv"
	"strings"

	weftplugin "github.com/weftdb/weft/sdk/plugin/go"
)

func main() {}

//go:wasmexport weft_route
func route(ptr, n uint32) uint64 {
	return weftplugin.Route(ptr, n, func(in *weftplugin.Input, weights []float32) (int, error) {
		tenants, hasTenants := in.Param("tenants")
		if t, ok := in.Param("tenant"); ok {
			tenants, hasTenants = t, true
		}
		region, hasRegion := in.Param("region")
		regionOnly, _ := in.Param("region_only")
		for i := range in.Count() {
			key := in.ID(i)
			reg, tenant, ok := strings.Cut(key, "/")
			if !ok {
				reg, tenant = "", key
			}
			w := float32(1)
			if hasTenants && !contains(tenants, tenant) {
				w = 0
			}
			if hasRegion {
				switch {
				case reg == region:
					w *= 2
				case regionOnly == "true":
					w = 0
				}
			}
			weights[i] = w
		}
		nprobe := 0
		if s, ok := in.Param("nprobe"); ok {
			v, err := strconv.Atoi(s)
			if err != nil || v < 0 {
				return 0, &paramError{"nprobe", s}
			}
			nprobe = v
		}
		return nprobe, nil
	})
}

func contains(list, s string) bool {
	for item := range strings.SplitSeq(list, ",") {
		if strings.TrimSpace(item) == s {
			return true
		}
	}
	return false
}

type paramError struct{ name, value string }

func (e *paramError) Error() string {
	return "param " + e.name + "=" + strconv.Quote(e.value) + " is not a non-negative integer"
}
