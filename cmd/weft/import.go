package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"

	"github.com/weftdb/weft/internal/dataset"
	weftv1 "github.com/weftdb/weft/proto/gen/weft/v1"
	"github.com/weftdb/weft/sdk/weft"
)

// defaultAddr is the server address tools use without --addr: WEFT_ADDR,
// or weft serve's default.
func defaultAddr() string {
	if a := os.Getenv("WEFT_ADDR"); a != "" {
		return a
	}
	return "http://127.0.0.1:7600"
}

// clientFlags are the connection flags that import and query share.
type clientFlags struct {
	addr     string
	protocol string
}

func (c *clientFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.addr, "addr", defaultAddr(), "server `URL` (default from $WEFT_ADDR); http:// is assumed without a scheme")
	fs.StringVar(&c.protocol, "protocol", "connect", "RPC protocol: connect, grpc or grpcweb")
}

// client returns an SDK client for the flags, sending $WEFT_API_KEY when
// it is set.
func (c *clientFlags) client() (*weft.Client, error) {
	var opts []weft.Option
	switch c.protocol {
	case "connect":
	case "grpc":
		opts = append(opts, weft.WithGRPC())
	case "grpcweb", "grpc-web":
		opts = append(opts, weft.WithGRPCWeb())
	default:
		return nil, fmt.Errorf("--protocol %q: want connect, grpc or grpcweb", c.protocol)
	}
	if key := os.Getenv("WEFT_API_KEY"); key != "" {
		opts = append(opts, weft.WithAPIKey(key))
	}
	addr := c.addr
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	cl, err := weft.New(addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("--addr: %w", err)
	}
	return cl, nil
}

func parseMetric(s string) (weft.Metric, error) {
	switch strings.ToLower(s) {
	case "l2":
		return weft.L2, nil
	case "cosine":
		return weft.Cosine, nil
	case "dot", "ip":
		return weft.Dot, nil
	}
	return 0, fmt.Errorf("--metric %q: want l2, cosine or dot", s)
}

// usageFunc prints a command's synopsis and its flags.
func usageFunc(fs *flag.FlagSet, synopsis string) func() {
	return func() {
		fmt.Fprintf(fs.Output(), "%s\n\nflags:\n", synopsis)
		fs.PrintDefaults()
	}
}

type importConfig struct {
	clientFlags
	namespace   string
	file        string
	format      dataset.Format
	create      bool
	dim         int
	metric      weft.Metric
	batch       int
	concurrency int
	idPrefix    string
	limit       int
	array       string // of an .npz archive
	vectorCol   string // of a Parquet file
	idCol       string // of a Parquet file
}

const importSynopsis = `usage: weft import --namespace NAME --file PATH [flags]

Bulk-loads vectors or documents into a namespace, in batches sent
concurrently. Rows of .fvecs, IDX (MNIST's *-images-idx3-ubyte.gz) and
NumPy files (.npy, or an array of an .npz: float32, float64, float16 or
uint8, rows × vector size) get the ids <id-prefix><row number>, counting
from 0. Parquet files: the vector from a list column of floats or doubles
(--vector-column), the id from --id-column (or "id", else row numbers as
above), every other column of strings, numbers, booleans or string lists
as an attribute. JSON lines
({"id": …, "vector": […], "attributes": {…}}) keep their ids, and the server
assigns one to documents without. Prints one line: rows, seconds, rows/s.`

