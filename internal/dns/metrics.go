package dns

import (
	"sync/atomic"

	mdns "github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// Stats are counters since the server was built.
type Stats struct {
	// Queries answered by the handler (rate-limited ones excluded).
	Queries uint64
	// Refused and NXDomain count answers with those rcodes.
	Refused, NXDomain uint64
	// Malformed counts queries that could not be parsed or were invalid.
	Malformed uint64
	// Truncated counts UDP answers cut to the client's buffer (TC=1).
	Truncated uint64
	// RateDropped and RateSlipped count queries over the rate limit that got
	// no answer and a truncated empty one.
	RateDropped, RateSlipped uint64
}

type metrics struct {
	queries, refused, nxdomain, malformed, truncated, dropped, slipped atomic.Uint64

	answers *prometheus.CounterVec
	limited *prometheus.CounterVec
	invalid prometheus.Counter
	trunc   prometheus.Counter

	// answerSeries caches the answers counter of each transport (0 udp,
	// 1 tcp) and rcode, created on first use as WithLabelValues would, so
	// a series appears only once it has counted something.
	answerSeries [2][maxCachedRcode + 1]atomic.Pointer[prometheus.Counter]
}

// maxCachedRcode is the highest rcode whose series is cached (BADVERS is 16).
const maxCachedRcode = 23

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		answers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meridian_dns_answers_total",
			Help: "DNS answers sent, by transport (udp, tcp) and rcode (NOERROR, NXDOMAIN, REFUSED, ...).",
		}, []string{"proto", "rcode"}),
		limited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meridian_dns_rate_limited_total",
			Help: "UDP queries over their source network's rate limit, by action (drop, slip).",
		}, []string{"action"}),
		invalid: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "meridian_dns_malformed_queries_total",
			Help: "Queries that could not be parsed or were invalid.",
		}),
		trunc: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "meridian_dns_truncated_answers_total",
			Help: "UDP answers cut to the client's buffer size with TC=1.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.answers, m.limited, m.invalid, m.trunc)
	}
	return m
}

// answerCounter returns the answers series of proto and rcode.
func (m *metrics) answerCounter(udp bool, rcode int) prometheus.Counter {
	proto, i := "tcp", 1
	if udp {
		proto, i = "udp", 0
	}
	if rcode < 0 || rcode > maxCachedRcode {
		return m.answers.WithLabelValues(proto, mdns.RcodeToString[rcode])
	}
	p := &m.answerSeries[i][rcode]
	if c := p.Load(); c != nil {
		return *c
	}
	c := m.answers.WithLabelValues(proto, mdns.RcodeToString[rcode])
	p.Store(&c) // a racing store holds the same series
	return c
}

func (m *metrics) answered(resp *mdns.Msg, udp bool) {
	m.answerCounter(udp, resp.Rcode).Inc()
	if resp.Truncated {
		m.truncated.Add(1)
		m.trunc.Inc()
	}
}

func (m *metrics) malformedQuery() {
	m.malformed.Add(1)
	m.invalid.Inc()
}

func (m *metrics) rateLimited(a action) {
	if a == slip {
		m.slipped.Add(1)
		m.limited.WithLabelValues("slip").Inc()
		return
	}
	m.dropped.Add(1)
	m.limited.WithLabelValues("drop").Inc()
}

// Stats returns the server's counters.
func (s *Server) Stats() Stats {
	m := s.m
	return Stats{Queries: m.queries.Load(), Refused: m.refused.Load(), NXDomain: m.nxdomain.Load(),
		Malformed: m.malformed.Load(), Truncated: m.truncated.Load(),
		RateDropped: m.dropped.Load(), RateSlipped: m.slipped.Load()}
}
