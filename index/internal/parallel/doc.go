// Package parallel splits index builds over goroutines. It is internal to
// index/ and, like the rest of it, does no I/O.
package parallel
