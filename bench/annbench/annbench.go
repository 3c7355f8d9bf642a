package annbench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// options holds `--name value` pairs and remembers which ones were read, so
// a misspelt or foreign option is an error, as in annpeer.
type options struct {
	values map[string]string
	read   map[string]bool
}

func parseOptions(args []string) (*options, string, error) {
	o := &options{values: map[string]string{}, read: map[string]bool{}}
	engine := ""
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		engine, args = args[0], args[1:]
	}
	for i := 0; i < len(args); i += 2 {
		name := args[i]
		if !strings.HasPrefix(name, "--") || i+1 >= len(args) {
			return nil, "", fmt.Errorf("expected --option value, got %q", name)
		}
		name = strings.TrimPrefix(name, "--")
		if k, v, ok := strings.Cut(name, "="); ok {
			o.values[k] = v
			i--
			continue
		}
		o.values[name] = args[i+1]
	}
	return o, engine, nil
}

func (o *options) str(name, def string) string {
	o.read[name] = true
	if v, ok := o.values[name]; ok {
		return v
	}
	return def
}

func (o *options) num(name string, def int) (int, error) {
	s := o.str(name, strconv.Itoa(def))
	v, err := strconv.Atoi(s)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("--%s: not a number: %s", name, s)
	}
	return v, nil
}

func (o *options) list(name, def string) ([]int, error) {
	var out []int
	for item := range strings.SplitSeq(o.str(name, def), ",") {
		v, err := strconv.Atoi(strings.TrimSpace(item))
		if err != nil || v < 0 {
			return nil, fmt.Errorf("--%s: not a number: %s", name, item)
		}
		out = append(out, v)
	}
	return out, nil
}

func (o *options) floats(name, def string) ([]float64, error) {
	var out []float64
	for item := range strings.SplitSeq(o.str(name, def), ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(item), 64)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("--%s: not a positive number: %s", name, item)
		}
		out = append(out, v)
	}
	return out, nil
}

func (o *options) checkAllRead() error {
	var unknown []string
	for name := range o.values {
		if !o.read[name] {
			unknown = append(unknown, "--"+name)
		}
	}
	slices.Sort(unknown)
	if len(unknown) > 0 {
		return fmt.Errorf("unknown option %s for this engine", strings.Join(unknown, ", "))
	}
	return nil
}

// param is one named integer parameter, printed in order.
type param struct {
	name string
	v    int
}

// engine is an index under test: built once, then searched with each setting.
type engine interface {
	buildParams() []param
	settings() [][]param
	build(ctx context.Context, ds *dataset, threads int) error
	indexBytes() int64
	// codeBytesPerVector is the resident compressed bytes per vector, or 0
	// for an uncompressed index.
	codeBytesPerVector() float64
	configure(setting []param, k int)
	// search answers query qi; out has room for k ids.
	search(qi int, q []float32, k int, out []int64)
	// truth returns the k-th true distance for query qi under the current
	// setting; nil means the dataset's distances.fvecs.
	truth() func(qi, k int) float64
}

// noter is an engine with something to add on stderr after each setting.
type noter interface{ note() string }

