package edgeproxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
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

	"github.com/meridian-platform/meridian/internal/traceparent"
)

func TestNearestRegionByRTT(t *testing.T) {
	a, b, c := newRegion(t, "a"), newRegion(t, "b"), newRegion(t, "c")
	e := startEdge(t, Config{Name: "edge-1", Regions: []Region{a.region(), b.region(), c.region()}})
	e.rtt.set("a", 80*time.Millisecond)
	e.rtt.set("b", 10*time.Millisecond) // c unmeasured: farther than any

	for i := range 20 {
		if got := e.get(t, "/"); got.code != 200 || got.region != "b" || got.from != "b" {
			t.Fatalf("request %d: got %d from %q (region header %q), want 200 from the nearest, b", i, got.code, got.from, got.region)
		}
	}
	e.rtt.set("a", 5*time.Millisecond)
	if got := e.get(t, "/"); got.region != "a" {
		t.Fatalf("after a became nearest: got %q, want a", got.region)
	}
	if a.hits.Load() != 1 || c.hits.Load() != 0 {
		t.Errorf("hits a=%d c=%d, want 1 and 0", a.hits.Load(), c.hits.Load())
	}
}

func TestUnhealthyRegionSkipped(t *testing.T) {
	a, b := newRegion(t, "a"), newRegion(t, "b")
	e := startEdge(t, Config{Regions: []Region{a.region(), b.region()}})
	e.rtt.set("a", 10*time.Millisecond)
	e.rtt.set("b", 50*time.Millisecond)

	e.health.set("hc-a", false)
	for range 5 {
		if got := e.get(t, "/"); got.region != "b" {
			t.Fatalf("a unhealthy: got %q, want b", got.region)
		}
	}
	// With no healthy region the proxy fails open, nearest first.
	e.health.set("hc-b", false)
	if got := e.get(t, "/"); got.code != 200 || got.region != "a" {
		t.Fatalf("all unhealthy: got %d from %q, want 200 from a (fail open)", got.code, got.region)
	}
	e.health.set("hc-a", true)
	if got := e.get(t, "/"); got.region != "a" {
		t.Fatalf("a healthy again: got %q, want a", got.region)
	}
	if a.hits.Load() != 2 {
		t.Errorf("a served %d requests, want 2", a.hits.Load())
	}
}

// TestWeightsAndDials draws many choices and compares each region's share of
// first picks with the documented rules.
func TestWeightsAndDials(t *testing.T) {
	ms := time.Millisecond
	type reg struct {
		id     string
		rtt    time.Duration // 0: unmeasured
		weight int
		dial   *int
	}
	tests := []struct {
		name    string
		regions []reg
		want    map[string]float64
	}{
		{"weights among equally near", []reg{{"a", 10 * ms, 1, nil}, {"b", 10 * ms, 3, nil}},
			map[string]float64{"a": 0.25, "b": 0.75}},
		{"weights within tolerance", []reg{{"a", 10 * ms, 1, nil}, {"b", 14 * ms, 1, nil}},
			map[string]float64{"a": 0.5, "b": 0.5}},
		{"weights beyond tolerance do not apply", []reg{{"a", 10 * ms, 1, nil}, {"b", 16 * ms, 9, nil}},
			map[string]float64{"a": 1, "b": 0}},
		{"dial spills to the next region", []reg{{"a", 10 * ms, 0, Percent(30)}, {"b", 40 * ms, 0, nil}, {"c", 90 * ms, 0, nil}},
			map[string]float64{"a": 0.3, "b": 0.7, "c": 0}},
		{"dials chain", []reg{{"a", 10 * ms, 0, Percent(50)}, {"b", 40 * ms, 0, Percent(50)}, {"c", 90 * ms, 0, nil}},
			map[string]float64{"a": 0.5, "b": 0.25, "c": 0.25}},
		{"dial within a weighted tier", []reg{{"a", 10 * ms, 1, Percent(50)}, {"b", 10 * ms, 1, nil}},
			map[string]float64{"a": 0.25, "b": 0.75}},
		{"dial zero gets nothing", []reg{{"a", 10 * ms, 0, Percent(0)}, {"b", 40 * ms, 0, nil}},
			map[string]float64{"a": 0, "b": 1}},
		{"what every region passes on is shared in proportion", []reg{{"a", 10 * ms, 0, Percent(50)}, {"b", 40 * ms, 0, Percent(50)}},
			map[string]float64{"a": 2.0 / 3, "b": 1.0 / 3}},
		{"unmeasured regions share by weight", []reg{{"a", 0, 1, nil}, {"b", 0, 1, nil}},
			map[string]float64{"a": 0.5, "b": 0.5}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rtt := &fakeRTT{}
			var regions []Region
			for i, r := range tc.regions {
				regions = append(regions, Region{ID: r.id, URL: fmt.Sprintf("http://127.0.0.1:%d", 1+i),
					Weight: r.weight, TrafficDial: r.dial})
				if r.rtt != 0 {
					rtt.set(r.id, r.rtt)
				}
			}
			p, err := New(Config{Regions: regions, RTT: rtt, Seed: 42})
			if err != nil {
				t.Fatal(err)
			}
			const n = 20000
			got := map[string]int{}
			set := p.set.Load()
			for range n {
				pl := p.choose(set, "", nil)
				if len(pl.order) != len(regions) {
					t.Fatalf("order has %d regions, want all %d", len(pl.order), len(regions))
				}
				got[pl.order[0].cfg.ID]++
			}
			for id, want := range tc.want {
				share := float64(got[id]) / n
				if share < want-0.02 || share > want+0.02 {
					t.Errorf("region %s got %.3f of the traffic, want %.3f ± 0.02 (seed %d)", id, share, want, p.Seed())
				}
			}
		})
	}
}

