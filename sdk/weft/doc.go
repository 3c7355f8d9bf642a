// Package weft is the Go client of Weft, the vector search fabric.
//
// A [Client] talks to a Weft server (weft serve, or a fleet of weft fabric
// processes) over the Connect protocol by default; [WithGRPC] and
// [WithGRPCWeb] select the other two protocols that the same handlers speak.
// [Client.Namespace] returns a handle for the document and query calls of
// one namespace. The request and response messages are those of the public
// API in proto/weft/v1 (Go package weftv1); the constructors in this package
// ([Doc], [String], [Int], [Eq], [And], …) build them so that callers never
// write oneof wrappers by hand.
//
//	c, err := weft.New("http://127.0.0.1:7600", weft.WithHeader("Authorization", "Bearer "+token))
//	if err != nil { … }
//	defer c.Close()
//	if _, err := c.CreateNamespace(ctx, "articles", 3, weft.Cosine); err != nil { … }
//	ns := c.Namespace("articles")
//	_, err = ns.Upsert(ctx,
//		weft.Doc("a1", []float32{0.1, 0.2, 0.3}, weft.Attributes{"lang": weft.String("en"), "year": weft.Int(2024)}),
//		weft.Doc("a2", []float32{0.3, 0.2, 0.1}, weft.Attributes{"lang": weft.String("fr"), "year": weft.Int(2019)}))
//	res, err := ns.Query(ctx, []float32{0.1, 0.2, 0.25}, 10,
//		weft.Filter(weft.And(weft.Eq("lang", weft.String("en")), weft.Gte("year", weft.Int(2020)))),
//		weft.IncludeAttributes())
//	for _, r := range res.GetResults() {
//		fmt.Println(r.GetId(), r.GetDistance())
//	}
//
// # Filters
//
// Filters are predicates over attributes, used by [Filter] in queries and by
// [Namespace.DeleteWhere]. They nest:
//
//	weft.And(weft.Eq("lang", weft.String("en")), weft.Not(weft.Exists("draft")))
//
// Semantics (see weft.v1.Filter): [Eq] on a string list matches when the
// list contains the value; [Ne] and [Not] match documents that lack the
// attribute; numbers compare across int and float.
//
// # Errors
//
// Every method returns the error of the underlying Connect call unchanged: a
// *connect.Error whose code and message come from the server, so
// connect.CodeOf(err) tells [connect.CodeInvalidArgument] (fix the request),
// [connect.CodeNotFound], [connect.CodeAlreadyExists],
// [connect.CodeResourceExhausted], [connect.CodeUnavailable] and
// [connect.CodeDeadlineExceeded] apart. Only [New] returns errors of its own.
//
// # Transport
//
// Connect and gRPC-web use HTTP/1.1 over http:// (and HTTP/2 when TLS
// negotiates it over https://). gRPC needs HTTP/2: over http:// the client
// speaks unencrypted HTTP/2 (h2c, prior knowledge), which weft serve accepts
// on its one port. [WithHTTPClient] replaces the transport entirely; the
// caller then owns its protocols.
//
// # Advanced use
//
// [Client.Raw] exposes the generated weftv1connect clients with all options
// applied, for fields and calls this package does not wrap.
//
// This package imports only the generated API and connect-go; it must not
// import any of Weft's server packages.
package weft
