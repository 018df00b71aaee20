package compute

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestStartsDesiredAndRegistersOnlyHealthy(t *testing.T) {
	exe, _ := os.Executable()
	spec := fastSpec("web", exe, 3)
	spec.Env["COMPUTE_TEST_LEAK"] = "from-spec"
	t.Setenv("COMPUTE_TEST_LEAK", "from-node") // must not reach instances by inheritance
	e := startEnv(t, 21000, Config{Groups: []GroupSpec{spec}})
	e.waitFor(8*time.Second, "3 registered instances", func() bool { return e.lb.count("web") == 3 })

	e.lb.mu.Lock()
	for id, checks := range e.lb.registered {
		if checks < 2 {
			t.Errorf("%s registered after %d passed health checks, want at least the healthy threshold 2", id, checks)
		}
	}
	for _, p := range e.lb.problems {
		t.Error(p)
	}
	e.lb.mu.Unlock()

	g := e.group("web")
	if g.Desired != 3 || g.Min != 3 || g.Max != 3 || len(g.Instances) != 3 {
		t.Fatalf("status: got %+v, want desired=min=max=3 with 3 instances", g)
	}
	ports := map[string]bool{}
	for _, in := range g.Instances {
		if !in.Healthy || in.PID <= 0 || !strings.HasPrefix(in.Addr, "127.0.0.1:21") {
			t.Errorf("instance %+v: want healthy with a pid and a port of 127.0.0.1 in 21000-21099", in)
		}
		ports[in.Addr] = true
	}
	if len(ports) != 3 {
		t.Errorf("instances share ports: %+v", g.Instances)
	}

	// Every instance answers with its own identity and the region's environment.
	for range 3 {
		got, err := e.lb.get("web", "/")
		if err != nil {
			t.Fatal(err)
		}
		if got["endpoint"] != "http://127.0.0.1:4566" || got["group"] != "web" || got["leak"] != "from-spec" ||
			!strings.HasPrefix(got["instance"], "web-") || got["args"] != "--listen=127.0.0.1:"+got["port"] {
			t.Errorf("instance environment: got %v", got)
		}
	}

	// The status document has the shape `meridian status --json` promises.
	b, err := json.Marshal(e.s.Status())
	if err != nil {
		t.Fatal(err)
	}
	var doc []map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"name", "desired", "min", "max", "instances"} {
		if _, ok := doc[0][k]; !ok {
			t.Errorf("status JSON %s lacks %q", b, k)
		}
	}
	in0 := doc[0]["instances"].([]any)[0].(map[string]any)
	for _, k := range []string{"id", "pid", "addr", "healthy"} {
		if _, ok := in0[k]; !ok {
			t.Errorf("instance JSON %v lacks %q", in0, k)
		}
	}

	// The instance's output lands in its log file.
	logFile := e.s.logPath("web", g.Instances[0].ID)
	out, err := os.ReadFile(logFile)
	if err != nil || !strings.Contains(string(out), "test server listening on "+g.Instances[0].Addr) {
		t.Errorf("instance log %s: got %q (%v), want the server's output", logFile, out, err)
	}
	if v := metricValue(t, e.reg, "meridian_compute_instances", map[string]string{"group": "web", "state": "healthy"}); v != 3 {
		t.Errorf("meridian_compute_instances{state=healthy}: got %v, want 3", v)
	}

	// Shutdown drains every instance before stopping it (checked by cleanup too).
	e.stop()
	e.lb.mu.Lock()
	defer e.lb.mu.Unlock()
	if n := len(e.lb.targets["web"]); n != 0 {
		t.Errorf("after shutdown %d targets remain registered, want 0", n)
	}
	if err := e.s.Run(context.Background()); err == nil {
		t.Error("a second Run: got no error, want one")
	}
}

