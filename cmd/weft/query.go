package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/weftdb/weft/internal/dataset"
	weftv1 "github.com/weftdb/weft/proto/gen/weft/v1"
	"github.com/weftdb/weft/sdk/weft"
)

type queryConfig struct {
	clientFlags
	namespace         string
	vector            []float32
	topK              int
	filter            *weftv1.Filter
	includeAttributes bool
	includeVectors    bool
	json              bool
	consistency       weftv1.Consistency
	nprobe, ef        int
}

const querySynopsis = `usage: weft query --namespace NAME (--vector '[0.1,0.2,…]' | --vector-file F --row N) [flags]

Searches a namespace for the nearest neighbours of one vector and prints
them nearest first, as a table (rank, id, distance) or, with --json, as the
weft.v1.QueryResponse in protobuf JSON. --filter takes a weft.v1.Filter in
protobuf JSON, e.g.
  '{"and": {"filters": [{"eq": {"attribute": "lang", "value": {"stringValue": "en"}}},
                        {"range": {"attribute": "year", "gte": {"intValue": "2020"}}}]}}'`

// parseQueryFlags reads query's flags and the query vector; -h prints help
// and returns flag.ErrHelp.
func parseQueryFlags(args []string, stderr io.Writer) (queryConfig, error) {
	var c queryConfig
	fs := flag.NewFlagSet("query", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = usageFunc(fs, querySynopsis)
	c.register(fs)
	var vector, vectorFile, filter, consistency string
	var row int
	fs.StringVar(&c.namespace, "namespace", "", "namespace to search (required)")
	fs.StringVar(&vector, "vector", "", "the query vector as a JSON array")
	fs.StringVar(&vectorFile, "vector-file", "", "read the query vector from this .fvecs or IDX `file` (with --row)")
	fs.IntVar(&row, "row", 0, "row of --vector-file, counting from 0")
	fs.IntVar(&c.topK, "top-k", 10, "results to return (1..1000)")
	fs.StringVar(&filter, "filter", "", "only documents that match this weft.v1.Filter (protobuf `JSON`)")
	fs.BoolVar(&c.includeAttributes, "include-attributes", false, "print each result's attributes")
	fs.BoolVar(&c.includeVectors, "include-vectors", false, "print each result's vector")
	fs.BoolVar(&c.json, "json", false, "print the whole response as protobuf JSON")
	fs.StringVar(&consistency, "consistency", "strong", "strong (see every acknowledged write) or eventual (indexed data only)")
	fs.IntVar(&c.nprobe, "nprobe", 0, "IVF lists probed (0: the namespace's default)")
	fs.IntVar(&c.ef, "ef", 0, "HNSW candidate list size (0: the namespace's default)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q (weft query -h lists the flags)", fs.Args())
	}
	var errs []error
	if c.namespace == "" {
		errs = append(errs, errors.New("--namespace is required"))
	}
	switch {
	case vector != "" && vectorFile != "":
		errs = append(errs, errors.New("give --vector or --vector-file, not both"))
	case vector != "":
		if err := json.Unmarshal([]byte(vector), &c.vector); err != nil {
			errs = append(errs, fmt.Errorf("--vector: want a JSON array of numbers such as [0.1,0.2]: %w", err))
		} else if len(c.vector) == 0 {
			errs = append(errs, errors.New("--vector: the array is empty"))
		}
	case vectorFile != "":
		v, err := readRow(vectorFile, row)
		if err != nil {
			errs = append(errs, fmt.Errorf("--vector-file: %w", err))
		}
		c.vector = v
	default:
		errs = append(errs, errors.New("--vector or --vector-file is required"))
	}
	if filter != "" {
		c.filter = &weftv1.Filter{}
		if err := protojson.Unmarshal([]byte(filter), c.filter); err != nil {
			errs = append(errs, fmt.Errorf("--filter: not a weft.v1.Filter in protobuf JSON: %w", err))
		}
	}
	switch strings.ToLower(consistency) {
	case "strong":
		c.consistency = weft.Strong
	case "eventual":
		c.consistency = weft.Eventual
	default:
		errs = append(errs, fmt.Errorf("--consistency %q: want strong or eventual", consistency))
	}
	if c.topK < 1 || c.topK > 1000 {
		errs = append(errs, fmt.Errorf("--top-k %d: want 1..1000", c.topK))
	}
	if c.nprobe < 0 || c.ef < 0 {
		errs = append(errs, errors.New("--nprobe and --ef: want 0 or more"))
	}
	return c, errors.Join(errs...)
}

