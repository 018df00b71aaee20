package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
)

type dialFunc = func(ctx context.Context, network, addr string) (net.Conn, error)

// Checker probes its checks, shares its verdicts with its peers and answers
// with the global verdicts. All methods are safe for concurrent use; Health,
// RTT, Status and Handler work before and after Run.
type Checker struct {
	cfg    Config
	log    *slog.Logger
	now    func() time.Time
	prober *prober
	m      *metrics
	// boot distinguishes this process's versions from an earlier run's.
	boot string
	// n is the number of configured checkers: this one and its peers.
	n int

	checks []*checkState // in configuration order
	byID   map[string]*checkState
	// order lists the checks children first, for computing calculated ones.
	order []*checkState
	peers []*peerState

	// global is the published global verdict per check ID, read without
	// locking by Health on every DNS query.
	global  atomic.Pointer[map[string]Verdict]
	running atomic.Bool

	mu sync.Mutex
	// pending holds the log lines of verdict changes made under mu; they are
	// written by unlock, outside mu but in order, under logMu.
	pending []logLine
	logMu   sync.Mutex
	// version counts changes of the local verdicts.
	version uint64
	// changed is closed and replaced when version changes.
	changed chan struct{}
}

// checkState is one check's state; fields below mu are guarded by
// Checker.mu.
type checkState struct {
	cfg Check

	tracker   tracker
	local     Verdict // after Invert; "" for calculated checks
	global    Verdict
	lastErr   string
	lastProbe time.Time
	last      result
	rtts      rttWindow
}

// peerState is what this checker knows of one peer; fields below url are
// guarded by Checker.mu.
type peerState struct {
	cfg Peer
	url string

	verdicts  map[string]Verdict
	version   string
	refreshed time.Time // zero until the first successful fetch
	lastErr   string
}

// New builds a Checker from cfg after applying defaults and validating it.
func New(cfg Config) (*Checker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("health check configuration: %w", err)
	}
	cfg.setDefaults()
	c := &Checker{
		cfg:     cfg,
		log:     cfg.Logger.With("component", "health", "checker", cfg.Name),
		now:     cfg.Now,
		prober:  newProber(cfg),
		m:       newMetrics(cfg.Registerer),
		boot:    strconv.FormatInt(cfg.Now().UnixNano(), 36),
		n:       1 + len(cfg.Peers),
		byID:    make(map[string]*checkState, len(cfg.Checks)),
		changed: make(chan struct{}),
	}
	for _, k := range cfg.Checks {
		cs := &checkState{cfg: k, global: Unknown}
		if k.Type != Calculated {
			cs.tracker = newTracker(k.FailureThreshold)
			cs.local = Unknown.invert(k.Invert)
		}
		c.checks = append(c.checks, cs)
		c.byID[k.ID] = cs
	}
	seen := map[string]bool{}
	var visit func(cs *checkState)
	visit = func(cs *checkState) {
		if seen[cs.cfg.ID] {
			return
		}
		seen[cs.cfg.ID] = true
		for _, ch := range cs.cfg.Children {
			visit(c.byID[ch])
		}
		c.order = append(c.order, cs)
	}
	for _, cs := range c.checks {
		visit(cs)
	}
	for _, p := range cfg.Peers {
		c.peers = append(c.peers, &peerState{cfg: p, url: peerURL(p.URL)})
	}
	global := make(map[string]Verdict, len(c.checks))
	for _, cs := range c.checks {
		global[cs.cfg.ID] = Unknown
		c.m.setVerdict(cs.cfg.ID, "global", Unknown)
		if cs.cfg.Type != Calculated {
			c.m.setVerdict(cs.cfg.ID, "local", cs.local)
		}
	}
	c.global.Store(&global)
	for _, p := range c.peers {
		c.m.setFresh(p.cfg.Name, false)
	}
	return c, nil
}

// Run probes the checks and polls the peers until ctx is cancelled, then
// returns nil. It may run once at a time.
func (c *Checker) Run(ctx context.Context) error {
	if !c.running.CompareAndSwap(false, true) {
		return errors.New("health checker is already running")
	}
	defer c.running.Store(false)
	defer c.prober.client.CloseIdleConnections()
	peerClient := newPeerClient(c.cfg)
	defer peerClient.CloseIdleConnections()

	g, ctx := errgroup.WithContext(ctx)
	// Each goroutine returns nil once ctx is done.
	for _, cs := range c.checks {
		if cs.cfg.Type != Calculated {
			g.Go(func() error { return c.probeLoop(ctx, cs) })
		}
	}
	for _, p := range c.peers {
		g.Go(func() error { return c.pollLoop(ctx, peerClient, p) })
	}
	g.Go(func() error { return c.sweepLoop(ctx) })
	return g.Wait()
}

// probeLoop probes one check every Interval until ctx is done.
func (c *Checker) probeLoop(ctx context.Context, cs *checkState) error {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		start := time.Now()
		r := c.prober.probe(ctx, cs.cfg)
		if ctx.Err() != nil {
			return nil // a probe cut short by shutdown says nothing
		}
		c.record(cs, r)
		t.Reset(cs.cfg.Interval - time.Since(start))
	}
}

// sweepLoop recomputes the global verdicts as peers' verdicts expire.
func (c *Checker) sweepLoop(ctx context.Context) error {
	// A peer's verdicts stop counting at most ExpireAfter/4 late.
	t := time.NewTicker(c.cfg.ExpireAfter / 4)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			c.mu.Lock()
			c.recompute()
			c.unlock()
		}
	}
}