func TestKilledInstanceIsReplaced(t *testing.T) {
	exe, _ := os.Executable()
	e := startEnv(t, 21100, Config{Groups: []GroupSpec{fastSpec("web", exe, 2)}})
	e.waitFor(8*time.Second, "2 registered instances", func() bool { return e.lb.count("web") == 2 })
	victim := e.group("web").Instances[0]

	killed := time.Now()
	if err := syscall.Kill(victim.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	e.waitFor(10*time.Second, "a replacement registered", func() bool {
		ids := e.lb.ids("web")
		return len(ids) == 2 && !strings.Contains(strings.Join(ids, " "), victim.ID+" ") && ids[0] != victim.ID && ids[1] != victim.ID
	})
	t.Logf("replacement healthy and registered %v after kill -9", time.Since(killed).Round(time.Millisecond))

	var reason string
	for _, r := range e.logs.records("instance failed, replacing it") {
		if r["instance"] == victim.ID {
			reason, _ = r["reason"].(string)
		}
	}
	if !strings.Contains(reason, "process exited (signal: killed)") {
		t.Errorf("logged reason for %s: got %q, want it to say the process was killed", victim.ID, reason)
	}
	e.lb.mu.Lock()
	events := strings.Join(e.lb.events, " ")
	e.lb.mu.Unlock()
	if !strings.Contains(events, "-"+victim.ID) {
		t.Errorf("load balancer events %q: want %s deregistered", events, victim.ID)
	}
	if alive(victim.PID) {
		t.Errorf("killed pid %d still alive", victim.PID)
	}
	if v := metricValue(t, e.reg, "meridian_compute_instance_failures_total", map[string]string{"group": "web", "reason": "exited"}); v != 1 {
		t.Errorf("meridian_compute_instance_failures_total{reason=exited}: got %v, want 1", v)
	}
}

func TestUnhealthyInstanceIsDrainedAndReplaced(t *testing.T) {
	exe, _ := os.Executable()
	e := startEnv(t, 21200, Config{Groups: []GroupSpec{fastSpec("web", exe, 1)}})
	e.waitFor(8*time.Second, "1 registered instance", func() bool { return e.lb.count("web") == 1 })
	sick := e.group("web").Instances[0]
	resp, err := e.lb.client.Get("http://" + sick.Addr + "/fail")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	e.waitFor(10*time.Second, "a healthy replacement", func() bool {
		ids := e.lb.ids("web")
		return len(ids) == 1 && ids[0] != sick.ID
	})
	var reason string
	for _, r := range e.logs.records("instance failed, replacing it") {
		if r["instance"] == sick.ID {
			reason, _ = r["reason"].(string)
		}
	}
	if !strings.Contains(reason, "failed 2 health checks in a row") || !strings.Contains(reason, "status 500") {
		t.Errorf("logged reason: got %q, want 2 failed checks with status 500", reason)
	}
	e.waitFor(5*time.Second, "the sick instance stopped", func() bool { return !alive(sick.PID) })
}

func TestBrokenCommandsBackOffAndNodeKeepsServing(t *testing.T) {
	exe, _ := os.Executable()
	missing := GroupSpec{Name: "missing", Command: "/nonexistent/meridian-no-such-program", Min: 2}
	crash := fastSpec("crash", exe, 1)
	crash.Env[roleEnv] = "crash"
	e := startEnv(t, 21300, Config{
		Groups:     []GroupSpec{missing, crash, fastSpec("web", exe, 1)},
		BackoffMin: 20 * time.Millisecond, BackoffMax: 320 * time.Millisecond,
	})
	start := time.Now()
	e.waitFor(10*time.Second, "7 failed starts of the missing command", func() bool {
		return len(failures(e, "instance failed to start", "missing")) >= 7
	})
	elapsed := time.Since(start)
	var waits []time.Duration
	for _, r := range failures(e, "instance failed to start", "missing")[:7] {
		waits = append(waits, time.Duration(r["retry_in"].(float64)))
		if msg := r["reason"].(string); !strings.Contains(msg, "no such file or directory") {
			t.Errorf("reason: got %q, want it to name the missing file", msg)
		}
	}
	want := []time.Duration{20, 40, 80, 160, 320, 320, 320}
	for i := range want {
		want[i] *= time.Millisecond
	}
	if fmt.Sprint(waits) != fmt.Sprint(want) {
		t.Errorf("backoff between starts: got %v, want %v", waits, want)
	}
	// 7 attempts cannot happen faster than the backoff allows.
	if min := 20 * time.Millisecond * (1 + 2 + 4 + 8 + 16 + 16); elapsed < min {
		t.Errorf("7 attempts took %v, less than the backoff's %v", elapsed, min)
	}
	if st := e.group("missing"); !strings.Contains(st.Error, "/nonexistent/meridian-no-such-program") {
		t.Errorf("status error: got %q, want the missing command named", st.Error)
	}

	// A command that exits at once backs off the same way and says why.
	e.waitFor(10*time.Second, "3 failures of the crashing command", func() bool {
		return len(failures(e, "instance failed, replacing it", "crash")) >= 3
	})
	for _, r := range failures(e, "instance failed, replacing it", "crash")[:3] {
		if reason := r["reason"].(string); !strings.Contains(reason, "exit status 3") || !strings.Contains(reason, "boom: cannot read config file") {
			t.Errorf("crash reason: got %q, want the exit status and the program's last output", reason)
		}
	}
	if st := e.group("crash"); !strings.Contains(st.Error, "exit status 3") {
		t.Errorf("crash status error: got %q", st.Error)
	}

	// Meanwhile the healthy group runs and serves.
	e.waitFor(8*time.Second, "the healthy group registered", func() bool { return e.lb.count("web") == 1 })
	if _, err := e.lb.get("web", "/"); err != nil {
		t.Errorf("healthy group while others crash-loop: %v", err)
	}
}

// failures returns the group's log records with message msg.
func failures(e *env, msg, group string) []map[string]any {
	var out []map[string]any
	for _, r := range e.logs.records(msg) {
		if r["group"] == group {
			out = append(out, r)
		}
	}
	return out
}

func TestScalesOutOnLoadAndInWhenIdle(t *testing.T) {
	exe, _ := os.Executable()
	spec := fastSpec("web", exe, 1)
	spec.Max = 4
	spec.Scaling = Scaling{Metric: MetricInFlight, Target: 10, WarmUp: 10 * time.Second, Cooldown: 30 * time.Second}
	e := startEnv(t, 21400, Config{Groups: []GroupSpec{spec}})
	e.waitFor(8*time.Second, "1 registered instance", func() bool { return e.lb.count("web") == 1 })

	// Load before the instance warms up: not measured yet.
	e.lb.setLoad("web", 35)
	e.settle("web", 3)
	if d := e.group("web").Desired; d != 1 {
		t.Fatalf("desired while the only instance warms up: got %d, want 1", d)
	}
	e.clock.Advance(11 * time.Second)
	e.waitFor(5*time.Second, "scale-out to 4", func() bool { return e.group("web").Desired == 4 })
	e.waitFor(10*time.Second, "4 registered instances", func() bool { return e.lb.count("web") == 4 })

	// The same load now spreads over 4; new instances are warming, the old
	// one carries 35/4 → estimate 8.75 × 4 = 35 → still 4. Load stops:
	// scale-in is held while the new instances warm up ...
	e.lb.setLoad("web", 0)
	e.clock.Advance(5 * time.Second)
	e.settle("web", 3)
	if d := e.group("web").Desired; d != 4 {
		t.Fatalf("desired with instances warming up: got %d, want 4 (scale-in must wait)", d)
	}
	// ... and until the cooldown since the scale-out (at t=11s) has passed.
	e.clock.Advance(15 * time.Second) // t=31s: all warm, cooldown ends at 41s
	e.settle("web", 3)
	if d := e.group("web").Desired; d != 4 {
		t.Fatalf("desired during cooldown: got %d, want 4", d)
	}
	e.clock.Advance(11 * time.Second)
	e.waitFor(5*time.Second, "scale-in to 1", func() bool { return e.group("web").Desired == 1 })
	e.waitFor(10*time.Second, "3 instances drained and stopped", func() bool {
		return e.lb.count("web") == 1 && len(e.group("web").Instances) == 1
	})

	for dir, want := range map[string]float64{"out": 1, "in": 1} {
		if v := metricValue(t, e.reg, "meridian_compute_scaling_actions_total", map[string]string{"group": "web", "direction": dir}); v != want {
			t.Errorf("scaling actions %s: got %v, want %v", dir, v, want)
		}
	}
	var dirs []string
	for _, msg := range []string{"scaling out", "scaling in"} {
		for _, r := range e.logs.records(msg) {
			dirs = append(dirs, fmt.Sprintf("%s %v->%v", msg, r["from"], r["to"]))
		}
	}
	if got := strings.Join(dirs, ", "); got != "scaling out 1->4, scaling in 4->1" {
		t.Errorf("logged decisions: got %q", got)
	}
	// Which reasons held scale-in, in order; an evaluation that happens to
	// run between the scale-out and the load change logs warm-up twice.
	var held []string
	for _, r := range e.logs.records("scale-in held") {
		if until := fmt.Sprint(r["until"]); len(held) == 0 || held[len(held)-1] != until {
			held = append(held, until)
		}
	}
	if got := strings.Join(held, ", "); got != "warm-up, cooldown" {
		t.Errorf("logged held scale-ins: got %q, want warm-up, then cooldown", got)
	}
}

func TestScalesOnRequestRate(t *testing.T) {
	exe, _ := os.Executable()
	spec := fastSpec("web", exe, 1)
	spec.Max = 3
	spec.Scaling = Scaling{Metric: MetricRPS, Target: 50, WarmUp: time.Second, Cooldown: time.Second}
	e := startEnv(t, 21500, Config{Groups: []GroupSpec{spec}})
	e.waitFor(8*time.Second, "1 registered instance", func() bool { return e.lb.count("web") == 1 })
	e.clock.Advance(2 * time.Second)
	e.settle("web", 2)
	// 120 requests in the next 1s on the one instance: 120 rps / 50 → 3.
	e.lb.addRequests("web", 120)
	e.clock.Advance(time.Second)
	e.waitFor(5*time.Second, "scale-out to 3 on 120 rps", func() bool { return e.group("web").Desired == 3 })
}

func TestRollingUpdateKeepsServing(t *testing.T) {
	exe, _ := os.Executable()
	spec := fastSpec("web", exe, 2)
	e := startEnv(t, 21600, Config{Groups: []GroupSpec{spec}})
	e.waitFor(8*time.Second, "2 registered instances", func() bool { return e.lb.count("web") == 2 })
	before := e.group("web").Instances

	// Steady traffic through the fake load balancer during the update.
	ctx, stopTraffic := context.WithCancel(context.Background())
	type result struct {
		ok     int
		errs   []error
		latest string
	}
	results := make(chan result, 2)
	for range 2 {
		go func() {
			var r result
			for ctx.Err() == nil {
				got, err := e.lb.get("web", "/?ms=20")
				if err != nil {
					r.errs = append(r.errs, err)
					continue
				}
				r.ok++
				r.latest = got["version"]
			}
			results <- r
		}()
	}
	e.lb.watchMin("web")

	next := spec
	next.Env = map[string]string{roleEnv: "server", "TEST_VERSION": "v2"}
	uctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.s.Update(uctx, next); err != nil {
		t.Fatalf("Update: %v", err)
	}
	stopTraffic()
	total := 0
	for range 2 {
		r := <-results
		total += r.ok
		for _, err := range r.errs {
			t.Errorf("request failed during the rolling update: %v", err)
		}
	}
	if total == 0 {
		t.Fatal("no request was served during the update")
	}
	if m := e.lb.min("web"); m < 2 {
		t.Errorf("fewest registered targets during the update: got %d, want at least 2", m)
	}
	after := e.group("web").Instances
	if len(after) != 2 {
		t.Fatalf("instances after the update: got %+v, want 2", after)
	}
	for _, in := range after {
		for _, old := range before {
			if in.ID == old.ID {
				t.Errorf("instance %s survived the update", in.ID)
			}
		}
	}
	for range 4 {
		got, err := e.lb.get("web", "/")
		if err != nil || got["version"] != "v2" {
			t.Errorf("after the update: got %v, %v; want version v2", got, err)
		}
	}
	// One at a time: each old instance is deregistered only after a new one
	// was registered.
	e.lb.mu.Lock()
	events := strings.Join(e.lb.events, " ")
	e.lb.mu.Unlock()
	wantOrder := fmt.Sprintf("+%s -%s +%s -%s", after[0].ID, before[0].ID, after[1].ID, before[1].ID)
	if !strings.HasSuffix(events, wantOrder) {
		t.Errorf("load balancer events: got %q, want them to end with %q", events, wantOrder)
	}
	t.Logf("%d requests served during the rolling update", total)
}

func TestUpdateAddRescaleAndRemoveGroups(t *testing.T) {
	exe, _ := os.Executable()
	e := startEnv(t, 21800, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()

	// A group added at run time starts and Update returns once it is healthy.
	spec := fastSpec("api", exe, 1)
	if err := e.s.Update(ctx, spec); err != nil {
		t.Fatalf("adding a group: %v", err)
	}
	if n := e.lb.count("api"); n != 1 {
		t.Fatalf("registered after Update returned: got %d, want 1", n)
	}
	first := e.group("api").Instances[0].ID

	// Counts change in place, without replacing the running instance.
	spec.Min, spec.Desired, spec.Max = 2, 2, 3
	if err := e.s.Update(ctx, spec); err != nil {
		t.Fatalf("raising desired: %v", err)
	}
	g := e.group("api")
	if g.Desired != 2 || g.Max != 3 || len(g.Instances) != 2 || g.Instances[0].ID != first {
		t.Fatalf("after raising desired: got %+v, want %s kept and one more", g, first)
	}

	// A rollout to a command that cannot run never takes the old instances
	// down; Update says why it did not finish.
	bad := spec
	bad.Command = "/nonexistent/meridian-v2"
	short, cancelShort := context.WithTimeout(ctx, 700*time.Millisecond)
	err := e.s.Update(short, bad)
	cancelShort()
	if err == nil || !strings.Contains(err.Error(), "0 of 2 desired instances on the current configuration are healthy") ||
		!strings.Contains(err.Error(), "/nonexistent/meridian-v2") {
		t.Fatalf("Update to a missing command: got %v, want an error naming it", err)
	}
	if n := e.lb.count("api"); n != 2 {
		t.Errorf("registered during the failed rollout: got %d, want the 2 old instances", n)
	}
	// Rolling back to the working spec converges again.
	if err := e.s.Update(ctx, spec); err != nil {
		t.Fatalf("rolling back: %v", err)
	}

	// Remove drains and stops the group's instances and forgets it.
	pids := []int{e.group("api").Instances[0].PID, e.group("api").Instances[1].PID}
	if err := e.s.Remove(ctx, "api"); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if len(e.s.Status()) != 0 || e.lb.count("api") != 0 {
		t.Errorf("after Remove: status %+v, %d targets; want nothing", e.s.Status(), e.lb.count("api"))
	}
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("pid %d alive after Remove", pid)
		}
	}
	if err := e.s.Remove(ctx, "api"); err == nil {
		t.Error("removing an unknown group: got no error")
	}
	if err := e.s.Update(ctx, GroupSpec{Name: "x"}); err == nil || !strings.Contains(err.Error(), "no command") {
		t.Errorf("Update with an invalid spec: got %v", err)
	}
}

