package compute

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"
)

// group supervises one instance group. Its loop (run) is the only writer of
// instance states, the desired count and the failure streak; Status,
// Update and retirements take mu to read or hand over changes.
type group struct {
	s        *Supervisor
	name     string
	log      *slog.Logger
	events   chan event
	kick     chan struct{}
	loopDone chan struct{}
	tasks    sync.WaitGroup // monitors and retirements

	mu        sync.Mutex
	spec      GroupSpec // with defaults
	gen       int       // template generation: bumped by a rolling change
	desired   int
	seq       int
	instances []*instance // in start order, draining ones included
	lastErr   string
	failures  int       // instances in a row that failed before becoming healthy
	nextStart time.Time // real time before which no instance is started
	lastScale time.Time // Config.Now of the last scaling action
	scaled    bool
	evals     int    // scaling evaluations so far (tests wait on it)
	held      string // why the last evaluation held a scale-in back, if it did
	removed   bool
	started   bool          // Run has a loop for it (guarded by Supervisor.mu)
	changed   chan struct{} // closed and replaced on every change

	prev   map[string]TargetStats // loop-owned: last stats, for rates
	prevAt time.Time
}

func (s *Supervisor) newGroup(spec GroupSpec) *group {
	return &group{
		s:        s,
		name:     spec.Name,
		log:      s.log.With("group", spec.Name),
		events:   make(chan event, 16),
		kick:     make(chan struct{}, 1),
		loopDone: make(chan struct{}),
		spec:     spec,
		gen:      1,
		desired:  spec.Desired,
		changed:  make(chan struct{}),
	}
}

func (g *group) kickLoop() {
	select {
	case g.kick <- struct{}{}:
	default:
	}
}

// notify wakes Update waiters. Call with mu held.
func (g *group) notify() {
	close(g.changed)
	g.changed = make(chan struct{})
}

// run supervises the group until ctx ends or the group is removed, then
// drains and stops every instance and returns.
func (g *group) run(ctx context.Context) {
	defer close(g.loopDone)
	g.log.Info("group starting", "command", g.spec.Command, "desired", g.desired, "min", g.spec.Min, "max", g.spec.Max)
	eval := time.NewTicker(g.s.cfg.EvalInterval)
	defer eval.Stop()
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	for {
		if wait := g.reconcile(ctx); wait > 0 {
			retry.Reset(wait)
		}
		select {
		case <-ctx.Done():
			g.shutdown(ctx, "node shutting down")
			return
		case ev := <-g.events:
			g.handle(ctx, ev)
		case <-g.kick:
			g.mu.Lock()
			removed := g.removed
			g.mu.Unlock()
			if removed {
				g.shutdown(ctx, "group removed")
				g.s.forget(g)
				return
			}
		case <-eval.C:
			g.retryRegistrations(ctx)
			g.scale()
		case <-retry.C:
		}
	}
}

// shutdown drains and stops every instance concurrently and waits for them.
func (g *group) shutdown(ctx context.Context, why string) {
	g.mu.Lock()
	n := 0
	for _, inst := range g.instances {
		if inst.state != stateDraining {
			g.retire(ctx, inst, why)
			n++
		}
	}
	g.mu.Unlock()
	g.log.Info("stopping group", "reason", why, "instances", n)
	g.tasks.Wait()
	g.mu.Lock()
	g.updateGauges()
	g.mu.Unlock()
	g.log.Info("group stopped")
}

// apply takes a new spec from Update.
func (g *group) apply(spec GroupSpec) {
	g.mu.Lock()
	old := g.spec
	rolling := !sameTemplate(old, spec)
	if rolling {
		g.gen++
		g.failures, g.nextStart = 0, time.Time{}
	}
	if spec.Desired != old.Desired {
		g.desired = spec.Desired
	}
	g.desired = min(max(g.desired, spec.Min), spec.Max)
	g.spec = spec
	g.notify()
	g.mu.Unlock()
	g.log.Info("group updated", "rolling", rolling, "generation", g.gen, "desired", g.desired, "min", spec.Min, "max", spec.Max)
	g.kickLoop()
}

// converged reports whether every instance runs the current template, is
// healthy, and there are as many as desired. Call with mu held.
func (g *group) converged() bool {
	if len(g.instances) != g.desired {
		return false
	}
	for _, inst := range g.instances {
		if inst.gen != g.gen || inst.state != stateHealthy {
			return false
		}
	}
	return true
}

