// Package objstoretest is the acceptance suite every objstore.Bucket must
// pass: reads, listings, deletes, create-if-absent under contention and
// atomic visibility of uploads.
package objstoretest
