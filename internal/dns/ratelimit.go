package dns

import (
	"net"
	"net/netip"
	"sync"
	"time"
)

// limiter is a token bucket per source network: a /24 for IPv4, a /56 for
// IPv6. Limiting whole networks, not addresses, stops a flood from one host
// that rotates its address within its subnet.
type limiter struct {
	rate, burst float64
	slip        int

	max int // buckets tracked; beyond it new networks share one bucket

	mu        sync.Mutex
	buckets   map[netip.Prefix]*bucket
	lastSweep time.Time
}

type bucket struct {
	tokens  float64
	last    time.Time
	over    uint64 // queries over the limit since it last had tokens
	limited bool
}

type action int

const (
	pass action = iota
	slip
	drop
)

// maxBuckets bounds the limiter's memory. Past it, buckets that have refilled
// are swept (at most once a second); if that leaves it full, as under a flood
// from many spoofed networks, new networks share one overflow bucket, so the
// networks already tracked keep their own share.
const maxBuckets = 1 << 16

func newLimiter(c RateLimit) *limiter {
	return &limiter{rate: c.QPS, burst: float64(c.Burst), slip: c.Slip, max: maxBuckets,
		buckets: map[netip.Prefix]*bucket{}}
}

// allow decides what to do with a query from ip at now; started reports that
// the network just went over its limit (to log once, not per query).
func (l *limiter) allow(now time.Time, ip net.IP) (act action, started bool) {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return pass, false
	}
	a = a.Unmap()
	bits := 24
	if a.Is6() {
		bits = 56
	}
	key, _ := a.Prefix(bits)

	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil && len(l.buckets) >= l.max {
		if now.Sub(l.lastSweep) >= time.Second {
			l.sweep(now)
		}
		if len(l.buckets) >= l.max {
			key = netip.Prefix{} // the overflow bucket
			b = l.buckets[key]
		}
	}
	if b == nil {
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	if el := now.Sub(b.last); el > 0 {
		b.tokens = min(l.burst, b.tokens+el.Seconds()*l.rate)
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		b.over, b.limited = 0, false
		return pass, false
	}
	b.over++
	started = !b.limited
	b.limited = true
	if l.slip > 0 && b.over%uint64(l.slip) == 0 {
		return slip, started
	}
	return drop, started
}

func (l *limiter) sweep(now time.Time) {
	l.lastSweep = now
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.burst {
			delete(l.buckets, k)
		}
	}
}
