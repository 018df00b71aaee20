package cdn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func TestCollapsedMisses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		cc          string
		wantFetches int
	}{
		// One fetch serves all 50 requests.
		{name: "cacheable", cc: "max-age=600", wantFetches: 1},
		// A private response cannot be shared: each waiting request
		// fetches its own after the first fetch ends.
		{name: "private", cc: "private", wantFetches: 50},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			const n = 50
			clk := newClock()
			origin := newTestOrigin(t, "127.0.0.2", clk)
			origin.set("/big.bin", &object{header: http.Header{"Cache-Control": {tt.cc}}, body: strings.Repeat("x", 100<<10)})
			gate := make(chan struct{})
			origin.gate = gate
			edge := newTestEdge(t, Config{Distributions: []Distribution{testDist(origin)}, Now: clk.Now})

			var wg sync.WaitGroup
			results := make([]response, n)
			for i := range n {
				wg.Go(func() { results[i] = edge.get("/big.bin") })
			}
			key := primaryKey(testHost, "/big.bin")
			waitFor(t, "49 requests waiting on the first one's fetch", func() bool { return edge.cache.waiters(key) == n-1 })
			origin.mu.Lock()
			origin.gate = nil
			origin.mu.Unlock()
			close(gate)
			wg.Wait()

			xcache := map[string]int{}
			for i, r := range results {
				if r.status != http.StatusOK || len(r.body) != 100<<10 {
					t.Fatalf("request %d: got %d with %d bytes, want 200 with %d", i, r.status, len(r.body), 100<<10)
				}
				xcache[r.header.Get("X-Cache")]++
			}
			if got := origin.fetchCount(); got != tt.wantFetches {
				t.Errorf("origin fetches: got %d, want %d", got, tt.wantFetches)
			}
			if tt.wantFetches == 1 && (xcache[Miss] != 1 || xcache[Hit] != n-1) {
				t.Errorf("X-Cache counts: got %v, want 1 Miss and %d Hit", xcache, n-1)
			}
		})
	}
}

func TestEvictionKeepsByteBound(t *testing.T) {
	t.Parallel()
	clk := newClock()
	origin := newTestOrigin(t, "127.0.0.2", clk)
	reg := prometheus.NewRegistry()
	const maxBytes = 64 << 10
	edge := newTestEdge(t, Config{Distributions: []Distribution{testDist(origin)}, Now: clk.Now,
		MaxBytes: maxBytes, Registerer: reg})
	for i := range 100 {
		origin.set(fmt.Sprintf("/o%d", i), &object{header: http.Header{"Cache-Control": {"max-age=600"}},
			body: strings.Repeat(string(rune('a'+i%26)), 4<<10)})
	}
	for i := range 100 {
		if r := edge.get(fmt.Sprintf("/o%d", i)); r.status != http.StatusOK {
			t.Fatalf("/o%d: got %d", i, r.status)
		}
		// /o0 is used all along: LRU keeps it.
		if r := edge.get("/o0"); r.header.Get("X-Cache") != Hit && i > 0 {
			t.Fatalf("after /o%d: /o0 got X-Cache %q, want Hit (recently used)", i, r.header.Get("X-Cache"))
		}
		if b, _ := edge.cache.Usage(); b > maxBytes {
			t.Fatalf("after /o%d: cache holds %d bytes, over the %d bound", i, b, maxBytes)
		}
	}
	b, objects := edge.cache.Usage()
	if objects < 10 || objects > 16 {
		t.Errorf("objects cached: got %d, want 10-16 of 4 KiB in 64 KiB", objects)
	}
	if got := metricValue(t, edge.cache.m.bytes); got != float64(b) {
		t.Errorf("cached bytes metric: got %v, want %d", got, b)
	}
	if got := metricValue(t, edge.cache.m.evictions); int(got) != 100-objects {
		t.Errorf("evictions: got %v, want %d", got, 100-objects)
	}
	// The oldest objects were evicted: fetched again.
	before := origin.fetchCount()
	if r := edge.get("/o1"); r.header.Get("X-Cache") != Miss {
		t.Errorf("/o1: got X-Cache %q, want Miss (evicted)", r.header.Get("X-Cache"))
	}
	if got := origin.fetchCount() - before; got != 1 {
		t.Errorf("origin fetches for an evicted object: got %d, want 1", got)
	}
}

