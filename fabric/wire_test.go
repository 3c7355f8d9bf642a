package fabric

import (
	"testing"

	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	storagev1 "github.com/weftdb/weft/proto/gen/weft/storage/v1"
	weftv1 "github.com/weftdb/weft/proto/gen/weft/v1"
)

// TestWireUpsert checks that a WAL batch whose upsert reuses the request's
// document bytes decodes to the batch the documents would marshal into:
// documents with ids of their own, ids made by the server, attributes,
// a field repeated on the wire (the last one counts, on replay too) and a
// field this build does not know.
func TestWireUpsert(t *testing.T) {
	req := &weftv1.UpsertRequest{Namespace: "ns", Documents: []*weftv1.Document{
		{Id: "a", Vector: []float32{1, 2, 3}, Attributes: map[string]*weftv1.AttributeValue{
			"n": {Kind: &weftv1.AttributeValue_IntValue{IntValue: 7}},
			"s": {Kind: &weftv1.AttributeValue_StringListValue{StringListValue: &weftv1.StringList{Values: []string{"x", "y"}}}},
		}},
		{Vector: []float32{4, 5, 6}},
		{Id: "c", Vector: []float32{7, 8, 9}},
	}}
	// Document "c" arrives with its id twice and an unknown field 99; the
	// namespace field comes last.
	extra := protowire.AppendTag(nil, 1, protowire.BytesType)
	extra = protowire.AppendString(extra, "c2")
	extra = protowire.AppendTag(extra, 99, protowire.VarintType)
	extra = protowire.AppendVarint(extra, 5)
	last, _ := proto.Marshal(req.Documents[2])
	last = append(last, extra...)
	first, _ := proto.Marshal(&weftv1.UpsertRequest{Documents: req.Documents[:2]})
	data := append(first, protowire.AppendBytes(protowire.AppendTag(nil, 2, protowire.BytesType), last)...)
	data = protowire.AppendString(protowire.AppendTag(data, 1, protowire.BytesType), "ns")

	docs := newWireDocs()
	got := &weftv1.UpsertRequest{}
	if err := (wireCodec{docs}).Unmarshal(data, got); err != nil {
		t.Fatal(err)
	}
	if got.GetDocuments()[2].GetId() != "c2" || got.GetNamespace() != "ns" {
		t.Fatalf("decoded %v", got)
	}
	wire := docs.take(got)
	if len(wire) != 3 {
		t.Fatalf("kept the bytes of %d documents, want 3", len(wire))
	}
	if docs.take(got) != nil {
		t.Fatal("take returned the bytes twice")
	}
	got.Documents[1].Id = "server-made"
	enc, err := encodeUpsert(got.GetDocuments(), wire, []bool{false, true, false})
	if err != nil {
		t.Fatal(err)
	}
	head, _ := proto.Marshal(&storagev1.WALBatch{Nonce: []byte{1, 2}, Writer: "w"})
	replayed := &storagev1.WALBatch{}
	if err := proto.Unmarshal(append(head, enc...), replayed); err != nil {
		t.Fatal(err)
	}
	want := &storagev1.WALBatch{Nonce: []byte{1, 2}, Writer: "w", Ops: []*storagev1.WALOp{
		{Op: &storagev1.WALOp_Upsert{Upsert: &storagev1.UpsertOp{Documents: got.GetDocuments()}}},
	}}
	if !proto.Equal(want, replayed) {
		t.Fatalf("replayed batch:\n%v\nwant:\n%v", prototext.Format(replayed), prototext.Format(want))
	}
	if replayed.GetOps()[0].GetUpsert().GetDocuments()[2].GetId() != "c2" {
		t.Fatal("the repeated id field did not replay as the last one")
	}
	// Without kept bytes every document is marshalled.
	enc2, err := encodeUpsert(got.GetDocuments(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	again := &storagev1.WALBatch{}
	if err := proto.Unmarshal(append(head, enc2...), again); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(want, again) {
		t.Fatalf("marshalled batch:\n%v\nwant:\n%v", prototext.Format(again), prototext.Format(want))
	}
	// A request the scan cannot account for keeps nothing.
	if documentBytes(data, 2) != nil || documentBytes(data[:len(data)-1], 3) != nil {
		t.Fatal("documentBytes accepted a count or a message that does not match")
	}
}