// parseImportFlags reads import's flags; -h prints help and returns
// flag.ErrHelp.
func parseImportFlags(args []string, stderr io.Writer) (importConfig, error) {
	var c importConfig
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = usageFunc(fs, importSynopsis)
	c.register(fs)
	var format, metric string
	fs.StringVar(&c.namespace, "namespace", "", "namespace to write to (required)")
	fs.StringVar(&c.file, "file", "", "`path` of the data (required); gzip is undone")
	fs.StringVar(&format, "format", "", "fvecs, idx, jsonl, npy, npz or parquet (default: from the file name; other .gz files are taken for IDX)")
	fs.StringVar(&c.array, "array", "", "the array of an .npz archive to import (default: its only one)")
	fs.StringVar(&c.vectorCol, "vector-column", "", "the Parquet column of the vectors, a list of floats or doubles (default: the only one)")
	fs.StringVar(&c.idCol, "id-column", "", `the Parquet column of the ids, strings or integers (default: "id" if there is one, else row numbers)`)
	fs.BoolVar(&c.create, "create", false, "create the namespace first (with --dim and --metric)")
	fs.IntVar(&c.dim, "dim", 0, "dimension for --create (default: the file's)")
	fs.StringVar(&metric, "metric", "l2", "metric for --create: l2, cosine or dot")
	fs.IntVar(&c.batch, "batch", 1000, "documents per upsert request (1..10000)")
	fs.IntVar(&c.concurrency, "concurrency", 8, "upsert requests in flight (group commit fills each WAL object from those waiting)")
	fs.StringVar(&c.idPrefix, "id-prefix", "", "prefix of the ids given to fvecs and IDX rows")
	fs.IntVar(&c.limit, "limit", 0, "import at most this many rows (0: all)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q (weft import -h lists the flags)", fs.Args())
	}
	var errs []error
	if c.namespace == "" {
		errs = append(errs, errors.New("--namespace is required"))
	}
	if c.file == "" {
		errs = append(errs, errors.New("--file is required"))
	} else {
		var err error
		if format != "" {
			c.format, err = dataset.ParseFormat(format)
		} else {
			c.format, err = dataset.FormatOf(c.file)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("--format: %w", err))
		} else if c.format == dataset.Ivecs {
			errs = append(errs, errors.New("--format ivecs: .ivecs files hold ids, not vectors; import an .fvecs file"))
		}
		if c.format == dataset.JSONL && c.idPrefix != "" {
			errs = append(errs, errors.New("--id-prefix applies to fvecs, IDX and NumPy rows; JSON lines carry their own ids"))
		}
		if c.array != "" && c.format != dataset.NPZ {
			errs = append(errs, errors.New("--array names an array of an .npz archive"))
		}
		if (c.vectorCol != "" || c.idCol != "") && c.format != dataset.Parquet {
			errs = append(errs, errors.New("--vector-column and --id-column name columns of a Parquet file"))
		}
	}
	m, err := parseMetric(metric)
	if err != nil {
		errs = append(errs, err)
	}
	c.metric = m
	if c.dim < 0 {
		errs = append(errs, fmt.Errorf("--dim %d: want a positive dimension", c.dim))
	}
	if c.batch < 1 || c.batch > 10000 {
		errs = append(errs, fmt.Errorf("--batch %d: want 1..10000", c.batch))
	}
	if c.concurrency < 1 {
		errs = append(errs, fmt.Errorf("--concurrency %d: want at least 1", c.concurrency))
	}
	if c.limit < 0 {
		errs = append(errs, fmt.Errorf("--limit %d: want 0 (all) or more", c.limit))
	}
	return c, errors.Join(errs...)
}

// docSource yields the documents of a data file.
type docSource struct {
	next  func() (*weftv1.Document, error) // io.EOF after the last
	file  io.Closer
	total int // rows the file holds; 0: unknown
}

// openSource opens the file for its format; vector rows get the ids
// prefix+row.
func openSource(path string, format dataset.Format, prefix, array, vectorCol, idCol string) (*docSource, error) {
	rowDoc := func(read func() ([]float32, error)) func() (*weftv1.Document, error) {
		row := 0
		return func() (*weftv1.Document, error) {
			v, err := read()
			if err != nil {
				return nil, err
			}
			d := &weftv1.Document{Id: prefix + strconv.Itoa(row), Vector: v}
			row++
			return d, nil
		}
	}
	if format == dataset.Parquet { // read in place: columns, row groups
		r, err := dataset.OpenParquet(path, vectorCol, idCol)
		if err != nil {
			return nil, err
		}
		return &docSource{file: r, next: func() (*weftv1.Document, error) { return r.Next(prefix) }, total: r.Count()}, nil
	}
	if format == dataset.NPZ { // a zip archive: read in place, not streamed
		a, err := dataset.OpenNPZ(path)
		if err != nil {
			return nil, err
		}
		r, err := a.Open(array)
		if err != nil {
			a.Close()
			return nil, err
		}
		return &docSource{file: a, next: rowDoc(r.Next), total: r.Count()}, nil
	}
	f, err := dataset.Open(path)
	if err != nil {
		return nil, err
	}
	s := &docSource{file: f}
	switch format {
	case dataset.NPY:
		r, err := dataset.NewNPYReader(f, path)
		if err != nil {
			f.Close()
			return nil, err
		}
		s.next, s.total = rowDoc(r.Next), r.Count()
	case dataset.Fvecs:
		r := dataset.NewFvecsReader(f, path)
		s.next = rowDoc(r.Next)
	case dataset.IDX:
		r, err := dataset.NewIDXReader(f, path)
		if err != nil {
			f.Close()
			return nil, err
		}
		s.next, s.total = rowDoc(r.Next), r.Count()
	case dataset.JSONL:
		r := dataset.NewJSONLReader(f, path)
		s.next = r.Next
	default:
		f.Close()
		return nil, fmt.Errorf("%s: cannot import format %s", path, format)
	}
	return s, nil
}

// runImport is `weft import`.
func runImport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := parseImportFlags(args, stderr)
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
	src, err := openSource(c.file, c.format, c.idPrefix, c.array, c.vectorCol, c.idCol)
	if err != nil {
		return err
	}
	defer src.file.Close()

	start := time.Now()
	rows, err := importDocs(ctx, cl, c, src, stderr)
	if err != nil {
		return err
	}
	secs := time.Since(start).Seconds()
	fmt.Fprintf(stdout, "imported %d rows into %s in %.2f s (%.0f rows/s)\n", rows, c.namespace, secs, float64(rows)/max(secs, 1e-9))
	return nil
}