func TestLargeObjectsStreamUncached(t *testing.T) {
	t.Parallel()
	clk := newClock()
	origin := newTestOrigin(t, "127.0.0.2", clk)
	body := strings.Repeat("0123456789", 20<<10) // 200 KiB
	origin.set("/sized", &object{header: http.Header{"Cache-Control": {"max-age=600"}}, body: body})
	edge := newTestEdge(t, Config{Distributions: []Distribution{testDist(origin)}, Now: clk.Now,
		MaxBytes: 1 << 20, MaxObjectBytes: 100 << 10})
	for i := range 3 {
		r := edge.get("/sized")
		if r.status != http.StatusOK || r.body != body || r.header.Get("X-Cache") != Miss {
			t.Fatalf("request %d: got %d %q with %d bytes, want 200 Miss with %d", i, r.status, r.header.Get("X-Cache"), len(r.body), len(body))
		}
	}
	if got := origin.fetchCount(); got != 3 {
		t.Errorf("origin fetches: got %d, want 3 (too large to cache)", got)
	}
	// A range of a large object is asked of the origin, not cut from a
	// whole download.
	origin.takeLog()
	r := edge.do(http.MethodGet, "/sized", http.Header{"Range": {"bytes=10-19"}})
	if r.status != http.StatusPartialContent || r.body != "0123456789" || r.header.Get("Content-Range") != fmt.Sprintf("bytes 10-19/%d", len(body)) {
		t.Errorf("range of a large object: got %d %q with %d bytes, want 206 of 10 bytes", r.status, r.header.Get("Content-Range"), len(r.body))
	}
	if log := origin.takeLog(); len(log) != 2 || !strings.Contains(log[1], "range=bytes=10-19") {
		t.Errorf("origin requests: got %q, want the whole object then the range", log)
	}
	if b, n := edge.cache.Usage(); n != 0 {
		t.Errorf("cache holds %d objects (%d bytes), want none", n, b)
	}
}

// chunkedOrigin streams a body of unknown length.
func TestLargeChunkedObjectStreamsUncached(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.3:0")
	if err != nil {
		t.Fatal(err)
	}
	var fetches atomic.Int32
	srv := &http.Server{ReadHeaderTimeout: time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fetches.Add(1)
		w.Header().Set("Cache-Control", "max-age=600")
		for range 30 {
			_, _ = w.Write([]byte(strings.Repeat("z", 4<<10)))
			w.(http.Flusher).Flush()
		}
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	d := Distribution{Hosts: []string{testHost}, Origins: []Origin{{URL: "http://" + ln.Addr().String()}}}
	edge := newTestEdge(t, Config{Distributions: []Distribution{d}, MaxBytes: 512 << 10, MaxObjectBytes: 64 << 10})
	for i := range 2 {
		r := edge.get("/stream")
		if r.status != http.StatusOK || len(r.body) != 30*4<<10 || r.header.Get("X-Cache") != Miss {
			t.Fatalf("request %d: got %d %q with %d bytes, want 200 Miss with %d", i, r.status, r.header.Get("X-Cache"), len(r.body), 30*4<<10)
		}
	}
	if got := fetches.Load(); got != 2 {
		t.Errorf("origin fetches: got %d, want 2", got)
	}
}

func TestOriginFailover(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		break1   func(o *testOrigin)
		order    []string
		wantBody string
		want1    int // requests the first origin saw
	}{
		{name: "5xx", break1: func(o *testOrigin) { o.setStatus(http.StatusServiceUnavailable) }, wantBody: "from o2", want1: 1},
		{name: "closed listener", break1: func(o *testOrigin) { o.kill() }, wantBody: "from o2", want1: 0},
		{name: "healthy", break1: func(*testOrigin) {}, wantBody: "from o1", want1: 1},
		{name: "reordered", break1: func(*testOrigin) {}, order: []string{"o2", "o1"}, wantBody: "from o2", want1: 0},
		{name: "order leaves o1 out", break1: func(*testOrigin) {}, order: []string{"nope", "o2"}, wantBody: "from o2", want1: 0},
		{name: "order names none", break1: func(*testOrigin) {}, order: []string{"nope"}, wantBody: "from o1", want1: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			o1 := newTestOrigin(t, "127.0.0.2", clk)
			o2 := newTestOrigin(t, "127.0.0.3", clk)
			o1.set("/a", &object{header: http.Header{"Cache-Control": {"max-age=60"}}, body: "from o1"})
			o2.set("/a", &object{header: http.Header{"Cache-Control": {"max-age=60"}}, body: "from o2"})
			tt.break1(o1)
			d := testDist(o1, o2)
			if tt.order != nil {
				d.Order = func() []string { return tt.order }
			}
			edge := newTestEdge(t, Config{Distributions: []Distribution{d}, Now: clk.Now})
			r := edge.get("/a")
			if r.status != http.StatusOK || r.body != tt.wantBody {
				t.Fatalf("got %d %q, want 200 %q", r.status, r.body, tt.wantBody)
			}
			if got := o1.fetchCount(); got != tt.want1 {
				t.Errorf("first origin saw %d requests, want %d", got, tt.want1)
			}
			if r := edge.get("/a"); r.header.Get("X-Cache") != Hit || r.body != tt.wantBody {
				t.Errorf("second request: got %q %q, want Hit %q", r.header.Get("X-Cache"), r.body, tt.wantBody)
			}
		})
	}
}

