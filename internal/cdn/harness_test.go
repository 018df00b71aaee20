package cdn

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// epoch is where test clocks start: golden files write dates relative to
// it (Thu, 01 Jan 2026 00:00:00 GMT).
var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: epoch} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func (c *clock) Advance(d time.Duration) { c.Set(c.Now().Add(d)) }

// object is what a test origin answers for a path.
type object struct {
	status int
	header http.Header
	body   string
	// varyBody names a request header whose value the origin appends to
	// the body, to show which variant a client got.
	varyBody string
}

// testOrigin is an origin server on a real loopback listener. It answers
// conditionals from the object's ETag and Last-Modified, stamps Date from
// the test clock and logs every request it receives.
type testOrigin struct {
	t     testing.TB
	clock *clock
	ln    net.Listener
	srv   *http.Server
	url   string // base URL with the /static prefix

	mu      sync.Mutex
	objects map[string]*object
	status  int           // when set, every request is answered with it
	broken  bool          // when set, bodies break off after their first bytes
	gate    chan struct{} // when set, requests wait for it to close
	log     []string
	fetches int
}

func newTestOrigin(t testing.TB, ip string, clk *clock) *testOrigin {
	t.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatalf("listening for a test origin: %v", err)
	}
	o := &testOrigin{t: t, clock: clk, ln: ln, objects: map[string]*object{},
		url: "http://" + ln.Addr().String() + "/static"}
	o.srv = &http.Server{Handler: http.HandlerFunc(o.serve), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = o.srv.Serve(ln) }()
	t.Cleanup(o.kill)
	return o
}

// kill closes the listener and every connection: the origin is down.
func (o *testOrigin) kill() { _ = o.srv.Close() }

func (o *testOrigin) set(path string, obj *object) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if obj.status == 0 {
		obj.status = http.StatusOK
	}
	o.objects[path] = obj
}

func (o *testOrigin) setStatus(code int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.status = code
}

func (o *testOrigin) fetchCount() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.fetches
}

// takeLog returns the requests logged since the last call.
func (o *testOrigin) takeLog() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	l := o.log
	o.log = nil
	return l
}

func (o *testOrigin) serve(w http.ResponseWriter, r *http.Request) {
	o.mu.Lock()
	gate := o.gate
	o.mu.Unlock()
	if gate != nil {
		<-gate
	}
	o.mu.Lock()
	o.fetches++
	line := r.Method + " " + r.URL.RequestURI()
	for _, h := range []string{"If-None-Match", "If-Modified-Since", "Range", "Authorization"} {
		if v := r.Header.Get(h); v != "" {
			line += " " + strings.ToLower(h) + "=" + v
		}
	}
	obj := o.objects[strings.TrimPrefix(r.URL.Path, "/static")]
	status, broken := o.status, o.broken
	o.mu.Unlock()

	w.Header().Set("Date", o.clock.Now().Format(http.TimeFormat))
	// Decide the answer and log it before writing, so the log is complete
	// once the edge has the response.
	code, body := status, "origin failing\n"
	switch {
	case status != 0:
	case obj == nil:
		code, body = http.StatusNotFound, "not found\n"
	default:
		for k, vs := range obj.header {
			w.Header()[k] = vs
		}
		code, body = obj.status, obj.body
		if obj.varyBody != "" {
			body += " " + r.Header.Get(obj.varyBody)
		}
		if obj.status == http.StatusOK && notModified(r, obj.header) {
			code, body = http.StatusNotModified, ""
		}
	}
	o.mu.Lock()
	o.log = append(o.log, line+" -> "+strconv.Itoa(code))
	o.mu.Unlock()
	if broken {
		// Promise more than is sent: the server closes the connection and
		// the edge reads an unexpected EOF.
		w.Header().Set("Content-Length", strconv.Itoa(len(body)+100))
	}
	if code == http.StatusOK && r.Header.Get("Range") != "" {
		http.ServeContent(w, r, "", time.Time{}, strings.NewReader(body))
		return
	}
	w.WriteHeader(code)
	_, _ = io.WriteString(w, body)
}

func notModified(r *http.Request, h http.Header) bool {
	if inm := r.Header.Get("If-None-Match"); inm != "" {
		return h.Get("ETag") != "" && inm == h.Get("ETag")
	}
	if ims := r.Header.Get("If-Modified-Since"); ims != "" {
		since, err1 := http.ParseTime(ims)
		mod, err2 := http.ParseTime(h.Get("Last-Modified"))
		return err1 == nil && err2 == nil && !mod.After(since)
	}
	return false
}

// testEdge is a cache served by a real HTTP server, and a client for it.
type testEdge struct {
	t      testing.TB
	cache  *Cache
	srv    *httptest.Server
	client *http.Client
}

const testHost = "static.meridian.test"

func newTestEdge(t testing.TB, cfg Config) *testEdge {
	t.Helper()
	if cfg.Now == nil {
		clk := newClock()
		cfg.Now = clk.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv := httptest.NewServer(c)
	t.Cleanup(func() {
		srv.Close()
		_ = c.Close()
	})
	return &testEdge{t: t, cache: c, srv: srv, client: &http.Client{
		Transport: &http.Transport{DisableCompression: true},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}}}
}

// response is what a client saw.
type response struct {
	status int
	header http.Header
	body   string
}

func (e *testEdge) do(method, path string, h http.Header) response {
	e.t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, e.srv.URL+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Host = testHost
	for k, vs := range h {
		if k == "Host" {
			req.Host = vs[0]
			continue
		}
		req.Header[k] = vs
	}
	res, err := e.client.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return response{status: res.StatusCode, header: res.Header, body: string(b)}
}

func (e *testEdge) get(path string) response { return e.do(http.MethodGet, path, nil) }

// waitIdle waits until no origin fetch is in flight: background refreshes
// have ended.
func (c *Cache) waitIdle(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c.mu.Lock()
		n := len(c.flights)
		c.mu.Unlock()
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d origin fetches still in flight after 10s", n)
		}
		time.Sleep(time.Millisecond)
	}
}

// waiters returns how many requests wait on the fetch for key.
func (c *Cache) waiters(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f := c.flights[key]; f != nil {
		return f.waiters
	}
	return 0
}

// waitFor polls cond until it holds or 10s pass.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func testDist(origins ...*testOrigin) Distribution {
	d := Distribution{Name: "static", Hosts: []string{testHost}}
	for i, o := range origins {
		d.Origins = append(d.Origins, Origin{Name: "o" + string(rune('1'+i)), URL: o.url})
	}
	return d
}
