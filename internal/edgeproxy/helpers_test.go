package edgeproxy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
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

// Region behaviours.
const (
	answer    = iota // 200 with a body naming the region
	fail503          // 503, as a balancer with no healthy target
	resetConn        // close the connection without answering
)

// testRegion stands in for a region's load balancer, on its own loopback
// address. It names itself in X-Region, echoes the request on /echo, streams
// on /stream until released, breaks off its answer on /broken, and holds
// /hold requests until released when holdOn is set.
type testRegion struct {
	id      string
	url     string
	addr    string
	srv     *httptest.Server
	mode    atomic.Int32
	hits    atomic.Int64
	held    atomic.Int64 // requests waiting in /hold
	holdOn  atomic.Bool  // /hold waits for release (else it answers at once)
	release chan struct{}
	once    sync.Once
}

// echo is what a test region answers on /echo.
type echo struct {
	Host   string
	Header http.Header
	Len    int
	SHA    string
}

var nextRegionHost atomic.Int32

func newRegion(t *testing.T, id string) *testRegion {
	t.Helper()
	host := fmt.Sprintf("127.0.1.%d", 1+nextRegionHost.Add(1)%250)
	ln, err := net.Listen("tcp", host+":0")
	if err != nil {
		t.Fatal(err)
	}
	tr := &testRegion{id: id, release: make(chan struct{})}
	tr.srv = httptest.NewUnstartedServer(http.HandlerFunc(tr.serve))
	tr.srv.Listener = ln
	tr.srv.Start()
	tr.addr = ln.Addr().String()
	tr.url = "http://" + tr.addr
	t.Cleanup(tr.kill)
	return tr
}

func (tr *testRegion) serve(w http.ResponseWriter, r *http.Request) {
	tr.hits.Add(1)
	switch tr.mode.Load() {
	case fail503:
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("X-Region", tr.id)
		http.Error(w, "no healthy target in "+tr.id, http.StatusServiceUnavailable)
		return
	case resetConn:
		if c, _, err := http.NewResponseController(w).Hijack(); err == nil {
			_ = c.Close()
		}
		return
	}
	w.Header().Set("X-Region", tr.id)
	switch r.URL.Path {
	case "/echo":
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "reading the body: "+err.Error(), http.StatusBadRequest)
			return
		}
		sum := sha256.Sum256(b)
		w.Header().Set("Connection", "X-Secret")
		w.Header().Set("X-Secret", "hop")
		w.Header().Set("Keep-Alive", "timeout=5")
		_ = json.NewEncoder(w).Encode(echo{Host: r.Host, Header: r.Header, Len: len(b), SHA: hex.EncodeToString(sum[:])})
	case "/hold":
		if tr.holdOn.Load() {
			tr.held.Add(1)
			select {
			case <-tr.release:
			case <-r.Context().Done():
			}
			tr.held.Add(-1)
		}
		_, _ = io.WriteString(w, "held by "+tr.id)
	case "/broken":
		w.Header().Set("Content-Length", "100")
		_, _ = io.WriteString(w, "only ten b")
		http.NewResponseController(w).Flush()
		panic(http.ErrAbortHandler) // drops the connection mid-body
	case "/broken-late":
		w.Header().Set("Content-Length", "100000")
		_, _ = w.Write(bytes.Repeat([]byte("x"), 40000)) // past the edge's first read
		http.NewResponseController(w).Flush()
		panic(http.ErrAbortHandler)
	case "/stream":
		_, _ = io.WriteString(w, "first\n")
		http.NewResponseController(w).Flush()
		select {
		case <-tr.release:
		case <-r.Context().Done():
		}
		_, _ = io.WriteString(w, "second\n")
	default:
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, "hello from "+tr.id)
	}
}

func (tr *testRegion) region() Region {
	return Region{ID: tr.id, URL: tr.url, HealthCheck: "hc-" + tr.id}
}

