package store

import (
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	writes        *prometheus.CounterVec
	commitSeconds prometheus.Histogram
	groupSize     prometheus.Histogram
	truncated     *prometheus.GaugeVec
	stalls        prometheus.Counter
	stallSeconds  prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		writes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meridian_store_writes_total",
			Help: "Item writes applied, by kind: local (accepted here), remote (replicated), repair (anti-entropy).",
		}, []string{"kind"}),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "meridian_store_commit_seconds",
			Help:    "Time to apply and fsync one group commit.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}),
		groupSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "meridian_store_group_size",
			Help:    "Requests sharing one fsynced commit.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 10),
		}),
		truncated: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "meridian_store_log_truncated_through",
			Help: "Highest sequence number truncated from the change log, per origin.",
		}, []string{"origin"}),
		stalls: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "meridian_store_write_stalls_total",
			Help: "Times Pebble held writes back because flushes or compactions fell behind.",
		}),
		stallSeconds: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "meridian_store_write_stall_seconds_total",
			Help: "Time Pebble held writes back because flushes or compactions fell behind.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.writes, m.commitSeconds, m.groupSize, m.truncated, m.stalls, m.stallSeconds)
	}
	return m
}

// stallListener counts Pebble's write stalls: while one lasts, every commit
// of the node waits, replicated ones included.
func (m *metrics) stallListener() *pebble.EventListener {
	var mu sync.Mutex
	var since time.Time
	return &pebble.EventListener{
		WriteStallBegin: func(pebble.WriteStallBeginInfo) {
			mu.Lock()
			defer mu.Unlock()
			since = time.Now()
			m.stalls.Inc()
		},
		WriteStallEnd: func() {
			mu.Lock()
			defer mu.Unlock()
			if !since.IsZero() {
				m.stallSeconds.Add(time.Since(since).Seconds())
				since = time.Time{}
			}
		},
	}
}
