package health_test

import (
	"context"
	"encoding/json"
	"flag"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meridian-platform/meridian/internal/dns"
	"github.com/meridian-platform/meridian/internal/health"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// The DNS server reads verdicts through its own interface.
var _ dns.Health = (*health.Checker)(nil)

// golden compares got with testdata/name, rewriting it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden file (run with -update to create it): %v", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s changed (run with -update if intended):\ngot:\n%s\nwant:\n%s", name, got, want)
	}
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close() // freeing the port is the point
	return addr
}

// silentAddr returns a loopback address whose listener completes TCP
// handshakes (in the kernel) but never answers.
func silentAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	return ln.Addr().String()
}

// TestGoldenJSON pins the wire format of the verdict document and the JSON
// of Status, with one check in each state and an unreachable peer.
func TestGoldenJSON(t *testing.T) {
	tg := newTarget(t, "127.0.0.1")
	closed, silent, peerAddr := closedAddr(t), silentAddr(t), closedAddr(t)
	clk := &clock{t: time.Date(2026, 11, 26, 1, 0, 0, 0, time.UTC)}
	c := runChecker(t, health.Config{
		Name: "edge-1",
		Now:  clk.Now,
		Checks: []health.Check{
			{ID: "us-east", Type: health.HTTP, URL: tg.url(), SearchString: "ok", Interval: time.Second, Timeout: slowTimeout, FailureThreshold: 1},
			{ID: "us-east-inverted", Type: health.HTTP, URL: tg.url(), Invert: true, Interval: time.Second, Timeout: slowTimeout, FailureThreshold: 1},
			{ID: "eu-west-db", Type: health.TCP, Addr: closed, Interval: time.Second, Timeout: slowTimeout, FailureThreshold: 1},
			{ID: "ap-south", Type: health.HTTP, URL: "http://" + silent + "/readyz", Interval: 20 * time.Second, Timeout: 20 * time.Second},
			{ID: "any-region", Type: health.Calculated, Children: []string{"us-east", "eu-west-db", "ap-south"}, HealthyThreshold: 1},
		},
		Peers: []health.Peer{{Name: "edge-2", URL: "http://" + peerAddr}},
	})
	waitFor(t, settle, "verdicts settled", func() bool {
		s := c.Status()
		return s.Checks[0].Local == health.Healthy && s.Checks[1].Local == health.Unhealthy &&
			s.Checks[2].Local == health.Unhealthy && s.Peers[0].LastError != ""
	})

	rec := httptest.NewRecorder()
	c.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, health.Path, nil))
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type: got %q, want application/json", ct)
	}
	golden(t, "verdicts.json", rec.Body.Bytes())

	status, err := json.MarshalIndent(c.Status(), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	r := strings.NewReplacer(tg.addr, "TARGET", closed, "CLOSED", silent, "SILENT", peerAddr, "PEER")
	golden(t, "status.json", []byte(r.Replace(string(status))+"\n"))
}

func getDoc(t *testing.T, base string, q url.Values) (health.Document, int) {
	t.Helper()
	u := base + health.Path
	if q != nil {
		u += "?" + q.Encode()
	}
	resp, err := http.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading %s: %v", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return health.Document{}, resp.StatusCode
	}
	d, err := health.ParseDocument(body)
	if err != nil {
		t.Fatalf("parsing %s: %v\n%s", u, err, body)
	}
	return d, resp.StatusCode
}

