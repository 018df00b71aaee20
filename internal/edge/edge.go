// Package edge runs one edge location (`meridian edge`): the authoritative
// DNS server (internal/dns), the accelerator proxy (internal/edgeproxy) and
// the edge cache (internal/cdn, for the hosts and paths of the topology's
// distributions) on the edge's HTTP port, a health checker
// (internal/health) that probes every region and shares its verdicts with
// the other checkers, and the admin port.
//
// Everything the edge dials (probes, verdict fetches, regions' load
// balancers, cache origins) goes through the chaos fabric, so the
// topology's simulated WAN and an operator's injected faults apply to it.
//
// Imported by the CLI.
package edge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

	"github.com/meridian-platform/meridian/internal/admintoken"
	"github.com/meridian-platform/meridian/internal/cdn"
	"github.com/meridian-platform/meridian/internal/chaos"
	"github.com/meridian-platform/meridian/internal/dns"
	"github.com/meridian-platform/meridian/internal/edgeproxy"
	"github.com/meridian-platform/meridian/internal/h1"
	"github.com/meridian-platform/meridian/internal/health"
	"github.com/meridian-platform/meridian/internal/topology"
)

// Config configures an edge.
type Config struct {
	// Topology is the whole deployment; Edge names this edge in it.
	Topology *topology.Topology
	Edge     string
	// Logger (default: discard).
	Logger *slog.Logger
}

// Edge is one edge location.
type Edge struct {
	cfg  Config
	self topology.Edge
	log  *slog.Logger
	reg  *prometheus.Registry

	ready   chan struct{}
	serving atomic.Bool
}

