package health_test

import (
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/meridian-platform/meridian/internal/health"
	"github.com/prometheus/client_golang/prometheus"
)

const (
	testInterval = 100 * time.Millisecond
	// slowTimeout is the probe timeout of tests whose live targets must not
	// fail a probe on a loaded machine.
	slowTimeout = time.Second
	// settle bounds waits for things that take a few intervals.
	settle = 5 * time.Second
)

// TestThresholds checks that a healthy check turns unhealthy on exactly the
// FailureThreshold-th consecutive failed probe and back on exactly the
// FailureThreshold-th consecutive success, logging each change once.
func TestThresholds(t *testing.T) {
	tg := newTarget(t, "127.0.0.1")
	type change struct {
		scope, to string
		served    int // answers of the probed status when the change was logged
		component string
	}
	changes := make(chan change, 16)
	log := testLogger(t, "solo", func(_ string, r slog.Record) {
		scope, _, ok := strings.Cut(r.Message, " verdict changed")
		if !ok {
			return
		}
		to := attr(r, "to")
		code := http.StatusOK
		if to == string(health.Unhealthy) {
			code = http.StatusServiceUnavailable
		}
		changes <- change{scope, to, tg.count(code), attr(r, "component")}
	})
	c := runChecker(t, health.Config{
		// Exact probe counts: a generous timeout keeps a loaded machine from
		// failing a probe the target answered.
		Checks: []health.Check{{ID: "web", Type: health.HTTP, URL: tg.url(), Interval: testInterval, Timeout: slowTimeout}},
		Logger: log,
	})
	next := func(want change) {
		t.Helper()
		select {
		case got := <-changes:
			if got != want {
				t.Errorf("verdict change: got %+v, want %+v", got, want)
			}
		case <-time.After(settle):
			t.Fatalf("no verdict change within %v, want %+v", settle, want)
		}
	}
	// The first success decides an unknown check.
	next(change{"local", "healthy", 1, "health"})
	next(change{"global", "healthy", 1, "health"})

	tg.resetCounts()
	tg.setStatus(http.StatusServiceUnavailable)
	next(change{"local", "unhealthy", 3, "health"})
	next(change{"global", "unhealthy", 3, "health"})
	if got := checkStatus(t, c, "web").LastError; !strings.Contains(got, "status 503, want 2xx or 3xx") {
		t.Errorf("last error: got %q, want it to name the status", got)
	}

	tg.resetCounts()
	tg.setStatus(http.StatusOK)
	next(change{"local", "healthy", 3, "health"})
	next(change{"global", "healthy", 3, "health"})
	if healthy, known := c.Health("web"); !healthy || !known {
		t.Errorf("Health: got (%v, %v), want (true, true)", healthy, known)
	}
	select {
	case extra := <-changes:
		t.Errorf("unexpected extra verdict change %+v", extra)
	default:
	}
}

func TestHTTPSearchString(t *testing.T) {
	pad := strings.Repeat("x", health.SearchBytes-len("ready"))
	tests := []struct {
		name    string
		status  int
		body    string
		want    health.Verdict
		wantErr string
	}{
		{"found", http.StatusOK, "status: ready", health.Healthy, ""},
		{"missing", http.StatusOK, "status: starting", health.Unhealthy, `"ready" not in the first 5120 bytes of the body`},
		{"ends at the limit", http.StatusOK, pad + "ready", health.Healthy, ""},
		{"past the limit", http.StatusOK, pad + "xready", health.Unhealthy, `"ready" not in the first 5120 bytes`},
		{"server error", http.StatusInternalServerError, "ready", health.Unhealthy, "status 500"},
		{"not found", http.StatusNotFound, "ready", health.Unhealthy, "status 404"},
		{"redirect is not followed", http.StatusFound, "ready", health.Healthy, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tg := newTarget(t, "127.0.0.1")
			tg.setStatus(tc.status)
			tg.setBody(tc.body)
			c := runChecker(t, health.Config{Checks: []health.Check{{ID: "web", Type: health.HTTP, URL: tg.url(),
				SearchString: "ready", Interval: testInterval, Timeout: slowTimeout, FailureThreshold: 1}}})
			waitFor(t, settle, "a verdict", func() bool { return verdict(c, "web") != health.Unknown })
			if got := verdict(c, "web"); got != tc.want {
				t.Errorf("verdict: got %s, want %s", got, tc.want)
			}
			got := checkStatus(t, c, "web").LastError
			if tc.wantErr == "" && got != "" || !strings.Contains(got, tc.wantErr) {
				t.Errorf("last error: got %q, want %q", got, tc.wantErr)
			}
		})
	}
}