func TestEveryOriginFailing(t *testing.T) {
	t.Parallel()
	clk := newClock()
	o1 := newTestOrigin(t, "127.0.0.2", clk)
	o2 := newTestOrigin(t, "127.0.0.3", clk)
	o1.setStatus(http.StatusInternalServerError)
	o2.setStatus(http.StatusServiceUnavailable)
	edge := newTestEdge(t, Config{Distributions: []Distribution{testDist(o1, o2)}, Now: clk.Now})
	// The last origin's 5xx is passed on.
	if r := edge.get("/a"); r.status != http.StatusServiceUnavailable || r.header.Get("X-Cache") != Miss {
		t.Errorf("both 5xx: got %d %q, want 503 Miss", r.status, r.header.Get("X-Cache"))
	}
	o1.kill()
	o2.kill()
	if r := edge.get("/a"); r.status != http.StatusBadGateway {
		t.Errorf("both down: got %d, want 502", r.status)
	}
}

func TestOriginTimeout(t *testing.T) {
	t.Parallel()
	clk := newClock()
	o1 := newTestOrigin(t, "127.0.0.2", clk)
	o1.gate = make(chan struct{}) // never answers
	t.Cleanup(func() { close(o1.gate) })
	edge := newTestEdge(t, Config{Distributions: []Distribution{testDist(o1)}, Now: clk.Now,
		OriginTimeout: 50 * time.Millisecond})
	if r := edge.get("/a"); r.status != http.StatusGatewayTimeout {
		t.Errorf("got %d, want 504", r.status)
	}
}

func TestSignAndDial(t *testing.T) {
	t.Parallel()
	clk := newClock()
	origin := newTestOrigin(t, "127.0.0.2", clk)
	origin.set("/a", &object{body: "signed"})
	var mu sync.Mutex
	var signed []string
	var dials atomic.Int32
	d := testDist(origin)
	d.Origins[0].Sign = func(r *http.Request) error {
		mu.Lock()
		defer mu.Unlock()
		signed = append(signed, r.Method+" "+r.URL.String()+" host="+r.Host)
		r.Header.Set("Authorization", "AWS4-HMAC-SHA256 test")
		return nil
	}
	dialer := &net.Dialer{}
	edge := newTestEdge(t, Config{Distributions: []Distribution{d}, Now: clk.Now,
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			return dialer.DialContext(ctx, network, addr)
		}})
	edge.get("/a?x=1")
	want := "GET " + origin.url + "/a?x=1 host=" + origin.ln.Addr().String()
	if len(signed) != 1 || signed[0] != want {
		t.Errorf("signed requests: got %q, want [%q]", signed, want)
	}
	if log := origin.takeLog(); len(log) != 1 || !strings.Contains(log[0], "authorization=AWS4-HMAC-SHA256 test") {
		t.Errorf("origin log: got %q, want the signed request", log)
	}
	if dials.Load() == 0 {
		t.Error("the injected Dial was not used")
	}

	// DropQuery keeps the query from the origin, not from the cache key.
	d.Origins[0].DropQuery = true
	edge3 := newTestEdge(t, Config{Distributions: []Distribution{d}, Now: clk.Now})
	origin.takeLog()
	edge3.get("/a?list-type=2")
	edge3.get("/a?v=2")
	if log := origin.takeLog(); len(log) != 2 || !strings.HasPrefix(log[0], "GET /static/a ") || !strings.HasPrefix(log[1], "GET /static/a ") {
		t.Errorf("origin log with DropQuery: got %q, want two fetches of /static/a without a query", log)
	}

	// A signing error fails that origin: with no other, 502.
	d.Origins[0].Sign = func(*http.Request) error { return errors.New("no credentials") }
	edge2 := newTestEdge(t, Config{Distributions: []Distribution{d}, Now: clk.Now})
	if r := edge2.get("/a"); r.status != http.StatusBadGateway {
		t.Errorf("signing failed: got %d, want 502", r.status)
	}
}