func TestLongPoll(t *testing.T) {
	tg := newTarget(t, "127.0.0.1")
	c := runChecker(t, health.Config{Name: "edge-1", Checks: []health.Check{
		{ID: "web", Type: health.HTTP, URL: tg.url(), Interval: testInterval, Timeout: slowTimeout, FailureThreshold: 1}}})
	mux := http.NewServeMux()
	mux.Handle(health.Path, c.Handler())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	waitFor(t, settle, "web healthy", func() bool { return verdict(c, "web") == health.Healthy })

	d, _ := getDoc(t, srv.URL, nil)
	if d.Checker != "edge-1" || d.Verdicts["web"] != health.Healthy {
		t.Fatalf("document: got %+v, want edge-1 with web healthy", d)
	}

	t.Run("other version answers at once", func(t *testing.T) {
		begin := time.Now()
		got, _ := getDoc(t, srv.URL, url.Values{"wait": {"older"}, "hold": {"10s"}})
		if took := time.Since(begin); took > 5*time.Second || got.Version != d.Version {
			t.Errorf("got version %q after %v, want %q at once", got.Version, took, d.Version)
		}
	})
	t.Run("quiet poll answers after hold", func(t *testing.T) {
		begin := time.Now()
		got, _ := getDoc(t, srv.URL, url.Values{"wait": {d.Version}, "hold": {"150ms"}})
		if took := time.Since(begin); took < 150*time.Millisecond || got.Version != d.Version {
			t.Errorf("got version %q after %v, want %q after at least 150ms", got.Version, took, d.Version)
		}
	})
	t.Run("change answers a held poll", func(t *testing.T) {
		type answer struct {
			d    health.Document
			took time.Duration
		}
		answered := make(chan answer, 1)
		begin := time.Now()
		go func() {
			got, _ := getDoc(t, srv.URL, url.Values{"wait": {d.Version}})
			answered <- answer{got, time.Since(begin)}
		}()
		tg.setStatus(http.StatusServiceUnavailable)
		select {
		case a := <-answered:
			if a.d.Version == d.Version || a.d.Verdicts["web"] != health.Unhealthy {
				t.Errorf("held poll answered %+v, want a new version with web unhealthy", a.d)
			}
			if a.took >= health.MaxHold {
				t.Errorf("held poll answered after %v, want before the %v hold", a.took, health.MaxHold)
			}
		case <-time.After(2 * health.MaxHold):
			t.Fatal("held poll not answered")
		}
	})
	t.Run("bad requests", func(t *testing.T) {
		if _, code := getDoc(t, srv.URL, url.Values{"wait": {"x"}, "hold": {"soon"}}); code != http.StatusBadRequest {
			t.Errorf("bad hold: got status %d, want 400", code)
		}
		resp, err := http.Post(srv.URL+health.Path, "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("POST: got status %d, want 405", resp.StatusCode)
		}
	})
}

func TestRunTwice(t *testing.T) {
	c, err := health.New(health.Config{Name: "a", Peers: []health.Peer{{Name: "b", URL: "http://" + closedAddr(t)}},
		Logger: testLogger(t, "a", nil)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- c.Run(ctx) }()
	// A failed fetch of the peer shows the first Run is under way.
	waitFor(t, settle, "a fetch of the peer", func() bool { return c.Status().Peers[0].LastError != "" })
	if err := c.Run(ctx); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Errorf("second Run: got %v, want an already running error", err)
	}
	cancel()
	if err := <-ran; err != nil {
		t.Errorf("first Run after cancel: got %v, want nil", err)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	_, err := health.New(health.Config{Name: "a", Checks: []health.Check{{ID: "x", Type: health.Calculated, Children: []string{"y"}}}})
	if err == nil || !strings.Contains(err.Error(), `child "y" is not a configured check`) {
		t.Errorf("New: got %v, want the unknown child named", err)
	}
}

func TestPeerWithAnotherName(t *testing.T) {
	other, err := health.New(health.Config{Name: "c3"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(other.Handler()) // the handler serves at any path
	t.Cleanup(srv.Close)
	c := runChecker(t, health.Config{Name: "c1", Peers: []health.Peer{{Name: "c2", URL: srv.URL}}})
	waitFor(t, settle, "a fetch of the misconfigured peer", func() bool { return c.Status().Peers[0].LastError != "" })
	if p := c.Status().Peers[0]; p.Fresh || !strings.Contains(p.LastError, `says it is checker "c3"`) {
		t.Errorf("peer c2 served by checker c3: got %+v, want not fresh and the name mismatch reported", p)
	}
}

// TestSilentTarget checks the error of a target that accepts connections
// but never answers.
func TestSilentTarget(t *testing.T) {
	silent := silentAddr(t)
	c := runChecker(t, health.Config{Checks: []health.Check{{ID: "web", Type: health.HTTP, URL: "http://" + silent + "/",
		Interval: testInterval, FailureThreshold: 1}}})
	waitFor(t, settle, "silent target unhealthy", func() bool { return verdict(c, "web") == health.Unhealthy })
	if got := checkStatus(t, c, "web").LastError; !strings.Contains(got, "no response within the 100ms timeout") {
		t.Errorf("last error: got %q, want it to say the target did not respond in time", got)
	}
}
