package repl

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	lagSeconds    *prometheus.GaugeVec
	lagRecords    *prometheus.GaugeVec
	connected     *prometheus.GaugeVec
	applyDelay    *prometheus.HistogramVec
	received      *prometheus.CounterVec
	clockRefusals *prometheus.CounterVec
	malformed     *prometheus.CounterVec
	syncs         *prometheus.CounterVec
	repaired      *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	peer := []string{"peer"}
	m := &metrics{
		lagSeconds: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "meridian_replication_lag_seconds",
			Help: "How long the oldest record of the peer's region known but not yet applied here has waited (0 when caught up).",
		}, peer),
		lagRecords: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "meridian_replication_lag_records",
			Help: "Records of the peer's region known but not yet applied here.",
		}, peer),
		connected: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "meridian_replication_connected",
			Help: "1 while the replication stream from the peer is up.",
		}, peer),
		applyDelay: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "meridian_replication_apply_delay_seconds",
			Help:    "Time from a write being accepted in its origin region to it being applied here, by origin region.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 18),
		}, []string{"origin_region"}),
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meridian_replication_records_received_total",
			Help: "Change records received from the peer (including ones already applied).",
		}, peer),
		clockRefusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meridian_replication_clock_refusals_total",
			Help: "Messages refused because the peer's clock ran ahead by more than the maximum offset.",
		}, peer),
		malformed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meridian_replication_malformed_total",
			Help: "Malformed messages or corrupt records received from the peer.",
		}, peer),
		syncs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meridian_anti_entropy_runs_total",
			Help: "Anti-entropy rounds with the peer, by result.",
		}, []string{"peer", "result"}),
		repaired: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meridian_anti_entropy_repaired_items_total",
			Help: "Items changed here by anti-entropy with the peer.",
		}, peer),
	}
	if reg != nil {
		reg.MustRegister(m.lagSeconds, m.lagRecords, m.connected, m.applyDelay, m.received,
			m.clockRefusals, m.malformed, m.syncs, m.repaired)
	}
	return m
}