func (g *group) awaitConverged(ctx context.Context) error {
	for {
		g.mu.Lock()
		ok, ch := g.converged(), g.changed
		healthy, total, desired, lastErr := 0, 0, g.desired, g.lastErr
		for _, inst := range g.instances {
			if inst.gen == g.gen {
				total++
				if inst.state == stateHealthy {
					healthy++
				}
			}
		}
		g.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			msg := fmt.Sprintf("compute: instance group %s has not converged: %d of %d desired instances on the current configuration are healthy (%d started)", g.name, healthy, desired, total)
			if lastErr != "" {
				msg += "; last failure: " + lastErr
			}
			return fmt.Errorf("%s: %w", msg, ctx.Err())
		}
	}
}

// reconcile starts and retires instances to move toward the desired count
// and the current template. It returns how long to wait before trying
// again when a start is held back by the failure backoff.
func (g *group) reconcile(ctx context.Context) time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	defer g.updateGauges()
	var live, old []*instance
	starting, newStarting := 0, 0
	for _, inst := range g.instances {
		if inst.state == stateDraining {
			continue
		}
		live = append(live, inst)
		if inst.state == stateStarting {
			starting++
		}
		if inst.gen != g.gen {
			old = append(old, inst)
		} else if inst.state == stateStarting {
			newStarting++
		}
	}
	switch {
	case len(live) < g.desired:
		return g.startN(ctx, g.desired-len(live), starting)
	case len(old) > 0: // rolling: one extra instance at a time
		if newStarting > 0 {
			return 0 // wait for it to become healthy
		}
		if len(live) > g.desired {
			for _, inst := range pickVictims(old, len(live)-g.desired, false) {
				g.retire(ctx, inst, "replaced by the new configuration")
			}
			return 0
		}
		return g.startN(ctx, 1, starting)
	case len(live) > g.desired:
		for _, inst := range pickVictims(live, len(live)-g.desired, true) {
			g.retire(ctx, inst, "scaling in")
		}
	}
	return 0
}

// pickVictims chooses n instances to stop: ones not yet healthy first, then
// the newest (newestFirst) or the oldest.
func pickVictims(from []*instance, n int, newestFirst bool) []*instance {
	var out []*instance
	for _, inst := range from {
		if len(out) < n && inst.state == stateStarting {
			out = append(out, inst)
		}
	}
	for i := range from {
		if len(out) >= n {
			break
		}
		inst := from[i]
		if newestFirst {
			inst = from[len(from)-1-i]
		}
		if inst.state == stateHealthy {
			out = append(out, inst)
		}
	}
	return out
}

// startN starts up to n instances, one at a time while the group is
// failing. Call with mu held.
func (g *group) startN(ctx context.Context, n, starting int) time.Duration {
	if g.failures > 0 {
		if starting > 0 {
			return 0 // the last attempt is still on its way to healthy
		}
		n = 1
	}
	if wait := time.Until(g.nextStart); wait > 0 {
		return wait
	}
	for range n {
		if err := g.startOne(ctx); err != nil {
			return time.Until(g.nextStart)
		}
	}
	return 0
}

// startOne starts one instance of the current template. Call with mu held.
func (g *group) startOne(ctx context.Context) error {
	g.seq++
	id := g.name + "-" + strconv.Itoa(g.seq)
	port, err := g.s.allocPort()
	if err != nil {
		g.failed(ctx, nil, "start_failed", fmt.Sprintf("starting instance %s: %v", id, err))
		return err
	}
	inst := &instance{
		id: id, gen: g.gen, port: port, spec: g.spec,
		addr:    net.JoinHostPort(g.s.cfg.Host, strconv.Itoa(port)),
		logPath: g.s.logPath(g.name, id),
		done:    make(chan struct{}),
		quit:    make(chan struct{}),
	}
	if err := g.s.startProcess(inst, g.name); err != nil {
		g.s.releasePort(port)
		g.failed(ctx, nil, "start_failed", fmt.Sprintf("starting instance %s: %v", id, err))
		return err
	}
	g.instances = append(g.instances, inst)
	g.notify()
	g.log.Info("instance started", "instance", id, "pid", inst.pid, "addr", inst.addr, "generation", inst.gen, "log", inst.logPath)
	// Exits when the instance is retired or after reporting its failure.
	g.tasks.Go(func() { g.monitor(inst) })
	return nil
}