// kill takes the region down as a crash would: its listener and every
// connection go away, with requests in flight on them.
func (tr *testRegion) kill() {
	_ = tr.srv.Listener.Close() // Close below closes it again; that error is moot
	tr.srv.CloseClientConnections()
	tr.once.Do(func() { close(tr.release) }) // lets Close's wait for handlers end
	tr.srv.Close()
}

// fakeHealth is a settable Health; checks never set are unknown.
type fakeHealth struct {
	mu sync.Mutex
	v  map[string]bool
}

func (h *fakeHealth) Health(id string) (bool, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ok, known := h.v[id]
	return ok, known
}

func (h *fakeHealth) set(id string, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.v == nil {
		h.v = map[string]bool{}
	}
	h.v[id] = ok
}

// fakeRTT is a settable RTT; regions never set are unmeasured.
type fakeRTT struct {
	mu sync.Mutex
	v  map[string]time.Duration
}

func (f *fakeRTT) RTT(id string) (time.Duration, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, ok := f.v[id]
	return d, ok
}

func (f *fakeRTT) set(id string, d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.v == nil {
		f.v = map[string]time.Duration{}
	}
	f.v[id] = d
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_700_000_000, 0)} }

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

// testEdge is a proxy serving on a loopback port.
type testEdge struct {
	*Proxy
	url    string
	addr   string
	reg    *prometheus.Registry
	client *http.Client
	health *fakeHealth
	rtt    *fakeRTT
}

// startEdge serves cfg, filling in fake Health and RTT, a test logger and a
// registry unless set.
func startEdge(t *testing.T, cfg Config) *testEdge {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.2.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := &testEdge{reg: prometheus.NewRegistry(), health: &fakeHealth{}, rtt: &fakeRTT{}}
	if cfg.Health == nil {
		cfg.Health = e.health
	}
	if cfg.RTT == nil {
		cfg.RTT = e.rtt
	}
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	if cfg.Seed == 0 {
		cfg.Seed = 1
	}
	cfg.Registerer = e.reg
	p, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	e.Proxy = p
	e.addr = ln.Addr().String()
	e.url = "http://" + e.addr
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Serve(ctx, ln) }()
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	e.client = &http.Client{Transport: tr, Timeout: 10 * time.Second}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		if t.Failed() {
			t.Logf("proxy seed %d", p.Seed())
		}
	})
	return e
}

// result is a response read whole.
type result struct {
	code   int
	region string // X-Meridian-Region
	from   string // X-Region, set by the region itself
	header http.Header
	body   string
}

func (e *testEdge) do(t *testing.T, req *http.Request) result {
	t.Helper()
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", req.Method, req.URL, err)
	}
	return result{code: resp.StatusCode, region: resp.Header.Get("X-Meridian-Region"),
		from: resp.Header.Get("X-Region"), header: resp.Header, body: string(b)}
}

func (e *testEdge) get(t *testing.T, path string, cookies ...*http.Cookie) result {
	t.Helper()
	req := e.newRequest(t, http.MethodGet, path, nil)
	for _, c := range cookies {
		req.AddCookie(c)
	}
	return e.do(t, req)
}

func (e *testEdge) newRequest(t *testing.T, method, path string, body io.Reader) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, e.url+path, body)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func (e *testEdge) counter(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}

// waitFor polls cond until it holds or the deadline passes. The deadline
// is generous: it only bounds a hang, and a race-enabled run on a busy
// 2-core machine once needed over 5 s for traffic that takes well under 1.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// logRecorder keeps log records for tests that assert on log lines.
type logRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool { fmt.Fprintf(&b, " %s=%v", a.Key, a.Value); return true })
	l.mu.Lock()
	l.msgs = append(l.msgs, b.String())
	l.mu.Unlock()
	return nil
}
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }

func (l *logRecorder) count(substr string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, m := range l.msgs {
		if strings.Contains(m, substr) {
			n++
		}
	}
	return n
}