func TestForwardHost(t *testing.T) {
	t.Parallel()
	var hosts []string
	var mu sync.Mutex
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: time.Second, Handler: http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hosts = append(hosts, r.Host+" xff="+r.Header.Get("X-Forwarded-For"))
		mu.Unlock()
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	d := Distribution{Hosts: []string{testHost}, Origins: []Origin{{URL: "http://" + ln.Addr().String(), ForwardHost: true}}}
	edge := newTestEdge(t, Config{Distributions: []Distribution{d}})
	edge.get("/x")
	if want := testHost + " xff=127.0.0.1"; len(hosts) != 1 || hosts[0] != want {
		t.Errorf("origin saw %q, want [%q]", hosts, want)
	}
}

func TestUnknownHost(t *testing.T) {
	t.Parallel()
	clk := newClock()
	origin := newTestOrigin(t, "127.0.0.2", clk)
	edge := newTestEdge(t, Config{Distributions: []Distribution{testDist(origin)}, Now: clk.Now})
	if r := edge.do(http.MethodGet, "/a", http.Header{"Host": {"other.test"}}); r.status != http.StatusNotFound {
		t.Errorf("got %d, want 404", r.status)
	}
	// Host matching ignores case, port and a trailing dot.
	origin.set("/a", &object{body: "a"})
	if r := edge.do(http.MethodGet, "/a", http.Header{"Host": {"STATIC.meridian.test.:8443"}}); r.status != http.StatusOK {
		t.Errorf("host with port and case: got %d, want 200", r.status)
	}
}

func TestStaleWhileRevalidateRefreshesOnce(t *testing.T) {
	t.Parallel()
	clk := newClock()
	origin := newTestOrigin(t, "127.0.0.2", clk)
	origin.set("/a", &object{header: http.Header{"Cache-Control": {"max-age=10, stale-while-revalidate=60"}}, body: "v1"})
	edge := newTestEdge(t, Config{Distributions: []Distribution{testDist(origin)}, Now: clk.Now})
	edge.get("/a")
	clk.Advance(20 * time.Second)
	gate := make(chan struct{})
	origin.mu.Lock()
	origin.gate = gate
	origin.mu.Unlock()
	for i := range 10 {
		if r := edge.get("/a"); r.header.Get("X-Cache") != Stale || r.body != "v1" {
			t.Fatalf("request %d: got %q %q, want Stale v1 at once", i, r.header.Get("X-Cache"), r.body)
		}
	}
	origin.mu.Lock()
	origin.gate = nil
	origin.mu.Unlock()
	close(gate)
	edge.cache.waitIdle(t)
	if got := origin.fetchCount(); got != 2 {
		t.Errorf("origin fetches: got %d, want 2 (the miss and one refresh)", got)
	}
	if r := edge.get("/a"); r.header.Get("X-Cache") != Hit || r.header.Get("Age") != "0" {
		t.Errorf("after the refresh: got %q age %q, want Hit age 0", r.header.Get("X-Cache"), r.header.Get("Age"))
	}
}

func TestInvalidationDuringFetchIsNotStored(t *testing.T) {
	t.Parallel()
	clk := newClock()
	origin := newTestOrigin(t, "127.0.0.2", clk)
	origin.set("/a", &object{header: http.Header{"Cache-Control": {"max-age=600"}}, body: "old"})
	gate := make(chan struct{})
	origin.gate = gate
	edge := newTestEdge(t, Config{Distributions: []Distribution{testDist(origin)}, Now: clk.Now})
	done := make(chan response)
	go func() { done <- edge.get("/a") }()
	waitFor(t, "the fetch to start", func() bool {
		edge.cache.mu.Lock()
		defer edge.cache.mu.Unlock()
		return len(edge.cache.flights) == 1
	})
	if _, err := edge.cache.Invalidate(testHost, "/a"); err != nil {
		t.Fatal(err)
	}
	origin.mu.Lock()
	origin.gate = nil
	origin.mu.Unlock()
	close(gate)
	if r := <-done; r.body != "old" {
		t.Fatalf("got %q, want the in-flight answer %q", r.body, "old")
	}
	if r := edge.get("/a"); r.header.Get("X-Cache") != Miss {
		t.Errorf("after an invalidation during the fetch: got %q, want Miss", r.header.Get("X-Cache"))
	}
}