// TestWeightsSplitRealTraffic checks the split end to end.
func TestWeightsSplitRealTraffic(t *testing.T) {
	a, b := newRegion(t, "a"), newRegion(t, "b")
	ra, rb := a.region(), b.region()
	ra.Weight, rb.Weight = 1, 3
	e := startEdge(t, Config{Regions: []Region{ra, rb}, DisableAffinity: true})
	const n = 400
	for range n {
		if got := e.get(t, "/"); got.code != 200 {
			t.Fatalf("got %d", got.code)
		}
	}
	if share := float64(a.hits.Load()) / n; share < 0.18 || share > 0.32 {
		t.Errorf("a got %.2f of the traffic, want 0.25 ± 0.07", share)
	}
}

// TestKillServingRegion kills the region serving steady GET traffic, with
// requests in flight on it: no client may see an error.
func TestKillServingRegion(t *testing.T) {
	a, b := newRegion(t, "a"), newRegion(t, "b")
	logs := &logRecorder{}
	clock := newFakeClock() // stands still: a's ejection lasts however slow the machine
	e := startEdge(t, Config{Regions: []Region{a.region(), b.region()}, DisableAffinity: true, Logger: slog.New(logs),
		Now: clock.Now})
	e.rtt.set("a", 10*time.Millisecond)
	e.rtt.set("b", 60*time.Millisecond)
	a.holdOn.Store(true) // /hold requests stay in flight on a until it dies

	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var ok, failed atomic.Int64
	var firstErr atomic.Value
	client := func(path string) {
		for ctx.Err() == nil {
			resp, err := e.client.Get(e.url + path)
			if err == nil {
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err == nil && resp.StatusCode != 200 {
					err = fmt.Errorf("status %d from %q", resp.StatusCode, resp.Header.Get("X-Meridian-Region"))
				}
			}
			if err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err)
				continue
			}
			ok.Add(1)
		}
	}
	for range 6 {
		wg.Go(func() { client("/") })
	}
	for range 4 {
		wg.Go(func() { client("/hold") })
	}
	waitFor(t, "traffic on a, with requests held", func() bool { return a.hits.Load() > 200 && a.held.Load() == 4 })
	a.kill()
	before := b.hits.Load()
	waitFor(t, "traffic on b", func() bool { return b.hits.Load() > before+500 })
	stop()
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d of %d requests failed when region a died; first: %v", failed.Load(), failed.Load()+ok.Load(), firstErr.Load())
	}
	// The held requests' connections were cut, or a's ejection aborted
	// them first: the proxy sent them on (a fresh connection to a is
	// refused).
	if got := e.counter(e.m.failures.WithLabelValues("a", "reset")) + e.counter(e.m.failures.WithLabelValues("a", "connect")) +
		e.counter(e.m.failures.WithLabelValues("a", "ejected")); got < 4 {
		t.Errorf("%v attempts on a failed, want at least the 4 held", got)
	}
	if got := e.counter(e.m.ejections.WithLabelValues("a")); got != 1 {
		t.Errorf("a ejected %v times, want 1", got)
	}
	// One line per decision, not per request.
	if n := logs.count("edge traffic now prefers another region region=b previous=a"); n != 1 {
		t.Errorf("%d failover log lines, want 1", n)
	}
	if n := logs.count(""); n > 10 {
		t.Errorf("%d log lines for one region's death, want a few: %q", n, logs.msgs)
	}
	t.Logf("%d requests, %v retried", ok.Load(), e.counter(e.m.retries.WithLabelValues("a")))
}

