// Package edgeproxy is Meridian's edge accelerator (Global Accelerator's part
// of the platform): a reverse proxy on an edge's own address that forwards
// each client request to one region's load balancer.
//
// # Choosing a region
//
// For every request the proxy orders the regions:
//
//   - Healthy regions that are not ejected come first, nearest first by
//     measured latency (RTT; an unmeasured region is farther than any
//     measured one). Regions within LatencyTolerance (5 ms) of the nearest
//     remaining one form a tier that shares traffic by Region.Weight.
//   - Traffic dials then pick the first region: a region dialed to p % gets
//     p % of the traffic that would go to it; the rest spills to the next
//     region in that order.
//   - A client whose affinity cookie names a healthy, non-ejected region with
//     a dial above zero goes there instead (read-your-writes).
//   - Regions ejected by outlier detection follow, nearest first: they are
//     tried last, not never.
//   - Unhealthy regions are used only when no region is healthy (fail open,
//     as the DNS server does): an answer that may work beats one that surely
//     does not.
//
// # Failover
//
// A request is tried on the regions in that order, at most once each, until
// one answers. A region fails a request when connecting fails, when the
// connection closes or times out before the response headers, or when its
// balancer answers 502, 503 or 504. The request then goes to the next region
// if it is safe to send again: a connect failure always is (nothing was sent);
// otherwise the method must be idempotent per RFC 9110 (GET, HEAD, OPTIONS,
// TRACE, PUT, DELETE) or the request must carry an Idempotency-Key header,
// and its body must fit in MaxRetryBody, which the proxy holds in memory to
// resend. A request that cannot be sent again gets 502 (504 after a timeout)
// with a short plain-text reason, or the region's own 5xx answer. Once
// response headers have reached the client nothing is retried; a region that
// breaks off a response body gets the client's connection (or HTTP/2 stream)
// reset, so a truncated body is never taken for a whole one.
//
// # Serving
//
// Serve speaks HTTP/1.1 and HTTP/2 over cleartext with prior knowledge (h2c),
// with header size and read timeouts against slow or malformed clients.
// Protocol upgrades (WebSocket) and CONNECT are refused. Responses stream:
// bodies of unknown length are flushed as they arrive.
//
// # Headers
//
// Requests keep their Host (the regional balancer routes by it) and get
// X-Forwarded-For (appended), X-Forwarded-Proto, X-Forwarded-Host and a W3C
// traceparent (passed on when valid, else a new trace). Responses get
// X-Meridian-Edge (this edge's Name) and X-Meridian-Region (the region that
// answered). Hop-by-hop headers are dropped both ways.
//
// # Observability
//
// Metrics (Config.Registerer): meridian_edge_requests_total{region,code},
// meridian_edge_retries_total{region}, meridian_edge_upstream_failures_total
// {region,kind}, meridian_edge_ejections_total{region},
// meridian_edge_upstream_duration_seconds{region} and
// meridian_edge_rejected_requests_total{reason}. Logs (component=edgeproxy)
// say when a region is ejected and when its ejection ends, when the preferred
// region changes, and (at most once a second per region) when requests are
// failed over; never one line per request.
//
// Only the edge process (internal/cli) imports this package; of Meridian's
// packages it imports only the leaves it shares with the regional balancer
// (internal/h1: the HTTP/1.1 server, upstream pool and forwarding headers;
// loglimit); its tests use internal/netsim.
package edgeproxy

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meridian-platform/meridian/internal/h1"
	"github.com/meridian-platform/meridian/internal/loglimit"
)

// Proxy is an edge proxy. It is an http.Handler; Serve serves it on a
// listener. Its methods are safe for concurrent use.
type Proxy struct {
	cfg   Config
	log   *slog.Logger
	m     *metrics
	limit *loglimit.Limiter
	seed  uint64
	set   atomic.Pointer[regionSet]
	bufs  sync.Pool
	srv   *h1.Server

	mu  sync.Mutex // guards rng
	rng *mrand.Rand

	ejectMu sync.Mutex // orders ejection decisions

	setMu     sync.Mutex // serializes SetRegions; guards outliers and upstreams
	outliers  map[string]*outlier
	upstreams map[string]*h1.Pool // by region URL

	primary atomic.Pointer[string] // the nearest available region, for logging changes

	nameValue []string // X-Meridian-Edge's value, shared by all responses
}