func TestAdminInvalidations(t *testing.T) {
	t.Parallel()
	clk := newClock()
	origin := newTestOrigin(t, "127.0.0.2", clk)
	for _, p := range []string{"/images/a.jpg", "/images/b.jpg", "/css/site.css"} {
		origin.set(p, &object{header: http.Header{"Cache-Control": {"max-age=600"}}, body: p})
	}
	reg := prometheus.NewRegistry()
	edge := newTestEdge(t, Config{Distributions: []Distribution{testDist(origin)}, Now: clk.Now, Registerer: reg})
	for _, p := range []string{"/images/a.jpg", "/images/b.jpg", "/css/site.css"} {
		edge.get(p)
	}
	admin := newHTTPServer(t, edge.cache.AdminHandler())
	post := func(body string) (int, map[string]any) {
		t.Helper()
		res, err := http.Post(admin+"/cdn/invalidations", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
			t.Fatalf("decoding the answer: %v", err)
		}
		return res.StatusCode, out
	}
	code, out := post(`{"host": "static.meridian.test", "paths": ["/images/*", "/css/site.css", "/nothing"]}`)
	if code != http.StatusOK || out["invalidated"] != 3.0 || out["distribution"] != "static" {
		t.Errorf("invalidation: got %d %v, want 200 with 3 invalidated", code, out)
	}
	if paths, _ := out["paths"].([]any); len(paths) != 3 || paths[0].(map[string]any)["invalidated"] != 2.0 {
		t.Errorf("per-path results: got %v", out["paths"])
	}
	if _, n := edge.cache.Usage(); n != 0 {
		t.Errorf("objects left: got %d, want 0", n)
	}
	if got := metricValue(t, edge.cache.m.invalidated.WithLabelValues("static")); got != 3 {
		t.Errorf("invalidated metric: got %v, want 3", got)
	}
	for _, tc := range []struct{ body, wantErr string }{
		{`{"host": "static.meridian.test", "paths": ["/a*b"]}`, "only as the last character"},
		{`{"host": "nope.test", "paths": ["/a"]}`, "no distribution serves host"},
		{`{"host": "static.meridian.test", "paths": []}`, `"paths" is empty`},
		{`{"host": "static.meridian.test"`, "reading the request body"},
		{`{"host": "static.meridian.test", "paths": ["/a"], "extra": 1}`, "unknown field"},
	} {
		code, out := post(tc.body)
		if msg, _ := out["error"].(string); code != http.StatusBadRequest || !strings.Contains(msg, tc.wantErr) {
			t.Errorf("%s: got %d %v, want 400 with %q", tc.body, code, out, tc.wantErr)
		}
	}
	res, err := http.Get(admin + "/cdn/invalidations")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: got %d, want 405", res.StatusCode)
	}
}