// TestRetryRules checks which requests go to the next region when the first
// fails before answering.
func TestRetryRules(t *testing.T) {
	a, b := newRegion(t, "a"), newRegion(t, "b")
	e := startEdge(t, Config{Regions: []Region{a.region(), b.region()}, DisableAffinity: true,
		Outlier: OutlierDetection{Disabled: true}})
	e.rtt.set("a", 10*time.Millisecond)
	e.rtt.set("b", 60*time.Millisecond)

	big := bytes.Repeat([]byte("x"), 3<<19)   // 1.5 MiB
	small := bytes.Repeat([]byte("y"), 1<<19) // 512 KiB
	tests := []struct {
		name     string
		mode     int32
		method   string
		key      bool
		body     []byte
		wantCode int
		wantB    bool   // b answered
		wantMsg  string // in the body of an error
	}{
		{"GET after a reset", resetConn, "GET", false, nil, 200, true, ""},
		{"POST after a reset", resetConn, "POST", false, []byte("order"), 502, false, "Idempotency-Key"},
		{"POST with Idempotency-Key after a reset", resetConn, "POST", true, []byte("order"), 200, true, ""},
		{"PUT of 512 KiB after a reset", resetConn, "PUT", false, small, 200, true, ""},
		{"PUT of 1.5 MiB after a reset", resetConn, "PUT", false, big, 502, false, "too large"},
		{"GET after a 503", fail503, "GET", false, nil, 200, true, ""},
		{"POST after a 503 gets the region's answer", fail503, "POST", false, []byte("order"), 503, false, "no healthy target in a"},
		{"DELETE after a 503", fail503, "DELETE", false, nil, 200, true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a.mode.Store(tc.mode)
			a0, b0 := a.hits.Load(), b.hits.Load()
			var body io.Reader
			if tc.body != nil {
				body = bytes.NewReader(tc.body)
			}
			req := e.newRequest(t, tc.method, "/echo", body)
			if tc.key {
				req.Header.Set("Idempotency-Key", "k-1")
			}
			got := e.do(t, req)
			if got.code != tc.wantCode {
				t.Fatalf("got %d %q, want %d", got.code, got.body, tc.wantCode)
			}
			if a.hits.Load() != a0+1 {
				t.Errorf("a got %d attempts, want 1", a.hits.Load()-a0)
			}
			if gotB := b.hits.Load() - b0; (gotB == 1) != tc.wantB || gotB > 1 {
				t.Errorf("b got %d attempts, want answered=%v", gotB, tc.wantB)
			}
			if tc.wantB {
				var ec echo
				if err := json.Unmarshal([]byte(got.body), &ec); err != nil {
					t.Fatalf("decoding echo: %v", err)
				}
				sum := sha256.Sum256(tc.body)
				if ec.Len != len(tc.body) || ec.SHA != hex.EncodeToString(sum[:]) {
					t.Errorf("b received %d bytes, want the %d sent, intact", ec.Len, len(tc.body))
				}
			}
			if !strings.Contains(got.body, tc.wantMsg) {
				t.Errorf("body %q does not say %q", got.body, tc.wantMsg)
			}
		})
	}
}

// TestConnectFailureRetriesAnyRequest: nothing was sent, so even a POST goes on.
func TestConnectFailureRetriesAnyRequest(t *testing.T) {
	a, b := newRegion(t, "a"), newRegion(t, "b")
	e := startEdge(t, Config{Regions: []Region{a.region(), b.region()}})
	e.rtt.set("a", 10*time.Millisecond)
	e.rtt.set("b", 60*time.Millisecond)
	a.kill()
	got := e.do(t, e.newRequest(t, "POST", "/echo", strings.NewReader("order")))
	if got.code != 200 || got.region != "b" {
		t.Fatalf("got %d from %q, want 200 from b", got.code, got.region)
	}
}

func TestAllRegionsDownIs502(t *testing.T) {
	a, b := newRegion(t, "a"), newRegion(t, "b")
	e := startEdge(t, Config{Name: "edge-x", Regions: []Region{a.region(), b.region()}})
	a.kill()
	b.kill()
	got := e.get(t, "/")
	if got.code != 502 || got.header.Get("X-Meridian-Edge") != "edge-x" || !strings.Contains(got.body, "could not connect") {
		t.Fatalf("got %d %q, want 502 saying the edge could not connect", got.code, got.body)
	}
}