// prefetchSize is how much of an answer's body is read before the answer
// is committed to (see the package doc's Failover).
const prefetchSize = 32 << 10

// New builds a proxy; Serve serves it.
func New(cfg Config) (*Proxy, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("edge proxy config: %w", err)
	}
	cfg.setDefaults()
	p := &Proxy{
		cfg:       cfg,
		log:       cfg.Logger.With("component", "edgeproxy", "edge", cfg.Name),
		m:         newMetrics(cfg.Registerer),
		seed:      cfg.Seed,
		outliers:  map[string]*outlier{},
		upstreams: map[string]*h1.Pool{},
		nameValue: []string{cfg.Name},
	}
	var h http.Handler = p
	if cfg.Wrap != nil {
		h = cfg.Wrap(p)
	}
	p.srv = &h1.Server{
		Handler:              h,
		MaxHeaderBytes:       cfg.MaxHeaderBytes,
		ReadHeaderTimeout:    cfg.ReadHeaderTimeout,
		ReadTimeout:          cfg.ReadTimeout,
		WriteTimeout:         cfg.WriteTimeout,
		IdleTimeout:          cfg.IdleTimeout,
		HTTP2:                true,
		MaxConcurrentStreams: 250,
		Rejected:             func(reason string) { p.m.rejections.WithLabelValues(reason).Inc() },
		Logger:               p.log,
	}
	if cfg.Dial == nil && (cfg.Wrap == nil || cfg.Wrapped != nil) {
		p.srv.Proxy = p // (loop.go: where the loops can serve requests)
	}
	p.bufs.New = func() any { b := make([]byte, prefetchSize); return &b }
	for p.seed == 0 {
		var b [8]byte
		_, _ = rand.Read(b[:]) // never fails (crypto/rand)
		p.seed = binary.LittleEndian.Uint64(b[:])
	}
	p.rng = mrand.New(mrand.NewPCG(p.seed, p.seed^0x9e3779b97f4a7c15)) //nolint:gosec // seeded on purpose: weighted choices a failing test can replay (Seed)
	p.limit = loglimit.New(p.log, cfg.Now)
	if err := p.SetRegions(cfg.Regions); err != nil {
		return nil, err
	}
	return p, nil
}

// Seed returns the seed of the proxy's random choices, for a failing test to
// print.
func (p *Proxy) Seed() uint64 { return p.seed }

// SetRegions replaces the regions requests are forwarded to. Requests in
// flight finish with the regions they started with. A region keeps its
// outlier state (failure count, ejection) and its connection pool across
// calls while its ID, respectively its URL, stays the same.
func (p *Proxy) SetRegions(regions []Region) error {
	if err := validateRegions(regions); err != nil {
		return fmt.Errorf("edge proxy regions: %w", err)
	}
	p.setMu.Lock()
	defer p.setMu.Unlock()
	set := &regionSet{byID: make(map[string]*region, len(regions))}
	outliers := make(map[string]*outlier, len(regions))
	upstreams := make(map[string]*h1.Pool, len(regions))
	for _, rc := range regions {
		u, _ := url.Parse(rc.URL) // validated
		key := u.Scheme + "://" + u.Host
		up := p.upstreams[key]
		if up == nil {
			up = p.newUpstream(rc.ID, u.Host)
		}
		upstreams[key] = up
		out := p.outliers[rc.ID]
		if out == nil {
			out = newOutlier()
		}
		outliers[rc.ID] = out
		r := &region{cfg: rc, target: &url.URL{Scheme: u.Scheme, Host: u.Host}, up: up, out: out,
			weight: float64(max(rc.Weight, 1)), dial: 1}
		if rc.TrafficDial != nil {
			r.dial = float64(*rc.TrafficDial) / 100
		}
		r.idValue = []string{rc.ID}
		r.cookieValue = p.cfg.AffinityCookie + "=" + rc.ID + "; Path=/; HttpOnly; SameSite=Lax"
		set.list = append(set.list, r)
		set.byID[rc.ID] = r
	}
	for key, up := range p.upstreams {
		if upstreams[key] == nil {
			up.CloseIdle(true)
		}
	}
	for id := range p.outliers {
		if outliers[id] == nil {
			p.m.forget(id)
		}
	}
	p.outliers, p.upstreams = outliers, upstreams
	p.set.Store(set)
	return nil
}

