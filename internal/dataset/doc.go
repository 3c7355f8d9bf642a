// Package dataset reads the files that vectors and documents are bulk-loaded
// from, one row at a time, so that a file of any size streams through a
// fixed amount of memory.
//
// # Formats
//
//   - .fvecs and .ivecs (TEXMEX): per row a little-endian int32 dimension
//     followed by that many float32 or int32 values ([FvecsReader],
//     [IvecsReader]).
//   - IDX image files as MNIST and Fashion-MNIST ship them
//     (*-images-idx3-ubyte, usually gzipped): big-endian magic 0x00000803,
//     image count, rows and columns, then uint8 pixels; each image becomes
//     a float32 vector of rows×columns values in 0..255 ([IDXReader]).
//   - JSON lines of documents, {"id": "...", "vector": [...],
//     "attributes": {"k": v}} ([JSONLReader]).
//
// [Open] picks a format from the file name ([FormatOf]) and undoes gzip
// compression, detected from the content.
//
// # Errors
//
// Errors name the file (as given to the reader) and the place: the 0-based
// row of a binary file, the 1-based line of a JSON lines file. A file that
// ends inside a row, and rows whose dimensions differ from the first
// one's, are errors rather than a silent short read.
//
// This package depends only on the standard library and the generated API
// types (weftv1.Document); it must not import Weft's server packages.
package dataset