func TestOutlierEjection(t *testing.T) {
	clock := newFakeClock()
	a, b := newRegion(t, "a"), newRegion(t, "b")
	logs := &logRecorder{}
	e := startEdge(t, Config{Regions: []Region{a.region(), b.region()}, DisableAffinity: true, Now: clock.Now,
		Logger: slog.New(logs)})
	e.rtt.set("a", 10*time.Millisecond)
	e.rtt.set("b", 60*time.Millisecond)
	a.mode.Store(fail503)

	ejected := func() time.Time { return e.Status()[0].EjectedUntil }
	for i := range 3 {
		if got := e.get(t, "/"); got.region != "b" {
			t.Fatalf("request %d: got %q, want b after a failed", i, got.region)
		}
	}
	if a.hits.Load() != 3 {
		t.Fatalf("a got %d requests, want 3", a.hits.Load())
	}
	if want := clock.Now().Add(5 * time.Second); !ejected().Equal(want) {
		t.Fatalf("a ejected until %v, want %v (5s)", ejected(), want)
	}
	for range 10 {
		e.get(t, "/")
	}
	if a.hits.Load() != 3 {
		t.Fatalf("ejected a got %d more requests", a.hits.Load()-3)
	}
	if n := logs.count("region ejected"); n != 1 {
		t.Errorf("%d ejection log lines, want 1", n)
	}

	// The ejection expires; a fails three more times and is ejected for
	// twice as long.
	clock.Advance(5 * time.Second)
	for range 3 {
		e.get(t, "/")
	}
	if a.hits.Load() != 6 {
		t.Fatalf("after the ejection a got %d requests, want 3", a.hits.Load()-3)
	}
	if want := clock.Now().Add(10 * time.Second); !ejected().Equal(want) {
		t.Fatalf("second ejection until %v, want %v (10s)", ejected(), want)
	}

	// Ejected regions are still tried when nothing else is left.
	b.mode.Store(fail503)
	a.mode.Store(answer)
	if got := e.get(t, "/"); got.code != 200 || got.region != "a" {
		t.Fatalf("b failing, a ejected: got %d from %q, want 200 from a", got.code, got.region)
	}

	b.mode.Store(answer)
	clock.Advance(10 * time.Second)
	if got := e.get(t, "/"); got.region != "a" {
		t.Fatalf("after the second ejection: got %q, want a", got.region)
	}
	if n := logs.count("region ejection ended"); n != 2 {
		t.Errorf("%d ejection-ended log lines, want 2", n)
	}
	if got := e.counter(e.m.ejections.WithLabelValues("a")); got != 2 {
		t.Errorf("ejections metric %v, want 2", got)
	}
}

// TestFailuresWhileEjectedDoNotCount: a region tried as a last resort while
// ejected starts its next count from zero when the ejection ends.
func TestFailuresWhileEjectedDoNotCount(t *testing.T) {
	clock := newFakeClock()
	a, b := newRegion(t, "a"), newRegion(t, "b")
	e := startEdge(t, Config{Regions: []Region{a.region(), b.region()}, DisableAffinity: true, Now: clock.Now})
	e.rtt.set("a", 10*time.Millisecond)
	e.rtt.set("b", 60*time.Millisecond)
	a.mode.Store(fail503)
	for range 3 {
		e.get(t, "/")
	}
	if e.Status()[0].EjectedUntil.IsZero() {
		t.Fatal("a not ejected after 3 failures")
	}
	b.mode.Store(fail503) // now a is tried after b, and fails too
	for range 5 {
		if got := e.get(t, "/"); got.code != 503 {
			t.Fatalf("got %d, want 503", got.code)
		}
	}
	b.mode.Store(answer)
	clock.Advance(DefaultBaseEjection)
	if got := e.get(t, "/"); got.region != "b" {
		t.Fatalf("got %q, want b after a failed once more", got.region)
	}
	if !e.Status()[0].EjectedUntil.IsZero() {
		t.Fatal("a ejected again after one failure: failures while ejected were counted")
	}
}

