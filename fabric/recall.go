package fabric

import (
	"math"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/weftdb/weft/index/topk"
	weftv1 "github.com/weftdb/weft/proto/gen/weft/v1"
	"github.com/weftdb/weft/workers"
)

// Sampled recall: a share of approximate queries is re-run exactly in the
// background, over the same state (the job is dropped if the namespace
// changed meanwhile) and with the same filter, and the answer's recall@k
// against the exact one feeds weft_recall_sampled and the namespace's
// figure in GetNamespace. One goroutine re-runs them, sleeping after each
// so that it takes at most RecallSampleCPU of one core; what it cannot
// take while busy is dropped and counted, never queued without bound.

// recallWindow is how many recent samples a namespace's figure is over.
const recallWindow = 1000

// recallJob is one sampled query.
type recallJob struct {
	ns      *namespace
	st      *workers.State
	changes uint64 // st.Changes when the query ran
	q       []float32
	k       int
	allow   workers.AllowFunc
	tail    bool
	got     []topk.Result // the approximate candidates, nearest first, at most k
	shape   [2]string     // filtered, plugins: "true" or "false"
}

// recallSampler re-runs sampled queries.
type recallSampler struct {
	share float64 // of queries sampled
	cpu   float64 // of one core the re-runs may take
	jobs  chan recallJob
}

// recallSamples is a namespace's recent samples.
type recallSamples struct {
	mu      sync.Mutex
	ring    []float64
	next    int
	skipped uint64
}

func (r *recallSamples) add(x float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.ring) < recallWindow {
		r.ring = append(r.ring, x)
		return
	}
	r.ring[r.next] = x
	r.next = (r.next + 1) % recallWindow
}

func (r *recallSamples) skip() {
	r.mu.Lock()
	r.skipped++
	r.mu.Unlock()
}

// stats returns the figure GetNamespace reports; nil before any sample.
func (r *recallSamples) stats() *weftv1.SampledRecall {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := len(r.ring)
	if n == 0 {
		if r.skipped == 0 {
			return nil
		}
		return &weftv1.SampledRecall{Skipped: r.skipped}
	}
	var sum, sq float64
	for _, x := range r.ring {
		sum += x
	}
	mean := sum / float64(n)
	for _, x := range r.ring {
		sq += (x - mean) * (x - mean)
	}
	half := 0.0
	if n > 1 {
		half = 1.96 * math.Sqrt(sq/float64(n-1)) / math.Sqrt(float64(n))
	}
	return &weftv1.SampledRecall{
		Recall: mean, IntervalLow: max(0, mean-half), IntervalHigh: min(1, mean+half),
		Samples: uint32(n), Skipped: r.skipped,
	}
}

// sample hands a query to the sampler with probability share; the caller
// holds st's read lock, and got is copied.
func (s *Server) sample(j recallJob) {
	r := s.recall
	if r == nil || rand.Float64() >= r.share {
		return
	}
	j.got = append([]topk.Result(nil), j.got[:min(len(j.got), j.k)]...)
	j.q = append([]float32(nil), j.q...)
	select {
	case r.jobs <- j:
	default:
		j.ns.recall.skip()
		s.metrics.recallSkipped.Inc()
	}
}

// runRecallSampler re-runs sampled queries until the server closes.
func (s *Server) runRecallSampler() {
	r := s.recall
	for {
		select {
		case <-s.ctx.Done():
			return
		case j := <-r.jobs:
			start := time.Now()
			if !s.resample(j) {
				j.ns.recall.skip()
				s.metrics.recallSkipped.Inc()
				continue
			}
			// At most cpu of one core: rest (1−cpu)/cpu times the work.
			rest := time.Duration(float64(time.Since(start)) * (1 - r.cpu) / r.cpu)
			select {
			case <-s.ctx.Done():
				return
			case <-time.After(rest):
			}
		}
	}
}

// resample runs j exactly and records its recall; false when the
// namespace changed since the query (the answer then is not comparable).
func (s *Server) resample(j recallJob) bool {
	j.st.RLock()
	defer j.st.RUnlock()
	if j.ns.state() != j.st || j.st.Changes != j.changes {
		return false
	}
	exact := j.st.Search(j.q, j.k, j.allow, workers.SearchOptions{Exact: true, Tail: j.tail, Ef: j.k})
	x := recallOf(j.got, exact.Hits)
	j.ns.recall.add(x)
	s.metrics.recallSampled.WithLabelValues(j.ns.name, j.shape[0], j.shape[1]).Observe(x)
	return true
}

// recallOf is recall@k of got against exact, both nearest first: the share
// of the exact results matched, counting a result of got as a match when
// it is as near as the last exact one (so ties count), as `weft bench`
// measures against ground truth.
func recallOf(got, exact []topk.Result) float64 {
	if len(exact) == 0 {
		return 1
	}
	kth := exact[len(exact)-1].Dist
	tol := kth + 1e-5*float32(math.Abs(float64(kth))) + 1e-6
	found := 0
	for _, r := range got[:min(len(got), len(exact))] {
		if r.Dist <= tol {
			found++
		}
	}
	return float64(found) / float64(len(exact))
}

func boolLabel(b bool) string { return strconv.FormatBool(b) }
