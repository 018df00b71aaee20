package lb

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meridian-platform/meridian/internal/h1"
)

// State is a target's state in its group.
type State string

// Target states, as AWS names them.
const (
	// StateInitial: registered, not yet passed HealthyThreshold checks.
	StateInitial State = "initial"
	// StateHealthy: receiving traffic.
	StateHealthy State = "healthy"
	// StateUnhealthy: failed UnhealthyThreshold checks (or refused a
	// connection); receives nothing until it passes HealthyThreshold checks.
	StateUnhealthy State = "unhealthy"
	// StateDraining: being deregistered; receives no new requests.
	StateDraining State = "draining"
)

// TargetStats describes one registered target.
type TargetStats struct {
	ID    string `json:"id"`
	Addr  string `json:"addr"`
	State State  `json:"state"`
	// InFlight is the number of requests the target is serving now.
	InFlight int64 `json:"in_flight"`
	// Requests is the number of requests sent to it since registration
	// (retried attempts included).
	Requests uint64 `json:"requests"`
	// Weight is its current share relative to a fully warmed target (below 1
	// during slow start, 0 when it gets no traffic).
	Weight float64 `json:"weight"`
}

// target is one registered instance.
type target struct {
	id, addr string
	g        *group
	up       *h1.Pool

	inflight atomic.Int64
	requests atomic.Uint64
	draining atomic.Bool
	drained  chan struct{}
	drainEnd sync.Once
	codes    sync.Map // int status code -> prometheus.Counter

	// Guarded by g.mu.
	state        State
	okRun        int
	failRun      int
	healthySince time.Time
	stopCheck    context.CancelFunc
	started      bool // health checker started (or deliberately not)

	// Guarded by g.swrrMu: smooth weighted round robin's current weight.
	current int64
}

// acquire counts a request against t; it fails when t began draining, so a
// request never reaches a target whose Deregister saw it idle.
func (t *target) acquire() bool {
	t.inflight.Add(1)
	if t.draining.Load() {
		t.release()
		return false
	}
	t.requests.Add(1)
	return true
}

func (t *target) release() {
	if t.inflight.Add(-1) == 0 && t.draining.Load() {
		t.drainEnd.Do(func() { close(t.drained) })
	}
}

func (t *target) counter(code int) prometheus.Counter {
	if c, ok := t.codes.Load(code); ok {
		return c.(prometheus.Counter)
	}
	c := t.g.lb.m.requests.WithLabelValues(t.g.cfg.Name, t.id, strconv.Itoa(code))
	t.codes.Store(code, c)
	return c
}

// pool is an immutable snapshot of the targets that receive traffic.
type pool struct {
	targets []*target
	// slowUntil is when the last target in slow start leaves it.
	slowUntil time.Time
	since     []time.Time // healthySince per target, for weights
}

// group is a target group.
type group struct {
	cfg     TargetGroup
	lb      *LB
	latency prometheus.Observer

	ready atomic.Pointer[pool]
	rr    atomic.Uint64

	swrrMu sync.Mutex

	mu      sync.Mutex
	targets []*target // registration order, draining ones included
	changed chan struct{}
}

func newGroup(l *LB, cfg TargetGroup) *group {
	g := &group{cfg: cfg, lb: l, changed: make(chan struct{}),
		latency: l.m.latency.WithLabelValues(cfg.Name)}
	g.ready.Store(&pool{})
	l.m.healthy.WithLabelValues(cfg.Name).Set(0)
	return g
}

func (g *group) find(id string) *target {
	for _, t := range g.targets {
		if t.id == id {
			return t
		}
	}
	return nil
}

// rebuildLocked publishes a new pool and wakes waiters. g.mu must be held.
func (g *group) rebuildLocked() {
	p := &pool{}
	for _, t := range g.targets {
		if t.state != StateHealthy || t.draining.Load() {
			continue
		}
		p.targets = append(p.targets, t)
		p.since = append(p.since, t.healthySince)
		if end := t.healthySince.Add(g.cfg.SlowStart); end.After(p.slowUntil) {
			p.slowUntil = end
		}
	}
	g.ready.Store(p)
	g.lb.m.healthy.WithLabelValues(g.cfg.Name).Set(float64(len(p.targets)))
	close(g.changed)
	g.changed = make(chan struct{})
}

// minWeight is the share of a target at the very start of slow start, so
// that it gets some traffic to warm up with.
const minWeight = 0.01

func (g *group) weight(since, now time.Time) float64 {
	if g.cfg.SlowStart <= 0 {
		return 1
	}
	w := float64(now.Sub(since)) / float64(g.cfg.SlowStart)
	return min(max(w, minWeight), 1)
}