// readRow returns row n (from 0) of an .fvecs or IDX file.
func readRow(path string, n int) ([]float32, error) {
	if n < 0 {
		return nil, fmt.Errorf("--row %d: rows count from 0", n)
	}
	format, err := dataset.FormatOf(path)
	if err != nil {
		return nil, err
	}
	f, err := dataset.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var next func() ([]float32, error)
	switch format {
	case dataset.Fvecs:
		next = dataset.NewFvecsReader(f, path).Next
	case dataset.IDX:
		r, err := dataset.NewIDXReader(f, path)
		if err != nil {
			return nil, err
		}
		next = r.Next
	default:
		return nil, fmt.Errorf("%s: query vectors come from .fvecs or IDX files, not %s", path, format)
	}
	for i := 0; ; i++ {
		v, err := next()
		if err == io.EOF {
			return nil, fmt.Errorf("%s: --row %d is past the last row (%d)", path, n, i-1)
		}
		if err != nil {
			return nil, err
		}
		if i == n {
			return v, nil
		}
	}
}

// runQuery is `weft query`.
func runQuery(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := parseQueryFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	defer cl.Close()
	opts := []weft.QueryOption{weft.Consistency(c.consistency)}
	if c.filter != nil {
		opts = append(opts, weft.Filter(c.filter))
	}
	if c.includeAttributes {
		opts = append(opts, weft.IncludeAttributes())
	}
	if c.includeVectors {
		opts = append(opts, weft.IncludeVectors())
	}
	if c.nprobe > 0 || c.ef > 0 {
		opts = append(opts, weft.Search(c.nprobe, c.ef))
	}
	resp, err := cl.Namespace(c.namespace).Query(ctx, c.vector, c.topK, opts...)
	if err != nil {
		return fmt.Errorf("query %s: %w", c.namespace, err)
	}
	if c.json {
		out, err := protojson.MarshalOptions{Multiline: true}.Marshal(resp)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "%s\n", out)
		return err
	}
	return printResults(stdout, resp, c.includeAttributes, c.includeVectors)
}

// printResults writes the results as an aligned table.
func printResults(w io.Writer, resp *weftv1.QueryResponse, attrs, vectors bool) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	header := "RANK\tID\tDISTANCE"
	if attrs {
		header += "\tATTRIBUTES"
	}
	if vectors {
		header += "\tVECTOR"
	}
	fmt.Fprintln(tw, header)
	for i, r := range resp.GetResults() {
		line := fmt.Sprintf("%d\t%s\t%s", i+1, r.GetId(), strconv.FormatFloat(float64(r.GetDistance()), 'g', 7, 32))
		if attrs {
			line += "\t" + formatAttributes(r.GetAttributes())
		}
		if vectors {
			line += "\t" + formatVector(r.GetVector())
		}
		fmt.Fprintln(tw, line)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	s := resp.GetStats()
	_, err := fmt.Fprintf(w, "%d results; %d documents scanned, %d shards probed\n", len(resp.GetResults()), s.GetDocumentsScanned(), s.GetShardsProbed())
	return err
}

// formatAttributes writes attributes as k=v pairs in name order.
func formatAttributes(m map[string]*weftv1.AttributeValue) string {
	parts := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, k+"="+formatValue(m[k]))
	}
	return strings.Join(parts, " ")
}

func formatValue(v *weftv1.AttributeValue) string {
	switch k := v.GetKind().(type) {
	case *weftv1.AttributeValue_StringValue:
		return strconv.Quote(k.StringValue)
	case *weftv1.AttributeValue_IntValue:
		return strconv.FormatInt(k.IntValue, 10)
	case *weftv1.AttributeValue_FloatValue:
		return strconv.FormatFloat(k.FloatValue, 'g', -1, 64)
	case *weftv1.AttributeValue_BoolValue:
		return strconv.FormatBool(k.BoolValue)
	case *weftv1.AttributeValue_StringListValue:
		q := make([]string, len(k.StringListValue.GetValues()))
		for i, s := range k.StringListValue.GetValues() {
			q[i] = strconv.Quote(s)
		}
		return "[" + strings.Join(q, ",") + "]"
	}
	return "?"
}

func formatVector(v []float32) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = strconv.FormatFloat(float64(x), 'g', -1, 32)
	}
	return "[" + strings.Join(parts, ",") + "]"
}
