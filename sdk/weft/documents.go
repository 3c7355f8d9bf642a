package weft

import (
	"context"

	"connectrpc.com/connect"

	weftv1 "github.com/weftdb/weft/proto/gen/weft/v1"
)

// Namespace is a handle for the document and query calls of one namespace.
// It is cheap: creating it does not call the server.
type Namespace struct {
	c    *Client
	name string
}

// Namespace returns a handle for the namespace called name.
func (c *Client) Namespace(name string) *Namespace { return &Namespace{c: c, name: name} }

// Name returns the namespace's name.
func (n *Namespace) Name() string { return n.name }

// Upsert inserts documents or replaces those whose ids exist, all or
// nothing. The response holds the ids in order (assigned ones included) and
// the WAL entry that made the write durable.
func (n *Namespace) Upsert(ctx context.Context, docs ...*Document) (*weftv1.UpsertResponse, error) {
	resp, err := n.c.raw.Documents.Upsert(ctx, connect.NewRequest(&weftv1.UpsertRequest{Namespace: n.name, Documents: docs}))
	if err != nil {
		return nil, err
	}
	return resp.Msg, nil
}

// Delete deletes documents by id; missing ids are ignored.
func (n *Namespace) Delete(ctx context.Context, ids ...string) (*weftv1.DeleteResponse, error) {
	return n.delete(ctx, &weftv1.DeleteRequest{Namespace: n.name, Ids: ids})
}

// DeleteWhere deletes every document that matches f.
func (n *Namespace) DeleteWhere(ctx context.Context, f *weftv1.Filter) (*weftv1.DeleteResponse, error) {
	return n.delete(ctx, &weftv1.DeleteRequest{Namespace: n.name, Filter: f})
}

func (n *Namespace) delete(ctx context.Context, req *weftv1.DeleteRequest) (*weftv1.DeleteResponse, error) {
	resp, err := n.c.raw.Documents.Delete(ctx, connect.NewRequest(req))
	if err != nil {
		return nil, err
	}
	return resp.Msg, nil
}

// Get returns the documents with the given ids, in the order asked, with
// their vectors and attributes; ids that do not exist are left out.
func (n *Namespace) Get(ctx context.Context, ids ...string) ([]*Document, error) {
	resp, err := n.c.raw.Documents.Get(ctx, connect.NewRequest(&weftv1.GetRequest{
		Namespace: n.name, Ids: ids, IncludeVectors: true, IncludeAttributes: true,
	}))
	if err != nil {
		return nil, err
	}
	return resp.Msg.GetDocuments(), nil
}

// UpdateAttributes sets or removes attributes of existing documents without
// sending their vectors again; build each update with [Update]. The
// response lists the ids that did not exist.
func (n *Namespace) UpdateAttributes(ctx context.Context, updates ...*weftv1.AttributeUpdate) (*weftv1.UpdateAttributesResponse, error) {
	resp, err := n.c.raw.Documents.UpdateAttributes(ctx, connect.NewRequest(&weftv1.UpdateAttributesRequest{Namespace: n.name, Updates: updates}))
	if err != nil {
		return nil, err
	}
	return resp.Msg, nil
}

// QueryOption sets an optional field of a query.
type QueryOption func(*weftv1.QueryRequest)

// Filter returns only documents that match f.
func Filter(f *weftv1.Filter) QueryOption { return func(q *weftv1.QueryRequest) { q.Filter = f } }

// IncludeVectors returns each result's vector.
func IncludeVectors() QueryOption { return func(q *weftv1.QueryRequest) { q.IncludeVectors = true } }

// IncludeAttributes returns each result's attributes.
func IncludeAttributes() QueryOption {
	return func(q *weftv1.QueryRequest) { q.IncludeAttributes = true }
}

// Consistency chooses which writes the query sees: [Strong] (the default)
// or [Eventual].
func Consistency(c weftv1.Consistency) QueryOption {
	return func(q *weftv1.QueryRequest) { q.Consistency = c }
}

// Search sets the approximate-search knobs: IVF lists probed and the HNSW
// candidate list size. Zero keeps the namespace's default.
func Search(nprobe, ef int) QueryOption {
	return func(q *weftv1.QueryRequest) {
		q.Search = ensureSearch(q.Search)
		q.Search.Nprobe, q.Search.Ef = clampUint32(nprobe), clampUint32(ef)
	}
}

// RecallTarget asks the server to pick nprobe and ef for a recall in (0, 1].
func RecallTarget(r float32) QueryOption {
	return func(q *weftv1.QueryRequest) {
		q.Search = ensureSearch(q.Search)
		q.Search.RecallTarget = r
	}
}

func ensureSearch(s *weftv1.SearchParams) *weftv1.SearchParams {
	if s == nil {
		return &weftv1.SearchParams{}
	}
	return s
}

// UsePlugin runs a registered plugin with per-query parameters, after the
// namespace's default plugins. It may be given several times; plugins run
// in order.
func UsePlugin(name string, params map[string]string) QueryOption {
	return func(q *weftv1.QueryRequest) {
		q.Plugins = append(q.Plugins, &weftv1.PluginCall{Name: name, Params: params})
	}
}

// AllowPartial answers from the shards that respond when some fail, instead
// of failing with Unavailable; the response's stats count the failed ones.
func AllowPartial() QueryOption { return func(q *weftv1.QueryRequest) { q.AllowPartial = true } }

// Query returns the topK (1..1000) documents nearest to vector, nearest
// first.
func (n *Namespace) Query(ctx context.Context, vector []float32, topK int, opts ...QueryOption) (*weftv1.QueryResponse, error) {
	req := &weftv1.QueryRequest{Namespace: n.name, Vector: vector, TopK: clampUint32(topK)}
	for _, o := range opts {
		o(req)
	}
	resp, err := n.c.raw.Queries.Query(ctx, connect.NewRequest(req))
	if err != nil {
		return nil, err
	}
	return resp.Msg, nil
}
