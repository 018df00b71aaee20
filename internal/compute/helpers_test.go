package compute

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// roleEnv switches the test binary into one of the helper programs below
// when it is re-executed as an instance or as a child supervisor.
const roleEnv = "COMPUTE_TEST_ROLE"

func TestMain(m *testing.M) {
	switch os.Getenv(roleEnv) {
	case "":
		os.Exit(m.Run())
	case "server":
		os.Exit(testServer())
	case "crash":
		fmt.Fprintln(os.Stderr, "boom: cannot read config file /etc/shop.yaml")
		os.Exit(3)
	case "supervisor":
		os.Exit(childSupervisor())
	default:
		fmt.Fprintln(os.Stderr, "unknown role", os.Getenv(roleEnv))
		os.Exit(2)
	}
}

// testServer is a tiny instance: it listens on MERIDIAN_LISTEN_ADDR, serves
// /healthz (failing after /fail), counts requests, reports its version,
// instance id and selected environment, and shuts down gracefully on
// SIGTERM.
func testServer() int {
	var healthChecks, requests atomic.Int64
	var failing atomic.Bool
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		if failing.Load() {
			http.Error(w, "failing on purpose", http.StatusInternalServerError)
			return
		}
		healthChecks.Add(1)
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("/fail", func(http.ResponseWriter, *http.Request) { failing.Store(true) })
	mux.HandleFunc("/checks", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, healthChecks.Load())
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if ms, _ := strconv.Atoi(r.URL.Query().Get("ms")); ms > 0 {
			time.Sleep(time.Duration(ms) * time.Millisecond)
		}
		_ = json.NewEncoder(w).Encode(map[string]string{
			"version":  os.Getenv("TEST_VERSION"),
			"instance": os.Getenv(EnvInstance),
			"group":    os.Getenv(EnvGroup),
			"port":     os.Getenv(EnvPort),
			"endpoint": os.Getenv("AWS_ENDPOINT_URL"),
			"leak":     os.Getenv("COMPUTE_TEST_LEAK"),
			"args":     strings.Join(os.Args[1:], " "),
		})
	})
	srv := &http.Server{Addr: os.Getenv(EnvAddr), Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	go func() {
		<-term
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}()
	fmt.Println("test server listening on", srv.Addr)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, "test server:", err)
		return 1
	}
	return 0
}

