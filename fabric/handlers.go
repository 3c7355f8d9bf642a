package fabric

import (
	"context"
	"fmt"
	"strconv"

	"connectrpc.com/connect"
	"github.com/google/uuid"

	storagev1 "github.com/weftdb/weft/proto/gen/weft/storage/v1"
	weftv1 "github.com/weftdb/weft/proto/gen/weft/v1"
	"github.com/weftdb/weft/proto/gen/weft/v1/weftv1connect"
)

// namespaceService implements weftv1connect.NamespaceServiceHandler.
type namespaceService struct{ s *Server }

func (h namespaceService) CreateNamespace(ctx context.Context, req *connect.Request[weftv1.CreateNamespaceRequest]) (*connect.Response[weftv1.CreateNamespaceResponse], error) {
	n, err := h.s.createNamespace(ctx, req.Msg.GetNamespace())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&weftv1.CreateNamespaceResponse{Namespace: n}), nil
}

func (h namespaceService) GetNamespace(ctx context.Context, req *connect.Request[weftv1.GetNamespaceRequest]) (*connect.Response[weftv1.GetNamespaceResponse], error) {
	ns, err := h.s.namespace(ctx, req.Msg.GetName())
	if err != nil {
		return nil, err
	}
	meta, _ := ns.config()
	return connect.NewResponse(&weftv1.GetNamespaceResponse{Namespace: meta, Stats: ns.stats()}), nil
}

func (h namespaceService) ListNamespaces(ctx context.Context, req *connect.Request[weftv1.ListNamespacesRequest]) (*connect.Response[weftv1.ListNamespacesResponse], error) {
	list, next, err := h.s.listNamespaces(ctx, req.Msg.GetPageSize(), req.Msg.GetPageToken())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&weftv1.ListNamespacesResponse{Namespaces: list, NextPageToken: next}), nil
}

func (h namespaceService) UpdateNamespace(ctx context.Context, req *connect.Request[weftv1.UpdateNamespaceRequest]) (*connect.Response[weftv1.UpdateNamespaceResponse], error) {
	if req.Msg.GetNamespace() == nil {
		return nil, invalid("namespace-missing", "namespace is missing: send its name and the fields to change")
	}
	n, err := h.s.updateNamespace(ctx, req.Msg.GetNamespace(), req.Msg.GetUpdateMask().GetPaths())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&weftv1.UpdateNamespaceResponse{Namespace: n}), nil
}

func (h namespaceService) DeleteNamespace(ctx context.Context, req *connect.Request[weftv1.DeleteNamespaceRequest]) (*connect.Response[weftv1.DeleteNamespaceResponse], error) {
	if err := h.s.deleteNamespace(ctx, req.Msg.GetName()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&weftv1.DeleteNamespaceResponse{}), nil
}

func (h namespaceService) WarmNamespace(ctx context.Context, req *connect.Request[weftv1.WarmNamespaceRequest]) (*connect.Response[weftv1.WarmNamespaceResponse], error) {
	ns, err := h.s.refreshed(ctx, req.Msg.GetName())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&weftv1.WarmNamespaceResponse{Stats: ns.stats()}), nil
}

// documentService implements weftv1connect.DocumentServiceHandler.
type documentService struct{ s *Server }

func (h documentService) Upsert(ctx context.Context, req *connect.Request[weftv1.UpsertRequest]) (*connect.Response[weftv1.UpsertResponse], error) {
	ns, err := h.s.namespace(ctx, req.Msg.GetNamespace())
	if err != nil {
		return nil, err
	}
	docs := req.Msg.GetDocuments()
	if err := validUpsert(ns, docs); err != nil {
		return nil, err
	}
	if resp, ok, err := forward(ctx, h.s, ns, req, weftv1connect.DocumentServiceClient.Upsert); ok {
		return resp, err
	}
	ids := make([]string, len(docs))
	fresh := make([]bool, len(docs))
	for i, d := range docs {
		if d.GetId() == "" {
			id, err := uuid.NewV7()
			if err != nil {
				return nil, err
			}
			d.Id, fresh[i] = id.String(), true
		}
		ids[i] = d.GetId()
	}
	if err := h.s.checkRoom(ns, ids); err != nil {
		return nil, err
	}
	wire, err := encodeUpsert(docs, h.s.wire.take(req.Msg), fresh)
	if err != nil {
		return nil, err
	}
	op := &storagev1.WALOp{Op: &storagev1.WALOp_Upsert{Upsert: &storagev1.UpsertOp{Documents: docs}}}
	seq, _, err := h.s.write(ctx, ns, op, wire)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&weftv1.UpsertResponse{Ids: ids, WalSequence: seq}), nil
}

func validUpsert(ns *namespace, docs []*weftv1.Document) error {
	if len(docs) == 0 {
		return invalid("documents-empty", "documents is empty: send 1..%d documents", maxDocsPerWrite)
	}
	if len(docs) > maxDocsPerWrite {
		return tooLarge("documents-too-many", "%d documents in one request: the limit is %d, split the batch", len(docs), maxDocsPerWrite)
	}
	meta, schema := ns.config()
	seen := make(map[string]int, len(docs))
	for i, d := range docs {
		// Field names are only spelled out for an error: building them for
		// every document cost a tenth of a bulk import's CPU.
		if err := validDocument("", d, meta, schema); err != nil {
			return validDocument(fmt.Sprintf("documents[%d]", i), d, meta, schema)
		}
		if d.GetId() != "" {
			if j, dup := seen[d.GetId()]; dup {
				return invalid("document-duplicate", "documents[%d].id %q repeats documents[%d].id: send each id once per request", i, d.GetId(), j)
			}
			seen[d.GetId()] = i
		}
	}
	return nil
}

