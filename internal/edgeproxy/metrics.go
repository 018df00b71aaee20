package edgeproxy

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	requests   *prometheus.CounterVec
	retries    *prometheus.CounterVec
	failures   *prometheus.CounterVec
	ejections  *prometheus.CounterVec
	upstream   *prometheus.HistogramVec
	rejections *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meridian_edge_requests_total",
			Help: "Requests answered, by region that answered (empty when none did) and status code.",
		}, []string{"region", "code"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meridian_edge_retries_total",
			Help: "Requests sent on to the next region after a region failed them before answering, by the region that failed.",
		}, []string{"region"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meridian_edge_upstream_failures_total",
			Help: "Attempts a region failed before answering, by region and kind (connect, reset, timeout, status).",
		}, []string{"region", "kind"}),
		ejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meridian_edge_ejections_total",
			Help: "Regions ejected by outlier detection, by region.",
		}, []string{"region"}),
		upstream: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "meridian_edge_upstream_duration_seconds",
			Help:    "Time from sending a request to a region to its response headers, by region.",
			Buckets: prometheus.ExponentialBuckets(0.00025, 2, 18),
		}, []string{"region"}),
		rejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meridian_edge_rejected_requests_total",
			Help: "Client requests refused without trying a region, by reason: header_too_large, malformed, not_implemented (a transfer coding other than chunked), status_505 (not HTTP/1.x), status_417 (an Expect other than 100-continue), header_timeout (headers begun and not finished in time), no_request (a connection closed or timed out before its first byte), upgrade, connect, bad_body.",
		}, []string{"reason"}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.retries, m.failures, m.ejections, m.upstream, m.rejections)
	}
	return m
}

// forget drops the series of a region no longer configured.
func (m *metrics) forget(region string) {
	l := prometheus.Labels{"region": region}
	m.requests.DeletePartialMatch(l)
	m.retries.DeletePartialMatch(l)
	m.failures.DeletePartialMatch(l)
	m.ejections.DeletePartialMatch(l)
	m.upstream.DeletePartialMatch(l)
}
