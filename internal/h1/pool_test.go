package h1

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// upstreamServer is an httptest server that counts the connections it
// accepted.
type upstreamServer struct {
	*httptest.Server
	conns atomic.Int64
}

func newUpstream(t *testing.T, h http.HandlerFunc) *upstreamServer {
	t.Helper()
	u := &upstreamServer{}
	u.Server = httptest.NewUnstartedServer(h)
	u.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			u.conns.Add(1)
		}
	}
	u.Start()
	t.Cleanup(u.Close)
	return u
}

func (u *upstreamServer) addr() string { return u.Listener.Addr().String() }

func get(ctx context.Context, t *testing.T, p *Pool, path string, replayable bool) (string, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+p.Addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := p.RoundTrip(ctx, req, replayable)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// TestPoolConnectionField checks that a target's Connection field decides
// reuse as in net/http: keep-alive (as nginx and Node.js send it) keeps the
// connection, close ends it and leaves the header; both answers parse.
func TestPoolConnectionField(t *testing.T) {
	for _, tc := range []struct {
		value     string
		wantConns int64
	}{{"keep-alive", 1}, {"close", 3}} {
		t.Run(tc.value, func(t *testing.T) {
			u := newUpstream(t, func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Connection", tc.value)
				_, _ = io.WriteString(w, "hi")
			})
			p := &Pool{Addr: u.addr(), MaxIdle: 4}
			defer p.CloseIdle(true)
			for i := range 3 {
				req, _ := http.NewRequest(http.MethodGet, "http://"+u.addr()+"/", nil)
				resp, err := p.RoundTrip(context.Background(), req, true)
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || string(b) != "hi" {
					t.Fatalf("request %d: body %q, %v", i, b, err)
				}
				if close := tc.value == "close"; resp.Close != close || (resp.Header.Get("Connection") == "") != close {
					t.Errorf("request %d: Close %v, Connection %q", i, resp.Close, resp.Header.Get("Connection"))
				}
			}
			if n := u.conns.Load(); n != tc.wantConns {
				t.Errorf("connections: got %d, want %d", n, tc.wantConns)
			}
		})
	}
}

func TestPoolReusesConnections(t *testing.T) {
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		_, _ = io.WriteString(w, r.Method+" "+r.URL.RequestURI()+" "+r.Host+" "+string(b))
	})
	p := &Pool{Addr: u.addr(), MaxIdle: 4}
	defer p.CloseIdle(true)
	for i := range 10 {
		got, err := get(context.Background(), t, p, "/q?i=1", i%2 == 0)
		if err != nil || got != "GET /q?i=1 "+u.addr()+" " {
			t.Fatalf("request %d: %q, %v", i, got, err)
		}
	}
	// A body goes through Request.Write.
	req, _ := http.NewRequest(http.MethodPost, "http://"+u.addr()+"/post", strings.NewReader("payload"))
	req.Host = "shop.example"
	resp, err := p.RoundTrip(context.Background(), req, false)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "POST /post shop.example payload" {
		t.Fatalf("POST: got %q", b)
	}
	if n := u.conns.Load(); n != 1 {
		t.Fatalf("11 sequential requests used %d connections, want 1", n)
	}
}