// validDocument checks one document of an upsert; field names it in errors.
func validDocument(field string, d *weftv1.Document, meta *weftv1.Namespace, schema map[string]weftv1.AttributeType) *Error {
	if d.GetId() != "" {
		if err := validID(field+".id", d.GetId()); err != nil {
			return err
		}
	}
	if err := validVector(field+".vector", d.GetVector(), meta.GetDimension(), meta.GetMetric()); err != nil {
		return err
	}
	return validAttributes(field, d.GetAttributes(), schema)
}

func (h documentService) Delete(ctx context.Context, req *connect.Request[weftv1.DeleteRequest]) (*connect.Response[weftv1.DeleteResponse], error) {
	ns, err := h.s.namespace(ctx, req.Msg.GetNamespace())
	if err != nil {
		return nil, err
	}
	ids, filter := req.Msg.GetIds(), req.Msg.GetFilter()
	var op *storagev1.WALOp
	switch {
	case len(ids) > 0 && filter != nil:
		return nil, invalid("delete-both", "set ids or filter, not both")
	case len(ids) > 0:
		if len(ids) > maxDocsPerWrite {
			return nil, tooLarge("ids-too-many", "%d ids in one request: the limit is %d", len(ids), maxDocsPerWrite)
		}
		for i, id := range ids {
			if err := validID(fmt.Sprintf("ids[%d]", i), id); err != nil {
				return nil, err
			}
		}
		op = &storagev1.WALOp{Op: &storagev1.WALOp_DeleteIds{DeleteIds: &storagev1.DeleteIdsOp{Ids: ids}}}
	case filter != nil:
		if err := validFilter("filter", filter); err != nil {
			return nil, err
		}
		op = &storagev1.WALOp{Op: &storagev1.WALOp_DeleteFilter{DeleteFilter: filter}}
	default:
		return nil, invalid("delete-empty", "set ids or filter: a delete must say what to delete")
	}
	if resp, ok, err := forward(ctx, h.s, ns, req, weftv1connect.DocumentServiceClient.Delete); ok {
		return resp, err
	}
	seq, result, err := h.s.write(ctx, ns, op, nil)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&weftv1.DeleteResponse{DeletedCount: result.Deleted, WalSequence: seq}), nil
}

func (h documentService) Get(ctx context.Context, req *connect.Request[weftv1.GetRequest]) (*connect.Response[weftv1.GetResponse], error) {
	if err := validNamespaceName(req.Msg.GetNamespace()); err != nil {
		return nil, err
	}
	ids := req.Msg.GetIds()
	if len(ids) == 0 {
		return nil, invalid("ids-empty", "ids is empty: send 1..%d ids", maxIDsPerGet)
	}
	if len(ids) > maxIDsPerGet {
		return nil, tooLarge("ids-too-many", "%d ids in one request: the limit is %d", len(ids), maxIDsPerGet)
	}
	for i, id := range ids {
		if err := validID(fmt.Sprintf("ids[%d]", i), id); err != nil {
			return nil, err
		}
	}
	ns, err := h.s.refreshed(ctx, req.Msg.GetNamespace())
	if err != nil {
		return nil, err
	}
	out := &weftv1.GetResponse{}
	st := ns.state()
	st.RLock()
	if st.Lazy() && req.Msg.GetIncludeVectors() {
		if err := st.Materialize(ctx); err != nil {
			st.RUnlock()
			return nil, lazyUnavailable(ns, err)
		}
	}
	for _, id := range ids {
		d, ok := st.Get(id, req.Msg.GetIncludeVectors(), req.Msg.GetIncludeAttributes())
		if !ok && len(st.Failed) > 0 {
			st.RUnlock()
			return nil, errPartial(ns, st.Failed, "tell whether "+strconv.Quote(id)+" exists")
		}
		if ok {
			out.Documents = append(out.Documents, d)
		}
	}
	st.RUnlock()
	return connect.NewResponse(out), nil
}

func (h documentService) UpdateAttributes(ctx context.Context, req *connect.Request[weftv1.UpdateAttributesRequest]) (*connect.Response[weftv1.UpdateAttributesResponse], error) {
	ns, err := h.s.namespace(ctx, req.Msg.GetNamespace())
	if err != nil {
		return nil, err
	}
	updates := req.Msg.GetUpdates()
	if len(updates) == 0 {
		return nil, invalid("updates-empty", "updates is empty: send 1..%d updates", maxDocsPerWrite)
	}
	if len(updates) > maxDocsPerWrite {
		return nil, tooLarge("updates-too-many", "%d updates in one request: the limit is %d", len(updates), maxDocsPerWrite)
	}
	_, schema := ns.config()
	for i, u := range updates {
		field := fmt.Sprintf("updates[%d]", i)
		if err := validID(field+".id", u.GetId()); err != nil {
			return nil, err
		}
		if len(u.GetSet()) == 0 && len(u.GetRemove()) == 0 {
			return nil, invalid("update-empty", "%s: set or remove at least one attribute", field)
		}
		if err := validAttributes(field+".set", u.GetSet(), schema); err != nil {
			return nil, err
		}
		for j, name := range u.GetRemove() {
			if err := validAttributeName(fmt.Sprintf("%s.remove[%d]", field, j), name); err != nil {
				return nil, err
			}
		}
	}
	if resp, ok, err := forward(ctx, h.s, ns, req, weftv1connect.DocumentServiceClient.UpdateAttributes); ok {
		return resp, err
	}
	op := &storagev1.WALOp{Op: &storagev1.WALOp_UpdateAttributes{UpdateAttributes: &storagev1.UpdateAttributesOp{Updates: updates}}}
	seq, result, err := h.s.write(ctx, ns, op, nil)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&weftv1.UpdateAttributesResponse{MissingIds: result.Missing, WalSequence: seq}), nil
}
