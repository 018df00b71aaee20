//go:build linux

package h1

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// testProxy sends every request (but those to /decline) to its pools in
// turn, forwarding headers as the balancer does, and records what the
// loop told its exchanges.
type testProxy struct {
	pools []*Pool
	// hold is each attempt's Hold; refuse, the answers to refuse;
	// fallback has Failed ask for the last refused answer; aborts gets
	// each attempt's Abort when set.
	hold     int
	refuse   func(code int) bool
	fallback atomic.Bool
	aborts   chan *Abort

	mu    sync.Mutex
	errs  []error // what Next was told
	dones []loopDone
	done  chan loopDone
}

type loopDone struct {
	code int
	err  error
}

func (p *testProxy) Exchange(r *http.Request) Exchange {
	if r.URL.Path == "/decline" {
		return nil
	}
	ForwardHeaders(r)
	return &testExchange{p: p}
}

func (p *testProxy) nextErrs() []error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]error(nil), p.errs...)
}

type testExchange struct {
	p      *testProxy
	n      int
	failed bool // Failed asked for the refused answer
}

func (x *testExchange) Next(err error) Attempt {
	p := x.p
	if err != nil {
		p.mu.Lock()
		p.errs = append(p.errs, err)
		p.mu.Unlock()
	}
	if x.n >= len(p.pools) {
		return Attempt{}
	}
	x.n++
	a := Attempt{Pool: p.pools[x.n-1], Hold: p.hold}
	if p.aborts != nil {
		a.Abort = new(Abort)
		p.aborts <- a.Abort
	}
	return a
}

func (x *testExchange) Failed(http.Header) (int, string) {
	if x.p.fallback.Load() {
		x.failed = true
		return 0, ""
	}
	return http.StatusBadGateway, "no upstream answered"
}

func (x *testExchange) Answer(resp *http.Response) bool {
	if x.p.refuse != nil && x.p.refuse(resp.StatusCode) && !x.failed && (x.n < len(x.p.pools) || x.p.fallback.Load()) {
		return false // (the last one taken, unless Failed is to ask for it)
	}
	resp.Header.Set("X-Proxied", "loop")
	return true
}

func (x *testExchange) Done(code int, err error) {
	p := x.p
	p.mu.Lock()
	p.dones = append(p.dones, loopDone{code, err})
	p.mu.Unlock()
	if p.done != nil {
		p.done <- loopDone{code, err}
	}
}

// startLoop serves h (for what the loop hands over) with p proxying the
// plain requests.
func startLoop(t *testing.T, h http.Handler, p *testProxy, configure func(*Server)) *testServer {
	t.Helper()
	return startServer(t, h, func(s *Server) {
		s.Proxy = p
		s.Loops = 2
		if configure != nil {
			configure(s)
		}
	})
}

func loopPool(addr string) *Pool {
	return &Pool{Addr: addr, MaxIdle: 4, HeaderTimeout: 5 * time.Second, ConnectTimeout: time.Second}
}