// TestPoolReplacesDeadConnection: a pooled connection the upstream closed
// is replaced, for replayable requests after the failed write and for the
// others before it.
func TestPoolReplacesDeadConnection(t *testing.T) {
	u := newUpstream(t, func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	p := &Pool{Addr: u.addr(), MaxIdle: 4}
	defer p.CloseIdle(true)
	for i, replayable := range []bool{true, false} {
		if got, err := get(context.Background(), t, p, "/", replayable); err != nil || got != "ok" {
			t.Fatalf("first request: %q, %v", got, err)
		}
		u.CloseClientConnections() // the pooled connection dies under the pool
		if got, err := get(context.Background(), t, p, "/", replayable); err != nil || got != "ok" {
			t.Fatalf("replayable %v: after the upstream closed the pooled connection: %q, %v", replayable, got, err)
		}
		if n := u.conns.Load(); n != int64(i+2) { // the first request of a round reuses the last one's
			t.Fatalf("connections: %d, want %d", n, i+2)
		}
	}
}

// TestPoolCancel: ending the context breaks off the wait for the answer,
// and the error is the context's cause.
func TestPoolCancel(t *testing.T) {
	release, arrived := make(chan struct{}), make(chan struct{})
	defer close(release)
	u := newUpstream(t, func(http.ResponseWriter, *http.Request) { close(arrived); <-release })
	p := &Pool{Addr: u.addr(), MaxIdle: 4}
	defer p.CloseIdle(true)
	ejected := errors.New("ejected")
	ctx, cancel := context.WithCancelCause(context.Background())
	go func() {
		<-arrived // the request reached the upstream, which holds its answer
		cancel(ejected)
	}()
	start := time.Now()
	_, err := get(ctx, t, p, "/", true)
	if !errors.Is(err, ejected) {
		t.Fatalf("got %v, want the cause", err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("cancel took %v", el)
	}
}

func TestPoolHeaderTimeout(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	u := newUpstream(t, func(http.ResponseWriter, *http.Request) { <-release })
	p := &Pool{Addr: u.addr(), HeaderTimeout: 100 * time.Millisecond}
	_, err := get(context.Background(), t, p, "/", true)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("got %v, want a timeout", err)
	}
}

func TestPoolConnectError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	p := &Pool{Addr: addr}
	_, err = get(context.Background(), t, p, "/", true)
	var ce *ConnectError
	if !errors.As(err, &ce) {
		t.Fatalf("got %v, want a *ConnectError", err)
	}
}

// TestPoolBodyDecidesReuse: a body read to its end gives the connection
// back; one closed early closes it; IdleTimeout retires old ones.
func TestPoolBodyDecidesReuse(t *testing.T) {
	u := newUpstream(t, func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, strings.Repeat("x", 100<<10))
	})
	p := &Pool{Addr: u.addr(), MaxIdle: 4, IdleTimeout: time.Hour}
	defer p.CloseIdle(true)
	if _, err := get(context.Background(), t, p, "/", true); err != nil {
		t.Fatal(err)
	}
	if _, err := get(context.Background(), t, p, "/", true); err != nil {
		t.Fatal(err)
	}
	if n := u.conns.Load(); n != 1 {
		t.Fatalf("read bodies: %d connections, want 1", n)
	}
	req, _ := http.NewRequest(http.MethodGet, "http://"+u.addr()+"/", nil)
	resp, err := p.RoundTrip(context.Background(), req, true)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close() // unread: the connection cannot be reused
	if _, err := get(context.Background(), t, p, "/", true); err != nil {
		t.Fatal(err)
	}
	if n := u.conns.Load(); n != 2 {
		t.Fatalf("after a body closed unread: %d connections, want 2", n)
	}
	p.IdleTimeout = time.Nanosecond
	if _, err := get(context.Background(), t, p, "/", true); err != nil {
		t.Fatal(err)
	}
	if n := u.conns.Load(); n != 3 {
		t.Fatalf("after the idle timeout: %d connections, want 3", n)
	}
}

// TestPoolAbort: an Abort breaks off the wait for the answer with its
// cause, and one aborted before the round trip began stops it at once.
func TestPoolAbort(t *testing.T) {
	release, arrived := make(chan struct{}), make(chan struct{}, 1)
	defer close(release)
	u := newUpstream(t, func(http.ResponseWriter, *http.Request) { arrived <- struct{}{}; <-release })
	p := &Pool{Addr: u.addr(), MaxIdle: 4}
	defer p.CloseIdle(true)
	ejected := errors.New("ejected")
	req, _ := http.NewRequest(http.MethodGet, "http://"+u.addr()+"/", nil)

	a := new(Abort)
	go func() {
		<-arrived // the request reached the upstream, which holds its answer
		a.Abort(ejected)
	}()
	start := time.Now()
	if _, err := p.RoundTripAbortable(context.Background(), req, true, a); !errors.Is(err, ejected) { //nolint:bodyclose // no response
		t.Fatalf("aborted during the exchange: got %v, want the cause", err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("abort took %v", el)
	}

	a = new(Abort)
	a.Abort(ejected)
	if _, err := p.RoundTripAbortable(context.Background(), req, true, a); !errors.Is(err, ejected) { //nolint:bodyclose // no response
		t.Fatalf("aborted before: got %v, want the cause", err)
	}
	select {
	case <-arrived:
		t.Fatal("a round trip aborted before it began reached the upstream")
	default:
	}
}

// TestMoreBuffered: a body whose next bytes are already read says so,
// and one read to its end does not.
func TestMoreBuffered(t *testing.T) {
	u := newUpstream(t, func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "one")
		w.(http.Flusher).Flush()
		_, _ = io.WriteString(w, "two")
	})
	p := &Pool{Addr: u.addr(), MaxIdle: 4}
	defer p.CloseIdle(true)
	req, _ := http.NewRequest(http.MethodGet, "http://"+u.addr()+"/", nil)
	resp, err := p.RoundTrip(context.Background(), req, true)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := io.ReadAll(resp.Body); err != nil {
		t.Fatal(err)
	}
	if MoreBuffered(resp.Body) {
		t.Error("MoreBuffered after the end of the body")
	}
	if MoreBuffered(io.NopCloser(strings.NewReader("x"))) {
		t.Error("MoreBuffered for a body not from a Pool")
	}
}