func newHTTPServer(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	clk := newClock()
	origin := newTestOrigin(t, "127.0.0.2", clk)
	origin.set("/a", &object{header: http.Header{"Cache-Control": {"max-age=10"}, "Etag": {`"1"`}}, body: "a"})
	origin.set("/p", &object{header: http.Header{"Cache-Control": {"no-store"}}, body: "p"})
	reg := prometheus.NewRegistry()
	edge := newTestEdge(t, Config{Distributions: []Distribution{testDist(origin)}, Now: clk.Now, Registerer: reg})
	edge.get("/a")
	edge.get("/a")
	clk.Advance(time.Minute)
	edge.get("/a")
	edge.get("/p")
	for result, want := range map[string]float64{"miss": 1, "hit": 1, "refresh_hit": 1, "pass": 1} {
		if got := metricValue(t, edge.cache.m.requests.WithLabelValues("static", result)); got != want {
			t.Errorf("requests{result=%s}: got %v, want %v", result, got, want)
		}
	}
	if got := seriesCount(edge.cache.m.fetchLatency); got != 1 {
		t.Errorf("origin latency series: got %d, want 1", got)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	ok := Distribution{Hosts: []string{"a.test"}, Origins: []Origin{{URL: "http://127.0.0.1:1"}}}
	tests := []struct {
		name    string
		cfg     Config
		wantErr string // empty: valid
	}{
		{name: "zero", cfg: Config{}},
		{name: "one", cfg: Config{Distributions: []Distribution{ok}}},
		{name: "no hosts", cfg: Config{Distributions: []Distribution{{Origins: ok.Origins}}}, wantErr: "no host names"},
		{name: "host with port", cfg: Config{Distributions: []Distribution{{Hosts: []string{"a.test:80"}, Origins: ok.Origins}}}, wantErr: "is not a host name"},
		{name: "no origins", cfg: Config{Distributions: []Distribution{{Hosts: []string{"a.test"}}}}, wantErr: "no origins"},
		{name: "bad scheme", cfg: Config{Distributions: []Distribution{{Hosts: []string{"a.test"}, Origins: []Origin{{URL: "ftp://x"}}}}}, wantErr: "must start with http:// or https://"},
		{name: "query", cfg: Config{Distributions: []Distribution{{Hosts: []string{"a.test"}, Origins: []Origin{{URL: "http://x/?a=1"}}}}}, wantErr: "must not have a query"},
		{name: "duplicate origin", cfg: Config{Distributions: []Distribution{{Hosts: []string{"a.test"}, Origins: []Origin{{URL: "http://x"}, {URL: "http://x"}}}}}, wantErr: `origin name "x" is used twice`},
		{name: "host twice", cfg: Config{Distributions: []Distribution{ok, {Name: "b", Hosts: []string{"A.test"}, Origins: ok.Origins}}}, wantErr: `host "a.test" belongs to both`},
		{name: "min above max", cfg: Config{Distributions: []Distribution{{Hosts: ok.Hosts, Origins: ok.Origins, MinTTL: time.Hour, MaxTTL: time.Minute}}}, wantErr: "minimum TTL 1h0m0s is above the maximum TTL 1m0s"},
		{name: "default above max", cfg: Config{Distributions: []Distribution{{Hosts: ok.Hosts, Origins: ok.Origins, MaxTTL: time.Hour, DefaultTTL: 2 * time.Hour}}}, wantErr: "default TTL 2h0m0s is outside the minimum and maximum TTLs [0s, 1h0m0s]"},
		// Unset TTLs follow the set ones, as in CloudFront.
		{name: "max only", cfg: Config{Distributions: []Distribution{{Hosts: ok.Hosts, Origins: ok.Origins, MaxTTL: time.Hour}}}},
		{name: "min only", cfg: Config{Distributions: []Distribution{{Hosts: ok.Hosts, Origins: ok.Origins, MinTTL: 2 * 365 * 24 * time.Hour}}}},
		{name: "object above cache", cfg: Config{MaxBytes: 10, MaxObjectBytes: 20}, wantErr: "larger than the whole cache"},
		{name: "negative size", cfg: Config{MaxBytes: -1}, wantErr: "is negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("got %v, want valid", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("got %v, want an error containing %q", err, tt.wantErr)
			}
			if _, nerr := New(tt.cfg); (nerr == nil) != (err == nil) {
				t.Errorf("New and Validate disagree: %v vs %v", nerr, err)
			}
		})
	}
}

func TestMinTTLAndNegativeDefault(t *testing.T) {
	t.Parallel()
	clk := newClock()
	origin := newTestOrigin(t, "127.0.0.2", clk)
	origin.set("/short", &object{header: http.Header{"Cache-Control": {"max-age=1"}}, body: "s"})
	origin.set("/bare", &object{body: "b"})
	d := testDist(origin)
	d.MinTTL = time.Minute
	d.DefaultTTL = -1
	edge := newTestEdge(t, Config{Distributions: []Distribution{d}, Now: clk.Now})
	edge.get("/short")
	edge.get("/bare")
	clk.Advance(30 * time.Second)
	if r := edge.get("/short"); r.header.Get("X-Cache") != Hit {
		t.Errorf("max-age=1 under MinTTL 1m after 30s: got %q, want Hit", r.header.Get("X-Cache"))
	}
	if r := edge.get("/bare"); r.header.Get("X-Cache") != Miss {
		t.Errorf("no freshness with a negative DefaultTTL: got %q, want Miss", r.header.Get("X-Cache"))
	}
}

func TestCloseStopsBackgroundRefreshes(t *testing.T) {
	t.Parallel()
	clk := newClock()
	origin := newTestOrigin(t, "127.0.0.2", clk)
	origin.set("/a", &object{header: http.Header{"Cache-Control": {"max-age=1, stale-while-revalidate=600"}}, body: "a"})
	edge := newTestEdge(t, Config{Distributions: []Distribution{testDist(origin)}, Now: clk.Now})
	edge.get("/a")
	clk.Advance(time.Minute)
	gate := make(chan struct{})
	origin.mu.Lock()
	origin.gate = gate
	origin.mu.Unlock()
	t.Cleanup(func() { close(gate) })
	edge.get("/a") // starts a refresh that hangs at the origin
	closed := make(chan error)
	go func() { closed <- edge.cache.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return while a refresh hung")
	}
}