// RegionStatus is what the proxy currently thinks of a region.
type RegionStatus struct {
	ID string
	// Healthy is the health verdict (true when there is none).
	Healthy bool
	// EjectedUntil is when the region's ejection ends; zero when it is not
	// ejected.
	EjectedUntil time.Time
	// RTT is the measured latency; zero when unknown.
	RTT time.Duration
}

// Status reports each region's state, in configuration order.
func (p *Proxy) Status() []RegionStatus {
	set := p.set.Load()
	now := p.cfg.Now()
	out := make([]RegionStatus, 0, len(set.list))
	for _, r := range set.list {
		s := RegionStatus{ID: r.cfg.ID, Healthy: p.healthy(r)}
		if p.ejected(r, now) {
			s.EjectedUntil = time.Unix(0, r.out.until.Load())
		}
		if p.cfg.RTT != nil {
			s.RTT, _ = p.cfg.RTT.RTT(r.cfg.ID)
		}
		out = append(out, s)
	}
	return out
}

// Serve serves the proxy on ln (HTTP/1.1 and h2c) until ctx is cancelled,
// then stops accepting, waits up to ShutdownTimeout for requests in flight
// and closes ln. It returns nil after a shutdown, else why serving failed.
// Serve may run on several listeners at once.
func (p *Proxy) Serve(ctx context.Context, ln net.Listener) error {
	p.log.Info("edge proxy serving", "addr", ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- p.srv.Serve(ln) }() // ends at Shutdown, below
	select {
	case err := <-errc:
		return fmt.Errorf("edge proxy serving on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	if err := p.srv.Shutdown(p.cfg.ShutdownTimeout); err != nil {
		p.log.Warn("edge proxy shutdown cut in-flight requests short", "err", err)
	}
	if err := <-errc; err != nil {
		return fmt.Errorf("edge proxy serving on %s: %w", ln.Addr(), err)
	}
	p.setMu.Lock()
	for _, up := range p.upstreams {
		up.CloseIdle(false)
	}
	p.setMu.Unlock()
	return nil
}

// newUpstream builds the pool to region id's balancer at addr.
func (p *Proxy) newUpstream(id, addr string) *h1.Pool {
	dial := p.cfg.Dial
	if dial == nil {
		dial = (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext
	}
	return &h1.Pool{
		Addr: addr,
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			t := p.cfg.ConnectTimeout
			if ctx.Value(lastRegionKey{}) == nil {
				t = p.connectTimeout(id)
			}
			ctx, cancel := context.WithTimeout(ctx, t)
			defer cancel()
			return dial(ctx, network, addr)
		},
		HeaderTimeout: p.cfg.UpstreamTimeout,
		MaxIdle:       p.cfg.MaxIdlePerRegion,
		// Below the regional balancer's keep-alive timeout (60s), so that the
		// edge, not the balancer, closes idle connections: a request sent on
		// a connection the balancer is closing fails in a way that cannot be
		// retried unless the request is idempotent.
		IdleTimeout: 30 * time.Second,
	}
}

// lastRegionKey marks the context of an attempt on the last region a
// request can go to: its dial gets the whole ConnectTimeout, since failing
// it sooner would leave the request nowhere to go.
type lastRegionKey struct{}

// connectTimeout bounds a dial to region id: ConnectTimeout, or less where
// the region's round trip is known: a handshake takes one round trip, so
// one still pending after several has met a region that does not answer
// (a black hole), and the sooner it counts as a failure, the sooner outlier
// detection moves traffic away.
func (p *Proxy) connectTimeout(id string) time.Duration {
	t := p.cfg.ConnectTimeout
	if p.cfg.RTT == nil {
		return t
	}
	if rtt, ok := p.cfg.RTT.RTT(id); ok {
		t = min(t, max(MinConnectTimeout, 4*rtt+100*time.Millisecond))
	}
	return t
}