func TestOutlierNeverEjectsLastRegion(t *testing.T) {
	t.Run("single region", func(t *testing.T) {
		a := newRegion(t, "a")
		e := startEdge(t, Config{Regions: []Region{a.region()}})
		a.mode.Store(fail503)
		for range 10 {
			if got := e.get(t, "/"); got.code != 503 {
				t.Fatalf("got %d, want the region's 503", got.code)
			}
		}
		if a.hits.Load() != 10 || !e.Status()[0].EjectedUntil.IsZero() {
			t.Fatalf("the only region was ejected (hits %d)", a.hits.Load())
		}
	})
	t.Run("both failing", func(t *testing.T) {
		a, b := newRegion(t, "a"), newRegion(t, "b")
		e := startEdge(t, Config{Regions: []Region{a.region(), b.region()}})
		a.mode.Store(fail503)
		b.mode.Store(fail503)
		for range 10 {
			if got := e.get(t, "/"); got.code != 503 {
				t.Fatalf("got %d, want 503", got.code)
			}
		}
		n := 0
		for _, s := range e.Status() {
			if !s.EjectedUntil.IsZero() {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%d regions ejected, want 1 (max 50%%, never the last)", n)
		}
	})
}

func TestAffinity(t *testing.T) {
	a, b := newRegion(t, "a"), newRegion(t, "b")
	e := startEdge(t, Config{Regions: []Region{a.region(), b.region()}})
	e.rtt.set("a", 10*time.Millisecond)
	e.rtt.set("b", 60*time.Millisecond)

	first := e.get(t, "/")
	c := cookieFrom(t, first, DefaultAffinityCookie)
	if first.region != "a" || c == nil || c.Value != "a" {
		t.Fatalf("first request: region %q, cookie %v; want a and a cookie naming a", first.region, c)
	}
	again := e.get(t, "/", c)
	if again.region != "a" || again.header.Get("Set-Cookie") != "" {
		t.Fatalf("pinned request: region %q, Set-Cookie %q; want a and no new cookie", again.region, again.header.Get("Set-Cookie"))
	}
	// b becomes nearer: new clients go there, the pinned one stays.
	e.rtt.set("b", 5*time.Millisecond)
	if got := e.get(t, "/"); got.region != "b" {
		t.Fatalf("new client: got %q, want b", got.region)
	}
	if got := e.get(t, "/", c); got.region != "a" {
		t.Fatalf("pinned client: got %q, want a", got.region)
	}
	// a turns unhealthy: the pinned client moves and is re-pinned.
	e.health.set("hc-a", false)
	moved := e.get(t, "/", c)
	c2 := cookieFrom(t, moved, DefaultAffinityCookie)
	if moved.region != "b" || c2 == nil || c2.Value != "b" {
		t.Fatalf("a unhealthy: region %q, cookie %v; want b and a cookie naming b", moved.region, c2)
	}
	e.health.set("hc-a", true)
	e.rtt.set("a", 1*time.Millisecond)
	if got := e.get(t, "/", c2); got.region != "b" {
		t.Fatalf("re-pinned client: got %q, want b", got.region)
	}
}

func cookieFrom(t *testing.T, r result, name string) *http.Cookie {
	t.Helper()
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func TestHeaders(t *testing.T) {
	a := newRegion(t, "a")
	e := startEdge(t, Config{Name: "edge-7", Regions: []Region{a.region()}})

	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	req := e.newRequest(t, "GET", "/echo", nil)
	req.Host = "shop.meridian.test"
	req.Header.Set("X-Forwarded-For", "203.0.113.9")
	req.Header.Set("Traceparent", tp)
	req.Header.Set("Tracestate", "k=v")
	req.Header.Set("Connection", "X-Private")
	req.Header.Set("X-Private", "secret")
	req.Header.Set("Keep-Alive", "timeout=5")
	got := e.do(t, req)
	var ec echo
	if err := json.Unmarshal([]byte(got.body), &ec); err != nil {
		t.Fatalf("decoding %q: %v", got.body, err)
	}
	checks := []struct{ name, got, want string }{
		{"Host", ec.Host, "shop.meridian.test"},
		{"X-Forwarded-Host", ec.Header.Get("X-Forwarded-Host"), "shop.meridian.test"},
		{"X-Forwarded-For", ec.Header.Get("X-Forwarded-For"), "203.0.113.9, 127.0.0.1"},
		{"X-Forwarded-Proto", ec.Header.Get("X-Forwarded-Proto"), "http"},
		{"Traceparent", ec.Header.Get("Traceparent"), tp},
		{"Tracestate", ec.Header.Get("Tracestate"), "k=v"},
		{"X-Private (named by Connection)", ec.Header.Get("X-Private"), ""},
		{"Keep-Alive", ec.Header.Get("Keep-Alive"), ""},
		{"User-Agent", ec.Header.Get("User-Agent"), "Go-http-client/1.1"},
		{"response X-Meridian-Edge", got.header.Get("X-Meridian-Edge"), "edge-7"},
		{"response X-Meridian-Region", got.header.Get("X-Meridian-Region"), "a"},
		{"response X-Secret (named by Connection)", got.header.Get("X-Secret"), ""},
		{"response Keep-Alive from the region", got.header.Get("Keep-Alive"), ""},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}

	// An invalid traceparent is replaced by a new trace, and its state dropped.
	req = e.newRequest(t, "GET", "/echo", nil)
	req.Header.Set("Traceparent", "00-00000000000000000000000000000000-00f067aa0ba902b7-01")
	req.Header.Set("Tracestate", "k=v")
	got = e.do(t, req)
	ec = echo{}
	if err := json.Unmarshal([]byte(got.body), &ec); err != nil {
		t.Fatal(err)
	}
	if tp := ec.Header.Get("Traceparent"); !traceparent.Valid(tp) || strings.Contains(tp, "00f067aa0ba902b7") {
		t.Errorf("replacement traceparent %q is not a valid new trace", tp)
	}
	if ec.Header.Get("Tracestate") != "" {
		t.Errorf("tracestate of a replaced trace was kept")
	}
}

func TestUpgradeRefused(t *testing.T) {
	a := newRegion(t, "a")
	e := startEdge(t, Config{Regions: []Region{a.region()}})
	req := e.newRequest(t, "GET", "/ws", nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	if got := e.do(t, req); got.code != http.StatusNotImplemented || a.hits.Load() != 0 {
		t.Fatalf("websocket upgrade: got %d (region hits %d), want 501 without reaching the region", got.code, a.hits.Load())
	}
}

func TestStreamingResponse(t *testing.T) {
	a := newRegion(t, "a")
	e := startEdge(t, Config{Regions: []Region{a.region()}})
	resp, err := e.client.Get(e.url + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	line, err := br.ReadString('\n')
	if err != nil || line != "first\n" {
		t.Fatalf("first chunk: %q, %v; want it before the region finishes", line, err)
	}
	a.once.Do(func() { close(a.release) })
	rest, _ := io.ReadAll(br)
	if string(rest) != "second\n" {
		t.Fatalf("rest %q", rest)
	}
}

func TestH2C(t *testing.T) {
	a := newRegion(t, "a")
	e := startEdge(t, Config{Regions: []Region{a.region()}})
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: &protos}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}

	resp, err := client.Post(e.url+"/echo", "text/plain", strings.NewReader("over h2c"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.StatusCode != 200 || resp.Header.Get("X-Meridian-Region") != "a" {
		t.Fatalf("got %s %d region %q, want HTTP/2 200 from a", resp.Proto, resp.StatusCode, resp.Header.Get("X-Meridian-Region"))
	}
	var ec echo
	if err := json.Unmarshal(body, &ec); err != nil || ec.Len != len("over h2c") {
		t.Fatalf("echo %q: %v", body, err)
	}

	// Streams flush over HTTP/2 too.
	resp, err = client.Get(e.url + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || line != "first\n" {
		t.Fatalf("first chunk over h2c: %q, %v", line, err)
	}
}

// TestSlowlorisCutOff: a client that never finishes its headers is
// disconnected after ReadHeaderTimeout while others are served.
func TestSlowlorisCutOff(t *testing.T) {
	a := newRegion(t, "a")
	e := startEdge(t, Config{Regions: []Region{a.region()}, ReadHeaderTimeout: 300 * time.Millisecond})

	var slow []net.Conn
	for range 20 {
		c, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: 1"); err != nil {
			t.Fatal(err)
		}
		slow = append(slow, c)
	}
	// A trickling client sends a header byte every 20ms: each read is
	// quick, the whole header block is not.
	trickle, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer trickle.Close()
	trickleDone := make(chan error, 1)
	go func() { // ends when the proxy closes the connection or the headers run out
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		hdr := "GET / HTTP/1.1\r\nHost: x\r\nX-Trickle: " + strings.Repeat("t", 500) + "\r\n\r\n"
		for i := range len(hdr) {
			<-tick.C
			if _, err := trickle.Write([]byte{hdr[i]}); err != nil {
				trickleDone <- nil
				return
			}
		}
		trickleDone <- errors.New("the proxy let a client take 10s over its request headers")
	}()
	slow = append(slow, trickle)

	start := time.Now()
	for range 10 {
		if got := e.get(t, "/"); got.code != 200 {
			t.Fatalf("normal client got %d while slow clients hang", got.code)
		}
	}
	for i, c := range slow {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		b, err := io.ReadAll(c)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("slow client %d still connected after 5s", i)
		}
		if len(b) > 0 && !strings.HasPrefix(string(b), "HTTP/1.1 4") { // 408, or 400 for a request cut short
			t.Fatalf("slow client %d got %q", i, b)
		}
	}
	if el := time.Since(start); el < 250*time.Millisecond {
		t.Errorf("slow clients cut after %v, before the header timeout", el)
	}
	if err := <-trickleDone; err != nil {
		t.Error(err)
	}
	if a.hits.Load() != 10 {
		t.Errorf("region got %d requests, want only the 10 complete ones", a.hits.Load())
	}
	waitFor(t, "the refusals counted", func() bool {
		return e.counter(e.m.rejections.WithLabelValues("header_timeout")) == float64(len(slow))
	})
}

func TestOversizedHeadersRefused(t *testing.T) {
	a := newRegion(t, "a")
	e := startEdge(t, Config{Regions: []Region{a.region()}, MaxHeaderBytes: 4 << 10})
	req := e.newRequest(t, "GET", "/", nil)
	req.Header.Set("X-Big", strings.Repeat("b", 16<<10))
	// The server closes the connection with part of the headers unread, so
	// reading the answer's body may see a reset: only the status counts.
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge || a.hits.Load() != 0 {
		t.Fatalf("got %d (region hits %d), want 431", resp.StatusCode, a.hits.Load())
	}
	waitFor(t, "the refusal counted", func() bool { return e.counter(e.m.rejections.WithLabelValues("header_too_large")) == 1 })
}

// TestSetRegionsUnderTraffic swaps the configuration while requests run (for
// the race detector) and checks that traffic follows it.
func TestSetRegionsUnderTraffic(t *testing.T) {
	a, b := newRegion(t, "a"), newRegion(t, "b")
	e := startEdge(t, Config{Regions: []Region{a.region()}})
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range 4 {
		wg.Go(func() {
			for ctx.Err() == nil {
				resp, err := e.client.Get(e.url + "/")
				if err != nil {
					failed.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failed.Add(1)
				}
			}
		})
	}
	rb := b.region()
	rb.TrafficDial = Percent(50)
	for i := range 50 {
		regions := []Region{a.region()}
		if i%2 == 1 {
			regions = []Region{rb, a.region()}
		}
		if err := e.SetRegions(regions); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond) // let some requests through each configuration
	}
	if err := e.SetRegions([]Region{b.region()}); err != nil {
		t.Fatal(err)
	}
	n := b.hits.Load()
	waitFor(t, "traffic on b alone", func() bool { return b.hits.Load() > n+50 })
	stop()
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d requests failed during SetRegions", failed.Load())
	}
	if err := e.SetRegions([]Region{{ID: "c", URL: "ftp://x"}}); err == nil || !strings.Contains(err.Error(), "http://") {
		t.Fatalf("SetRegions with a bad URL: %v", err)
	}
}

func TestValidate(t *testing.T) {
	ok := Region{ID: "a", URL: "http://127.0.1.1:8080"}
	tests := []struct {
		name string
		cfg  Config
		want string // in the error; "" for valid
	}{
		{"defaults", Config{Regions: []Region{ok}}, ""},
		{"no regions", Config{}, "no regions"},
		{"no id", Config{Regions: []Region{{URL: ok.URL}}}, "region 1 has no ID"},
		{"twice", Config{Regions: []Region{ok, ok}}, `region "a" is declared twice`},
		{"id unfit for a cookie", Config{Regions: []Region{{ID: "a b", URL: ok.URL}}}, "may only hold"},
		{"no url", Config{Regions: []Region{{ID: "a"}}}, "no load balancer URL"},
		{"url scheme", Config{Regions: []Region{{ID: "a", URL: "127.0.1.1:8080"}}}, "http://"},
		{"url path", Config{Regions: []Region{{ID: "a", URL: "http://h:1/x"}}}, "only have a scheme, host and port"},
		{"dial", Config{Regions: []Region{{ID: "a", URL: ok.URL, TrafficDial: Percent(120)}}}, "traffic dial 120%"},
		{"weight", Config{Regions: []Region{{ID: "a", URL: ok.URL, Weight: -1}}}, "weight -1"},
		{"cookie", Config{Regions: []Region{ok}, AffinityCookie: "a b"}, "affinity cookie name"},
		{"ejection times", Config{Regions: []Region{ok}, Outlier: OutlierDetection{BaseEjection: time.Minute, MaxEjection: time.Second}},
			"max ejection 1s is shorter than the base ejection 1m0s"},
		{"ejection percent", Config{Regions: []Region{ok}, Outlier: OutlierDetection{MaxEjectionPercent: 101}}, "not between 0 and 100"},
		{"timeouts", Config{Regions: []Region{ok}, ReadHeaderTimeout: -1}, "timeouts must not be negative"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("got %v, want valid", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want an error saying %q", err, tc.want)
			}
			if _, nerr := New(tc.cfg); (nerr == nil) != (tc.want == "") {
				t.Fatalf("New: %v", nerr)
			}
		})
	}
}