// pick chooses a target for a request, skipping the ones in tried. It
// returns nil when no healthy target is left.
func (g *group) pick(tried []*target) *target {
	p := g.ready.Load()
	n := len(p.targets)
	if n == 0 {
		return nil
	}
	if len(tried) > 0 {
		// A retry takes the next target without moving the turn on: a
		// failing target must not make every request start on it.
		start := int((g.rr.Load() + 1) % uint64(n)) //nolint:gosec // less than n, an int
		for i := range n {
			t := p.targets[(start+i)%n]
			if !contains(tried, t) {
				return t
			}
		}
		return nil
	}
	var now time.Time
	slow := false
	if g.cfg.SlowStart > 0 {
		now = g.lb.cfg.Now()
		slow = now.Before(p.slowUntil)
	}
	if g.cfg.Algorithm == LeastOutstanding {
		return g.leastOutstanding(p, slow, now)
	}
	if slow {
		return g.smoothWeighted(p, now)
	}
	return p.targets[g.rr.Add(1)%uint64(n)]
}

func contains(ts []*target, t *target) bool {
	for _, x := range ts {
		if x == t {
			return true
		}
	}
	return false
}

// leastOutstanding returns the target with the fewest requests in flight
// (divided by its slow-start weight), taking turns among equals.
func (g *group) leastOutstanding(p *pool, slow bool, now time.Time) *target {
	n := len(p.targets)
	start := int(g.rr.Add(1) % uint64(n)) //nolint:gosec // less than n, an int
	var best *target
	bestScore := 0.0
	for i := range n {
		j := (start + i) % n
		t := p.targets[j]
		score := float64(t.inflight.Load() + 1)
		if slow {
			score /= g.weight(p.since[j], now)
		}
		if best == nil || score < bestScore {
			best, bestScore = t, score
		}
	}
	return best
}

// smoothWeighted is nginx's smooth weighted round robin, used while a target
// is in slow start: each pick adds every target's weight to its current
// value, takes the largest and subtracts the total from it.
func (g *group) smoothWeighted(p *pool, now time.Time) *target {
	g.swrrMu.Lock()
	defer g.swrrMu.Unlock()
	var best *target
	var total int64
	for i, t := range p.targets {
		w := int64(g.weight(p.since[i], now) * 1000)
		t.current += w
		total += w
		if best == nil || t.current > best.current {
			best = t
		}
	}
	best.current -= total
	return best
}

// probeResult applies one health check outcome.
func (g *group) probeResult(t *target, ok bool, reason string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if t.draining.Load() || t.state == StateDraining {
		return
	}
	hc := g.cfg.HealthCheck
	if ok {
		t.okRun++
		t.failRun = 0
		if t.state != StateHealthy && t.okRun >= hc.HealthyThreshold {
			g.setStateLocked(t, StateHealthy, "")
		}
		return
	}
	t.failRun++
	t.okRun = 0
	if t.state != StateUnhealthy && t.failRun >= hc.UnhealthyThreshold {
		g.setStateLocked(t, StateUnhealthy, reason)
	}
}

// refused takes a target that refused a proxied connection out of rotation
// at once; health checks bring it back.
func (g *group) refused(t *target, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if t.state != StateHealthy || t.draining.Load() {
		return
	}
	t.okRun = 0
	g.setStateLocked(t, StateUnhealthy, fmt.Sprintf("refused a connection: %v", err))
}

func (g *group) setStateLocked(t *target, s State, reason string) {
	prev := t.state
	t.state = s
	if s == StateHealthy {
		t.healthySince = g.lb.cfg.Now()
		if len(g.ready.Load().targets) == 0 {
			// Nothing to share the load with: no slow start.
			t.healthySince = t.healthySince.Add(-g.cfg.SlowStart)
		}
	}
	g.rebuildLocked()
	if s != StateHealthy && prev == StateHealthy {
		t.up.CloseIdle(false)
	}
	g.lb.m.transitns.WithLabelValues(g.cfg.Name, string(s)).Inc()
	log := g.lb.log.With("group", g.cfg.Name, "target", t.id, "addr", t.addr, "from", string(prev), "to", string(s))
	if reason != "" {
		log.Warn("target state changed", "reason", reason)
	} else {
		log.Info("target state changed")
	}
}

func (g *group) stats() []TargetStats {
	p := g.ready.Load()
	now := g.lb.cfg.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]TargetStats, 0, len(g.targets))
	for _, t := range g.targets {
		s := TargetStats{ID: t.id, Addr: t.addr, State: t.state,
			InFlight: t.inflight.Load(), Requests: t.requests.Load()}
		if contains(p.targets, t) {
			s.Weight = g.weight(t.healthySince, now)
		}
		out = append(out, s)
	}
	return out
}
