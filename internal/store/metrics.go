package store

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	writes        *prometheus.CounterVec
	commitSeconds prometheus.Histogram
	groupSize     prometheus.Histogram
	truncated     *prometheus.GaugeVec
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
	}
	if reg != nil {
		reg.MustRegister(m.writes, m.commitSeconds, m.groupSize, m.truncated)
	}
	return m
}
