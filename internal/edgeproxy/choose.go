package edgeproxy

import (
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meridian-platform/meridian/internal/h1"
)

// region is a configured region with what the proxy keeps for it.
type region struct {
	cfg    Region
	target *url.URL
	up     *h1.Pool
	out    *outlier
	weight float64 // > 0
	dial   float64 // 0..1

	// The region's series of meridian_edge_upstream_duration_seconds and
	// of meridian_edge_requests_total by code, looked up once each rather
	// than by label values on every request (made at first use, so that
	// a region without traffic has no series).
	upstreamObs atomic.Pointer[prometheus.Observer]
	codes       sync.Map // int → prometheus.Counter

	// The values the proxy gives every response from this region, made
	// once: X-Meridian-Region's and the affinity cookie's. (Shared
	// between responses: nothing writes into a header's values.)
	idValue     []string
	cookieValue string
}

// observeUpstream records how long the region took to answer.
func (p *Proxy) observeUpstream(r *region, d time.Duration) {
	o := r.upstreamObs.Load()
	if o == nil {
		obs := p.m.upstream.WithLabelValues(r.cfg.ID)
		o = &obs
		r.upstreamObs.Store(o)
	}
	(*o).Observe(d.Seconds())
}

// answered counts a response of the region's with code.
func (p *Proxy) answered(r *region, code int) {
	if c, ok := r.codes.Load(code); ok {
		c.(prometheus.Counter).Inc()
		return
	}
	c := p.m.requests.WithLabelValues(r.cfg.ID, h1.CodeLabel(code))
	r.codes.Store(code, c)
	c.Inc()
}

// regionSet is one configuration of regions; SetRegions swaps it whole.
type regionSet struct {
	list []*region // config order
	byID map[string]*region
}

// candidate is a region with the inputs of one choice.
type candidate struct {
	r   *region
	rtt time.Duration // math.MaxInt64 when unknown
}

const unknownRTT = time.Duration(math.MaxInt64)

// plan is the order in which one request tries regions.
type plan struct {
	order    []*region
	primary  *region // nearest available region, nil if none
	failOpen bool    // no region was healthy; all are tried
}

// choose orders the regions for one request:
//
//  1. available regions (healthy, not ejected), nearest first, where regions
//     within LatencyTolerance of the nearest remaining one form a tier shuffled
//     by weight; traffic dials then pick the first region to try and the rest
//     follow in that order;
//  2. ejected healthy regions, nearest first;
//  3. unhealthy regions, only when no region is healthy (fail open: an answer
//     that may work beats one that surely does not).
//
// A client's affinity region, when available and not dialed to zero, goes
// first instead of the dialed pick.
//
// The order is built in buf when it has room (the caller's array spares an
// allocation per request).
func (p *Proxy) choose(set *regionSet, affinity string, buf []*region) plan {
	now := p.cfg.Now()
	var availBuf, restBuf [8]candidate
	avail, rest := availBuf[:0], restBuf[:0]
	var sick []candidate
	for _, r := range set.list {
		c := candidate{r: r, rtt: unknownRTT}
		if p.cfg.RTT != nil {
			if d, ok := p.cfg.RTT.RTT(r.cfg.ID); ok {
				c.rtt = max(d, 0)
			}
		}
		switch {
		case !p.healthy(r):
			sick = append(sick, c)
		case p.ejected(r, now):
			rest = append(rest, c)
		default:
			avail = append(avail, c)
		}
	}
	var pl plan
	if len(avail) == 0 && len(rest) == 0 {
		avail, sick = sick, nil
		pl.failOpen = true
	}
	byRTT := func(a, b candidate) int {
		switch {
		case a.rtt < b.rtt:
			return -1
		case a.rtt > b.rtt:
			return 1
		}
		return 0
	}
	slices.SortStableFunc(avail, byRTT)
	slices.SortStableFunc(rest, byRTT)
	if n := len(avail) + len(rest); cap(buf) >= n {
		pl.order = buf[:0]
	} else {
		pl.order = make([]*region, 0, n)
	}
	if len(avail) > 0 {
		pl.primary = avail[0].r
	}

	var pinned *region
	if affinity != "" {
		for _, c := range avail {
			if c.r.cfg.ID == affinity && c.r.dial > 0 && !pl.failOpen {
				pinned = c.r
				break
			}
		}
	}

	p.mu.Lock()
	p.tiers(avail)
	first := -1
	if pinned == nil {
		first = pickDialed(p.rng, avail)
	}
	p.mu.Unlock()

	if pinned != nil {
		pl.order = append(pl.order, pinned)
	} else if first >= 0 {
		pl.order = append(pl.order, avail[first].r)
	}
	for _, c := range avail {
		if c.r != pinned && (first < 0 || c.r != avail[first].r) {
			pl.order = append(pl.order, c.r)
		}
	}
	for _, c := range rest {
		pl.order = append(pl.order, c.r)
	}
	return pl
}

