package lb

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meridian-platform/meridian/internal/h1"
	"github.com/meridian-platform/meridian/internal/traceparent"
)

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string // substring of the error; "" for valid
	}{
		{"zero value", Config{}, ""},
		{"one group", Config{TargetGroups: []TargetGroup{{Name: "shop"}}}, ""},
		{"bad listen", Config{Listen: "8080"}, "not host:port"},
		{"unnamed group", Config{TargetGroups: []TargetGroup{{}}}, "has no name"},
		{"duplicate group", Config{TargetGroups: []TargetGroup{{Name: "a"}, {Name: "a"}}}, "declared twice"},
		{"bad algorithm", Config{TargetGroups: []TargetGroup{{Name: "a", Algorithm: "random"}}}, `algorithm "random"`},
		{"unknown rule group", Config{Rules: []Rule{{PathPrefix: "/x", Group: "b"}}}, `unknown target group "b"`},
		{"relative prefix", Config{TargetGroups: []TargetGroup{{Name: "a"}}, Rules: []Rule{{PathPrefix: "x", Group: "a"}}}, "does not start with /"},
		{"inner wildcard", Config{TargetGroups: []TargetGroup{{Name: "a"}}, Rules: []Rule{{Host: "a.*.com", Group: "a"}}}, "leading"},
		{"unknown default", Config{DefaultGroup: "zz"}, `default target group "zz"`},
		{"negative timeout", Config{ReadTimeout: -1}, "must not be negative"},
		{"bad health path", Config{TargetGroups: []TargetGroup{{Name: "a", HealthCheck: HealthCheck{Path: "healthz"}}}}, "health check path"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("got %v, want valid", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestRuleMatches(t *testing.T) {
	for _, tc := range []struct {
		rule       Rule
		host, path string
		want       bool
	}{
		{Rule{Host: "shop.example.com"}, "shop.example.com", "/", true},
		{Rule{Host: "shop.example.com"}, "api.example.com", "/", false},
		{Rule{Host: "*.example.com"}, "api.example.com", "/", true},
		{Rule{Host: "*.example.com"}, "a.b.example.com", "/", true},
		{Rule{Host: "*.example.com"}, "example.com", "/", false},
		{Rule{Host: "*.example.com"}, "badexample.com", "/", false},
		{Rule{PathPrefix: "/api"}, "x", "/api", true},
		{Rule{PathPrefix: "/api"}, "x", "/api/cart", true},
		{Rule{PathPrefix: "/api"}, "x", "/apix", false},
		{Rule{PathPrefix: "/api/"}, "x", "/api", false},
		{Rule{PathPrefix: "/api/"}, "x", "/api/v1", true},
		{Rule{Host: "*.example.com", PathPrefix: "/api"}, "a.example.com", "/api/1", true},
		{Rule{Host: "*.example.com", PathPrefix: "/api"}, "a.example.com", "/web", false},
	} {
		t.Run(tc.rule.Host+tc.rule.PathPrefix+"@"+tc.host+tc.path, func(t *testing.T) {
			r := compileRule(tc.rule, nil)
			if got := r.matches(tc.host, tc.path); got != tc.want {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRoutingByHostAndPath(t *testing.T) {
	web, api, admin := newBackend(t, "web"), newBackend(t, "api"), newBackend(t, "admin")
	tl := startLB(t, Config{
		Rules: []Rule{
			{Host: "admin.shop.test", Group: "admin"},
			{Host: "*.shop.test", PathPrefix: "/api", Group: "api"},
		},
		DefaultGroup: "web",
		TargetGroups: []TargetGroup{
			{Name: "web", HealthCheck: fastCheck},
			{Name: "api", HealthCheck: fastCheck},
			{Name: "admin", HealthCheck: fastCheck},
		},
	})
	tl.register(t, "web", web)
	tl.register(t, "api", api)
	tl.register(t, "admin", admin)
	for _, tc := range []struct{ host, path, want string }{
		{"admin.shop.test", "/api/x", "admin"},
		{"ADMIN.shop.test:8080", "/", "admin"},
		{"eu.shop.test", "/api/cart", "api"},
		{"eu.shop.test", "/apiary", "web"},
		{"shop.test", "/api/cart", "web"},
		{"other.test", "/", "web"},
	} {
		if code, got := tl.get(t, tc.host, tc.path); code != 200 || got != tc.want {
			t.Errorf("%s%s: got %d from %q, want 200 from %q", tc.host, tc.path, code, got, tc.want)
		}
	}
}

func TestNoDefaultGroupIs404(t *testing.T) {
	tl := startLB(t, Config{
		Rules:        []Rule{{PathPrefix: "/a", Group: "a"}},
		TargetGroups: []TargetGroup{{Name: "a"}, {Name: "b"}},
	})
	if code, _ := tl.get(t, "", "/zzz"); code != http.StatusNotFound {
		t.Fatalf("got %d, want 404", code)
	}
}

func TestRoundRobinIsEven(t *testing.T) {
	bs := []*backend{newBackend(t, "a"), newBackend(t, "b"), newBackend(t, "c")}
	tl := startLB(t, Config{TargetGroups: []TargetGroup{{Name: "g", HealthCheck: fastCheck}}})
	tl.register(t, "g", bs...)
	for range 30 {
		if code, _ := tl.get(t, "", "/"); code != 200 {
			t.Fatalf("got %d, want 200", code)
		}
	}
	for _, b := range bs {
		if got := b.hits.Load(); got != 10 {
			t.Errorf("backend %s got %d of 30 requests, want 10", b.name, got)
		}
		if got := tl.stat(t, "g", b.name).Requests; got != 10 {
			t.Errorf("Stats says %s had %d requests, want 10", b.name, got)
		}
	}
}

func TestLeastOutstandingAvoidsBusyTarget(t *testing.T) {
	busy, idle := newBackend(t, "busy"), newBackend(t, "idle")
	tl := startLB(t, Config{TargetGroups: []TargetGroup{{Name: "g", Algorithm: LeastOutstanding, HealthCheck: fastCheck}}})
	tl.register(t, "g", busy, idle)

	// Send /slow requests until one is held by "busy" ("idle" answers its
	// share at once: it is released from the start).
	idle.unblock()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer busy.unblock()
	for tl.stat(t, "g", "busy").InFlight == 0 {
		done := make(chan struct{})
		wg.Go(func() { _, _ = tl.get(t, "", "/slow"); close(done) })
		waitFor(t, "the slow request to land", func() bool {
			select {
			case <-done:
				return tl.stat(t, "g", "idle").InFlight == 0
			default:
				return tl.stat(t, "g", "busy").InFlight == 1
			}
		})
	}
	// In flight counts from the balancer's side: wait for the held request
	// to reach busy's handler too, or it would count as a new one.
	waitFor(t, "the held request to reach busy", func() bool { return busy.hits.Load() == 1 })
	before := busy.hits.Load()
	for range 20 {
		if code, got := tl.get(t, "", "/"); code != 200 || got != "idle" {
			t.Fatalf("got %d from %q, want 200 from the idle target", code, got)
		}
	}
	if got := busy.hits.Load() - before; got != 0 {
		t.Fatalf("the busy target got %d new requests, want 0", got)
	}
}

func TestHealthChecksGateTraffic(t *testing.T) {
	a, b := newBackend(t, "a"), newBackend(t, "b")
	tl := startLB(t, Config{TargetGroups: []TargetGroup{{Name: "g", HealthCheck: fastCheck}}})

	// A target that never passes its health check gets nothing.
	b.sick.Store(true)
	if err := tl.Register("g", "b", b.addr); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b to fail its checks", func() bool { return tl.stat(t, "g", "b").State == StateUnhealthy })
	if code, _ := tl.get(t, "", "/"); code != http.StatusServiceUnavailable {
		t.Fatalf("with no healthy target: got %d, want 503", code)
	}
	tl.register(t, "g", a)
	for range 10 {
		if code, got := tl.get(t, "", "/"); code != 200 || got != "a" {
			t.Fatalf("got %d from %q, want 200 from a", code, got)
		}
	}
	if n := b.hits.Load(); n != 0 {
		t.Fatalf("unhealthy target got %d requests, want 0", n)
	}

	// It recovers, then a healthy one falls sick and is taken out.
	b.sick.Store(false)
	tl.waitHealthy(t, "g", "b")
	seen := map[string]int{}
	for range 10 {
		_, got := tl.get(t, "", "/")
		seen[got]++
	}
	if seen["a"] != 5 || seen["b"] != 5 {
		t.Fatalf("after b recovered: got %v, want 5 each", seen)
	}
	a.sick.Store(true)
	waitFor(t, "a to be taken out", func() bool { return tl.stat(t, "g", "a").State == StateUnhealthy })
	before := a.hits.Load()
	for range 10 {
		if code, got := tl.get(t, "", "/"); code != 200 || got != "b" {
			t.Fatalf("got %d from %q, want 200 from b", code, got)
		}
	}
	if n := a.hits.Load() - before; n != 0 {
		t.Fatalf("unhealthy target got %d requests, want 0", n)
	}
}

func TestDeregisterDrains(t *testing.T) {
	old, repl := newBackend(t, "old"), newBackend(t, "new")
	tl := startLB(t, Config{TargetGroups: []TargetGroup{{Name: "g", HealthCheck: fastCheck, DeregistrationDelay: time.Minute}}})
	tl.register(t, "g", old)

	slow := make(chan int, 1)
	go func() { code, _ := tl.get(t, "", "/slow"); slow <- code }()
	waitFor(t, "the slow request to reach old", func() bool { return tl.stat(t, "g", "old").InFlight == 1 })
	tl.register(t, "g", repl)

	dereg := make(chan error, 1)
	go func() { dereg <- tl.Deregister(context.Background(), "g", "old") }()
	waitFor(t, "old to drain", func() bool { return tl.stat(t, "g", "old").State == StateDraining })
	for range 10 {
		if code, got := tl.get(t, "", "/"); code != 200 || got != "new" {
			t.Fatalf("while old drains: got %d from %q, want 200 from new", code, got)
		}
	}
	select {
	case err := <-dereg:
		t.Fatalf("Deregister returned (%v) with a request in flight", err)
	default:
	}
	old.unblock()
	if code := <-slow; code != 200 {
		t.Fatalf("the in-flight request got %d, want 200", code)
	}
	if err := <-dereg; err != nil {
		t.Fatalf("Deregister: %v", err)
	}
	if st, _ := tl.Stats("g"); len(st) != 1 || st[0].ID != "new" {
		t.Fatalf("after deregistration: got %+v, want only new", st)
	}
}

func TestDeregisterDelayBoundsTheWait(t *testing.T) {
	b, other := newBackend(t, "b"), newBackend(t, "other")
	delay := 100 * time.Millisecond
	tl := startLB(t, Config{TargetGroups: []TargetGroup{{Name: "g", HealthCheck: fastCheck, DeregistrationDelay: delay}}})
	tl.register(t, "g", b)
	slow := make(chan int, 1)
	go func() { code, _ := tl.get(t, "", "/slow"); slow <- code }()
	waitFor(t, "the slow request", func() bool { return tl.stat(t, "g", "b").InFlight == 1 })
	tl.register(t, "g", other)
	start := time.Now()
	if err := tl.Deregister(context.Background(), "g", "b"); err != nil {
		t.Fatalf("Deregister: %v", err)
	}
	if el := time.Since(start); el < delay || el > 5*time.Second {
		t.Fatalf("Deregister took %v with a stuck request, want about %v", el, delay)
	}
	b.unblock()
	if code := <-slow; code != 200 {
		t.Fatalf("the request left behind: got %d, want 200", code)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := tl.Deregister(ctx, "g", "unknown"); err != nil {
		t.Fatalf("deregistering an unknown id: %v", err)
	}
}

func TestSlowStartRampsLinearly(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_000_000, 0)}
	a, b := newBackend(t, "a"), newBackend(t, "b")
	tl := startLB(t, Config{Now: clock.Now,
		TargetGroups: []TargetGroup{{Name: "g", HealthCheck: fastCheck, SlowStart: 100 * time.Second}}})
	tl.register(t, "g", a) // alone: no slow start
	if w := tl.stat(t, "g", "a").Weight; w != 1 {
		t.Fatalf("first target's weight: got %v, want 1", w)
	}
	tl.register(t, "g", b)
	share := func() int {
		t.Helper()
		before := b.hits.Load()
		for range 60 {
			if code, _ := tl.get(t, "", "/"); code != 200 {
				t.Fatalf("got %d, want 200", code)
			}
		}
		return int(b.hits.Load() - before)
	}
	for _, tc := range []struct {
		at   time.Duration
		want int // of 60 requests
	}{
		{10 * time.Second, 5},  // weights 1 : 0.1
		{50 * time.Second, 20}, // 1 : 0.5
		{100 * time.Second, 30},
		{200 * time.Second, 30},
	} {
		clock.mu.Lock()
		clock.now = time.Unix(1_000_000, 0).Add(tc.at)
		clock.mu.Unlock()
		if got := share(); got < tc.want-1 || got > tc.want+1 {
			t.Errorf("%v into slow start: new target got %d of 60 requests, want %d", tc.at, got, tc.want)
		}
	}
}

func TestKilledBackendFailsNoRequest(t *testing.T) {
	bs := []*backend{newBackend(t, "a"), newBackend(t, "b"), newBackend(t, "c")}
	tl := startLB(t, Config{TargetGroups: []TargetGroup{{Name: "g", HealthCheck: fastCheck}}})
	tl.register(t, "g", bs...)

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	var total int
	for range 8 {
		wg.Go(func() {
			for ctx.Err() == nil {
				resp, err := tl.client.Get(tl.url + "/")
				var code int
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					code = resp.StatusCode
				}
				mu.Lock()
				total++
				if err != nil || code != 200 {
					failures = append(failures, fmt.Sprintf("code %d err %v", code, err))
				}
				mu.Unlock()
			}
		})
	}
	served := func() int64 { return bs[0].hits.Load() + bs[1].hits.Load() + bs[2].hits.Load() }
	waitFor(t, "steady traffic", func() bool { return served() > 300 })
	bs[1].close()
	after := served()
	waitFor(t, "traffic after the kill", func() bool { return served() > after+600 })
	cancel()
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d of %d requests failed after a backend was killed, first: %s", len(failures), total, failures[0])
	}
	if s := tl.stat(t, "g", "b").State; s != StateUnhealthy {
		t.Fatalf("killed target is %s, want unhealthy", s)
	}
	t.Logf("%d requests, retries %v", total, tl.counter(t, tl.m.retries.WithLabelValues("g")))
}

func TestPostRetriedOnConnectFailure(t *testing.T) {
	a := newBackend(t, "a")
	dead := newBackend(t, "dead")
	tl := startLB(t, Config{TargetGroups: []TargetGroup{{Name: "g", HealthCheck: HealthCheck{Interval: time.Hour, HealthyThreshold: 1}}}})
	tl.register(t, "g", a, dead)
	dead.close() // health checks run hourly: only the proxy can notice
	for range 4 {
		resp, err := tl.client.Post(tl.url+"/echo", "text/plain", strings.NewReader("order"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("X-Backend") != "a" {
			t.Fatalf("POST: got %d from %q, want 200 from a", resp.StatusCode, resp.Header.Get("X-Backend"))
		}
	}
	if got := tl.counter(t, tl.m.retries.WithLabelValues("g")); got != 1 {
		t.Fatalf("retries: got %v, want 1 (then the refusing target is out)", got)
	}
}

func TestResetRetriedOnlyWhenIdempotent(t *testing.T) {
	good, bad := newBackend(t, "good"), newBackend(t, "bad")
	tl := startLB(t, Config{TargetGroups: []TargetGroup{{Name: "g", HealthCheck: fastCheck}}})
	tl.register(t, "g", good, bad)
	bad.resets.Store(true) // still passes health checks
	for range 4 {
		if code, got := tl.get(t, "", "/"); code != 200 || got != "good" {
			t.Fatalf("GET: got %d from %q, want 200 from good", code, got)
		}
	}
	codes := map[int]int{}
	for range 4 {
		resp, err := tl.client.Post(tl.url+"/", "text/plain", strings.NewReader("pay"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		codes[resp.StatusCode]++
	}
	if codes[200] != 2 || codes[http.StatusBadGateway] != 2 {
		t.Fatalf("POSTs: got codes %v, want 2×200 from good and 2×502 from bad (never replayed)", codes)
	}
	if n := bad.hits.Load(); n != 4 {
		t.Fatalf("bad target saw %d requests, want 4 (every other GET and POST, none replayed to it)", n)
	}
}

func TestUpstreamErrors(t *testing.T) {
	hang := newBackend(t, "hang")
	tl := startLB(t, Config{UpstreamTimeout: 100 * time.Millisecond,
		TargetGroups: []TargetGroup{{Name: "g", HealthCheck: fastCheck}}})
	tl.register(t, "g", hang)
	if code, _ := tl.get(t, "", "/slow"); code != http.StatusGatewayTimeout {
		t.Fatalf("slow target: got %d, want 504", code)
	}
	if got := tl.counter(t, tl.m.requests.WithLabelValues("g", "", "504")); got != 1 {
		t.Fatalf("504s counted: got %v, want 1", got)
	}
}

func TestForwardedHeadersAndTraceparent(t *testing.T) {
	b := newBackend(t, "b")
	tl := startLB(t, Config{TargetGroups: []TargetGroup{{Name: "g", HealthCheck: fastCheck}}})
	tl.register(t, "g", b)
	echo := func(h http.Header) http.Header {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, tl.url+"/echo", nil)
		req.Host = "shop.test"
		for k, v := range h {
			req.Header[k] = v
		}
		resp, err := tl.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var got http.Header
		if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
			t.Fatal(err)
		}
		return got
	}
	const valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	got := echo(http.Header{"X-Forwarded-For": {"203.0.113.7"}, "Traceparent": {valid},
		"Connection": {"X-Secret"}, "X-Secret": {"hop"}})
	for k, want := range map[string]string{
		"X-Forwarded-For":   "203.0.113.7, 127.0.0.1",
		"X-Forwarded-Proto": "http",
		"X-Forwarded-Host":  "shop.test",
		"Traceparent":       valid,
		"X-Secret":          "",
	} {
		if g := strings.Join(got[k], ","); g != want {
			t.Errorf("%s: got %q, want %q", k, g, want)
		}
	}
	first := echo(nil)
	if tp := first.Get("Traceparent"); !traceparent.Valid(tp) {
		t.Errorf("started traceparent %q is not valid", tp)
	}
	if g := first.Get("X-Forwarded-For"); g != "127.0.0.1" {
		t.Errorf("X-Forwarded-For without a prior one: got %q, want 127.0.0.1", g)
	}
	second := echo(http.Header{"Traceparent": {"00-00000000000000000000000000000000-00f067aa0ba902b7-01"},
		"Tracestate": {"x=1"}})
	if tp := second.Get("Traceparent"); !traceparent.Valid(tp) || tp[3:35] == first.Get("Traceparent")[3:35] {
		t.Errorf("an invalid traceparent must be replaced by a new trace: got %q after %q", tp, first.Get("Traceparent"))
	}
	if ts := second.Get("Tracestate"); ts != "" {
		t.Errorf("tracestate of a replaced trace: got %q, want none", ts)
	}
}

// rawRequest writes raw bytes to the balancer and returns the status line.
func rawRequest(t *testing.T, addr, req string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	return strings.TrimSpace(line)
}

func TestBadRequestsAreRefusedAndCounted(t *testing.T) {
	b := newBackend(t, "b")
	tl := startLB(t, Config{TargetGroups: []TargetGroup{{Name: "g", HealthCheck: fastCheck}}})
	tl.register(t, "g", b)
	big := "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 40<<10) + "\r\n\r\n"
	if got := rawRequest(t, tl.addr, big); !strings.HasPrefix(got, "HTTP/1.1 431") {
		t.Fatalf("oversized headers: got %q, want 431", got)
	}
	if got := rawRequest(t, tl.addr, "BLAH\r\n\r\n"); !strings.HasPrefix(got, "HTTP/1.1 400") {
		t.Fatalf("malformed request: got %q, want 400", got)
	}
	if got := rawRequest(t, tl.addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); !strings.HasPrefix(got, "HTTP/1.1 200") {
		t.Fatalf("good request after bad ones: got %q, want 200", got)
	}
	for reason, want := range map[string]float64{"header_too_large": 1, "malformed": 1} {
		if got := tl.counter(t, tl.m.rejected.WithLabelValues(reason)); got != want {
			t.Errorf("rejected %s: got %v, want %v", reason, got, want)
		}
	}
	if n := b.hits.Load(); n != 1 {
		t.Errorf("the target got %d requests, want only the good one", n)
	}
}

func TestSlowlorisIsCutOffWhileOthersAreServed(t *testing.T) {
	b := newBackend(t, "b")
	const timeout = 300 * time.Millisecond
	tl := startLB(t, Config{ReadHeaderTimeout: timeout, TargetGroups: []TargetGroup{{Name: "g", HealthCheck: fastCheck}}})
	tl.register(t, "g", b)

	c, err := net.Dial("tcp", tl.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: "); err != nil {
		t.Fatal(err)
	}
	// Others are served while the slow client holds its connection.
	for range 5 {
		if code, _ := tl.get(t, "", "/"); code != 200 {
			t.Fatalf("other client: got %d, want 200", code)
		}
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := c.Read(make([]byte, 1))
	el := time.Since(start)
	if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !strings.Contains(fmt.Sprint(err), "reset") {
		t.Fatalf("slow client: read %d bytes, %v; want the connection closed", n, err)
	}
	if el < timeout {
		t.Fatalf("slow client cut off after %v, before the %v header timeout", el, timeout)
	}
	waitFor(t, "the slow client to be counted", func() bool {
		return tl.counter(t, tl.m.rejected.WithLabelValues("header_timeout")) == 1
	})
}

func TestRegisterAgainReplacesAddress(t *testing.T) {
	a, b := newBackend(t, "a"), newBackend(t, "b")
	tl := startLB(t, Config{TargetGroups: []TargetGroup{{Name: "g", HealthCheck: fastCheck}}})
	for _, addr := range []string{a.addr, a.addr, b.addr} {
		if err := tl.Register("g", "i-1", addr); err != nil {
			t.Fatal(err)
		}
	}
	tl.waitHealthy(t, "g", "i-1")
	if st, _ := tl.Stats("g"); len(st) != 1 || st[0].Addr != b.addr {
		t.Fatalf("got %+v, want one target at %s", st, b.addr)
	}
	if code, got := tl.get(t, "", "/"); code != 200 || got != "b" {
		t.Fatalf("got %d from %q, want 200 from b", code, got)
	}
	if err := tl.Register("nope", "i-1", a.addr); err == nil || !strings.Contains(err.Error(), `unknown target group "nope"`) {
		t.Fatalf("registering in an unknown group: got %v", err)
	}
}

func TestPooledConnectionClosedByTargetIsNotUsed(t *testing.T) {
	var closed atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, "ok")
	}))
	srv.Config.IdleTimeout = 50 * time.Millisecond // closes pooled connections under the balancer
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateClosed {
			closed.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	tl := startLB(t, Config{TargetGroups: []TargetGroup{{Name: "g", HealthCheck: HealthCheck{Interval: time.Hour, HealthyThreshold: 1}}}})
	if err := tl.Register("g", "t", srv.Listener.Addr().String()); err != nil {
		t.Fatal(err)
	}
	tl.waitHealthy(t, "g", "t")
	// A POST cannot be sent again, so the pool checks the connection first;
	// a GET is sent without the check and, finding it closed, again on a
	// fresh connection.
	for i := range 6 {
		method := http.MethodPost
		if i%2 == 1 {
			method = http.MethodGet
		}
		before := closed.Load()
		var body io.Reader
		if method == http.MethodPost {
			body = strings.NewReader("not replayable")
		}
		req, _ := http.NewRequest(method, tl.url+"/", body)
		resp, err := tl.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s %d on a connection the target closed while idle: got %d, want 200", method, i, resp.StatusCode)
		}
		waitFor(t, "the target to close the idle connection", func() bool { return closed.Load() > before })
	}
	if got := tl.counter(t, tl.m.retries.WithLabelValues("g")); got != 0 {
		t.Fatalf("retries on another target: got %v, want 0 (a fresh connection to the same one)", got)
	}
}

// TestServerSpeaksHTTP11 covers what the balancer's own server does that
// net/http's did for it: framing by protocol version, 100 Continue, HEAD,
// chunked responses with trailers, pipelining and the refusals.
func TestServerSpeaksHTTP11(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz":
		case "/stream": // no Content-Length: chunked, with a trailer
			w.Header().Set("Trailer", "X-Sum")
			_, _ = io.WriteString(w, "part1,")
			w.(http.Flusher).Flush()
			_, _ = io.WriteString(w, "part2")
			w.Header().Set("X-Sum", "42")
		case "/echo-body":
			b, _ := io.ReadAll(r.Body)
			_, _ = w.Write(b)
		default:
			_, _ = io.WriteString(w, "hello")
		}
	}))
	defer srv.Close()
	tl := startLB(t, Config{TargetGroups: []TargetGroup{{Name: "g", HealthCheck: fastCheck}}})
	if err := tl.Register("g", "t", srv.Listener.Addr().String()); err != nil {
		t.Fatal(err)
	}
	tl.waitHealthy(t, "g", "t")

	for _, tc := range []struct {
		name, req    string
		method       string // for reading the response
		wantCode     int
		wantBody     string
		wantChunked  bool
		wantClose    bool
		wantTrailer  string
		wantContinue bool
	}{
		{name: "keep-alive GET", req: "GET / HTTP/1.1\r\nHost: x\r\n\r\n", wantCode: 200, wantBody: "hello"},
		{name: "HTTP/1.0 closes", req: "GET / HTTP/1.0\r\n\r\n", wantCode: 200, wantBody: "hello", wantClose: true},
		{name: "Connection close", req: "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", wantCode: 200, wantBody: "hello", wantClose: true},
		{name: "HEAD has no body", req: "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n", method: "HEAD", wantCode: 200},
		{name: "chunked with trailer", req: "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n", wantCode: 200,
			wantBody: "part1,part2", wantChunked: true, wantTrailer: "42"},
		{name: "100 continue", req: "POST /echo-body HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n",
			wantCode: 200, wantBody: "ping", wantContinue: true},
		{name: "chunked request body", req: "POST /echo-body HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nping\r\n0\r\n\r\n",
			wantCode: 200, wantBody: "ping"},
		{name: "no Host", req: "GET / HTTP/1.1\r\n\r\n", wantCode: 400, wantClose: true},
		{name: "bad Host", req: "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", wantCode: 400, wantClose: true},
		{name: "HTTP/2 preface", req: "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", wantCode: 505, wantClose: true},
		{name: "unknown expectation", req: "GET / HTTP/1.1\r\nHost: x\r\nExpect: magic\r\n\r\n", wantCode: 417, wantClose: true},
		{name: "unknown transfer coding", req: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: zip\r\n\r\n", wantCode: 501, wantClose: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", tl.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			br := bufio.NewReader(c)
			if tc.wantContinue {
				head, _, _ := strings.Cut(tc.req, "\r\n\r\n")
				if _, err := io.WriteString(c, head+"\r\n\r\n"); err != nil {
					t.Fatal(err)
				}
				line, err := br.ReadString('\n')
				if err != nil || !strings.HasPrefix(line, "HTTP/1.1 100 ") {
					t.Fatalf("before the body: got %q, %v; want 100 Continue", line, err)
				}
				if _, err := br.ReadString('\n'); err != nil {
					t.Fatal(err)
				}
				if _, err := io.WriteString(c, "ping"); err != nil {
					t.Fatal(err)
				}
			} else if _, err := io.WriteString(c, tc.req); err != nil {
				t.Fatal(err)
			}
			method := tc.method
			if method == "" {
				method = http.MethodGet
			}
			resp, err := http.ReadResponse(br, &http.Request{Method: method})
			if err != nil {
				t.Fatalf("reading the response: %v", err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatalf("reading the body: %v", err)
			}
			if resp.StatusCode != tc.wantCode {
				t.Fatalf("status: got %d, want %d", resp.StatusCode, tc.wantCode)
			}
			if tc.wantCode == 200 && string(body) != tc.wantBody {
				t.Errorf("body: got %q, want %q", body, tc.wantBody)
			}
			if got := len(resp.TransferEncoding) > 0; got != tc.wantChunked {
				t.Errorf("chunked: got %v, want %v", got, tc.wantChunked)
			}
			if got := resp.Trailer.Get("X-Sum"); got != tc.wantTrailer {
				t.Errorf("trailer X-Sum: got %q, want %q", got, tc.wantTrailer)
			}
			if tc.wantCode == 200 && resp.Header.Get("Date") == "" {
				t.Errorf("no Date header")
			}
			// The connection is kept exactly when it should be.
			if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil && !tc.wantClose {
				t.Fatal(err)
			}
			_ = c.SetDeadline(time.Now().Add(2 * time.Second))
			next, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet})
			if err == nil {
				defer next.Body.Close()
			}
			if tc.wantClose {
				if err == nil {
					t.Fatalf("connection kept after a response that closes it: got %d", next.StatusCode)
				}
				return
			}
			if err != nil {
				t.Fatalf("second request on the connection: %v", err)
			}
			_, _ = io.Copy(io.Discard, next.Body)
			if next.StatusCode != 200 {
				t.Fatalf("second request on the connection: got %d", next.StatusCode)
			}
		})
	}
}

