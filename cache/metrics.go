package cache

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	hits            *prometheus.CounterVec
	misses          prometheus.Counter
	loadErrors      prometheus.Counter
	loadSeconds     prometheus.Histogram
	evictions       *prometheus.CounterVec
	diskCorrupt     prometheus.Counter
	diskWriteErrors prometheus.Counter

	// Children resolved once so the hot path does no label lookups.
	ramHits, diskHits           prometheus.Counter
	ramEvictions, diskEvictions prometheus.Counter
}

func newMetrics() *metrics {
	m := &metrics{
		hits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weft_cache_hits_total",
			Help: "Pieces served from a tier (ram, disk).",
		}, []string{"tier"}),
		misses: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "weft_cache_misses_total",
			Help: "Pieces in no tier: loader calls, one per load shared by concurrent Gets.",
		}),
		loadErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "weft_cache_load_errors_total",
			Help: "Loader calls that failed.",
		}),
		loadSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "weft_cache_load_duration_seconds",
			Help:    "Time spent in the loader, failures included.",
			Buckets: prometheus.ExponentialBuckets(1e-3, 2, 16), // 1 ms .. 33 s
		}),
		evictions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weft_cache_evictions_total",
			Help: "Pieces evicted from a tier (ram, disk) to make room.",
		}, []string{"tier"}),
		diskCorrupt: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "weft_cache_disk_corrupt_total",
			Help: "Disk files found invalid (torn, corrupted, unreadable) and deleted.",
		}),
		diskWriteErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "weft_cache_disk_write_errors_total",
			Help: "Loaded pieces that could not be written to disk; they were still returned.",
		}),
	}
	m.ramHits = m.hits.WithLabelValues("ram")
	m.diskHits = m.hits.WithLabelValues("disk")
	m.ramEvictions = m.evictions.WithLabelValues("ram")
	m.diskEvictions = m.evictions.WithLabelValues("disk")
	return m
}

// bytesGauge reports a tier's bytes when scraped: the tiers already keep the
// count, so there is nothing to keep in step.
func bytesGauge(tier string, read func() int64) prometheus.GaugeFunc {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "weft_cache_bytes",
		Help:        "Bytes held by a tier: for ram its cost (keys, bytes, per-entry overhead), for disk its files' sizes.",
		ConstLabels: prometheus.Labels{"tier": tier},
	}, func() float64 { return float64(read()) })
}

// register registers every collector, or none: on an error it unregisters
// the ones already registered, so a failed New leaves reg as it was.
func register(reg prometheus.Registerer, collectors ...prometheus.Collector) error {
	if reg == nil {
		return nil
	}
	for i, c := range collectors {
		if err := reg.Register(c); err != nil {
			for _, done := range collectors[:i] {
				reg.Unregister(done)
			}
			return errors.Join(errors.New("cache: register metrics"), err)
		}
	}
	return nil
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{
		m.hits, m.misses, m.loadErrors, m.loadSeconds,
		m.evictions, m.diskCorrupt, m.diskWriteErrors,
	}
}