// metricValue reads a counter or gauge.
func metricValue(t *testing.T, c prometheus.Metric) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	if m.Counter != nil {
		return m.GetCounter().GetValue()
	}
	return m.GetGauge().GetValue()
}

// seriesCount counts the series a collector has.
func seriesCount(c prometheus.Collector) int {
	ch := make(chan prometheus.Metric, 100)
	c.Collect(ch)
	close(ch)
	return len(ch)
}

func TestTTLDefaults(t *testing.T) {
	t.Parallel()
	const day, year = 24 * time.Hour, 365 * 24 * time.Hour
	tests := []struct {
		name                 string
		d                    Distribution
		wantDefault, wantMax time.Duration
	}{
		{name: "zero", wantDefault: day, wantMax: year},
		{name: "max under a day", d: Distribution{MaxTTL: time.Hour}, wantDefault: time.Hour, wantMax: time.Hour},
		{name: "min over a day", d: Distribution{MinTTL: 2 * day}, wantDefault: 2 * day, wantMax: year},
		{name: "min over a year", d: Distribution{MinTTL: 2 * year}, wantDefault: 2 * year, wantMax: 2 * year},
		{name: "no default caching", d: Distribution{DefaultTTL: -1}, wantDefault: -1, wantMax: year},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			def, maxTTL := tt.d.ttls()
			if def != tt.wantDefault || maxTTL != tt.wantMax {
				t.Errorf("got default %v max %v, want %v and %v", def, maxTTL, tt.wantDefault, tt.wantMax)
			}
		})
	}
}

// TestCollapsedMissesKeepVariants sends concurrent first requests for an
// object whose Vary nobody knows yet: those that do not match the variant
// the first fetch brought must not get it.
func TestCollapsedMissesKeepVariants(t *testing.T) {
	t.Parallel()
	clk := newClock()
	origin := newTestOrigin(t, "127.0.0.2", clk)
	origin.set("/hello", &object{header: http.Header{"Cache-Control": {"max-age=600"}, "Vary": {"Accept-Language"}},
		body: "hello", varyBody: "Accept-Language"})
	gate := make(chan struct{})
	origin.gate = gate
	edge := newTestEdge(t, Config{Distributions: []Distribution{testDist(origin)}, Now: clk.Now})
	langs := []string{"en", "fr", "de", "en", "fr", "de", "en", "fr", "de", "en"}
	var wg sync.WaitGroup
	results := make([]response, len(langs))
	for i, lang := range langs {
		wg.Go(func() { results[i] = edge.do(http.MethodGet, "/hello", http.Header{"Accept-Language": {lang}}) })
	}
	waitFor(t, "9 requests waiting on the first fetch", func() bool {
		return edge.cache.waiters(primaryKey(testHost, "/hello")) == len(langs)-1
	})
	origin.mu.Lock()
	origin.gate = nil
	origin.mu.Unlock()
	close(gate)
	wg.Wait()
	for i, r := range results {
		if want := "hello " + langs[i]; r.body != want {
			t.Errorf("request %d (%s): got %q, want %q", i, langs[i], r.body, want)
		}
	}
	// The variants stored by then answer from the cache.
	before := origin.fetchCount()
	for _, lang := range []string{"en", "fr", "de"} {
		if r := edge.do(http.MethodGet, "/hello", http.Header{"Accept-Language": {lang}}); r.header.Get("X-Cache") != Hit || r.body != "hello "+lang {
			t.Errorf("%s afterwards: got %q %q, want Hit %q", lang, r.header.Get("X-Cache"), r.body, "hello "+lang)
		}
	}
	if got := origin.fetchCount() - before; got != 0 {
		t.Errorf("origin fetches afterwards: got %d, want 0", got)
	}
}