// TestLoopRelaysEveryFraming proxies answers of every framing through the
// loop to net/http's client over one keep-alive connection.
func TestLoopRelaysEveryFraming(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Forwarded-For-Seen", r.Header.Get("X-Forwarded-For"))
		switch r.URL.Path {
		case "/chunked":
			w.Header().Set("Trailer", "X-Sum")
			_, _ = io.WriteString(w, "chun")
			w.(http.Flusher).Flush()
			_, _ = io.WriteString(w, "ked")
			w.Header().Set("X-Sum", "42")
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		case "/hints":
			w.Header().Set("Link", "</a.css>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
			_, _ = io.WriteString(w, "after hints")
		case "/big":
			_, _ = io.WriteString(w, strings.Repeat("0123456789abcdef", 256<<10)) // 4 MiB, chunked
		case "/close":
			// No length, no chunks: the body ends with the connection.
			c, brw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				panic(err)
			}
			_, _ = brw.WriteString("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close")
			_ = brw.Flush()
			_ = c.Close()
		default:
			w.Header().Set("Content-Length", "5")
			_, _ = io.WriteString(w, "hello")
		}
	})
	p := &testProxy{pools: []*Pool{loopPool(up.addr())}}
	ts := startLoop(t, http.NotFoundHandler(), p, nil)
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1}}
	defer client.CloseIdleConnections()

	// do returns the answer's head; its body was read and checked.
	type head struct {
		header, trailer http.Header
		te              []string
		length          int64
		close           bool
	}
	do := func(method, path string, wantCode int, want string) head {
		t.Helper()
		req, _ := http.NewRequest(method, "http://"+ts.addr+path, nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("%s %s: reading the body: %v", method, path, err)
		}
		if resp.StatusCode != wantCode || string(b) != want {
			t.Fatalf("%s %s: got %d %q, want %d %q", method, path, resp.StatusCode, b, wantCode, want)
		}
		if resp.Header.Get("X-Proxied") != "loop" || resp.Header.Get("Date") == "" {
			t.Fatalf("%s %s: answer header %v: not from the loop", method, path, resp.Header)
		}
		if xff := resp.Header.Get("X-Forwarded-For-Seen"); path != "/close" && xff != "127.0.0.1" {
			t.Fatalf("%s %s: the upstream saw X-Forwarded-For %q", method, path, xff)
		}
		return head{resp.Header, resp.Trailer, resp.TransferEncoding, resp.ContentLength, resp.Close}
	}
	if h := do("GET", "/", 200, "hello"); h.length != 5 {
		t.Fatalf("Content-Length not relayed: %d", h.length)
	}
	h := do("GET", "/chunked", 200, "chunked")
	if len(h.te) != 1 || h.trailer.Get("X-Sum") != "42" {
		t.Fatalf("chunked answer: transfer encoding %v, trailer %v", h.te, h.trailer)
	}
	if h := do("HEAD", "/", 200, ""); h.length != 5 {
		t.Fatalf("HEAD lost the Content-Length: %d", h.length)
	}
	do("DELETE", "/empty", 204, "")
	if h := do("GET", "/hints", 200, "after hints"); h.header.Get("Link") == "" {
		t.Fatal("the final answer lost its header")
	}
	do("GET", "/big", 200, strings.Repeat("0123456789abcdef", 256<<10))
	do("GET", "/", 200, "hello")
	if up.conns.Load() != 1 {
		t.Fatalf("the upstream saw %d connections for 7 requests, want 1 (kept alive)", up.conns.Load())
	}
	if h := do("GET", "/close", 200, "until close"); !h.close {
		t.Fatal("an answer that ends with its connection kept the client's open")
	}
	do("GET", "/", 200, "hello")
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.dones) != 9 || len(p.errs) != 0 {
		t.Fatalf("exchanges: done %v, Next errors %v; want 9 done, no errors", p.dones, p.errs)
	}
}

// TestLoopHandsOver: what is not a plain request the proxy takes goes to
// the goroutine server with what was read of it, and the connection stays
// there.
func TestLoopHandsOver(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "upstream") })
	p := &testProxy{pools: []*Pool{loopPool(up.addr())}}
	ts := startLoop(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "handler %s %s %q", r.Method, r.URL.Path, b)
	}), p, nil)
	c, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	roundTrip := func(raw, want string) {
		t.Helper()
		if _, err := io.WriteString(c, raw); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != want {
			t.Fatalf("%q: got %q, want %q", raw, b, want)
		}
	}
	roundTrip("GET /a HTTP/1.1\r\nHost: x\r\n\r\n", "upstream")
	// A body: handed over, with the pipelined GET behind it.
	if _, err := io.WriteString(c, "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"); err != nil {
		t.Fatal(err)
	}
	roundTrip("GET /c HTTP/1.1\r\nHost: x\r\n\r\n", `handler POST /b "abc"`)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != `handler GET /c ""` {
		t.Fatalf("the request after the handover: got %q", b)
	}

	// Declined by the proxy; a head larger than the loop takes; h2c.
	for _, tc := range []struct{ raw, want string }{
		{"GET /decline HTTP/1.1\r\nHost: x\r\n\r\n", `handler GET /decline ""`},
		{"GET /long HTTP/1.1\r\nHost: x\r\nX-Long: " + strings.Repeat("l", 5000) + "\r\n\r\n", `handler GET /long ""`},
		{"GET /old HTTP/1.0\r\nHost: x\r\n\r\n", `handler GET /old ""`},
	} {
		c, err := net.Dial("tcp", ts.addr)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(c, tc.raw); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		c.Close()
		if string(b) != tc.want {
			t.Fatalf("%.40q: got %q, want %q", tc.raw, b, tc.want)
		}
	}
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	h2 := &http.Client{Transport: &http.Transport{Protocols: &protos}}
	defer h2.CloseIdleConnections()
	resp, err = h2.Get("http://" + ts.addr + "/h2")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 || string(b) != `handler GET /h2 ""` {
		t.Fatalf("h2c: got %s %q", resp.Proto, b)
	}
}