func (p *Proxy) healthy(r *region) bool {
	if r.cfg.HealthCheck == "" || p.cfg.Health == nil {
		return true
	}
	ok, known := p.cfg.Health.Health(r.cfg.HealthCheck)
	healthy := ok || !known
	// The first to see a region turn unhealthy aborts the attempts it
	// holds, as an ejection does: a region that stopped answering would
	// hold them until UpstreamTimeout.
	if healthy != r.out.healthy.Load() && r.out.healthy.CompareAndSwap(!healthy, healthy) && !healthy {
		if n := r.out.abortAll(); n > 0 {
			p.log.Warn("region turned unhealthy; its requests in flight go to the next region", "region", r.cfg.ID, "aborted_attempts", n)
		}
	}
	return healthy
}

// tiers reorders avail (sorted by RTT) so that each run of regions within
// LatencyTolerance of the run's nearest is in a random order drawn by
// weight (without replacement). p.mu is held.
func (p *Proxy) tiers(avail []candidate) {
	tol := p.cfg.LatencyTolerance
	for i := 0; i < len(avail); {
		j := i + 1
		// Sorted: once avail[i] is unknown, so are all after it.
		for j < len(avail) && (avail[i].rtt == unknownRTT || avail[j].rtt-avail[i].rtt <= tol) {
			j++
		}
		weightedShuffle(p.rng, avail[i:j])
		i = j
	}
}

// weightedShuffle orders cs so that each position is drawn among the
// remaining candidates in proportion to their weights; the others keep their
// order.
func weightedShuffle(rng *rand.Rand, cs []candidate) {
	if len(cs) < 2 {
		return
	}
	total := 0.0
	for _, c := range cs {
		total += c.r.weight
	}
	for i := 0; i < len(cs)-1; i++ {
		x := rng.Float64() * total
		k := len(cs) - 1
		for j := i; j < len(cs); j++ {
			if x < cs[j].r.weight {
				k = j
				break
			}
			x -= cs[j].r.weight
		}
		total -= cs[k].r.weight
		c := cs[k]
		copy(cs[i+1:k+1], cs[i:k])
		cs[i] = c
	}
}

// pickDialed walks the preference order applying traffic dials: region i is
// chosen with probability dial_i times the chance that every region before it
// passed the traffic on. What all regions pass on is shared in the same
// proportions (as if the walk started over). It returns -1 for no regions and
// 0 when every dial is zero.
func pickDialed(rng *rand.Rand, cs []candidate) int {
	if len(cs) == 0 {
		return -1
	}
	allFull := true
	for _, c := range cs {
		if c.r.dial < 1 {
			allFull = false
			break
		}
	}
	if allFull {
		return 0
	}
	var shares [16]float64
	sh := shares[:0]
	pass, total := 1.0, 0.0
	for _, c := range cs {
		s := pass * c.r.dial
		sh = append(sh, s)
		total += s
		pass *= 1 - c.r.dial
	}
	if total <= 0 {
		return 0
	}
	x := rng.Float64() * total
	for i, s := range sh {
		if x < s {
			return i
		}
		x -= s
	}
	return len(cs) - 1
}

// affinityOf returns the region ID in the request's affinity cookie, or "".
func (p *Proxy) affinityOf(r *http.Request) string {
	if p.cfg.DisableAffinity {
		return ""
	}
	for _, line := range r.Header["Cookie"] {
		if v, ok := cookieValue(line, p.cfg.AffinityCookie); ok {
			return v
		}
	}
	return ""
}

// cookieValue finds name=value in one Cookie header line without allocating
// (the proxy reads the cookie on every request). Only values that could be a
// region ID count.
func cookieValue(line, name string) (string, bool) {
	for len(line) > 0 {
		var part string
		if i := strings.IndexByte(line, ';'); i >= 0 {
			part, line = line[:i], line[i+1:]
		} else {
			part, line = line, ""
		}
		part = strings.TrimSpace(part)
		if len(part) > len(name) && part[:len(name)] == name && part[len(name)] == '=' {
			v := part[len(name)+1:]
			if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
				v = v[1 : len(v)-1]
			}
			if validCookieValue(v) { // as net/http, skip what is not a cookie value
				return v, true
			}
		}
	}
	return "", false
}