// record applies one probe result.
func (c *Checker) record(cs *checkState, r result) {
	c.m.probed(cs.cfg.ID, r.err == nil)
	c.mu.Lock()
	defer c.unlock()
	cs.lastProbe = c.now()
	cs.last = r
	if r.err == nil {
		cs.lastErr = ""
		cs.rtts.add(r.rtt(cs.cfg.Type))
		if d, ok := cs.rtts.median(); ok {
			c.m.setRTT(cs.cfg.ID, d)
		}
	} else {
		cs.lastErr = r.err.Error()
	}
	if !cs.tracker.observe(r.err == nil) {
		return
	}
	old := cs.local
	cs.local = cs.tracker.verdict.invert(cs.cfg.Invert)
	if cs.local == old {
		return
	}
	attrs := []any{"check", cs.cfg.ID, "from", old, "to", cs.local}
	if r.err != nil {
		attrs = append(attrs, "err", r.err)
	}
	c.pending = append(c.pending, logLine{"local verdict changed", attrs})
	c.m.changed(cs.cfg.ID, "local", cs.local)
	c.version++
	close(c.changed)
	c.changed = make(chan struct{})
	c.recompute()
}

// logLine is one pending log line.
type logLine struct {
	msg   string
	attrs []any
}

// unlock releases c.mu and then writes the pending log lines, so that a log
// handler may call back into the Checker.
func (c *Checker) unlock() {
	lines := c.pending
	c.pending = nil
	if len(lines) == 0 {
		c.mu.Unlock()
		return
	}
	c.logMu.Lock() // before releasing mu: lines are written in the order they were made
	c.mu.Unlock()
	defer c.logMu.Unlock()
	for _, l := range lines {
		c.log.Info(l.msg, l.attrs...) //nolint:sloglint // replays lines whose messages were static where they were made
	}
}

// fresh reports whether p's verdicts still count. c.mu is held.
func (c *Checker) fresh(p *peerState, now time.Time) bool {
	return !p.refreshed.IsZero() && now.Sub(p.refreshed) < c.cfg.ExpireAfter
}

// votes returns every configured checker's current vote on cs, this checker
// first; an expired peer votes Unknown. c.mu is held.
func (c *Checker) votes(cs *checkState, now time.Time) []Verdict {
	v := make([]Verdict, 0, c.n)
	v = append(v, cs.local)
	for _, p := range c.peers {
		if vote, ok := p.verdicts[cs.cfg.ID]; ok && c.fresh(p, now) {
			v = append(v, vote)
		} else {
			v = append(v, Unknown)
		}
	}
	return v
}

// recompute derives the global verdicts from the votes, logs and publishes
// the changes. c.mu is held.
func (c *Checker) recompute() {
	now := c.now()
	for _, p := range c.peers {
		c.m.setFresh(p.cfg.Name, c.fresh(p, now))
	}
	type change struct {
		cs       *checkState
		from, to Verdict
	}
	var changes []change
	for _, cs := range c.order {
		var v Verdict
		if cs.cfg.Type == Calculated {
			children := make([]Verdict, len(cs.cfg.Children))
			for i, id := range cs.cfg.Children {
				children[i] = c.byID[id].global
			}
			v = combine(children, cs.cfg.HealthyThreshold).invert(cs.cfg.Invert)
		} else {
			v = majority(c.votes(cs, now), c.n)
		}
		if v != cs.global {
			changes = append(changes, change{cs, cs.global, v})
			cs.global = v
		}
	}
	if len(changes) == 0 {
		return
	}
	// Publish before logging, so that whoever reads the log line sees the
	// new verdict in Health.
	global := make(map[string]Verdict, len(c.checks))
	for _, cs := range c.checks {
		global[cs.cfg.ID] = cs.global
	}
	c.global.Store(&global)
	for _, ch := range changes {
		c.pending = append(c.pending, logLine{"global verdict changed", []any{"check", ch.cs.cfg.ID,
			"from", ch.from, "to", ch.to, "unhealthy_votes", c.unhealthyVotes(ch.cs, now), "checkers", c.n}})
		c.m.changed(ch.cs.cfg.ID, "global", ch.to)
	}
}

// unhealthyVotes counts the unhealthy votes on an http or tcp check; 0 for
// calculated checks. c.mu is held.
func (c *Checker) unhealthyVotes(cs *checkState, now time.Time) int {
	if cs.cfg.Type == Calculated {
		return 0
	}
	n := 0
	for _, v := range c.votes(cs, now) {
		if v == Unhealthy {
			n++
		}
	}
	return n
}

// Health reports the global verdict of check id; known is false while there
// is none yet (or id is not a configured check), and healthy is then true.
// It satisfies the DNS server's Health interface.
func (c *Checker) Health(id string) (healthy, known bool) {
	switch (*c.global.Load())[id] {
	case Healthy:
		return true, true
	case Unhealthy:
		return false, true
	}
	return true, false
}

// Verdict returns the global verdict of check id (Unknown for an unknown id).
func (c *Checker) Verdict(id string) Verdict {
	if v, ok := (*c.global.Load())[id]; ok {
		return v
	}
	return Unknown
}

// RTT returns this checker's round-trip time to the target of an http or
// tcp check: the median of its last five successful probes. A sample is the
// time to establish the probe's new connection, one TCP handshake: the
// network's round trip, without the target's time to answer, which on a
// busy host would make the nearest region look farther than it is. ok is
// false before the first successful probe and for calculated or unknown
// checks.
func (c *Checker) RTT(id string) (time.Duration, bool) {
	cs, ok := c.byID[id]
	if !ok {
		return 0, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return cs.rtts.median()
}

// versionString is the local verdicts' version as published. c.mu is held.
func (c *Checker) versionString() string {
	return c.boot + "-" + strconv.FormatUint(c.version, 10)
}
