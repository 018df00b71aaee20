package lb

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	healthy   *prometheus.GaugeVec
	retries   *prometheus.CounterVec
	upstream  *prometheus.CounterVec
	rejected  *prometheus.CounterVec
	transitns *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meridian_lb_requests_total",
			Help: "Requests answered, by target group, target (empty when none answered) and status code.",
		}, []string{"group", "target", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "meridian_lb_request_duration_seconds",
			Help:    "Time from a request's arrival to the end of its response, by target group.",
			Buckets: prometheus.ExponentialBuckets(0.00025, 2, 18),
		}, []string{"group"}),
		healthy: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "meridian_lb_healthy_targets",
			Help: "Targets receiving traffic, by target group.",
		}, []string{"group"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meridian_lb_retries_total",
			Help: "Requests tried again on another target after a connect failure or an early reset, by target group.",
		}, []string{"group"}),
		upstream: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meridian_lb_upstream_errors_total",
			Help: "Failed attempts to get a response from a target, by target group and kind (connect, reset, timeout, other).",
		}, []string{"group", "kind"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meridian_lb_rejected_requests_total",
			Help: "Client requests refused before reaching a target group, by reason (malformed, header_too_large, header_timeout, ...).",
		}, []string{"reason"}),
		transitns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meridian_lb_target_transitions_total",
			Help: "Target health changes, by target group and new state.",
		}, []string{"group", "state"}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.latency, m.healthy, m.retries, m.upstream, m.rejected, m.transitns)
	}
	return m
}