// handle reacts to a monitor's event.
func (g *group) handle(ctx context.Context, ev event) {
	inst := ev.inst
	g.mu.Lock()
	if inst.state == stateDraining || ((ev.ready || ev.inService) && inst.state != stateStarting) {
		g.mu.Unlock()
		return // already retired, or a stale report
	}
	switch {
	case ev.ready:
		inst.ready = true
		g.mu.Unlock()
		g.register(ctx, inst)
	case ev.inService:
		g.inService(inst)
		g.mu.Unlock()
	default:
		g.failed(ctx, inst, ev.kind, ev.reason)
		g.mu.Unlock()
	}
}

// register hands a ready instance to the load balancer. It runs on the
// group loop without mu: only the loop changes instance states.
func (g *group) register(ctx context.Context, inst *instance) {
	err := g.s.cfg.Targets.Register(g.name, inst.id, inst.addr)
	g.mu.Lock()
	defer g.mu.Unlock()
	if err != nil {
		g.lastErr = fmt.Sprintf("registering instance %s with the load balancer: %v", inst.id, err)
		g.log.Warn("registering instance with the load balancer, will retry", "instance", inst.id, "err", err)
		g.notify()
		return
	}
	inst.registered = true
	w, ok := g.s.cfg.Targets.(HealthWaiter)
	if !ok {
		g.inService(inst)
		return
	}
	timeout := inst.spec.StartTimeout
	// Exits when the load balancer's verdict arrives, the instance is
	// retired or the start timeout passes.
	g.tasks.Go(func() {
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
		defer cancel()
		go func() {
			select {
			case <-inst.quit:
				cancel()
			case <-wctx.Done():
			}
		}()
		if err := w.WaitHealthy(wctx, g.name, inst.id); err != nil {
			g.report(event{inst: inst, kind: "lb_unhealthy", reason: fmt.Sprintf("the load balancer did not find it healthy: %v", err)})
			return
		}
		g.report(event{inst: inst, inService: true})
	})
}

// inService marks a registered instance as serving. Call with mu held.
func (g *group) inService(inst *instance) {
	inst.state = stateHealthy
	inst.registeredAt = g.s.cfg.Now()
	g.failures, g.nextStart, g.lastErr = 0, time.Time{}, ""
	g.notify()
	g.updateGauges()
	g.log.Info("instance healthy, registered", "instance", inst.id, "addr", inst.addr,
		"after", time.Since(inst.started).Round(time.Millisecond))
}

// retryRegistrations registers ready instances the load balancer refused
// before.
func (g *group) retryRegistrations(ctx context.Context) {
	g.mu.Lock()
	var todo []*instance
	for _, inst := range g.instances {
		if inst.state == stateStarting && inst.ready && !inst.registered {
			todo = append(todo, inst)
		}
	}
	g.mu.Unlock()
	for _, inst := range todo {
		g.register(ctx, inst)
	}
}

// failed records a failure and, with an instance, retires it; the next
// reconcile starts its replacement. A failure before the instance ever
// became healthy extends the group's backoff. Call with mu held.
func (g *group) failed(ctx context.Context, inst *instance, kind, reason string) {
	g.s.m.failures.WithLabelValues(g.name, kind).Inc()
	if inst != nil {
		if out := inst.lastOutput(); out != "" {
			reason += "; last output: " + out
		}
	}
	attrs := []any{"reason", reason, "kind", kind}
	if inst != nil {
		attrs = append(attrs, "instance", inst.id, "pid", inst.pid, "log", inst.logPath)
	}
	if inst == nil || inst.state == stateStarting {
		g.failures++
		wait := g.s.backoff(g.failures)
		g.nextStart = time.Now().Add(wait)
		g.lastErr = reason
		attrs = append(attrs, "failures_in_a_row", g.failures, "retry_in", wait)
	}
	if inst != nil {
		g.log.Warn("instance failed, replacing it", attrs...)
		g.retire(ctx, inst, reason)
	} else {
		g.log.Error("instance failed to start", attrs...)
	}
	g.notify()
}

