package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	weftv1 "github.com/weftdb/weft/proto/gen/weft/v1"
)

func TestQueryFlags(t *testing.T) {
	filter := `{"and": {"filters": [{"eq": {"attribute": "lang", "value": {"stringValue": "en"}}}, {"range": {"attribute": "year", "gte": {"intValue": "2020"}}}]}}`
	c, err := parseQueryFlags([]string{"--namespace", "docs", "--vector", "[0.5, 1, -2]", "--top-k", "3", "--filter", filter,
		"--include-attributes", "--include-vectors", "--json", "--consistency", "eventual", "--nprobe", "4", "--ef", "40"}, new(bytes.Buffer))
	if err != nil {
		t.Fatal(err)
	}
	want := &weftv1.Filter{}
	if err := protojson.Unmarshal([]byte(filter), want); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(c.filter, want) || len(c.vector) != 3 || c.vector[2] != -2 || c.topK != 3 || !c.includeAttributes || !c.includeVectors ||
		!c.json || c.consistency != weftv1.Consistency_CONSISTENCY_EVENTUAL || c.nprobe != 4 || c.ef != 40 {
		t.Fatalf("parsed %+v", c)
	}

	// Rows of an .fvecs file, counting from 0.
	path := writeFvecs(t, 3, 2)
	c, err = parseQueryFlags([]string{"--namespace", "docs", "--vector-file", path, "--row", "2"}, new(bytes.Buffer))
	if err != nil || len(c.vector) != 2 || c.vector[0] != 200 || c.vector[1] != 201 {
		t.Fatalf("row 2: %v, %v", c.vector, err)
	}
	// ... and of an IDX file.
	var idx bytes.Buffer
	binary.Write(&idx, binary.BigEndian, []uint32{0x803, 2, 1, 2})
	idx.Write([]byte{1, 2, 3, 4})
	idxPath := filepath.Join(t.TempDir(), "t10k-images-idx3-ubyte")
	if err := os.WriteFile(idxPath, idx.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err = parseQueryFlags([]string{"--namespace", "docs", "--vector-file", idxPath, "--row", "1"}, new(bytes.Buffer))
	if err != nil || len(c.vector) != 2 || c.vector[0] != 3 || c.vector[1] != 4 {
		t.Fatalf("IDX row 1: %v, %v", c.vector, err)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--vector", "[1]"}, "--namespace is required"},
		{[]string{"--namespace", "n"}, "--vector or --vector-file is required"},
		{[]string{"--namespace", "n", "--vector", "[1]", "--vector-file", path}, "not both"},
		{[]string{"--namespace", "n", "--vector", "0.1,0.2"}, "--vector: want a JSON array"},
		{[]string{"--namespace", "n", "--vector", "[]"}, "--vector: the array is empty"},
		{[]string{"--namespace", "n", "--vector-file", path, "--row", "3"}, "--row 3 is past the last row (2)"},
		{[]string{"--namespace", "n", "--vector", "[1]", "--filter", `{"equals": {}}`}, "--filter: not a weft.v1.Filter"},
		{[]string{"--namespace", "n", "--vector", "[1]", "--top-k", "0"}, "--top-k 0"},
		{[]string{"--namespace", "n", "--vector", "[1]", "--consistency", "weak"}, `--consistency "weak"`},
	} {
		if _, err := parseQueryFlags(tc.args, new(bytes.Buffer)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.args, err, tc.want)
		}
	}

	var help bytes.Buffer
	if _, err := parseQueryFlags([]string{"--help"}, &help); !errors.Is(err, flag.ErrHelp) {
		t.Fatal(err)
	}
	for _, want := range []string{"usage: weft query", "-vector-file", "-top-k", "stringValue"} {
		if !strings.Contains(help.String(), want) {
			t.Errorf("help lacks %q", want)
		}
	}
}

func TestQueryOutput(t *testing.T) {
	f := &toolFake{}
	addr := startToolFake(t, f)
	t.Setenv("WEFT_ADDR", addr)
	ctx := context.Background()

	var out bytes.Buffer
	if err := runQuery(ctx, []string{"--namespace", "docs", "--vector", "[0.5,1]", "--top-k", "2", "--include-attributes", "--protocol", "grpc",
		"--filter", `{"exists": {"attribute": "lang"}}`}, &out, new(bytes.Buffer)); err != nil {
		t.Fatal(err)
	}
	want := `RANK  ID  DISTANCE  ATTRIBUTES
1     d0  0.5       lang="en" year=2024
2     d1  1.5       lang="en" year=2024
2 results; 9 documents scanned, 1 shards probed
`
	if out.String() != want {
		t.Fatalf("table:\n%s\nwant:\n%s", out.String(), want)
	}
	if f.lastQuery.GetFilter().GetExists().GetAttribute() != "lang" || f.lastQuery.GetConsistency() != weftv1.Consistency_CONSISTENCY_STRONG {
		t.Fatalf("request %v", f.lastQuery)
	}

	out.Reset()
	if err := runQuery(ctx, []string{"--namespace", "docs", "--vector", "[2,1]", "--top-k", "1", "--include-vectors", "--json"}, &out, new(bytes.Buffer)); err != nil {
		t.Fatal(err)
	}
	var resp weftv1.QueryResponse
	if err := protojson.Unmarshal(out.Bytes(), &resp); err != nil {
		t.Fatalf("--json printed %q: %v", out.String(), err)
	}
	if len(resp.GetResults()) != 1 || resp.GetResults()[0].GetDistance() != 2 || len(resp.GetResults()[0].GetVector()) != 2 {
		t.Fatalf("--json: %v", &resp)
	}

	err := runQuery(ctx, []string{"--namespace", "nope", "--vector", "[1]"}, new(bytes.Buffer), new(bytes.Buffer))
	if connect.CodeOf(err) != connect.CodeNotFound || !strings.Contains(err.Error(), `namespace "nope" does not exist`) {
		t.Fatalf("error %v", err)
	}
}
