// Package lb is a region's layer-7 load balancer (Meridian's ALB): it serves
// HTTP/1.1 on the region's port 8080, routes each request by host and path
// prefix to a target group, and proxies it to one of the group's healthy
// targets (round robin or least outstanding requests, with slow start),
// retrying on another target when a connection fails. Targets are added and
// removed at run time by the instance supervisor (Register, Deregister with
// connection draining) and are admitted only after the balancer's own active
// health checks pass. Stats feeds autoscaling.
//
// Imported by the region node and the instance supervisor; it imports no
// other Meridian package.
package lb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meridian-platform/meridian/internal/h1"
	"github.com/meridian-platform/meridian/internal/loglimit"
)

// LB is a regional load balancer. Its methods are safe for concurrent use.
type LB struct {
	cfg    Config
	log    *slog.Logger
	m      *metrics
	rules  []rule
	def    *group
	groups map[string]*group
	srv    *h1.Server
	probe  *http.Client
	limit  *loglimit.Limiter

	mu      sync.Mutex
	running bool
	pending []*target // health checkers to start
	kick    chan struct{}
}

// New builds a load balancer; Run serves it.
func New(cfg Config) (*LB, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("load balancer config: %w", err)
	}
	cfg.setDefaults()
	l := &LB{
		cfg:    cfg,
		log:    cfg.Logger.With("component", "lb"),
		m:      newMetrics(cfg.Registerer),
		groups: map[string]*group{},
		kick:   make(chan struct{}, 1),
	}
	l.limit = loglimit.New(l.log, cfg.Now)
	for _, gc := range cfg.TargetGroups {
		l.groups[gc.Name] = newGroup(l, gc)
	}
	for _, r := range cfg.Rules {
		l.rules = append(l.rules, compileRule(r, l.groups[r.Group]))
	}
	l.def = l.groups[cfg.DefaultGroup]
	l.probe = &http.Client{
		Transport: &http.Transport{DisableKeepAlives: true, DisableCompression: true,
			DialContext: (&net.Dialer{}).DialContext},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	l.srv = &h1.Server{
		Handler:           l,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		Rejected:          func(reason string) { l.m.rejected.WithLabelValues(reason).Inc() },
		Logger:            l.log,
		Proxy:             l,
	}
	return l, nil
}

// Run serves until ctx is cancelled, then stops accepting, waits up to
// ShutdownTimeout for in-flight requests and stops the health checks.
func (l *LB) Run(ctx context.Context) error {
	l.mu.Lock()
	if l.running {
		l.mu.Unlock()
		return errors.New("load balancer is already running")
	}
	l.running = true
	l.mu.Unlock()

	ln := l.cfg.Listener
	if ln == nil {
		var err error
		if ln, err = (&net.ListenConfig{}).Listen(ctx, "tcp", l.cfg.Listen); err != nil {
			return fmt.Errorf("load balancer listening on %s: %w", l.cfg.Listen, err)
		}
	}
	l.log.Info("load balancer serving", "addr", ln.Addr().String())

	checkCtx, stopChecks := context.WithCancel(ctx)
	defer stopChecks()
	var checkers sync.WaitGroup
	serveErr := make(chan error, 1)
	go func() { serveErr <- l.srv.Serve(ln) }()

	var err error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case err = <-serveErr:
			err = fmt.Errorf("load balancer serving: %w", err)
			break loop
		case <-l.kick:
			l.startCheckers(checkCtx, &checkers)
		}
	}
	if serr := l.srv.Shutdown(l.cfg.ShutdownTimeout); serr != nil {
		l.log.Warn("load balancer shutdown cut in-flight requests short", "err", serr)
	}
	if err == nil {
		if serr := <-serveErr; serr != nil {
			err = fmt.Errorf("load balancer serving: %w", serr)
		}
	}
	stopChecks()
	checkers.Wait()
	for _, g := range l.groups {
		g.mu.Lock()
		for _, t := range g.targets {
			t.up.CloseIdle(false)
		}
		g.mu.Unlock()
	}
	l.mu.Lock()
	l.running = false
	l.mu.Unlock()
	return err
}

// startCheckers starts the health checks of newly registered targets.
func (l *LB) startCheckers(ctx context.Context, wg *sync.WaitGroup) {
	l.mu.Lock()
	ts := l.pending
	l.pending = nil
	l.mu.Unlock()
	for _, t := range ts {
		g := t.g
		g.mu.Lock()
		if t.started || t.draining.Load() {
			g.mu.Unlock()
			continue
		}
		cctx, cancel := context.WithCancel(ctx)
		t.stopCheck, t.started = cancel, true
		g.mu.Unlock()
		wg.Go(func() { l.check(cctx, t) })
	}
}