// TestLoopServerTestsHandedOver runs the server's own tests with a loop in
// front that declines every request: the goroutine server must behave the
// same on connections handed to it.
func TestLoopServerTestsHandedOver(t *testing.T) {
	handOverAll = true
	defer func() { handOverAll = false }()
	for name, test := range map[string]func(*testing.T){
		"Framing": TestServerFraming, "Refusals": TestServerRefusals, "HeaderTimeout": TestServerHeaderTimeout,
		"H2C": TestServerH2C, "ClientGone": TestServerClientGone, "Shutdown": TestServerShutdown,
	} {
		t.Run(name, test)
	}
}

// TestLoopRetries: a refused connection is Next's to handle; a pooled
// connection that turns out closed when a request is sent on it is
// replaced without asking.
func TestLoopRetries(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusing := ln.Addr().String()
	ln.Close()
	// The upstream answers the first request of each connection and
	// closes the connection on the second, unanswered: a pooled
	// connection closed just as a request went out on it.
	type served struct{ n atomic.Int64 }
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Context().Value(served{}).(*served).n.Add(1) > 1 {
			if c, _, err := http.NewResponseController(w).Hijack(); err == nil {
				_ = c.Close()
			}
			return
		}
		_, _ = io.WriteString(w, r.Method)
	}))
	up.Config.ConnContext = func(ctx context.Context, _ net.Conn) context.Context {
		return context.WithValue(ctx, served{}, new(served))
	}
	up.Start()
	defer up.Close()
	p := &testProxy{pools: []*Pool{loopPool(refusing), loopPool(up.Listener.Addr().String())}}
	ts := startLoop(t, http.NotFoundHandler(), p, func(s *Server) { s.Loops = 1 })
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1}}
	defer client.CloseIdleConnections()
	do := func(method, want string, wantCode int) {
		t.Helper()
		req, _ := http.NewRequest(method, "http://"+ts.addr+"/", nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != wantCode || wantCode == 200 && string(b) != want {
			t.Fatalf("%s: got %d %q, want %d %q", method, resp.StatusCode, b, wantCode, want)
		}
	}
	do("GET", "GET", 200)
	errs := p.nextErrs()
	var ce *ConnectError
	if len(errs) != 1 || !errors.As(errs[0], &ce) || !errors.Is(errs[0], syscall.ECONNREFUSED) {
		t.Fatalf("Next was told %v, want one *ConnectError (connection refused)", errs)
	}
	do("GET", "GET", 200) // on the pooled connection, closed: again on a new one
	if errs := p.nextErrs(); len(errs) != 2 {
		t.Fatalf("Next was told %v, want only the two refusals", errs)
	}
	// Not idempotent: not sent again. The failure is Next's, which has
	// no upstream left.
	do("POST", "", http.StatusBadGateway)
	if errs := p.nextErrs(); len(errs) != 4 || !isReset(errs[3]) {
		t.Fatalf("Next was told %v, want a refusal and then the closed connection", errs)
	}
}

// TestLoopUpstreamFailures: no answer in time, a malformed answer, a body
// broken off, and no upstream at all.
func TestLoopUpstreamFailures(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/slow":
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		case "/short":
			w.Header().Set("Content-Length", "100")
			_, _ = io.WriteString(w, "ten bytes.")
			w.(http.Flusher).Flush()
			c, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				_ = c.Close()
			}
		case "/garbage":
			c, brw, err := http.NewResponseController(w).Hijack()
			if err == nil {
				_, _ = brw.WriteString("HTTP/1.1 two hundred\r\n\r\n")
				_ = brw.Flush()
				_ = c.Close()
			}
		}
	})
	pool := loopPool(up.addr())
	pool.HeaderTimeout = 200 * time.Millisecond
	p := &testProxy{pools: []*Pool{pool}}
	ts := startLoop(t, http.NotFoundHandler(), p, nil)
	get := func(path string) (int, error) {
		resp, err := http.Get("http://" + ts.addr + path)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		_, err = io.ReadAll(resp.Body)
		return resp.StatusCode, err
	}
	if code, err := get("/slow"); code != http.StatusBadGateway || err != nil {
		t.Fatalf("slow upstream: got %d, %v; want the proxy's 502", code, err)
	}
	var ne net.Error
	if errs := p.nextErrs(); len(errs) != 1 || !errors.As(errs[0], &ne) || !ne.Timeout() {
		t.Fatalf("slow upstream: Next was told %v, want a timeout", errs)
	}
	if code, err := get("/garbage"); code != http.StatusBadGateway || err != nil {
		t.Fatalf("malformed answer: got %d, %v; want 502", code, err)
	}
	if code, err := get("/short"); code != 200 || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("broken body: got %d, %v; want 200 and a body cut short", code, err)
	}
	p.mu.Lock()
	last := p.dones[len(p.dones)-1]
	p.mu.Unlock()
	if last.code != 200 || last.err == nil {
		t.Fatalf("broken body: Done(%d, %v), want 200 with an error", last.code, last.err)
	}
}