// TestWriteBodilessRequestLine: the request line names the target as
// URL.RequestURI does.
func TestWriteBodilessRequestLine(t *testing.T) {
	for _, target := range []string{"/", "/a/b?c=d", "/a%20b?x", "/a?", "/?q=%2F", "//x/y"} {
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader("GET " + target + " HTTP/1.1\r\nHost: h\r\n\r\n")))
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		bw := bufio.NewWriter(&b)
		writeBodiless(bw, req)
		_ = bw.Flush()
		line, _, _ := strings.Cut(b.String(), "\r\n")
		if want := "GET " + req.URL.RequestURI() + " HTTP/1.1"; line != want {
			t.Errorf("%s: got %q, want %q", target, line, want)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, "http://h/x", nil)
	req.URL.Opaque = "//h/opaque"
	var b strings.Builder
	bw := bufio.NewWriter(&b)
	writeBodiless(bw, req)
	_ = bw.Flush()
	if line, _, _ := strings.Cut(b.String(), "\r\n"); line != "GET "+req.URL.RequestURI()+" HTTP/1.1" {
		t.Errorf("opaque: got %q", line)
	}
}

// TestResponseHeader: hop-by-hop fields of a response are removed whether
// or not it took the fast path, the others kept, and a Content-Type the
// response did not have is not sniffed.
func TestResponseHeader(t *testing.T) {
	for _, tc := range []struct{ name, head string }{
		{"none", "HTTP/1.1 200 OK\r\nX-A: 1\r\nContent-Length: 2\r\n\r\nok"},
		{"keep-alive", "HTTP/1.1 200 OK\r\nX-A: 1\r\nKeep-Alive: timeout=5\r\nUpgrade: x\r\nContent-Length: 2\r\n\r\nok"},
		{"connection", "HTTP/1.1 200 OK\r\nX-A: 1\r\nConnection: X-B\r\nX-B: 2\r\nContent-Length: 2\r\n\r\nok"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			go func() {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				defer c.Close()
				br := bufio.NewReader(c)
				if _, err := http.ReadRequest(br); err == nil {
					_, _ = io.WriteString(c, tc.head)
				}
				_, _ = io.Copy(io.Discard, br)
			}()
			p := &Pool{Addr: ln.Addr().String()}
			defer p.CloseIdle(true)
			req, _ := http.NewRequest(http.MethodGet, "http://"+p.Addr+"/", nil)
			resp, err := p.RoundTrip(context.Background(), req, true)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			h := ResponseHeader(httptest.NewRecorder(), resp)
			for _, k := range []string{"Keep-Alive", "Upgrade", "Connection", "X-B"} {
				if v, ok := h[k]; ok {
					t.Errorf("%s: %q still there", k, v)
				}
			}
			if got := h.Get("X-A"); got != "1" {
				t.Errorf("X-A: got %q, want 1", got)
			}
			if v, ok := h["Content-Type"]; !ok || v != nil {
				t.Errorf("Content-Type: %q (present %v); want present and empty, so nothing sniffs one", v, ok)
			}
		})
	}
}