// check runs one target's health checks until ctx is cancelled (Run ends or
// the target is deregistered). The first check runs at once.
func (l *LB) check(ctx context.Context, t *target) {
	hc := t.g.cfg.HealthCheck
	url := "http://" + t.addr + hc.Path
	tick := time.NewTicker(hc.Interval)
	defer tick.Stop()
	for {
		ok, reason := l.probeOnce(ctx, url, hc.Timeout)
		if ctx.Err() != nil {
			return
		}
		t.g.probeResult(t, ok, reason)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (l *LB) probeOnce(ctx context.Context, url string, timeout time.Duration) (bool, string) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false, err.Error()
	}
	req.Header.Set("User-Agent", "meridian-lb-health-check")
	resp, err := l.probe.Do(req)
	if err != nil {
		return false, err.Error()
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 399 {
		return false, "health check answered " + resp.Status
	}
	return true, ""
}

func (l *LB) group(name string) (*group, error) {
	g, ok := l.groups[name]
	if !ok {
		return nil, fmt.Errorf("unknown target group %q", name)
	}
	return g, nil
}

// Register adds a target (an instance listening on addr, host:port) to a
// group. It receives traffic once HealthyThreshold consecutive health checks
// pass. Registering an id again with the same address does nothing; with
// another address it replaces the old target at once (no draining).
func (l *LB) Register(group, id, addr string) error {
	g, err := l.group(group)
	if err != nil {
		return err
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("registering target %q in %q: address %q is not host:port: %w", id, group, addr, err)
	}
	g.mu.Lock()
	old := g.find(id)
	if old != nil && old.addr == addr {
		g.mu.Unlock()
		return nil
	}
	t := &target{id: id, addr: addr, g: g, up: l.newPool(addr), state: StateInitial, drained: make(chan struct{})}
	g.targets = append(g.targets, t)
	if old != nil {
		// A new address for the same id: the old one is gone (its process
		// was replaced), so it leaves at once, without draining.
		old.draining.Store(true)
		old.state = StateDraining
		if old.stopCheck != nil {
			old.stopCheck()
		}
		old.started = true
		for i, x := range g.targets {
			if x == old {
				g.targets = append(g.targets[:i:i], g.targets[i+1:]...)
				break
			}
		}
		old.up.CloseIdle(true)
	}
	g.rebuildLocked()
	g.mu.Unlock()
	l.log.Info("target registered", "group", group, "target", id, "addr", addr)

	l.mu.Lock()
	l.pending = append(l.pending, t)
	l.mu.Unlock()
	select {
	case l.kick <- struct{}{}:
	default:
	}
	return nil
}

// Deregister stops sending new requests to a target at once, then waits
// until its in-flight requests have finished or the group's
// DeregistrationDelay has passed, and forgets it. An unknown id is not an
// error. If ctx ends first the target is forgotten anyway and ctx's error is
// returned.
func (l *LB) Deregister(ctx context.Context, group, id string) error {
	g, err := l.group(group)
	if err != nil {
		return err
	}
	g.mu.Lock()
	t := g.find(id)
	if t == nil {
		g.mu.Unlock()
		return nil
	}
	if !t.draining.Load() {
		t.draining.Store(true)
		prev := t.state
		t.state = StateDraining
		if t.stopCheck != nil {
			t.stopCheck()
		}
		t.started = true
		g.rebuildLocked()
		l.log.Info("target draining", "group", group, "target", id, "from", string(prev),
			"in_flight", t.inflight.Load())
	}
	g.mu.Unlock()
	if t.inflight.Load() == 0 {
		t.drainEnd.Do(func() { close(t.drained) })
	}

	timer := time.NewTimer(g.cfg.DeregistrationDelay)
	defer timer.Stop()
	select {
	case <-t.drained:
	case <-timer.C:
		l.log.Warn("deregistration delay passed with requests in flight",
			"group", group, "target", id, "in_flight", t.inflight.Load())
	case <-ctx.Done():
		err = fmt.Errorf("draining target %q of %q: %w", id, group, ctx.Err())
	}

	g.mu.Lock()
	for i, x := range g.targets {
		if x == t {
			g.targets = append(g.targets[:i:i], g.targets[i+1:]...)
			break
		}
	}
	g.rebuildLocked()
	g.mu.Unlock()
	t.up.CloseIdle(true)
	l.m.requests.DeletePartialMatch(prometheus.Labels{"group": group, "target": id})
	l.log.Info("target deregistered", "group", group, "target", id)
	return err
}

// Stats lists a group's registered targets, draining ones included, in
// registration order.
func (l *LB) Stats(group string) ([]TargetStats, error) {
	g, err := l.group(group)
	if err != nil {
		return nil, err
	}
	return g.stats(), nil
}

// WaitHealthy blocks until the target is healthy (receiving traffic), or
// ctx ends, or the target is deregistered.
func (l *LB) WaitHealthy(ctx context.Context, group, id string) error {
	g, err := l.group(group)
	if err != nil {
		return err
	}
	for {
		g.mu.Lock()
		t := g.find(id)
		state, changed := State(""), g.changed
		if t != nil {
			state = t.state
		}
		g.mu.Unlock()
		switch state {
		case StateHealthy:
			return nil
		case "", StateDraining:
			return fmt.Errorf("target %q of %q is not registered", id, group)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for target %q of %q to be healthy (%s): %w", id, group, state, ctx.Err())
		case <-changed:
		}
	}
}

// newPool is the keep-alive connection pool to a target.
func (l *LB) newPool(addr string) *h1.Pool {
	d := &net.Dialer{Timeout: l.cfg.ConnectTimeout, KeepAlive: 30 * time.Second}
	return &h1.Pool{Addr: addr, Dial: d.DialContext, ConnectTimeout: l.cfg.ConnectTimeout,
		HeaderTimeout: l.cfg.UpstreamTimeout, MaxIdle: l.cfg.MaxIdlePerTarget}
}