// Run implements `weft bench ann`; args are what follows `ann`. It prints
// one JSON line per search setting on stdout and progress on stderr.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, engName, err := parseOptions(args)
	if err != nil {
		return err
	}
	if engName == "" {
		engName = o.str("engine", "")
	}
	if engName == "" {
		engName = "weft-" + o.str("index", "hnsw")
	} else {
		o.str("index", "")
	}
	dir := o.str("data", "")
	if dir == "" {
		return errors.New("--data DIR is required (a folder made by scripts/dataset.py NAME)")
	}
	k, err := o.num("k", 10)
	if err != nil {
		return err
	}
	buildThreads, err := o.num("build-threads", runtime.NumCPU())
	if err != nil {
		return err
	}
	searchThreads, err := o.num("search-threads", 1)
	if err != nil {
		return err
	}
	runs, err := o.num("runs", 1)
	if err != nil {
		return err
	}
	nqOpt, err := o.num("queries", 1<<30)
	if err != nil {
		return err
	}
	eng, err := newEngine(engName, o)
	if err != nil {
		return err
	}
	if err := o.checkAllRead(); err != nil {
		return err
	}
	ds, err := loadDataset(dir)
	if err != nil {
		return err
	}
	nq := min(ds.nq, nqOpt)
	if k < 1 || k > ds.gtK {
		return fmt.Errorf("--k must be in 1..%d", ds.gtK)
	}
	if buildThreads < 1 || searchThreads < 1 || runs < 1 || nq < 1 {
		return errors.New("--build-threads, --search-threads, --runs and --queries must be positive")
	}
	fmt.Fprintf(stderr, "weft bench ann: %s on %s (%d x %d, %s), %d build threads\n",
		engName, ds.name, ds.nb, ds.dim, ds.metric, buildThreads)
	prev := runtime.GOMAXPROCS(0)
	start := time.Now()
	if err := eng.build(ctx, ds, buildThreads); err != nil {
		return fmt.Errorf("build %s: %w", engName, err)
	}
	buildS := time.Since(start).Seconds()
	runtime.GOMAXPROCS(prev)
	bytes := eng.indexBytes()
	fmt.Fprintf(stderr, "weft bench ann: built in %.1fs, %d bytes serialized\n", buildS, bytes)

	for _, setting := range eng.settings() {
		if err := ctx.Err(); err != nil {
			return err
		}
		eng.configure(setting, k)
		var measured []runResult
		for range runs {
			runtime.GC()
			measured = append(measured, runQueries(eng, ds, nq, k, searchThreads))
		}
		slices.SortFunc(measured, func(a, b runResult) int {
			switch {
			case a.qps < b.qps:
				return -1
			case a.qps > b.qps:
				return 1
			}
			return 0
		})
		m := measured[len(measured)/2]
		busy := ""
		if m.cpuShare < 0.9 {
			busy = ": a busy machine, so QPS is low"
		}
		fmt.Fprintf(stderr, "weft bench ann: %s recall %.4f, %.0f QPS, search threads on a CPU %.0f%% of the time%s\n",
			jsonParams(nil, setting), m.recall, m.qps, 100*m.cpuShare, busy)
		if n, ok := eng.(noter); ok {
			fmt.Fprintf(stderr, "weft bench ann: %s %s\n", jsonParams(nil, setting), n.note())
		}
		line := fmt.Sprintf(`{"engine":%q,"dataset":%q,"params":%s,"k":%d,"recall":%.4f,"qps":%.1f,"p50_us":%.1f,"p99_us":%.1f,"build_s":%.2f,"build_threads":%d,"search_threads":%d,"index_bytes":%d,"bytes_per_vector":%.1f`,
			engName, ds.name, jsonParams(eng.buildParams(), setting), k, m.recall, m.qps, m.p50us, m.p99us,
			buildS, buildThreads, searchThreads, bytes, float64(bytes)/float64(ds.nb))
		if c := eng.codeBytesPerVector(); c > 0 {
			line += fmt.Sprintf(`,"code_bytes_per_vector":%.1f`, c)
		}
		if _, err := fmt.Fprintln(stdout, line+"}"); err != nil {
			return err
		}
	}
	return nil
}

func jsonParams(a, b []param) string {
	var sb strings.Builder
	sb.WriteByte('{')
	for _, ps := range [][]param{a, b} {
		for _, p := range ps {
			if sb.Len() > 1 {
				sb.WriteByte(',')
			}
			fmt.Fprintf(&sb, "%q:%d", p.name, p.v)
		}
	}
	sb.WriteByte('}')
	return sb.String()
}

type runResult struct {
	qps, p50us, p99us, recall, cpuShare float64
	shards                              float64 // mean shards probed per query (weft bench query)
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

func runQueries(eng engine, ds *dataset, nq, k, threads int) runResult {
	ids := make([]int64, nq*k)
	for i := range ids {
		ids[i] = -1
	}
	lat := make([]float64, nq)
	var next atomic.Int64
	cpu := cpuSeconds()
	start := time.Now()
	var wg sync.WaitGroup
	for range threads {
		wg.Go(func() {
			for {
				qi := int(next.Add(1) - 1)
				if qi >= nq {
					return
				}
				t := time.Now()
				eng.search(qi, ds.query[qi*ds.dim:(qi+1)*ds.dim], k, ids[qi*k:(qi+1)*k])
				lat[qi] = float64(time.Since(t).Nanoseconds()) / 1e3
			}
		})
	}
	wg.Wait()
	wall := time.Since(start).Seconds()
	cpu = cpuSeconds() - cpu

	kth := func(qi int) float64 { return float64(ds.gtDist[qi*ds.gtK+k-1]) }
	if truth := eng.truth(); truth != nil {
		kth = func(qi int) float64 { return truth(qi, k) }
	}
	r := ds.summarize(ids, lat, k, kth, wall)
	r.cpuShare = cpu / (wall * float64(threads))
	return r
}

// summarize scores the answers ids (k per query) against the k-th true
// distances and the latencies lat (µs, one per query, sorted in place) of
// a pass that took wall seconds.
func (ds *dataset) summarize(ids []int64, lat []float64, k int, kth func(qi int) float64, wall float64) runResult {
	nq := len(lat)
	var recall float64
	for qi := range nq {
		recall += ds.recall(qi, ids[qi*k:(qi+1)*k], k, kth(qi))
	}
	slices.Sort(lat)
	pct := func(p float64) float64 { return lat[min(nq-1, int(p*float64(nq)))] }
	return runResult{qps: float64(nq) / wall, p50us: pct(0.5), p99us: pct(0.99), recall: recall / float64(nq)}
}