func TestTCP(t *testing.T) {
	tg := newTarget(t, "127.0.0.1")
	reg := prometheus.NewRegistry()
	c := runChecker(t, health.Config{Checks: []health.Check{{ID: "db", Type: health.TCP, Addr: tg.addr,
		Interval: testInterval, Timeout: slowTimeout, FailureThreshold: 2}}, Registerer: reg})
	waitFor(t, settle, "tcp check healthy", func() bool { return verdict(c, "db") == health.Healthy })
	d, ok := c.RTT("db")
	if !ok || d <= 0 || d > time.Second {
		t.Errorf("RTT: got (%v, %v), want a positive loopback connect time", d, ok)
	}
	db := map[string]string{"check": "db"}
	if got := metricValue(t, reg, "meridian_health_probes_total", map[string]string{"check": "db", "result": "success"}); got < 1 {
		t.Errorf("successful probes metric: got %v, want at least 1", got)
	}
	if got := metricValue(t, reg, "meridian_health_rtt_seconds", db); got <= 0 {
		t.Errorf("rtt metric: got %v, want positive", got)
	}
	tg.kill()
	waitFor(t, settle, "tcp check unhealthy", func() bool { return verdict(c, "db") == health.Unhealthy })
	for _, scope := range []string{"local", "global"} {
		if got := metricValue(t, reg, "meridian_health_healthy", map[string]string{"check": "db", "scope": scope}); got != 0 {
			t.Errorf("%s verdict gauge of an unhealthy check: got %v, want 0", scope, got)
		}
	}
	if got := checkStatus(t, c, "db").LastError; !strings.Contains(got, "connecting to "+tg.addr) {
		t.Errorf("last error: got %q, want it to name the address", got)
	}
	tg.restart()
	waitFor(t, settle, "tcp check healthy again", func() bool { return verdict(c, "db") == health.Healthy })
}

func TestInvert(t *testing.T) {
	tg := newTarget(t, "127.0.0.1")
	c := runChecker(t, health.Config{Checks: []health.Check{
		{ID: "up", Type: health.HTTP, URL: tg.url(), Interval: testInterval, Timeout: slowTimeout, FailureThreshold: 2},
		{ID: "down", Type: health.HTTP, URL: tg.url(), Interval: testInterval, Timeout: slowTimeout, FailureThreshold: 2, Invert: true},
	}})
	waitFor(t, settle, "verdicts", func() bool { return verdict(c, "up") == health.Healthy })
	waitFor(t, settle, "inverted verdict", func() bool { return verdict(c, "down") != health.Unknown })
	if got := verdict(c, "down"); got != health.Unhealthy {
		t.Errorf("inverted check of a healthy target: got %s, want unhealthy", got)
	}
	if s := checkStatus(t, c, "down"); !s.Inverted || s.Local != health.Unhealthy {
		t.Errorf("status of the inverted check: got inverted=%v local=%s, want true unhealthy", s.Inverted, s.Local)
	}
	tg.setStatus(http.StatusServiceUnavailable)
	waitFor(t, settle, "inverted check healthy and plain one unhealthy once the target fails", func() bool {
		return verdict(c, "down") == health.Healthy && verdict(c, "up") == health.Unhealthy
	})
}

func TestCalculated(t *testing.T) {
	a, b, cc := newTarget(t, "127.0.0.1"), newTarget(t, "127.0.0.1"), newTarget(t, "127.0.0.1")
	probe := func(id string, tg *target) health.Check {
		return health.Check{ID: id, Type: health.HTTP, URL: tg.url(), Interval: testInterval, Timeout: slowTimeout, FailureThreshold: 1}
	}
	c := runChecker(t, health.Config{Checks: []health.Check{
		{ID: "two-of-three", Type: health.Calculated, Children: []string{"a", "b", "c"}, HealthyThreshold: 2},
		{ID: "all", Type: health.Calculated, Children: []string{"a", "b", "c"}},
		{ID: "not-all", Type: health.Calculated, Children: []string{"all"}, Invert: true},
		probe("a", a), probe("b", b), probe("c", cc),
	}})
	want := func(stage string, wants map[string]health.Verdict) {
		t.Helper()
		waitFor(t, settle, stage, func() bool {
			for id, w := range wants {
				if verdict(c, id) != w {
					return false
				}
			}
			return true
		})
	}
	want("all children healthy", map[string]health.Verdict{
		"two-of-three": health.Healthy, "all": health.Healthy, "not-all": health.Unhealthy})
	b.setStatus(http.StatusServiceUnavailable)
	want("one child down", map[string]health.Verdict{
		"b": health.Unhealthy, "two-of-three": health.Healthy, "all": health.Unhealthy, "not-all": health.Healthy})
	cc.setStatus(http.StatusServiceUnavailable)
	want("two children down", map[string]health.Verdict{"two-of-three": health.Unhealthy})
	b.setStatus(http.StatusOK)
	want("one child back", map[string]health.Verdict{"two-of-three": health.Healthy, "all": health.Unhealthy})

	s := checkStatus(t, c, "two-of-three")
	if s.Local != "" || s.HealthyThreshold != 2 || strings.Join(s.Children, ",") != "a,b,c" {
		t.Errorf("status of the calculated check: got local %q threshold %d children %v, want no local, 2, [a b c]",
			s.Local, s.HealthyThreshold, s.Children)
	}
	if _, ok := c.RTT("two-of-three"); ok {
		t.Error("RTT of a calculated check: got one, want none")
	}
}