// Progress of a long import on stderr: a line redrawn four times a second
// on a terminal, with rate and time left; otherwise one JSON line every
// progressEvery, for logs and scripts.
const (
	progressEvery     = 5 * time.Second
	progressEveryTerm = 250 * time.Millisecond
)

// progressReport is one report of a running import.
type progressReport struct {
	Acked   int64   `json:"rows_acknowledged"`
	Total   int     `json:"rows_total,omitempty"`
	Rate    float64 `json:"rows_per_second"`
	ETASecs float64 `json:"eta_seconds,omitempty"`
}

func newProgressReport(acked int64, total int, elapsed time.Duration) progressReport {
	r := progressReport{Acked: acked, Total: total, Rate: float64(acked) / max(elapsed.Seconds(), 1e-9)}
	if total > 0 && r.Rate > 0 {
		r.ETASecs = math.Round(float64(int64(total)-acked)/r.Rate*10) / 10
	}
	return r
}

// line is the report as a terminal shows it.
func (r progressReport) line() string {
	s := fmt.Sprintf("import: %d rows acknowledged, %.0f rows/s", r.Acked, r.Rate)
	if r.Total > 0 {
		s = fmt.Sprintf("import: %d / %d rows (%.0f %%), %.0f rows/s, %s left", r.Acked, r.Total, 100*float64(r.Acked)/float64(r.Total), r.Rate, time.Duration(r.ETASecs*float64(time.Second)).Round(time.Second))
	}
	return s
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// importDocs sends the source's documents in batches over c.concurrency
// requests in flight, stopping at the first error, which it returns.
func importDocs(ctx context.Context, cl *weft.Client, c importConfig, src *docSource, progress io.Writer) (int, error) {
	// The first document fixes the dimension that --create uses.
	first, err := src.next()
	if err == io.EOF {
		return 0, fmt.Errorf("%s: no rows to import", c.file)
	}
	if err != nil {
		return 0, err
	}
	if c.create {
		dim := c.dim
		if dim == 0 {
			dim = len(first.GetVector())
		}
		if _, err := cl.CreateNamespace(ctx, c.namespace, dim, c.metric); err != nil {
			if connect.CodeOf(err) == connect.CodeAlreadyExists {
				return 0, fmt.Errorf("create namespace %s: %w (leave out --create to add to it)", c.namespace, err)
			}
			return 0, fmt.Errorf("create namespace %s: %w", c.namespace, err)
		}
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	ns := cl.Namespace(c.namespace)
	type batch struct {
		start int // index of the batch's first row
		docs  []*weft.Document
	}
	batches := make(chan batch, c.concurrency)
	var wg sync.WaitGroup
	var acked atomic.Int64
	start := time.Now()
	total := src.total
	if c.limit > 0 && (total == 0 || c.limit < total) {
		total = c.limit
	}
	term := isTerminal(progress)
	every := progressEvery
	if term {
		every = progressEveryTerm
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	stopProgress, progressDone := make(chan struct{}), make(chan struct{})
	defer func() { close(stopProgress); <-progressDone }()
	go func() {
		defer close(progressDone)
		for {
			select {
			case <-tick.C:
				r := newProgressReport(acked.Load(), total, time.Since(start))
				if term {
					fmt.Fprintf(progress, "\r\033[K%s", r.line())
					continue
				}
				b, _ := json.Marshal(r)
				fmt.Fprintf(progress, "%s\n", b)
			case <-stopProgress:
				if term {
					fmt.Fprint(progress, "\r\033[K")
				}
				return
			}
		}
	}()
	for range c.concurrency {
		wg.Go(func() {
			for b := range batches {
				if ctx.Err() != nil {
					continue // drain after a failure
				}
				if _, err := ns.Upsert(ctx, b.docs...); err != nil {
					cancel(fmt.Errorf("upsert rows %d..%d: %w", b.start, b.start+len(b.docs)-1, err))
					continue
				}
				acked.Add(int64(len(b.docs)))
			}
		})
	}

	rows := 0
	readErr := func() error {
		defer close(batches)
		cur := batch{docs: make([]*weft.Document, 0, c.batch)}
		for d := first; ; {
			cur.docs = append(cur.docs, d)
			rows++
			if len(cur.docs) == c.batch {
				select {
				case batches <- cur:
				case <-ctx.Done():
					return nil
				}
				cur = batch{start: rows, docs: make([]*weft.Document, 0, c.batch)}
			}
			if c.limit > 0 && rows == c.limit {
				break
			}
			var err error
			if d, err = src.next(); err == io.EOF {
				break
			} else if err != nil {
				return err
			}
		}
		if len(cur.docs) > 0 {
			select {
			case batches <- cur:
			case <-ctx.Done():
			}
		}
		return nil
	}()
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return 0, err
	}
	if readErr != nil {
		return 0, readErr
	}
	return rows, nil
}
