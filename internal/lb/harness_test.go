package lb

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// fastCheck is a health check fast enough for tests.
var fastCheck = HealthCheck{Interval: 20 * time.Millisecond, Timeout: 500 * time.Millisecond}

// testLB is a running balancer on a loopback port.
type testLB struct {
	*LB
	url    string
	addr   string
	reg    *prometheus.Registry
	client *http.Client
}

func startLB(t testing.TB, cfg Config) *testLB {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	cfg.Listener, cfg.Registerer = ln, reg
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	l, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return &testLB{LB: l, url: "http://" + ln.Addr().String(), addr: ln.Addr().String(), reg: reg,
		client: &http.Client{Transport: tr, Timeout: 10 * time.Second}}
}

// get fetches path and returns the status and the name of the backend that
// answered ("" if none).
func (tl *testLB) get(t *testing.T, host, path string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, tl.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	resp, err := tl.client.Do(req)
	if err != nil {
		t.Fatalf("GET %s%s: %v", host, path, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header.Get("X-Backend")
}

func (tl *testLB) register(t *testing.T, group string, bs ...*backend) {
	t.Helper()
	for _, b := range bs {
		if err := tl.Register(group, b.name, b.addr); err != nil {
			t.Fatalf("Register %s: %v", b.name, err)
		}
	}
	for _, b := range bs {
		tl.waitHealthy(t, group, b.name)
	}
}

func (tl *testLB) waitHealthy(t testing.TB, group, id string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := tl.WaitHealthy(ctx, group, id); err != nil {
		t.Fatal(err)
	}
}

func (tl *testLB) stat(t *testing.T, group, id string) TargetStats {
	t.Helper()
	st, err := tl.Stats(group)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st {
		if s.ID == id {
			return s
		}
	}
	return TargetStats{}
}

func (tl *testLB) counter(t *testing.T, c prometheus.Metric) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// backend is a target: it names itself in X-Backend, answers /healthz
// with 200 or 503, echoes the request headers as JSON on /echo, and holds
// /slow requests until released.
type backend struct {
	name    string
	addr    string
	srv     *httptest.Server
	sick    atomic.Bool
	resets  atomic.Bool  // drop every request's connection without answering
	hits    atomic.Int64 // requests other than health checks
	release chan struct{}
	once    sync.Once
}

func newBackend(t *testing.T, name string) *backend {
	t.Helper()
	b := &backend{name: name, release: make(chan struct{})}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			if b.sick.Load() {
				w.WriteHeader(http.StatusServiceUnavailable)
			}
			return
		}
		b.hits.Add(1)
		if b.resets.Load() {
			c, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				_ = c.Close()
			}
			return
		}
		w.Header().Set("X-Backend", name)
		switch {
		case r.URL.Path == "/echo":
			_ = json.NewEncoder(w).Encode(r.Header)
		case strings.HasPrefix(r.URL.Path, "/slow"):
			select {
			case <-b.release:
			case <-r.Context().Done():
			}
			_, _ = io.WriteString(w, "slow done")
		default:
			_, _ = io.WriteString(w, "hello from "+name)
		}
	}))
	b.addr = b.srv.Listener.Addr().String()
	t.Cleanup(b.close)
	return b
}

func (b *backend) unblock() { b.once.Do(func() { close(b.release) }) }

// close kills the backend: its listener and every connection go away, as
// with kill -9 of an instance.
func (b *backend) close() {
	b.unblock()
	b.srv.CloseClientConnections()
	b.srv.Close()
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// fakeClock is a settable clock for slow start.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

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