// childSupervisor runs a supervisor of two test servers, prints their pids
// as one JSON line once both are healthy, and runs until killed.
func childSupervisor() int {
	exe, err := os.Executable()
	if err != nil {
		return 1
	}
	pr, err := ParsePortRange(os.Getenv("TEST_PORTS"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	spec := fastSpec("orphans", exe, 2)
	s, err := New(Config{Region: "child", PortRange: pr, LogDir: os.Getenv("TEST_LOG_DIR"), Groups: []GroupSpec{spec}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	go func() {
		for {
			var pids []int
			for _, g := range s.Status() {
				for _, in := range g.Instances {
					if in.Healthy {
						pids = append(pids, in.PID)
					}
				}
			}
			if len(pids) == 2 {
				_ = json.NewEncoder(os.Stdout).Encode(pids)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	_ = s.Run(context.Background())
	return 0
}

// fastSpec is a group of test servers with health checks quick enough for
// tests.
func fastSpec(name, exe string, n int) GroupSpec {
	return GroupSpec{
		Name:    name,
		Command: exe,
		Args:    []string{"--listen=${ADDR}"},
		Env:     map[string]string{roleEnv: "server", "TEST_VERSION": "v1"},
		Min:     n,
		HealthCheck: HealthCheck{
			Interval: 100 * time.Millisecond, Timeout: 100 * time.Millisecond,
		},
		StartTimeout: 10 * time.Second,
		StopTimeout:  3 * time.Second,
		DrainDelay:   3 * time.Second,
	}
}

// fakeClock is the injected clock of scaling decisions.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// fakeLB implements Targets. It checks that every instance registered is
// answering its health check, sends real requests to registered targets
// round robin (Get), drains real in-flight requests on Deregister, and
// adds simulated load to Stats.
type fakeLB struct {
	client *http.Client

	mu         sync.Mutex
	targets    map[string]map[string]string // group -> id -> addr
	inflight   map[string]int               // real requests in flight by id
	served     map[string]uint64            // real requests by id
	simLoad    map[string]int               // simulated in-flight by group, spread over targets
	simReqs    map[string]uint64            // simulated requests by id
	events     []string                     // "+id" and "-id" in order
	registered map[string]int               // ids registered so far, with their health-check count then
	minAfter   map[string]int               // per group: fewest targets since watching began (-1: not watching)
	problems   []string
	rr         int
	refuse     int  // refuse this many registrations
	failHealth bool // WaitHealthy never succeeds
}

func newFakeLB() *fakeLB {
	return &fakeLB{
		client:     &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}},
		targets:    map[string]map[string]string{},
		inflight:   map[string]int{},
		served:     map[string]uint64{},
		simLoad:    map[string]int{},
		simReqs:    map[string]uint64{},
		registered: map[string]int{},
		minAfter:   map[string]int{},
	}
}

var (
	_ Targets      = (*fakeLB)(nil)
	_ HealthWaiter = (*fakeLB)(nil)
)

func (f *fakeLB) Register(group, id, addr string) error {
	f.mu.Lock()
	if f.refuse > 0 {
		f.refuse--
		f.mu.Unlock()
		return fmt.Errorf("target group %q is not configured", group)
	}
	f.mu.Unlock()
	// The supervisor promises the instance already passed its checks.
	checks := -1
	resp, err := f.client.Get("http://" + addr + "/checks")
	if err == nil {
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		checks, _ = strconv.Atoi(string(b))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err != nil {
		f.problems = append(f.problems, fmt.Sprintf("%s registered but not answering: %v", id, err))
	}
	if f.targets[group] == nil {
		f.targets[group] = map[string]string{}
	}
	f.targets[group][id] = addr
	f.registered[id] = checks
	f.events = append(f.events, "+"+id)
	return nil
}

// WaitHealthy stands for the load balancer's own health checks: the
// target is healthy once registered, unless failHealth is set.
func (f *fakeLB) WaitHealthy(ctx context.Context, group, id string) error {
	f.mu.Lock()
	_, ok := f.targets[group][id]
	fail := f.failHealth
	f.mu.Unlock()
	if !ok {
		return fmt.Errorf("target %s is not registered", id)
	}
	if fail {
		<-ctx.Done()
		return ctx.Err()
	}
	return nil
}

func (f *fakeLB) Deregister(ctx context.Context, group, id string) error {
	f.mu.Lock()
	delete(f.targets[group], id)
	f.events = append(f.events, "-"+id)
	if m, ok := f.minAfter[group]; ok && m >= 0 {
		f.minAfter[group] = min(m, len(f.targets[group]))
	}
	f.mu.Unlock()
	for {
		f.mu.Lock()
		n := f.inflight[id]
		f.mu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("draining %s: %d requests still in flight: %w", id, n, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func (f *fakeLB) Stats(group string) ([]TargetStats, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ids := f.targets[group]
	var out []TargetStats
	n := len(ids)
	for id := range ids {
		st := TargetStats{ID: id, InFlight: int64(f.inflight[id]), Requests: f.served[id] + f.simReqs[id]}
		st.InFlight += int64(f.simLoad[group] / n)
		out = append(out, st)
	}
	return out, nil
}

// setLoad spreads a simulated number of in-flight requests over the
// group's targets.
func (f *fakeLB) setLoad(group string, inFlight int) {
	f.mu.Lock()
	f.simLoad[group] = inFlight
	f.mu.Unlock()
}

// addRequests adds simulated served requests to every target of the group.
func (f *fakeLB) addRequests(group string, perTarget uint64) {
	f.mu.Lock()
	for id := range f.targets[group] {
		f.simReqs[id] += perTarget
	}
	f.mu.Unlock()
}

// watchMin starts tracking the fewest registered targets of the group.
func (f *fakeLB) watchMin(group string) {
	f.mu.Lock()
	f.minAfter[group] = len(f.targets[group])
	f.mu.Unlock()
}

func (f *fakeLB) min(group string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.minAfter[group]
}

func (f *fakeLB) ids(group string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for id := range f.targets[group] {
		out = append(out, id)
	}
	return out
}

func (f *fakeLB) count(group string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.targets[group])
}

// get sends one request to a registered target of the group, round robin,
// as a load balancer would.
func (f *fakeLB) get(group, path string) (map[string]string, error) {
	f.mu.Lock()
	var ids []string
	for id := range f.targets[group] {
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		f.mu.Unlock()
		return nil, fmt.Errorf("no targets in %s", group)
	}
	f.rr++
	id := ids[f.rr%len(ids)]
	addr := f.targets[group][id]
	f.inflight[id]++
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.inflight[id]--
		f.served[id]++
		f.mu.Unlock()
	}()
	resp, err := f.client.Get("http://" + addr + path)
	if err != nil {
		return nil, fmt.Errorf("request to %s: %w", id, err)
	}
	defer resp.Body.Close()
	var out map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("response of %s: %w", id, err)
	}
	return out, nil
}

// logBuffer collects JSON log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// records returns the log records whose msg is msg (all with "").
func (b *logBuffer) records(msg string) []map[string]any {
	b.mu.Lock()
	data := slicesClone(b.buf.Bytes())
	b.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r map[string]any
		if json.Unmarshal(sc.Bytes(), &r) == nil && (msg == "" || r["msg"] == msg) {
			out = append(out, r)
		}
	}
	return out
}

func slicesClone(b []byte) []byte { return append([]byte(nil), b...) }

// env is a running supervisor under test.
type env struct {
	t       *testing.T
	s       *Supervisor
	lb      *fakeLB
	logs    *logBuffer
	clock   *fakeClock
	reg     *prometheus.Registry
	exe     string
	pids    map[int]bool // every instance pid seen
	pidsMu  sync.Mutex
	stopped chan struct{}
	cancel  context.CancelFunc
}

// startEnv runs a supervisor with a fake load balancer, a fake clock and
// a JSON log; cfg's zero fields get test values. Cleanup stops it and
// checks that no instance outlives it.
func startEnv(t *testing.T, firstPort int, cfg Config) *env {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, lb: newFakeLB(), logs: &logBuffer{}, clock: newFakeClock(), reg: prometheus.NewRegistry(),
		exe: exe, pids: map[int]bool{}, stopped: make(chan struct{})}
	cfg.Region = "test-1"
	cfg.Host = "127.0.0.1"
	cfg.PortRange = PortRange{firstPort, firstPort + 99}
	cfg.LogDir = t.TempDir()
	cfg.Targets = e.lb
	cfg.Registerer = e.reg
	cfg.Logger = slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if cfg.Now == nil {
		cfg.Now = e.clock.Now
	}
	if cfg.EvalInterval == 0 {
		cfg.EvalInterval = 20 * time.Millisecond
	}
	if cfg.BaseEnv == nil {
		cfg.BaseEnv = map[string]string{"AWS_ENDPOINT_URL": "http://127.0.0.1:4566"}
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.s = s
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	go func() {
		defer close(e.stopped)
		if err := s.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	t.Cleanup(func() {
		e.stop()
		if t.Failed() {
			t.Logf("supervisor log:\n%s", e.logs.buf.String())
		}
	})
	return e
}

// stop ends Run and checks that every instance process is gone.
func (e *env) stop() {
	e.t.Helper()
	e.cancel()
	select {
	case <-e.stopped:
	case <-time.After(20 * time.Second):
		e.t.Fatal("Run did not return within 20s of its context ending")
	}
	e.notePIDs()
	e.pidsMu.Lock()
	defer e.pidsMu.Unlock()
	for pid := range e.pids {
		if alive(pid) {
			e.t.Errorf("instance pid %d still running after the supervisor stopped", pid)
		}
	}
	for _, g := range e.s.Status() {
		if len(g.Instances) != 0 {
			e.t.Errorf("group %s still lists %d instances after the supervisor stopped", g.Name, len(g.Instances))
		}
	}
}

// notePIDs remembers the pids Status shows.
func (e *env) notePIDs() {
	e.pidsMu.Lock()
	defer e.pidsMu.Unlock()
	for _, g := range e.s.Status() {
		for _, in := range g.Instances {
			if in.PID > 0 {
				e.pids[in.PID] = true
			}
		}
	}
}

// group returns the group's status.
func (e *env) group(name string) GroupStatus {
	for _, g := range e.s.Status() {
		if g.Name == name {
			e.notePIDs()
			return g
		}
	}
	return GroupStatus{}
}

// healthy counts the group's healthy instances.
func (e *env) healthy(name string) int {
	n := 0
	for _, in := range e.group(name).Instances {
		if in.Healthy {
			n++
		}
	}
	return n
}

// waitFor polls cond until it holds or the deadline passes.
func (e *env) waitFor(d time.Duration, what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out after %v waiting for %s; status: %+v", d, what, e.s.Status())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// evals is how many times the group's scaling policy has been evaluated.
func (e *env) evals(name string) int {
	e.s.mu.Lock()
	g := e.s.groups[name]
	e.s.mu.Unlock()
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.evals
}

// settle waits for n more scaling evaluations of the group.
func (e *env) settle(name string, n int) {
	e.t.Helper()
	target := e.evals(name) + n
	e.waitFor(5*time.Second, fmt.Sprintf("%d scaling evaluations of %s", n, name), func() bool { return e.evals(name) >= target })
}

// alive reports whether pid is a live (not zombie) process.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// state follows the parenthesised command name
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z' && s[i+2] != 'X'
	}
	return true
}

func metricValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if v, ok := labels[lp.GetName()]; ok && v != lp.GetValue() {
					continue next
				}
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}
