// Package auth keeps Weft's API keys and says what a key may do.
//
// A key's secret is "wk_<id>_<random>"; the bucket holds, under
// auth/keys/<id>, only the SHA-256 of the secret, the key's grants (a role
// per namespace pattern) and its times. Every process reads a key's object
// again once its copy is older than the store's TTL (500 ms), so a revoked
// or expired key stops working everywhere within a second without any
// process telling another. An operator starts with a bootstrap secret,
// given to the process, which is an admin for every namespace and is never
// stored.
package auth