func TestLoadBalancerRefusalsAndVerdicts(t *testing.T) {
	exe, _ := os.Executable()
	spec := fastSpec("web", exe, 1)
	spec.StartTimeout = time.Second
	e := startEnv(t, 21900, Config{})
	e.lb.refuse = 3 // the load balancer does not know the target group yet

	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	if err := e.s.Update(ctx, spec); err != nil {
		t.Fatalf("Update: %v", err)
	}
	if n := len(failures(e, "registering instance with the load balancer, will retry", "web")); n != 3 {
		t.Errorf("refused registrations logged: got %d, want 3", n)
	}
	if id := e.group("web").Instances[0].ID; id != "web-1" {
		t.Errorf("a refused registration replaced the instance: got %s, want web-1 registered on retry", id)
	}

	// Instances the load balancer never finds healthy are replaced.
	e.lb.mu.Lock()
	e.lb.failHealth = true
	e.lb.mu.Unlock()
	first := e.group("web").Instances[0]
	if err := syscall.Kill(first.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	e.waitFor(8*time.Second, "an instance replaced for the load balancer's verdict", func() bool {
		return len(failures(e, "instance failed, replacing it", "web")) >= 2
	})
	r := failures(e, "instance failed, replacing it", "web")[1]
	if r["kind"] != "lb_unhealthy" || !strings.Contains(r["reason"].(string), "load balancer did not find it healthy") {
		t.Errorf("second failure: got %v, want the load balancer's verdict", r)
	}
	e.lb.mu.Lock()
	e.lb.failHealth = false
	e.lb.mu.Unlock()
	e.waitFor(8*time.Second, "a healthy instance again", func() bool { return e.healthy("web") == 1 })
}
