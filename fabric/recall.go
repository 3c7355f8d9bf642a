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

// Recall alarms: a namespace's alarm fires when the upper end of the 95 %
// interval of its last alarmWindow samples (at least alarmMinSamples) is
// below its target, and clears when it no longer is.
const (
	alarmWindow     = 100
	alarmMinSamples = 30
)

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
	alarm float64 // the target of namespaces without a default recall_target
	jobs  chan recallJob
}

// recallSamples is a namespace's recent samples.
type recallSamples struct {
	mu      sync.Mutex
	ring    []float64
	next    int // where the next sample goes once ring is full
	skipped uint64
	firing  bool // the alarm
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

// recent returns the last n samples (all when fewer), oldest first.
func (r *recallSamples) recent(n int) []float64 {
	out := make([]float64, 0, min(n, len(r.ring)))
	for i := max(0, len(r.ring)-n); i < len(r.ring); i++ {
		out = append(out, r.ring[(r.next+i)%len(r.ring)])
	}
	return out
}

// meanInterval returns the mean of xs and a 95 % confidence interval.
func meanInterval(xs []float64) (mean, lo, hi float64) {
	n := float64(len(xs))
	var sum, sq float64
	for _, x := range xs {
		sum += x
	}
	mean = sum / n
	for _, x := range xs {
		sq += (x - mean) * (x - mean)
	}
	half := 0.0
	if len(xs) > 1 {
		half = 1.96 * math.Sqrt(sq/(n-1)) / math.Sqrt(n)
	}
	return mean, max(0, mean-half), min(1, mean+half)
}

// stats returns the figure GetNamespace reports; nil before any sample.
func (r *recallSamples) stats() *weftv1.SampledRecall {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.ring) == 0 {
		if r.skipped == 0 {
			return nil
		}
		return &weftv1.SampledRecall{Skipped: r.skipped}
	}
	mean, lo, hi := meanInterval(r.ring)
	return &weftv1.SampledRecall{Recall: mean, IntervalLow: lo, IntervalHigh: hi, Samples: uint32(len(r.ring)), Skipped: r.skipped, Alarm: r.firing}
}

// checkAlarm evaluates the alarm against target (0: none) and reports
// whether it changed, and the recent figures.
func (r *recallSamples) checkAlarm(target float64) (changed, firing bool, mean, hi float64, n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	xs := r.recent(alarmWindow)
	if len(xs) < alarmMinSamples {
		return false, r.firing, 0, 0, len(xs)
	}
	mean, _, hi = meanInterval(xs)
	now := target > 0 && hi < target
	changed, r.firing = now != r.firing, now
	return changed, now, mean, hi, len(xs)
}

// sample hands a query to the sampler with probability share (the
// namespace's recall_sample, else the server's); the caller
// holds st's read lock, and got is copied.
func (s *Server) sample(j recallJob) {
	share := s.recall.share
	if meta, _ := j.ns.config(); meta.GetRecallSample() > 0 {
		share = meta.GetRecallSample()
	}
	if share == 0 || rand.Float64() >= share {
		return
	}
	j.got = append([]topk.Result(nil), j.got[:min(len(j.got), j.k)]...)
	j.q = append([]float32(nil), j.q...)
	select {
	case s.recall.jobs <- j:
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
			ok := s.resample(j)
			busy := time.Since(start)
			s.metrics.recallBusy.Add(busy.Seconds())
			if !ok {
				j.ns.recall.skip()
				s.metrics.recallSkipped.Inc()
				continue
			}
			// At most cpu of one core: rest (1−cpu)/cpu times the work.
			rest := time.Duration(float64(busy) * (1 - r.cpu) / r.cpu)
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
	target := s.recall.alarm
	if meta, _ := j.ns.config(); meta.GetDefaultSearch().GetRecallTarget() > 0 {
		target = float64(meta.GetDefaultSearch().GetRecallTarget())
	}
	if changed, firing, mean, hi, n := j.ns.recall.checkAlarm(target); changed {
		if firing {
			s.metrics.recallAlarm.WithLabelValues(j.ns.name).Set(1)
			s.log.Warn("sampled recall below target", "namespace", j.ns.name, "recall", mean, "interval_high", hi, "target", target, "samples", n)
		} else {
			s.metrics.recallAlarm.WithLabelValues(j.ns.name).Set(0)
			s.log.Info("sampled recall back at target", "namespace", j.ns.name, "recall", mean, "target", target, "samples", n)
		}
	}
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