// retire deregisters (draining in-flight requests), stops and forgets the
// instance in the background. Call with mu held.
func (g *group) retire(ctx context.Context, inst *instance, why string) {
	wasRegistered := inst.registered
	inst.state = stateDraining
	close(inst.quit)
	g.notify()
	spec := g.spec
	// Exits once the instance's process has been reaped.
	g.tasks.Go(func() {
		start := time.Now()
		if wasRegistered {
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), spec.DrainDelay)
			err := g.s.cfg.Targets.Deregister(dctx, g.name, inst.id)
			cancel()
			if err != nil {
				g.log.Warn("draining instance", "instance", inst.id, "err", err)
			}
		}
		drained := time.Since(start)
		killed := inst.stop(inst.spec.StopTimeout)
		g.s.releasePort(inst.port)
		g.mu.Lock()
		for i, x := range g.instances {
			if x == inst {
				g.instances = append(g.instances[:i:i], g.instances[i+1:]...)
				break
			}
		}
		g.notify()
		g.updateGauges()
		g.mu.Unlock()
		g.log.Info("instance stopped", "instance", inst.id, "pid", inst.pid, "reason", why,
			"drained_for", drained.Round(time.Millisecond), "killed", killed)
		g.kickLoop()
	})
}

// status snapshots the group.
func (g *group) status() GroupStatus {
	g.mu.Lock()
	defer g.mu.Unlock()
	st := GroupStatus{Name: g.name, Desired: g.desired, Min: g.spec.Min, Max: g.spec.Max,
		Instances: make([]InstanceStatus, 0, len(g.instances)), Error: g.lastErr}
	for _, inst := range g.instances {
		st.Instances = append(st.Instances, InstanceStatus{ID: inst.id, PID: inst.pid, Addr: inst.addr,
			Healthy: inst.state == stateHealthy, State: inst.state.String()})
	}
	return st
}

// updateGauges publishes instance counts. Call with mu held.
func (g *group) updateGauges() {
	var n [3]int
	for _, inst := range g.instances {
		n[inst.state]++
	}
	for st, c := range n {
		g.s.m.instances.WithLabelValues(g.name, instState(st).String()).Set(float64(c))
	}
	g.s.m.desired.WithLabelValues(g.name).Set(float64(g.desired))
}

// scale evaluates the target-tracking policy once.
func (g *group) scale() {
	g.mu.Lock()
	sc := g.spec.Scaling
	g.evals++
	g.notify()
	g.mu.Unlock()
	if sc.Metric == "" {
		return
	}
	list, err := g.s.cfg.Targets.Stats(g.name)
	if err != nil {
		g.log.Warn("reading load balancer statistics", "err", err)
		return
	}
	stats := make(map[string]TargetStats, len(list))
	for _, st := range list {
		stats[st.ID] = st
	}
	now := g.s.cfg.Now()

	g.mu.Lock()
	defer g.mu.Unlock()
	dt := now.Sub(g.prevAt).Seconds()
	if sc.Metric == MetricRPS && (g.prev == nil || dt <= 0) {
		if g.prev == nil || dt < 0 {
			g.prev, g.prevAt = stats, now
		}
		return // no interval to measure a rate over yet
	}
	in := scaleInput{target: sc.Target, min: g.spec.Min, max: g.spec.Max, desired: g.desired,
		sinceLastAction: now.Sub(g.lastScale), cooldown: sc.Cooldown, everScaled: g.scaled}
	for _, inst := range g.instances {
		switch inst.state {
		case stateStarting:
			in.warming++
			continue
		case stateDraining:
			continue
		}
		in.inService++
		if now.Sub(inst.registeredAt) < sc.WarmUp {
			in.warming++
			continue
		}
		st, ok := stats[inst.id]
		if !ok {
			continue // the load balancer does not know it (yet)
		}
		switch sc.Metric {
		case MetricInFlight:
			in.warmed = append(in.warmed, float64(st.InFlight))
		case MetricRPS:
			if p, ok := g.prev[inst.id]; ok && st.Requests >= p.Requests {
				in.warmed = append(in.warmed, float64(st.Requests-p.Requests)/dt)
			}
		}
	}
	g.prev, g.prevAt = stats, now
	d := decide(in)
	if d.held != g.held && d.held != "" {
		g.log.Info("scale-in held", "desired", g.desired, "until", d.held, "metric", sc.Metric, "why", d.why)
	}
	g.held = d.held
	if d.direction == "" {
		return
	}
	g.log.Info("scaling "+d.direction, "from", g.desired, "to", d.desired, "metric", sc.Metric, "why", d.why) //nolint:sloglint // one of two fixed messages, "scaling out" or "scaling in", that tests and operators match
	g.s.m.scaling.WithLabelValues(g.name, d.direction).Inc()
	g.desired, g.lastScale, g.scaled = d.desired, now, true
	g.notify()
	g.updateGauges()
	g.kickLoop()
}
