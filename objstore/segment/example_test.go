package segment_test

import (
	"context"
	"fmt"
	"log"

	"github.com/weftdb/weft/objstore"
	"github.com/weftdb/weft/objstore/segment"
)

// A segment is built in memory, uploaded as one object, and read back a
// section at a time.
func Example() {
	ctx := context.Background()
	b := segment.NewBuilder([]byte("generation 1"))
	for _, err := range []error{
		b.Add(segment.KindIDs, 0, segment.EncodeStrings([]string{"doc-1", "doc-2"})),
		b.Add(segment.KindVectors, 0, segment.EncodeFloat32s([]float32{0.5, 1, -1, 2})),
	} {
		if err != nil {
			log.Fatal(err)
		}
	}
	data, err := b.Bytes()
	if err != nil {
		log.Fatal(err)
	}
	bucket := objstore.NewInMemory()
	if err := bucket.Upload(ctx, "segments/0001", data); err != nil {
		log.Fatal(err)
	}

	r, err := segment.Open(ctx, bucket, "segments/0001")
	if err != nil {
		log.Fatal(err)
	}
	got, err := r.Read(ctx, segment.Ref{Kind: segment.KindIDs}, segment.Ref{Kind: segment.KindVectors})
	if err != nil {
		log.Fatal(err)
	}
	ids, err := segment.DecodeStrings(got[0])
	if err != nil {
		log.Fatal(err)
	}
	vecs, err := segment.DecodeFloat32s(got[1])
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s: %q %v, %d of %d bytes fetched\n", r.Header().Meta, ids, vecs, r.BytesFetched(), r.Header().Size)
	// Output:
	// generation 1: ["doc-1" "doc-2"] [0.5 1 -1 2], 208 of 208 bytes fetched
}
