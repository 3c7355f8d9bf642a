package weft_test

import (
	"context"
	"fmt"
	"log"

	"connectrpc.com/connect"

	"github.com/weftdb/weft/sdk/weft"
)

// The examples talk to a server on Weft's default address (start one with
// `weft serve`); they compile in tests but do not run.
const addr = "http://127.0.0.1:7600"

func ExampleNew() {
	c, err := weft.New(addr,
		weft.WithGRPC(), // or WithGRPCWeb(); Connect is the default
		weft.WithHeader("Authorization", "Bearer my-token"))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	names, err := c.ListNamespaces(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	for _, ns := range names {
		fmt.Println(ns.GetName(), ns.GetDimension(), ns.GetMetric())
	}
}

func ExampleClient_CreateNamespace() {
	c, err := weft.New(addr)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ns, err := c.CreateNamespace(context.Background(), "articles", 384, weft.Cosine,
		weft.WithAttribute("lang", weft.TypeString),
		weft.WithAttribute("year", weft.TypeInt),
		weft.WithShardKey("tenant_id"))
	if connect.CodeOf(err) == connect.CodeAlreadyExists {
		fmt.Println("articles exists already")
		return
	}
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("created", ns.GetName())
}

func ExampleNamespace_Upsert() {
	c, err := weft.New(addr)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	resp, err := c.Namespace("articles").Upsert(context.Background(),
		weft.Doc("a1", []float32{0.1, 0.2, 0.3}, weft.Attributes{
			"lang":   weft.String("en"),
			"year":   weft.Int(2024),
			"rating": weft.Float(4.5),
			"public": weft.Bool(true),
			"tags":   weft.Strings("go", "databases"),
		}),
		// No id: the server assigns a UUIDv7 and returns it.
		weft.Doc("", []float32{0.3, 0.2, 0.1}, nil))
	if connect.CodeOf(err) == connect.CodeInvalidArgument {
		log.Fatalf("fix the documents: %v", err)
	}
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("stored", resp.GetIds(), "in WAL entry", resp.GetWalSequence())
}

func ExampleNamespace_Query() {
	c, err := weft.New(addr)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	resp, err := c.Namespace("articles").Query(context.Background(), []float32{0.1, 0.2, 0.25}, 10,
		weft.Filter(weft.Eq("lang", weft.String("en"))),
		weft.IncludeAttributes(),
		weft.Search(8, 64))
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range resp.GetResults() {
		fmt.Printf("%s %.4f %s\n", r.GetId(), r.GetDistance(), r.GetAttributes()["lang"].GetStringValue())
	}
}

// Filters nest; each constructor builds one node of the weft.v1.Filter tree.
func ExampleAnd() {
	recentEnglish := weft.And(
		weft.In("lang", weft.String("en"), weft.String("en-GB")),
		weft.Range("year", weft.Bounds{Gte: weft.Int(2020), Lt: weft.Int(2025)}),
		weft.Or(weft.Gt("rating", weft.Float(4)), weft.Eq("tags", weft.String("featured"))),
		weft.Not(weft.Exists("retracted")),
	)
	c, err := weft.New(addr)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ns := c.Namespace("articles")
	resp, err := ns.Query(context.Background(), []float32{0.1, 0.2, 0.25}, 5, weft.Filter(recentEnglish))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(resp.GetResults()), "matches")
	// The same filters delete.
	if _, err := ns.DeleteWhere(context.Background(), weft.Lt("year", weft.Int(2000))); err != nil {
		log.Fatal(err)
	}
}