// TestRegionAnswerBeatsEdge502: when the nearest region answers 503 and the
// next cannot be reached, the client gets the region's own answer.
func TestRegionAnswerBeatsEdge502(t *testing.T) {
	a, b := newRegion(t, "a"), newRegion(t, "b")
	e := startEdge(t, Config{Regions: []Region{a.region(), b.region()}})
	e.rtt.set("a", 10*time.Millisecond)
	e.rtt.set("b", 60*time.Millisecond)
	a.mode.Store(fail503)
	b.kill()
	got := e.get(t, "/")
	if got.code != 503 || got.from != "a" || !strings.Contains(got.body, "no healthy target in a") {
		t.Fatalf("got %d from %q: %q; want a's own 503", got.code, got.from, got.body)
	}
	if got.header.Get("Set-Cookie") != "" {
		t.Errorf("a failing region's answer pinned the client: %q", got.header.Get("Set-Cookie"))
	}
}

// TestBrokenUploadNotBlamedOnRegion: a client that stalls in the middle of
// its upload past ReadTimeout gets 400 and the region is not counted as
// failing.
func TestBrokenUploadNotBlamedOnRegion(t *testing.T) {
	a := newRegion(t, "a")
	e := startEdge(t, Config{Regions: []Region{a.region()}, ReadTimeout: 300 * time.Millisecond})
	c, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly ten b"); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("got %d, want 400", resp.StatusCode)
	}
	for _, kind := range []string{"reset", "connect", "timeout"} {
		if got := e.counter(e.m.failures.WithLabelValues("a", kind)); got != 0 {
			t.Errorf("region a blamed for the client's upload: %v %s failures", got, kind)
		}
	}
}