// TestLoopClientGone: a client that leaves while its request waits ends
// the exchange (499) and the upstream's request with it.
func TestLoopClientGone(t *testing.T) {
	cancelled, serving := make(chan struct{}), make(chan struct{})
	up := newUpstream(t, func(_ http.ResponseWriter, r *http.Request) {
		close(serving)
		select {
		case <-r.Context().Done():
			close(cancelled)
		case <-time.After(5 * time.Second):
		}
	})
	p := &testProxy{pools: []*Pool{loopPool(up.addr())}, done: make(chan loopDone, 1)}
	ts := startLoop(t, http.NotFoundHandler(), p, nil)
	c, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	<-serving
	c.Close()
	select {
	case d := <-p.done:
		if d.code != 499 {
			t.Fatalf("Done(%d), want 499", d.code)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the exchange did not end when its client left")
	}
	select {
	case <-cancelled:
	case <-time.After(3 * time.Second):
		t.Fatal("the upstream's request went on after the client left")
	}
}

// TestLoopTimeouts: slow and silent clients, and one that stops reading
// its answer, are cut off and counted.
func TestLoopTimeouts(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(64<<20))
		chunk := make([]byte, 64<<10)
		for range 1024 { // 64 MiB: more than the socket buffers hold
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	p := &testProxy{pools: []*Pool{loopPool(up.addr())}, done: make(chan loopDone, 1)}
	ts := startLoop(t, http.NotFoundHandler(), p, func(s *Server) {
		s.ReadHeaderTimeout = 200 * time.Millisecond
		s.WriteTimeout = 200 * time.Millisecond
	})
	if el := stall(t, ts.addr, "GET / HTTP/1.1\r\nHost: x\r\nX-Slow"); el < 150*time.Millisecond {
		t.Errorf("stalled headers cut after %v, before the timeout", el)
	}
	stall(t, ts.addr, "")
	waitUntil(t, "the timeouts counted", func() bool {
		return ts.count("header_timeout") == 1 && ts.count("no_request") == 1
	})

	c, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	// The client reads nothing.
	select {
	case d := <-p.done:
		if d.code != 200 {
			t.Fatalf("Done(%d, %v), want 200", d.code, d.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a client that reads nothing still holds its exchange")
	}
}

// TestLoopShutdown: an answer under way is finished, idle connections are
// closed, and Shutdown returns once the loop is done.
func TestLoopShutdown(t *testing.T) {
	release := make(chan struct{})
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/wait" {
			<-release
		}
		_, _ = io.WriteString(w, "done")
	})
	p := &testProxy{pools: []*Pool{loopPool(up.addr())}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Handler: http.NotFoundHandler(), Proxy: p, MaxHeaderBytes: 4096,
		ReadHeaderTimeout: time.Second, IdleTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	addr := ln.Addr().String()

	idle, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	busy, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	if _, err := io.WriteString(busy, "GET /wait HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the request upstream", func() bool { return up.conns.Load() == 1 })
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(5 * time.Second) }()
	_ = idle.SetReadDeadline(time.Now().Add(3 * time.Second))
	if n, err := idle.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("idle connection at shutdown: read %d, %v; want it closed", n, err)
	}
	close(release)
	resp, err := http.ReadResponse(bufio.NewReader(busy), nil)
	if err != nil {
		t.Fatalf("the answer under way at shutdown: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "done" {
		t.Fatalf("the answer under way at shutdown: %q, want \"done\"", b)
	}
	_ = busy.SetReadDeadline(time.Now().Add(3 * time.Second))
	if n, err := busy.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("after the answer under way at shutdown: read %d, %v; want the connection closed", n, err)
	}
	if err := <-shut; err != nil {
		t.Fatal(err)
	}
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatal("still accepting after Shutdown")
	}
}

