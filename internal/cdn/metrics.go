package cdn

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	requests     *prometheus.CounterVec
	bytes        prometheus.Gauge
	objects      prometheus.Gauge
	evictions    prometheus.Counter
	invalidated  *prometheus.CounterVec
	fetchLatency *prometheus.HistogramVec
	originErrors *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meridian_cdn_requests_total",
			Help: "Requests answered, by distribution and result (hit, miss, stale, refresh_hit; pass for responses that could not be cached; error when no origin answered or all answered 5xx; rejected for unsafe paths and methods not allowed).",
		}, []string{"distribution", "result"}),
		bytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "meridian_cdn_cached_bytes",
			Help: "Bytes held by cached objects (bodies, headers and bookkeeping).",
		}),
		objects: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "meridian_cdn_cached_objects",
			Help: "Cached objects, counting each Vary variant.",
		}),
		evictions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "meridian_cdn_evictions_total",
			Help: "Cached objects evicted to keep the cache under its size limit.",
		}),
		invalidated: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meridian_cdn_invalidated_objects_total",
			Help: "Cached objects removed by invalidations and by unsafe requests (POST, PUT, DELETE...), by distribution.",
		}, []string{"distribution"}),
		fetchLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "meridian_cdn_origin_fetch_duration_seconds",
			Help:    "Time from sending a request to an origin to its response headers, by distribution and origin.",
			Buckets: prometheus.ExponentialBuckets(0.00025, 2, 18),
		}, []string{"distribution", "origin"}),
		originErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meridian_cdn_origin_errors_total",
			Help: "Failed origin attempts, by distribution, origin and kind (connect: no response; status: a 5xx answer; body: the body broke off).",
		}, []string{"distribution", "origin", "kind"}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.bytes, m.objects, m.evictions, m.invalidated, m.fetchLatency, m.originErrors)
	}
	return m
}
