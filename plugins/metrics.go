package plugins

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

type metrics struct {
	calls          *prometheus.CounterVec
	errors         *prometheus.CounterVec
	failOpen       *prometheus.CounterVec
	duration       *prometheus.HistogramVec
	instances      *prometheus.GaugeVec
	instantiations *prometheus.CounterVec
	compiles       prometheus.Counter
	compileSeconds prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	return &metrics{
		calls: f.NewCounterVec(prometheus.CounterOpts{
			Name: "weft_plugin_calls_total",
			Help: "Hook calls, by plugin and hook.",
		}, []string{"plugin", "hook"}),
		errors: f.NewCounterVec(prometheus.CounterOpts{
			Name: "weft_plugin_errors_total",
			Help: "Failed hook calls, by plugin, hook and reason (deadline, trap, output, guest, abi, busy, too_large, closed, canceled).",
		}, []string{"plugin", "hook", "reason"}),
		failOpen: f.NewCounterVec(prometheus.CounterOpts{
			Name: "weft_plugin_fail_open_total",
			Help: "Failed hook calls of fail-open plugins whose stage input passed through.",
		}, []string{"plugin", "hook"}),
		duration: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "weft_plugin_call_duration_seconds",
			Help:    "Wall-clock time of hook calls, including the wait for an instance.",
			Buckets: prometheus.ExponentialBuckets(5e-6, 4, 10), // 5 µs .. 1.3 s
		}, []string{"plugin", "hook"}),
		instances: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "weft_plugin_instances",
			Help: "Live instances per plugin (idle and busy).",
		}, []string{"plugin"}),
		instantiations: f.NewCounterVec(prometheus.CounterOpts{
			Name: "weft_plugin_instantiations_total",
			Help: "Instances created per plugin, including replacements of discarded ones.",
		}, []string{"plugin"}),
		compiles: f.NewCounter(prometheus.CounterOpts{
			Name: "weft_plugin_compilations_total",
			Help: "Modules compiled (a compile-cache hit still counts).",
		}),
		compileSeconds: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "weft_plugin_compile_duration_seconds",
			Help:    "Time to compile a module, or load it from the compile cache.",
			Buckets: prometheus.ExponentialBuckets(1e-3, 4, 8),
		}),
	}
}

// hookMetrics are one plugin's per-hook observers, resolved once at Load so
// a call does no label lookups.
type hookMetrics struct {
	calls    prometheus.Counter
	failOpen prometheus.Counter
	duration prometheus.Observer
	errors   map[string]prometheus.Counter
}

func (m *metrics) forPlugin(name string) [4]hookMetrics {
	var hm [4]hookMetrics
	for _, h := range allHooks {
		x := &hm[h]
		x.calls = m.calls.WithLabelValues(name, h.String())
		x.failOpen = m.failOpen.WithLabelValues(name, h.String())
		x.duration = m.duration.WithLabelValues(name, h.String())
		x.errors = make(map[string]prometheus.Counter, len(reasons))
		for _, r := range reasons {
			x.errors[r] = m.errors.WithLabelValues(name, h.String(), r)
		}
	}
	return hm
}

func (m *metrics) deletePlugin(name string) {
	l := prometheus.Labels{"plugin": name}
	m.calls.DeletePartialMatch(l)
	m.errors.DeletePartialMatch(l)
	m.failOpen.DeletePartialMatch(l)
	m.duration.DeletePartialMatch(l)
	m.instances.DeletePartialMatch(l)
	m.instantiations.DeletePartialMatch(l)
}
