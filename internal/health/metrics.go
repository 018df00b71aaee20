package health

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	probes  *prometheus.CounterVec
	rtt     *prometheus.GaugeVec
	changes *prometheus.CounterVec
	verdict *prometheus.GaugeVec
	fetches *prometheus.CounterVec
	fresh   *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		probes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meridian_health_probes_total",
			Help: "Health check probes run by this checker, by check and result (success, failure).",
		}, []string{"check", "result"}),
		rtt: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "meridian_health_rtt_seconds",
			Help: "Median round-trip time of the last successful probes of an http or tcp check.",
		}, []string{"check"}),
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meridian_health_verdict_changes_total",
			Help: "Verdict changes, by check, scope (local: this checker's probes; global: the majority of checkers) and new verdict.",
		}, []string{"check", "scope", "verdict"}),
		verdict: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "meridian_health_healthy",
			Help: "Verdict of a check by scope (local, global): 1 healthy, 0 unhealthy, -1 unknown.",
		}, []string{"check", "scope"}),
		fetches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meridian_health_peer_fetches_total",
			Help: "Fetches of a peer checker's verdicts, by peer and result (success, failure).",
		}, []string{"peer", "result"}),
		fresh: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "meridian_health_peer_fresh",
			Help: "1 while a peer checker's verdicts count towards the global verdicts, 0 once they have expired.",
		}, []string{"peer"}),
	}
	if reg != nil {
		reg.MustRegister(m.probes, m.rtt, m.changes, m.verdict, m.fetches, m.fresh)
	}
	return m
}

func resultLabel(ok bool) string {
	if ok {
		return "success"
	}
	return "failure"
}

func (m *metrics) probed(check string, ok bool) {
	m.probes.WithLabelValues(check, resultLabel(ok)).Inc()
}

func (m *metrics) fetched(peer string, ok bool) {
	m.fetches.WithLabelValues(peer, resultLabel(ok)).Inc()
}

func (m *metrics) setRTT(check string, d time.Duration) {
	m.rtt.WithLabelValues(check).Set(d.Seconds())
}

func (m *metrics) changed(check, scope string, v Verdict) {
	m.changes.WithLabelValues(check, scope, string(v)).Inc()
	m.setVerdict(check, scope, v)
}

func (m *metrics) setVerdict(check, scope string, v Verdict) {
	g := -1.0
	switch v {
	case Healthy:
		g = 1
	case Unhealthy:
		g = 0
	}
	m.verdict.WithLabelValues(check, scope).Set(g)
}

func (m *metrics) setFresh(peer string, fresh bool) {
	g := 0.0
	if fresh {
		g = 1
	}
	m.fresh.WithLabelValues(peer).Set(g)
}