// TestLoopPipelined: requests sent together are answered in order.
func TestLoopPipelined(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, r.URL.Path) })
	p := &testProxy{pools: []*Pool{loopPool(up.addr())}}
	ts := startLoop(t, http.NotFoundHandler(), p, nil)
	c, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var all strings.Builder
	for i := range 20 {
		fmt.Fprintf(&all, "GET /%d HTTP/1.1\r\nHost: x\r\n\r\n", i)
	}
	if _, err := io.WriteString(c, all.String()); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	for i := range 20 {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := "/" + strconv.Itoa(i); string(b) != want {
			t.Fatalf("answer %d: got %q, want %q", i, b, want)
		}
	}
}

// TestLoopNoUpstream: the exchange's Failed answer when Next has none.
func TestLoopNoUpstream(t *testing.T) {
	p := &testProxy{}
	ts := startLoop(t, http.NotFoundHandler(), p, nil)
	resp, err := http.Get("http://" + ts.addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway || string(b) != "no upstream answered\n" ||
		resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Fatalf("got %d %q %v", resp.StatusCode, b, resp.Header)
	}
}

// FuzzLoop sends arbitrary bytes through an event loop, in front of an
// upstream serving echo: the answers must be well-formed, one per request,
// as from the goroutine server (FuzzServer).
//
//	go test -fuzz FuzzLoop ./internal/h1
func FuzzLoop(f *testing.F) {
	for _, seed := range []string{
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /chunked HTTP/1.1\r\nHost: x\r\n\r\nHEAD /chunked HTTP/1.1\r\nHost: x\r\n\r\nGET /empty HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /big HTTP/1.1\r\nHost: x\r\n\r\nPOST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
		"GET / HTTP/1.1\r\nHost: x\r\nConnection: close, x-drop\r\nX-Drop: 1\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /decline HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET / HTTP/1.1\nHost: x\n\n",
	} {
		f.Add([]byte(seed))
	}
	up := httpServer(f, http.HandlerFunc(echo))
	ts := loopServer(f, &testProxy{pools: []*Pool{loopPool(up)}})
	f.Fuzz(func(t *testing.T, in []byte) { checkAnswers(t, ts, in) })
}

// FuzzLoopUpstream has an upstream answer a GET with arbitrary bytes: what
// the client gets must be one well-formed answer (the upstream's relayed,
// or the loop's 502), or its connection closed, within 5 s.
//
//	go test -fuzz FuzzLoopUpstream ./internal/h1
func FuzzLoopUpstream(f *testing.F) {
	for _, seed := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n5\r\nhello\r\n0\r\nX-Sum: 1\r\n\r\n",
		"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.0 200 OK\r\n\r\nuntil close",
		"HTTP/1.1 204 No Content\r\nContent-Length: 3\r\n\r\nabc",
		"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n1\r\na\r\n0\r\n\r\n",
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n",
		"HTTP/1.1 200 OK\nContent-Length: 2\n\nok",
	} {
		f.Add([]byte(seed))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { ln.Close() })
	answers := make(chan []byte, 1)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				// One answer, then the connection ends (so that a body
				// shorter than it says ends too).
				defer c.Close()
				if _, err := http.ReadRequest(bufio.NewReader(c)); err == nil {
					_, _ = c.Write(<-answers)
				}
			}()
		}
	}()
	pool := loopPool(ln.Addr().String())
	pool.HeaderTimeout = time.Second
	ts := loopServer(f, &testProxy{pools: []*Pool{pool}})
	f.Fuzz(func(t *testing.T, answer []byte) {
		answers <- answer
		c, err := net.Dial("tcp", ts)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(c)
		if _, err := br.Peek(1); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("no answer after 5s to %q", answer)
			}
			return // closed
		}
		resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet})
		if err != nil {
			t.Fatalf("malformed answer relaying %q: %v", answer, err)
		}
		defer resp.Body.Close()
		// (A body cut short by the upstream is cut short for the client
		// too: "unexpected EOF", in the body or its trailer.)
		if _, err := io.Copy(io.Discard, resp.Body); err != nil && !strings.Contains(err.Error(), "unexpected EOF") &&
			!strings.Contains(err.Error(), "connection reset") {
			t.Fatalf("reading the body relaying %q: %v", answer, err)
		}
		if rest, _ := io.ReadAll(br); len(rest) > 0 {
			t.Fatalf("relaying %q: %q after the answer", answer, rest)
		}
		select {
		case <-answers: // the loop never asked for it (a pooled connection was reused, say)
		default:
		}
	})
}

