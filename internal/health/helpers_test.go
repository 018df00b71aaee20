package health_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meridian-platform/meridian/internal/health"
	"github.com/meridian-platform/meridian/internal/netsim"
	"github.com/prometheus/client_golang/prometheus"
)

// target is an HTTP server a check probes. Its status and body can be
// changed while it runs; it counts the answers it gives by status.
type target struct {
	t    *testing.T
	addr string // host:port, fixed across kill and restart

	status atomic.Int32
	body   atomic.Pointer[string]
	// served counts answers by status code since the last resetCounts.
	mu     sync.Mutex
	served map[int]int

	srv *http.Server
}

// newTarget starts a target answering 200 "ok" on ip:0.
func newTarget(t *testing.T, ip string) *target {
	t.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatalf("listening on %s: %v", ip, err)
	}
	tg := &target{t: t, addr: ln.Addr().String(), served: map[int]int{}}
	tg.status.Store(http.StatusOK)
	tg.setBody("ok")
	tg.serve(ln)
	t.Cleanup(tg.kill)
	return tg
}

func (tg *target) serve(ln net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(tg.handle), ReadHeaderTimeout: 5 * time.Second}
	tg.mu.Lock()
	tg.srv = srv
	tg.mu.Unlock()
	go func() { _ = srv.Serve(ln) }() // ends with http.ErrServerClosed on kill
}

func (tg *target) handle(w http.ResponseWriter, _ *http.Request) {
	code := int(tg.status.Load())
	tg.mu.Lock()
	tg.served[code]++
	tg.mu.Unlock()
	w.WriteHeader(code)
	_, _ = io.WriteString(w, *tg.body.Load())
}

func (tg *target) url() string        { return "http://" + tg.addr + "/" }
func (tg *target) setStatus(code int) { tg.status.Store(int32(code)) }
func (tg *target) setBody(s string)   { tg.body.Store(&s) }

// count returns how many answers with status code were served since the
// last resetCounts.
func (tg *target) count(code int) int {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return tg.served[code]
}

func (tg *target) resetCounts() {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	tg.served = map[int]int{}
}

// kill closes the listener and every connection: the target is gone and
// connections to it are refused.
func (tg *target) kill() {
	tg.mu.Lock()
	srv := tg.srv
	tg.srv = nil
	tg.mu.Unlock()
	if srv != nil {
		_ = srv.Close() // closing a test server; nothing to report
	}
}

// restart listens again on the same address.
func (tg *target) restart() {
	tg.t.Helper()
	ln, err := net.Listen("tcp", tg.addr)
	if err != nil {
		tg.t.Fatalf("listening again on %s: %v", tg.addr, err)
	}
	tg.serve(ln)
}

// node is one checker with its admin server.
type node struct {
	name    string
	url     string
	checker *health.Checker
	reg     *prometheus.Registry
	stop    func()
}

// clusterOpts configures newCluster.
type clusterOpts struct {
	n           int
	checks      []health.Check
	net         *netsim.Network // nil: plain dials
	expireAfter time.Duration
	now         func() time.Time
	// onLog, if set, sees every log record of every checker.
	onLog func(checker string, r slog.Record)
}