// TestLeaderLeavingDoesNotFailWaiters: the client whose miss started the
// fetch hangs up; the requests collapsed onto the fetch still get the
// object, and it is stored.
func TestLeaderLeavingDoesNotFailWaiters(t *testing.T) {
	t.Parallel()
	clk := newClock()
	origin := newTestOrigin(t, "127.0.0.2", clk)
	origin.set("/a", &object{header: http.Header{"Cache-Control": {"max-age=600"}}, body: "a"})
	gate := make(chan struct{})
	origin.gate = gate
	edge := newTestEdge(t, Config{Distributions: []Distribution{testDist(origin)}, Now: clk.Now})

	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, edge.srv.URL+"/a", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = testHost
	leaderDone := make(chan error, 1)
	go func() {
		res, err := edge.client.Do(req)
		if err == nil {
			res.Body.Close()
		}
		leaderDone <- err
	}()
	key := primaryKey(testHost, "/a")
	waitFor(t, "the leader's fetch", func() bool {
		edge.cache.mu.Lock()
		defer edge.cache.mu.Unlock()
		return edge.cache.flights[key] != nil
	})
	var wg sync.WaitGroup
	results := make([]response, 5)
	for i := range results {
		wg.Go(func() { results[i] = edge.get("/a") })
	}
	waitFor(t, "5 waiters", func() bool { return edge.cache.waiters(key) == 5 })
	cancel()
	if err := <-leaderDone; err == nil {
		t.Fatal("the leader's request did not fail after its cancellation")
	}
	origin.mu.Lock()
	origin.gate = nil
	origin.mu.Unlock()
	close(gate)
	wg.Wait()
	for i, r := range results {
		if r.status != http.StatusOK || r.body != "a" {
			t.Errorf("waiter %d: got %d %q, want 200 %q", i, r.status, r.body, "a")
		}
	}
	if got := origin.fetchCount(); got != 1 {
		t.Errorf("origin fetches: got %d, want 1", got)
	}
}

// TestBodyBreakingOff: an origin whose body breaks off is treated like one
// that failed: the next origin is tried, and with none left a stale entry
// (stale-if-error) or 502 answers.
func TestBodyBreakingOff(t *testing.T) {
	t.Parallel()
	clk := newClock()
	o1 := newTestOrigin(t, "127.0.0.2", clk)
	o2 := newTestOrigin(t, "127.0.0.3", clk)
	for i, o := range []*testOrigin{o1, o2} {
		o.set("/a", &object{header: http.Header{"Cache-Control": {"max-age=10, stale-if-error=60"}}, body: fmt.Sprintf("from o%d", i+1)})
	}
	edge := newTestEdge(t, Config{Distributions: []Distribution{testDist(o1, o2)}, Now: clk.Now})
	o1.mu.Lock()
	o1.broken = true
	o1.mu.Unlock()
	if r := edge.get("/a"); r.status != http.StatusOK || r.body != "from o2" {
		t.Fatalf("first origin broken: got %d %q, want 200 from the second", r.status, r.body)
	}
	clk.Advance(20 * time.Second)
	o2.mu.Lock()
	o2.broken = true
	o2.mu.Unlock()
	if r := edge.get("/a"); r.header.Get("X-Cache") != Stale || r.body != "from o2" {
		t.Errorf("both broken, within stale-if-error: got %d %q %q, want the Stale entry", r.status, r.header.Get("X-Cache"), r.body)
	}
	clk.Advance(time.Hour)
	if r := edge.get("/a"); r.status != http.StatusBadGateway {
		t.Errorf("both broken, no stale entry to serve: got %d, want 502", r.status)
	}
}

// TestStalledBodyTimesOut: an origin that stops sending in the middle of a
// body is given up after OriginTimeout without progress, and the next
// origin answers.
func TestStalledBodyTimesOut(t *testing.T) {
	t.Parallel()
	stall := make(chan struct{})
	t.Cleanup(func() { close(stall) })
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", "100")
		w.Header().Set("Cache-Control", "max-age=60")
		_, _ = w.Write([]byte("0123456789"))
		w.(http.Flusher).Flush()
		<-stall
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	clk := newClock()
	good := newTestOrigin(t, "127.0.0.3", clk)
	good.set("/a", &object{header: http.Header{"Cache-Control": {"max-age=60"}}, body: "from o2"})
	d := Distribution{Hosts: []string{testHost}, Origins: []Origin{{Name: "stalls", URL: "http://" + ln.Addr().String() + "/static"}, {Name: "good", URL: good.url}}}
	// The timeout is long enough for the good origin to answer on a
	// loaded machine: it bounds its response headers too.
	edge := newTestEdge(t, Config{Distributions: []Distribution{d}, Now: clk.Now, OriginTimeout: time.Second})
	if r := edge.get("/a"); r.status != http.StatusOK || r.body != "from o2" {
		t.Errorf("got %d %q, want 200 from the second origin", r.status, r.body)
	}
}