// httpServer serves h on loopback for the test's duration.
func httpServer(tb testing.TB, h http.Handler) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s := &http.Server{Handler: h, ReadHeaderTimeout: time.Second}
	go func() { _ = s.Serve(ln) }()
	tb.Cleanup(func() { _ = s.Close() })
	return ln.Addr().String()
}

// loopServer serves p's loops (and echo for what they hand over) on
// loopback for the test's duration.
func loopServer(tb testing.TB, p *testProxy) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s := &Server{Handler: http.HandlerFunc(echo), Proxy: p, MaxHeaderBytes: 4 << 10,
		ReadHeaderTimeout: time.Second, ReadTimeout: time.Second, IdleTimeout: time.Second, HTTP2: true}
	go func() { _ = s.Serve(ln) }()
	tb.Cleanup(func() { _ = s.Shutdown(time.Second) })
	return ln.Addr().String()
}

// TestLoopHoldRefuseAbort: what an exchange can ask of each attempt: a
// body read whole before the answer is taken (one broken off fails the
// attempt, not the answer), an answer refused (the next upstream tried,
// the refused one kept for Failed), an attempt aborted from another
// goroutine.
func TestLoopHoldRefuseAbort(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/short":
			w.Header().Set("Content-Length", "100")
			_, _ = io.WriteString(w, "ten bytes.")
			w.(http.Flusher).Flush()
			if c, _, err := http.NewResponseController(w).Hijack(); err == nil {
				_ = c.Close()
			}
		case "/busy":
			http.Error(w, "busy here", http.StatusServiceUnavailable)
		case "/hang":
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
	})
	second := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/busy" {
			http.Error(w, "busy too", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "second")
	})
	get := func(ts *testServer, path string) (int, string) {
		t.Helper()
		resp, err := http.Get("http://" + ts.addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return resp.StatusCode, string(b)
	}

	p := &testProxy{pools: []*Pool{loopPool(up.addr()), loopPool(second.addr())}, hold: 1024}
	ts := startLoop(t, http.NotFoundHandler(), p, nil)
	if code, body := get(ts, "/short"); code != 200 || body != "second" {
		t.Fatalf("held body broken off: got %d %q, want the second upstream's answer", code, body)
	}
	var be *BodyError
	if errs := p.nextErrs(); len(errs) != 1 || !errors.As(errs[0], &be) {
		t.Fatalf("Next was told %v, want a *BodyError", errs)
	}

	p = &testProxy{pools: []*Pool{loopPool(up.addr()), loopPool(second.addr())}, hold: 1024,
		refuse: func(code int) bool { return code == http.StatusServiceUnavailable }}
	ts = startLoop(t, http.NotFoundHandler(), p, nil)
	if code, body := get(ts, "/busy"); code != 503 || body != "busy too\n" {
		t.Fatalf("refused, then the last answer: got %d %q", code, body)
	}
	p.fallback.Store(true) // (the loop reads it; the response is no synchronisation the race detector sees)
	if code, body := get(ts, "/busy"); code != 503 || body != "busy too\n" {
		t.Fatalf("both refused, then Failed asks for the last: got %d %q", code, body)
	}
	if errs := p.nextErrs(); len(errs) != 3 || !errors.Is(errs[0], ErrRefused) {
		t.Fatalf("Next was told %v, want ErrRefused each time", errs)
	}

	p = &testProxy{pools: []*Pool{loopPool(up.addr()), loopPool(second.addr())}, aborts: make(chan *Abort, 2)}
	ts = startLoop(t, http.NotFoundHandler(), p, nil)
	cause := errors.New("ejected")
	go func() {
		ab := <-p.aborts
		time.Sleep(50 * time.Millisecond) // (under way upstream)
		ab.Abort(cause)
	}()
	if code, body := get(ts, "/hang"); code != 200 || body != "second" {
		t.Fatalf("aborted attempt: got %d %q, want the second upstream's answer", code, body)
	}
	if errs := p.nextErrs(); len(errs) != 1 || !errors.Is(errs[0], cause) {
		t.Fatalf("Next was told %v, want the abort's cause", errs)
	}
}
