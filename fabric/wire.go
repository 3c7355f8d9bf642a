package fabric

import (
	"bytes"
	"fmt"
	"runtime"
	"sync"
	"weak"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	storagev1 "github.com/weftdb/weft/proto/gen/weft/storage/v1"
	weftv1 "github.com/weftdb/weft/proto/gen/weft/v1"
)

// Upserted documents reach the WAL in the bytes they arrived in: marshalling
// them again for the WAL entry took a fifth of the server's CPU on a bulk
// import (sizes, maps of attributes, packed floats). The codec keeps each
// request document's wire bytes; Upsert validates the decoded documents and
// copies those same bytes into the entry, so a replay decodes exactly the
// documents that were validated and applied.

// wireCodec is Connect's binary protobuf codec ("proto", also used for
// gRPC and gRPC-web) that, for an UpsertRequest, also keeps the wire bytes
// of each document for documentService.Upsert.
type wireCodec struct{ docs *wireDocs }

var _ interface {
	MarshalAppend([]byte, any) ([]byte, error)
	MarshalStable(any) ([]byte, error)
	IsBinary() bool
} = wireCodec{}

func (wireCodec) Name() string { return "proto" }

func (c wireCodec) Marshal(m any) ([]byte, error) { return c.MarshalAppend(nil, m) }

func (wireCodec) MarshalAppend(b []byte, m any) ([]byte, error) {
	pm, ok := m.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("%T is not a protobuf message", m)
	}
	return proto.MarshalOptions{}.MarshalAppend(b, pm)
}

func (wireCodec) MarshalStable(m any) ([]byte, error) {
	pm, ok := m.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("%T is not a protobuf message", m)
	}
	return proto.MarshalOptions{Deterministic: true}.Marshal(pm)
}

func (wireCodec) IsBinary() bool { return true }

func (c wireCodec) Unmarshal(data []byte, m any) error {
	pm, ok := m.(proto.Message)
	if !ok {
		return fmt.Errorf("%T is not a protobuf message", m)
	}
	if err := proto.Unmarshal(data, pm); err != nil {
		return fmt.Errorf("unmarshal into %T: %w", m, err)
	}
	if req, ok := m.(*weftv1.UpsertRequest); ok && c.docs != nil {
		if docs := documentBytes(data, len(req.GetDocuments())); docs != nil {
			c.docs.put(req, docs)
		}
	}
	return nil
}

// documentBytes returns the wire bytes of each of an UpsertRequest's n
// documents, in a copy of data (the caller's buffer is reused), or nil if
// it does not find exactly n.
func documentBytes(data []byte, n int) [][]byte {
	if n == 0 {
		return nil
	}
	data = bytes.Clone(data)
	docs := make([][]byte, 0, n)
	const documentsField = 2 // weft.v1.UpsertRequest.documents
	for len(data) > 0 {
		num, typ, tl := protowire.ConsumeTag(data)
		if tl < 0 {
			return nil
		}
		if num == documentsField && typ == protowire.BytesType {
			v, vl := protowire.ConsumeBytes(data[tl:])
			if vl < 0 {
				return nil
			}
			docs = append(docs, v)
			data = data[tl+vl:]
			continue
		}
		vl := protowire.ConsumeFieldValue(num, typ, data[tl:])
		if vl < 0 {
			return nil
		}
		data = data[tl+vl:]
	}
	if len(docs) != n {
		return nil
	}
	return docs
}

// wireDocs holds the document bytes of decoded UpsertRequests until their
// handler takes them. An entry whose handler never runs (the request was
// refused first) goes when its request is collected.
type wireDocs struct {
	mu sync.Mutex
	m  map[weak.Pointer[weftv1.UpsertRequest]][][]byte
}

func newWireDocs() *wireDocs {
	return &wireDocs{m: map[weak.Pointer[weftv1.UpsertRequest]][][]byte{}}
}

func (w *wireDocs) put(req *weftv1.UpsertRequest, docs [][]byte) {
	k := weak.Make(req)
	w.mu.Lock()
	w.m[k] = docs
	w.mu.Unlock()
	runtime.AddCleanup(req, w.drop, k)
}

func (w *wireDocs) drop(k weak.Pointer[weftv1.UpsertRequest]) {
	w.mu.Lock()
	delete(w.m, k)
	w.mu.Unlock()
}

// take returns and forgets req's document bytes, or nil.
func (w *wireDocs) take(req *weftv1.UpsertRequest) [][]byte {
	if w == nil {
		return nil
	}
	k := weak.Make(req)
	w.mu.Lock()
	docs := w.m[k]
	delete(w.m, k)
	w.mu.Unlock()
	return docs
}

// batchOpsField is weft.storage.v1.WALBatch.ops: a batch's wire form is
// its other fields followed by each operation as this field, so operations
// encoded by their requests, in parallel, are concatenated by the commit.
const batchOpsField = 1

// encodeOp returns op as a WALBatch ops field.
func encodeOp(op *storagev1.WALOp) ([]byte, error) {
	n := proto.Size(op)
	b := make([]byte, 0, protowire.SizeTag(batchOpsField)+protowire.SizeBytes(n))
	b = protowire.AppendTag(b, batchOpsField, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(n))
	return proto.MarshalOptions{UseCachedSize: true}.MarshalAppend(b, op)
}

// encodeUpsert returns an UpsertOp of docs as a WALBatch ops field. A
// document with wire bytes from its request (wire[i], unless wire is nil
// or fresh[i]: its id was made by the server) is copied as it arrived;
// the others are marshalled.
func encodeUpsert(docs []*weftv1.Document, wire [][]byte, fresh []bool) ([]byte, error) {
	const (
		walOpUpsertField    = 1 // weft.storage.v1.WALOp.upsert
		upsertDocumentField = 1 // weft.storage.v1.UpsertOp.documents
	)
	sizes := make([]int, len(docs))
	upsertSize := 0
	for i, d := range docs {
		if wire != nil && !fresh[i] {
			sizes[i] = len(wire[i])
		} else {
			sizes[i] = proto.Size(d)
		}
		upsertSize += protowire.SizeTag(upsertDocumentField) + protowire.SizeBytes(sizes[i])
	}
	opSize := protowire.SizeTag(walOpUpsertField) + protowire.SizeBytes(upsertSize)
	b := make([]byte, 0, protowire.SizeTag(batchOpsField)+protowire.SizeBytes(opSize))
	b = protowire.AppendTag(b, batchOpsField, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(opSize))
	b = protowire.AppendTag(b, walOpUpsertField, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(upsertSize))
	for i, d := range docs {
		b = protowire.AppendTag(b, upsertDocumentField, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(sizes[i]))
		if wire != nil && !fresh[i] {
			b = append(b, wire[i]...)
			continue
		}
		var err error
		if b, err = (proto.MarshalOptions{UseCachedSize: true}).MarshalAppend(b, d); err != nil {
			return nil, err
		}
	}
	return b, nil
}