// TestBrokenResponseBody: a region that breaks off its answer while the
// edge still holds all of it sent to the client is replaced by the next
// region (nothing reached the client yet), and when every region does so
// the client gets a 502; one that breaks off later, after bytes went out,
// makes the client's read fail and is never retried. A cut answer never
// looks complete.
func TestBrokenResponseBody(t *testing.T) {
	a, b := newRegion(t, "a"), newRegion(t, "b")
	e := startEdge(t, Config{Regions: []Region{a.region(), b.region()}})
	e.rtt.set("a", 10*time.Millisecond)
	e.rtt.set("b", 60*time.Millisecond)
	for _, h2 := range []bool{false, true} {
		client := e.client
		if h2 {
			var protos http.Protocols
			protos.SetUnencryptedHTTP2(true)
			tr := &http.Transport{Protocols: &protos}
			defer tr.CloseIdleConnections()
			client = &http.Client{Transport: tr, Timeout: 10 * time.Second}
		}
		hitsB := b.hits.Load()
		resp, err := client.Get(e.url + "/broken")
		if err != nil {
			t.Fatalf("h2=%v: GET /broken: %v", h2, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadGateway || b.hits.Load() != hitsB+1 {
			t.Errorf("h2=%v: every region breaking off early: %s %q after %d tries on b, want 502 after trying b once",
				h2, resp.Status, body, b.hits.Load()-hitsB)
		}

		hitsB = b.hits.Load()
		resp, err = client.Get(e.url + "/broken-late")
		if err != nil {
			continue // cut before the headers were flushed: fine too
		}
		body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil {
			t.Errorf("h2=%v: read %d bytes with no error from a response cut short", h2, len(body))
		}
		if b.hits.Load() != hitsB {
			t.Errorf("h2=%v: retried after bytes of the answer were sent: b got %d requests", h2, b.hits.Load()-hitsB)
		}
	}
}