// newCluster starts o.n checkers named c1, c2, … on 127.0.0.1, each one a
// peer of all the others (each is given the full list, itself included),
// with its verdict endpoint on its own admin server.
func newCluster(t *testing.T, o clusterOpts) []*node {
	t.Helper()
	lns := make([]net.Listener, o.n)
	var peers []health.Peer
	for i := range lns {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("listening: %v", err)
		}
		lns[i] = ln
		name := fmt.Sprintf("c%d", i+1)
		peers = append(peers, health.Peer{Name: name, URL: "http://" + ln.Addr().String()})
		if o.net != nil {
			o.net.Register(name, ln.Addr().String())
		}
	}
	nodes := make([]*node, o.n)
	for i, ln := range lns {
		name := peers[i].Name
		reg := prometheus.NewRegistry()
		cfg := health.Config{
			Name:        name,
			Checks:      o.checks,
			Peers:       peers,
			ExpireAfter: o.expireAfter,
			Now:         o.now,
			Logger:      testLogger(t, name, o.onLog),
			Registerer:  reg,
		}
		if o.net != nil {
			dial := o.net.Dialer(name)
			cfg.Dial = func(ctx context.Context, _, addr string) (net.Conn, error) { return dial(ctx, addr) }
		}
		c, err := health.New(cfg)
		if err != nil {
			t.Fatalf("New(%s): %v", name, err)
		}
		nodes[i] = &node{name: name, url: peers[i].URL, checker: c, reg: reg}
		nodes[i].stop = start(t, c, ln)
	}
	return nodes
}

// start serves c's verdicts on ln and runs c until the returned stop is
// called or the test ends; stop waits for both to finish.
func start(t *testing.T, c *health.Checker, ln net.Listener) (stop func()) {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle(health.Path, c.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- c.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-ran; err != nil {
				t.Errorf("Run: %v", err)
			}
			_ = srv.Close() // the long-polls it holds are cut; peers retry
			if err := <-served; !errors.Is(err, http.ErrServerClosed) {
				t.Errorf("serving verdicts: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// runChecker runs one checker with no peers and no admin server.
func runChecker(t *testing.T, cfg health.Config) *health.Checker {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = "solo"
	}
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t, cfg.Name, nil)
	}
	c, err := health.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listening: %v", err)
	}
	start(t, c, ln)
	return c
}

// waitFor polls cond until it holds or timeout passes, and returns how long
// it took.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	begin := time.Now()
	for !cond() {
		if time.Since(begin) > timeout {
			t.Fatalf("%s: not within %v", what, timeout)
		}
		time.Sleep(2 * time.Millisecond)
	}
	return time.Since(begin)
}

// verdict returns a checker's global verdict of id.
func verdict(c *health.Checker, id string) health.Verdict {
	healthy, known := c.Health(id)
	switch {
	case !known:
		return health.Unknown
	case healthy:
		return health.Healthy
	}
	return health.Unhealthy
}

// checkStatus returns the status of check id.
func checkStatus(t *testing.T, c *health.Checker, id string) health.CheckStatus {
	t.Helper()
	for _, s := range c.Status().Checks {
		if s.ID == id {
			return s
		}
	}
	t.Fatalf("no status for check %q", id)
	return health.CheckStatus{}
}

// testLogger logs to t at debug level and hands every record to onLog.
func testLogger(t *testing.T, name string, onLog func(string, slog.Record)) *slog.Logger {
	h := slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})
	return slog.New(hookHandler{Handler: h, name: name, hook: onLog})
}

// hookHandler hands each record, with the attributes of With calls added,
// to hook before logging it. It ignores groups.
type hookHandler struct {
	slog.Handler
	name  string
	hook  func(string, slog.Record)
	attrs []slog.Attr
}

func (h hookHandler) Handle(ctx context.Context, r slog.Record) error {
	if h.hook != nil {
		full := r.Clone()
		full.AddAttrs(h.attrs...)
		h.hook(h.name, full)
	}
	return h.Handler.Handle(ctx, r)
}

func (h hookHandler) WithAttrs(as []slog.Attr) slog.Handler {
	h.Handler = h.Handler.WithAttrs(as)
	h.attrs = append(append([]slog.Attr(nil), h.attrs...), as...)
	return h
}

func (h hookHandler) WithGroup(g string) slog.Handler {
	h.Handler = h.Handler.WithGroup(g)
	return h
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// attr returns the value of key in r, "" if absent.
func attr(r slog.Record, key string) string {
	v := ""
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			v = a.Value.String()
			return false
		}
		return true
	})
	return v
}

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