// New checks cfg; Run starts the edge.
func New(cfg Config) (*Edge, error) {
	if cfg.Topology == nil {
		return nil, errors.New("edge: no topology")
	}
	self, ok := cfg.Topology.Edge(cfg.Edge)
	if !ok {
		return nil, fmt.Errorf("edge: %q is not an edge of the topology (edges: %v)", cfg.Edge, edgeNames(cfg.Topology))
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return &Edge{
		cfg:   cfg,
		self:  self,
		log:   cfg.Logger.With("edge", self.Name),
		reg:   reg,
		ready: make(chan struct{}),
	}, nil
}

func edgeNames(t *topology.Topology) []string {
	names := make([]string, 0, len(t.Edges))
	for _, e := range t.Edges {
		names = append(names, e.Name)
	}
	return names
}

// Ready is closed once every port serves.
func (e *Edge) Ready() <-chan struct{} { return e.ready }

// Run serves until ctx is cancelled.
func (e *Edge) Run(ctx context.Context) error {
	t := e.cfg.Topology
	token, err := admintoken.FromFile(t.Secrets.AdminTokenFile)
	if err != nil {
		return fmt.Errorf("edge %s: %w", e.self.Name, err)
	}
	fabric, err := chaos.NewFabric(t, e.self.Name, e.log)
	if err != nil {
		return err
	}
	checks, peers := t.HealthChecks()
	checker, err := health.New(health.Config{
		Name: e.self.Name, Checks: checks, Peers: peers,
		Dial: fabric.DialContext, Logger: e.log, Registerer: e.reg,
	})
	if err != nil {
		return fmt.Errorf("edge %s: %w", e.self.Name, err)
	}
	measured := measuredRTT{t: t, checker: checker}

	dnsSrv, err := dns.New(dns.Config{
		Addr:       e.self.DNSAddr(),
		Zones:      t.DNSZones(),
		Health:     checker,
		Locator:    networks(t),
		Latencies:  latencies{t: t, here: e.self.Location, measured: measured},
		Logger:     e.log,
		Registerer: e.reg,
	})
	if err != nil {
		return fmt.Errorf("edge %s: %w", e.self.Name, err)
	}

	var cache *cdn.Cache
	if len(t.CDN.Distributions) > 0 {
		dists, err := cacheConfig(t, checker, measured)
		if err != nil {
			return fmt.Errorf("edge %s: %w", e.self.Name, err)
		}
		if cache, err = cdn.New(cdn.Config{
			Distributions: dists, MaxBytes: t.CDN.MaxBytes,
			Dial: fabric.DialContext, Logger: e.log, Registerer: e.reg,
		}); err != nil {
			return fmt.Errorf("edge %s: %w", e.self.Name, err)
		}
		defer func() { _ = cache.Close() }()
	}
	// serveHTTP serves the edge's HTTP port: the accelerator with the cache
	// in front, or the cache alone where no region runs a load balancer (a
	// deployment of DNS and buckets only), or nothing.
	var serveHTTP func(ctx context.Context, ln net.Listener) error
	var proxy *edgeproxy.Proxy
	regions := proxyRegions(t)
	switch {
	case len(regions) > 0:
		if proxy, err = e.newProxy(t, regions, checker, measured, fabric, cache); err != nil {
			return err
		}
		serveHTTP = proxy.Serve
	case cache != nil:
		e.log.Info("no region runs a load balancer: the edge's HTTP port serves the cache only", "component", "edge")
		serveHTTP = func(ctx context.Context, ln net.Listener) error {
			return serveCache(ctx, ln, newRouter(t, cache, noRegion{}))
		}
	default:
		e.log.Info("no region runs a load balancer and no distribution is configured: the edge serves DNS only", "component", "edge")
	}

	var httpLn net.Listener
	if serveHTTP != nil {
		if httpLn, err = net.Listen("tcp", e.self.HTTPAddr()); err != nil {
			return fmt.Errorf("listening on the edge's HTTP port: %w", err)
		}
	}
	adminLn, err := net.Listen("tcp", e.self.AdminAddr())
	if err != nil {
		if httpLn != nil {
			_ = httpLn.Close()
		}
		return fmt.Errorf("listening on the edge's admin port: %w", err)
	}
	admin := &http.Server{
		Handler:           admintoken.Guard(token, e.adminHandler(fabric, checker, proxy, cache)),
		ReadHeaderTimeout: 5 * time.Second,
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return checker.Run(gctx) })
	g.Go(func() error { return dnsSrv.Run(gctx) })
	if serveHTTP != nil {
		g.Go(func() error { return serveHTTP(gctx, httpLn) })
	}
	g.Go(func() error {
		if err := admin.Serve(adminLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("admin server: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = admin.Shutdown(sctx)
		return nil
	})
	g.Go(func() error {
		select {
		case <-dnsSrv.Ready():
		case <-gctx.Done():
			return nil
		}
		e.serving.Store(true)
		close(e.ready)
		e.log.Info("edge serving", "component", "edge", "dns", e.self.DNSAddr(), "http", e.self.HTTPAddr(), "admin", e.self.AdminAddr())
		return nil
	})
	err = g.Wait()
	if ctx.Err() != nil {
		e.log.Info("edge stopped", "component", "edge")
		return nil
	}
	return err
}

// newProxy builds the accelerator to regions, with the cache in front.
func (e *Edge) newProxy(t *topology.Topology, regions []edgeproxy.Region, checker *health.Checker, measured measuredRTT, fabric *chaos.Fabric, cache *cdn.Cache) (*edgeproxy.Proxy, error) {
	// Where nothing is simulated the accelerator dials TCP itself, and
	// serves its plain requests on the server's event loops.
	var dial edgeproxy.DialFunc
	if fabric.Simulated() {
		dial = fabric.DialContext
	}
	var rt *router
	if cache != nil {
		rt = newRouter(t, cache, nil)
	}
	proxy, err := edgeproxy.New(edgeproxy.Config{
		Name:       e.self.Name,
		Regions:    regions,
		Health:     checker,
		RTT:        measured,
		Dial:       dial,
		Logger:     e.log,
		Registerer: e.reg,
		Wrap: func(proxy http.Handler) http.Handler {
			if rt == nil {
				return proxy
			}
			rt.proxy = proxy
			return rt
		},
		Wrapped: func(r *http.Request) bool { return rt != nil && rt.claims(r) },
	})
	if err != nil {
		return nil, fmt.Errorf("edge %s: %w", e.self.Name, err)
	}
	return proxy, nil
}

// noRegion answers the requests no distribution takes when no region runs
// a load balancer.
type noRegion struct{}

func (noRegion) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	http.Error(w, "no region runs a load balancer behind this edge", http.StatusServiceUnavailable)
}

// serveCache serves h on ln with the proxy's server and default limits
// until ctx ends.
func serveCache(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &h1.Server{
		Handler:           h,
		MaxHeaderBytes:    edgeproxy.DefaultMaxHeaderBytes,
		ReadHeaderTimeout: edgeproxy.DefaultReadHeaderTimeout,
		ReadTimeout:       edgeproxy.DefaultReadTimeout,
		WriteTimeout:      edgeproxy.DefaultWriteTimeout,
		IdleTimeout:       edgeproxy.DefaultIdleTimeout,
		HTTP2:             true,
	}
	go func() {
		<-ctx.Done()
		_ = srv.Shutdown(edgeproxy.DefaultShutdownTimeout)
	}()
	if err := srv.Serve(ln); err != nil {
		return fmt.Errorf("edge cache server: %w", err)
	}
	return nil
}

// Status is what the edge's /admin/status reports.
type Status struct {
	Edge     string                   `json:"edge"`
	Location string                   `json:"location"`
	Health   health.Status            `json:"health"`
	Regions  []edgeproxy.RegionStatus `json:"regions"`
	Chaos    chaos.State              `json:"chaos"`
}

func (e *Edge) adminHandler(fabric *chaos.Fabric, checker *health.Checker, proxy *edgeproxy.Proxy, cache *cdn.Cache) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !e.serving.Load() {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(e.reg, promhttp.HandlerOpts{}))
	mux.Handle(health.Path, checker.Handler())
	mux.Handle("/admin/chaos", fabric.Handler())
	if cache != nil {
		mux.Handle("/cdn/", cache.AdminHandler())
	}
	mux.HandleFunc("GET /admin/status", func(w http.ResponseWriter, _ *http.Request) {
		s := Status{Edge: e.self.Name, Location: e.self.Location, Health: checker.Status(), Regions: []edgeproxy.RegionStatus{}, Chaos: fabric.State()}
		if proxy != nil {
			s.Regions = proxy.Status()
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(s) // the client went away; nothing to do
	})
	return mux
}

// proxyRegions lists the regions that run a load balancer (those with
// instance groups), each by its first node's balancer.
func proxyRegions(t *topology.Topology) []edgeproxy.Region {
	var regions []edgeproxy.Region
	for _, r := range t.Regions {
		if len(r.Groups) == 0 || len(r.Nodes) == 0 {
			continue
		}
		regions = append(regions, edgeproxy.Region{
			ID: r.Name, URL: "http://" + r.Nodes[0].LBAddr(), HealthCheck: r.Name,
			Weight: r.Traffic.Weight, TrafficDial: r.Traffic.Dial,
		})
	}
	return regions
}

// networks is the topology's client networks as a DNS locator.
func networks(t *topology.Topology) dns.Networks {
	var n dns.Networks
	for _, cn := range t.Clients.Networks {
		p, err := netip.ParsePrefix(cn.CIDR)
		if err != nil {
			continue // Validate refused it already
		}
		n = append(n, dns.Network{Prefix: p.Masked(), Location: cn.Location})
	}
	return n
}

// measuredRTT is the edge's own measurement of its round trip to each
// region: the health checker's probe round trip to the region's first
// node.
type measuredRTT struct {
	t       *topology.Topology
	checker *health.Checker
}

func (m measuredRTT) RTT(region string) (time.Duration, bool) {
	if m.checker == nil {
		return 0, false
	}
	r, ok := m.t.Region(region)
	if !ok || len(r.Nodes) == 0 {
		return 0, false
	}
	return m.checker.RTT(r.Nodes[0].Name)
}

// latencies answers DNS latency routing: for clients in the edge's own
// location the edge's measurement, else the topology's table.
type latencies struct {
	t        *topology.Topology
	here     string
	measured measuredRTT
}

func (l latencies) Latency(location, region string) (time.Duration, bool) {
	if location != "" && location == l.here {
		if d, ok := l.measured.RTT(region); ok {
			return d, true
		}
	}
	return l.t.Clients.LatencyTo(location, region)
}
