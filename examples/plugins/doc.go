// Package examples holds Weft's example plugins, each in Go (<name>/go,
// GOOS=wasip1) and in C (<name>/c), with the built .wasm committed beside
// the source; scripts/build-plugins.sh (make plugins) rebuilds them.
//
//   - router: route by tenant and region
//   - attrfilter: keep candidates by an attribute (pre- or post-ANN)
//   - recency: boost recent documents
//   - mmr: maximal-marginal-relevance diversity
//   - keywords: promote candidates holding the query's keywords
//     (examples/rag uses it)
//
// The tests here load both builds of every example into a plugins.Host and
// check that each gives exactly the ids and scores its logic says.
// docs/plugins.md documents the params.
package examples