func TestPipelinedRequestsAreAnsweredInOrder(t *testing.T) {
	b := newBackend(t, "b")
	tl := startLB(t, Config{TargetGroups: []TargetGroup{{Name: "g", HealthCheck: fastCheck}}})
	tl.register(t, "g", b)
	c, err := net.Dial("tcp", tl.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	// The first request waits on the target longer than the balancer
	// waits before it watches the client, so the second one is read
	// ahead by the watch and must still be served whole.
	if _, err := io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * h1.WatchAfter)
	if _, err := io.WriteString(c, "GET /two HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * h1.WatchAfter)
	b.unblock()
	br := bufio.NewReader(c)
	for _, want := range []string{"slow done", "hello from b"} {
		resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet})
		if err != nil {
			t.Fatalf("reading the response with %q: %v", want, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != want {
			t.Fatalf("got %d %q, want 200 %q", resp.StatusCode, body, want)
		}
	}
}

func TestClientHangingUpCancelsItsRequest(t *testing.T) {
	b := newBackend(t, "b")
	tl := startLB(t, Config{TargetGroups: []TargetGroup{{Name: "g", HealthCheck: fastCheck}}})
	tl.register(t, "g", b)
	c, err := net.Dial("tcp", tl.addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the request to reach the target", func() bool { return tl.stat(t, "g", "b").InFlight == 1 })
	_ = c.Close()
	// The target still holds the request: only the balancer noticing the
	// client gone can end it.
	waitFor(t, "the request to be cancelled", func() bool { return tl.stat(t, "g", "b").InFlight == 0 })
	waitFor(t, "a 499 to be counted", func() bool {
		return tl.counter(t, tl.m.requests.WithLabelValues("g", "", "499")) == 1
	})
}
