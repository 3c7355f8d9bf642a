package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	weftv1 "github.com/weftdb/weft/proto/gen/weft/v1"
	"github.com/weftdb/weft/proto/gen/weft/v1/weftv1connect"
)

// Abuse: a filter past the cost limit, a 64 MiB query, and 1,000 clients
// that open a connection and stall in their headers. Each gets a clear
// error or is cut off, and the server keeps answering a well-behaved
// client throughout.
func TestServeAbuse(t *testing.T) {
	ctx := context.Background()
	p := startServe(t, t.TempDir(), "--http.read-header-timeout", "1s")
	hc := &http.Client{Timeout: 10 * time.Second}
	nsc := weftv1connect.NewNamespaceServiceClient(hc, p.addr)
	if _, err := nsc.CreateNamespace(ctx, connect.NewRequest(&weftv1.CreateNamespaceRequest{Namespace: &weftv1.Namespace{Name: "a", Dimension: 2, Metric: weftv1.Metric_METRIC_L2}})); err != nil {
		t.Fatal(err)
	}
	docs := weftv1connect.NewDocumentServiceClient(hc, p.addr)
	batch := make([]*weftv1.Document, 1000)
	for i := range batch {
		batch[i] = &weftv1.Document{Id: fmt.Sprint(i), Vector: []float32{float32(i), 1},
			Attributes: map[string]*weftv1.AttributeValue{"n": {Kind: &weftv1.AttributeValue_IntValue{IntValue: int64(i)}}}}
	}
	if _, err := docs.Upsert(ctx, connect.NewRequest(&weftv1.UpsertRequest{Namespace: "a", Documents: batch})); err != nil {
		t.Fatal(err)
	}
	qc := weftv1connect.NewQueryServiceClient(hc, p.addr)
	healthy := func(what string) {
		t.Helper()
		start := time.Now()
		resp, err := qc.Query(ctx, connect.NewRequest(&weftv1.QueryRequest{Namespace: "a", Vector: []float32{3, 1}, TopK: 1}))
		if err != nil || resp.Msg.GetResults()[0].GetId() != "3" {
			t.Fatalf("%s: a well-behaved query: %v, %v", what, resp, err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("%s: a well-behaved query took %v", what, d)
		}
	}

	// Filters: the most costly accepted (8 in-operators of 1,024 values)
	// answers; one value more is refused, saying why.
	in := func(n int) *weftv1.Filter {
		vals := make([]*weftv1.AttributeValue, 1024)
		for i := range vals {
			vals[i] = &weftv1.AttributeValue{Kind: &weftv1.AttributeValue_IntValue{IntValue: int64(n*1024 + i)}}
		}
		return &weftv1.Filter{Op: &weftv1.Filter_In{In: &weftv1.InFilter{Attribute: "n", Values: vals}}}
	}
	or := func(n int) *weftv1.Filter {
		var fs []*weftv1.Filter
		for i := range n {
			fs = append(fs, in(i))
		}
		return &weftv1.Filter{Op: &weftv1.Filter_Or{Or: &weftv1.FilterList{Filters: fs}}}
	}
	start := time.Now()
	resp, err := qc.Query(ctx, connect.NewRequest(&weftv1.QueryRequest{Namespace: "a", Vector: []float32{3, 1}, TopK: 5, Filter: or(8)}))
	if err != nil || len(resp.Msg.GetResults()) != 5 {
		t.Fatalf("the costliest accepted filter: %v, %v", resp, err)
	}
	t.Logf("the costliest accepted filter answered in %v", time.Since(start))
	_, err = qc.Query(ctx, connect.NewRequest(&weftv1.QueryRequest{Namespace: "a", Vector: []float32{3, 1}, TopK: 5, Filter: or(9)}))
	if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), "more than 8192 values") {
		t.Fatalf("a filter past the cost limit: %v", err)
	}

	// A 64 MiB query body: refused before it is read.
	body := bytes.Repeat([]byte{0}, 64<<20)
	req, _ := http.NewRequest("POST", p.addr+"/weft.v1.QueryService/Query", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/proto")
	start = time.Now()
	r, err := hc.Do(req)
	if err == nil {
		var msg bytes.Buffer
		msg.ReadFrom(r.Body)
		r.Body.Close()
		if r.StatusCode != http.StatusTooManyRequests || !strings.Contains(msg.String(), "resource_exhausted") {
			t.Fatalf("a 64 MiB query: %d %s", r.StatusCode, msg.String())
		}
	} // or the server cut the upload off: also a refusal
	t.Logf("a 64 MiB query was refused after %v (err %v)", time.Since(start), err)
	healthy("after the big body")

	// 1,000 slow clients stall in their headers.
	const slow = 1000
	host := strings.TrimPrefix(p.addr, "http://")
	conns := make([]net.Conn, 0, slow)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range slow {
		c, err := net.DialTimeout("tcp", host, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write([]byte("POST /weft.v1.QueryService/Query HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n")); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	healthy("with 1,000 slow clients connected")
	// The server cuts each off once its headers are late (1 s here).
	var wg sync.WaitGroup
	cut := make(chan time.Duration, slow)
	for _, c := range conns {
		wg.Go(func() {
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			start := time.Now()
			var b [512]byte
			for {
				if _, err := c.Read(b[:]); err != nil {
					cut <- time.Since(start)
					return
				}
			}
		})
	}
	wg.Wait()
	close(cut)
	var longest time.Duration
	for d := range cut {
		longest = max(longest, d)
	}
	if longest > 5*time.Second {
		t.Fatalf("a slow client was still connected after %v", longest)
	}
	t.Logf("1,000 slow clients cut off within %v", longest)
	healthy("after the slow clients")
}
