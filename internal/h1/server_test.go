package h1

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// testServer serves h on a loopback listener and counts refusals by reason.
type testServer struct {
	*Server
	addr string

	mu      sync.Mutex
	refused map[string]int
}

func startServer(t *testing.T, h http.Handler, configure func(*Server)) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{addr: ln.Addr().String(), refused: map[string]int{}}
	ts.Server = &Server{
		Handler:           h,
		MaxHeaderBytes:    4 << 10,
		ReadHeaderTimeout: 2 * time.Second,
		ReadTimeout:       5 * time.Second,
		IdleTimeout:       5 * time.Second,
		HTTP2:             true,
		Rejected: func(reason string) {
			ts.mu.Lock()
			ts.refused[reason]++
			ts.mu.Unlock()
		},
	}
	if handOverAll {
		ts.Proxy = declineAll{}
	}
	if configure != nil {
		configure(ts.Server)
	}
	done := make(chan error, 1)
	go func() { done <- ts.Serve(ln) }()
	t.Cleanup(func() {
		if err := ts.Shutdown(2 * time.Second); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return ts
}

// handOverAll has startServer's servers take connections on event loops
// that hand every one to the goroutine server (loop_test.go).
var handOverAll bool

// declineAll is a Proxy that takes no request.
type declineAll struct{}

func (declineAll) Exchange(*http.Request) Exchange { return nil }

func (ts *testServer) count(reason string) int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.refused[reason]
}

// echo answers with the method, the body it read and the client's address;
// /chunked answers without a Content-Length, /empty with 204.
func echo(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	msg := fmt.Sprintf("%s %s %q from %s", r.Method, r.URL.Path, body, r.RemoteAddr)
	switch r.URL.Path {
	case "/chunked":
		w.Header().Set("Trailer", "X-Sum")
		_, _ = io.WriteString(w, msg)
		w.(http.Flusher).Flush()
		_, _ = io.WriteString(w, " (more)")
		w.Header().Set("X-Sum", "42")
	case "/empty":
		w.WriteHeader(http.StatusNoContent)
	case "/big":
		// Larger than the connection's buffer: head and body go out in
		// one writev.
		big := strings.Repeat("0123456789abcdef", 8<<10)
		w.Header().Set("Content-Length", fmt.Sprint(len(msg)+len(big)))
		_, _ = io.WriteString(w, big)
		_, _ = io.WriteString(w, msg)
	default:
		w.Header().Set("Content-Length", fmt.Sprint(len(msg)))
		_, _ = io.WriteString(w, msg)
	}
}

// TestServerFraming drives the server with net/http's client over one
// keep-alive connection: bodies with and without a length both ways, HEAD,
// 204 and trailers.
func TestServerFraming(t *testing.T) {
	ts := startServer(t, http.HandlerFunc(echo), nil)
	// (The long ExpectContinueTimeout makes the client wait for the
	// server's 100 Continue rather than send the body anyway.)
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1, ExpectContinueTimeout: time.Minute}}
	defer client.CloseIdleConnections()
	url := "http://" + ts.addr

	var remote string
	// do returns the answer's head; its body was read and checked.
	type head struct {
		te      []string
		trailer http.Header
		length  int64
	}
	do := func(method, path string, body io.Reader, wantCode int, want string) head {
		t.Helper()
		req, err := http.NewRequest(method, url+path, body)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("%s %s: reading the body: %v", method, path, err)
		}
		if resp.StatusCode != wantCode || !strings.HasPrefix(string(b), want) {
			t.Fatalf("%s %s: got %d %q, want %d %q...", method, path, resp.StatusCode, b, wantCode, want)
		}
		if i := strings.LastIndex(string(b), " from "); i >= 0 {
			from := string(b[i+6:])
			from = strings.TrimSuffix(from, " (more)")
			if remote != "" && from != remote {
				t.Fatalf("%s %s came on a new connection (%s, before %s)", method, path, from, remote)
			}
			remote = from
		}
		return head{te: resp.TransferEncoding, trailer: resp.Trailer, length: resp.ContentLength}
	}
	do("GET", "/a", nil, 200, `GET /a ""`)
	do("POST", "/b", strings.NewReader("sized"), 200, `POST /b "sized"`)
	// io.MultiReader hides the length: the client sends it chunked.
	do("PUT", "/c", io.MultiReader(strings.NewReader("chun"), strings.NewReader("ked")), 200, `PUT /c "chunked"`)
	h := do("GET", "/chunked", nil, 200, `GET /chunked ""`)
	if len(h.te) != 1 || h.trailer.Get("X-Sum") != "42" {
		t.Fatalf("chunked answer: transfer encoding %v, trailer %v", h.te, h.trailer)
	}
	if h = do("HEAD", "/d", nil, 200, ""); h.length <= 0 {
		t.Fatalf("HEAD lost the Content-Length: %d", h.length)
	}
	do("DELETE", "/empty", nil, 204, "")
	do("GET", "/big", nil, 200, strings.Repeat("0123456789abcdef", 8<<10)+`GET /big ""`)
	req, _ := http.NewRequest("PUT", url+"/continue", strings.NewReader("after 100"))
	req.Header.Set("Expect", "100-continue")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := client.Do(req.WithContext(ctx)) // fails if 100 Continue never comes
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.HasPrefix(string(b), `PUT /continue "after 100"`) {
		t.Fatalf("Expect: 100-continue: got %q", b)
	}
	do("GET", "/e", nil, 200, `GET /e ""`)
}

// TestServerRefusals sends what the server must answer itself, each on its
// own connection, and checks the answer and the reason counted.
func TestServerRefusals(t *testing.T) {
	var hits sync.Map
	ts := startServer(t, http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		hits.Store(r.URL.Path, true)
	}), nil)
	cases := []struct {
		name, req, status, reason string
	}{
		{"garbage", "HELLO\r\n\r\n", "400", "malformed"},
		{"bad header", "GET /x HTTP/1.1\r\nHost: h\r\nno colon\r\n\r\n", "400", "malformed"},
		{"no host", "GET /x HTTP/1.1\r\n\r\n", "400", "malformed"},
		{"bad host", "GET /x HTTP/1.1\r\nHost: a b\r\n\r\n", "400", "malformed"},
		{"two lengths", "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", "400", "malformed"},
		{"gzip coding", "POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", "501", "not_implemented"},
		{"http/2 line", "GET /x HTTP/2.0\r\nHost: h\r\n\r\n", "505", "status_505"},
		{"expect", "GET /x HTTP/1.1\r\nHost: h\r\nExpect: magic\r\n\r\n", "417", "status_417"},
		{"huge header", "GET /x HTTP/1.1\r\nHost: h\r\nX-Big: " + strings.Repeat("b", 16<<10) + "\r\n\r\n", "431", "header_too_large"},
		{"head, no host", "HEAD /x HTTP/1.1\r\n\r\n", "400", "malformed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := ts.count(tc.reason)
			c, err := net.Dial("tcp", ts.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.WriteString(c, tc.req); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, &http.Request{Method: strings.Fields(tc.req)[0]})
			if err != nil {
				t.Fatalf("reading the answer: %v", err)
			}
			resp.Body.Close()
			if resp.Request.Method == http.MethodHead {
				// The head must be all: a body would be read as the
				// start of the next answer by a client that keeps going.
				if rest, _ := io.ReadAll(br); len(rest) > 0 {
					t.Fatalf("HEAD answered with a body %q", rest)
				}
			}
			if got := fmt.Sprint(resp.StatusCode); got != tc.status || !resp.Close {
				t.Fatalf("got %s (close %v), want %s and the connection closed", got, resp.Close, tc.status)
			}
			if got := ts.count(tc.reason); got != before+1 {
				t.Fatalf("%s counted %d times, want %d", tc.reason, got, before+1)
			}
		})
	}
	if _, ok := hits.Load("/x"); ok {
		t.Fatal("a refused request reached the handler")
	}
}

// TestServerHeaderTimeout: a client that starts its headers and stalls is
// cut off after ReadHeaderTimeout and counted; one that sends nothing is
// counted as no_request.
func TestServerHeaderTimeout(t *testing.T) {
	ts := startServer(t, http.HandlerFunc(echo), func(s *Server) { s.ReadHeaderTimeout = 200 * time.Millisecond })
	if el := stall(t, ts.addr, "GET / HTTP/1.1\r\nHost: x\r\nX-Slow"); el < 150*time.Millisecond {
		t.Errorf("stalled headers cut after %v, before the timeout", el)
	}
	stall(t, ts.addr, "")
	stall(t, ts.addr, "PR") // the start of the HTTP/2 preface, then nothing
	waitUntil(t, "the timeouts counted", func() bool {
		return ts.count("header_timeout") == 2 && ts.count("no_request") == 1
	})
}

// stall sends payload to addr and returns how long the server took to
// close the connection (at most 5 s).
func stall(t *testing.T, addr, payload string) time.Duration {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	_, _ = io.WriteString(c, payload)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection with %q still open after 5s", payload)
	}
	return time.Since(start)
}

// TestServerH2C: a connection that opens with the HTTP/2 preface is served
// over HTTP/2 by the same handler; HTTP/1 requests whose method starts like
// the preface are not mistaken for it.
func TestServerH2C(t *testing.T) {
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s %s", r.Proto, r.Method, b)
	}), nil)
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	h2 := &http.Client{Transport: &http.Transport{Protocols: &protos}}
	defer h2.CloseIdleConnections()
	resp, err := h2.Post("http://"+ts.addr+"/", "text/plain", strings.NewReader("over h2c"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 || string(b) != "HTTP/2.0 POST over h2c" {
		t.Fatalf("got %s %q", resp.Proto, b)
	}
	for _, method := range []string{"POST", "PRIX", "PUT", "PATCH"} {
		req, _ := http.NewRequest(method, "http://"+ts.addr+"/", strings.NewReader("one"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s over HTTP/1.1: %v", method, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := "HTTP/1.1 " + method + " one"; string(b) != want {
			t.Fatalf("got %q, want %q", b, want)
		}
	}
}

// TestServerClientGone: a request waiting on its answer has its context
// cancelled when the client hangs up.
func TestServerClientGone(t *testing.T) {
	cancelled, serving := make(chan struct{}), make(chan struct{})
	ts := startServer(t, http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		close(serving)
		select {
		case <-r.Context().Done():
			close(cancelled)
		case <-time.After(5 * time.Second):
		}
	}), nil)
	c, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	<-serving // the request is being served; then the client leaves
	c.Close()
	select {
	case <-cancelled:
	case <-time.After(3 * time.Second):
		t.Fatal("the handler's context was not cancelled after the client hung up")
	}
}

// TestServerPanic: a handler panic closes that connection without an
// answer; the server goes on serving.
func TestServerPanic(t *testing.T) {
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/panic" {
			w.Header().Set("Content-Length", "10")
			_, _ = io.WriteString(w, "half")
			panic("boom")
		}
		_, _ = io.WriteString(w, "ok")
	}), nil)
	client := &http.Client{}
	defer client.CloseIdleConnections()
	if resp, err := client.Get("http://" + ts.addr + "/panic"); err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil {
			t.Fatal("a response cut by a panic read as whole")
		}
	}
	resp, err := client.Get("http://" + ts.addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "ok" {
		t.Fatalf("after a panic: got %q", b)
	}
}

// TestServerShutdown: idle connections close at once, a request in flight
// is finished, and Serve returns nil.
func TestServerShutdown(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			started <- struct{}{}
			<-release
		}
		_, _ = io.WriteString(w, "done "+r.URL.Path)
	}), ReadHeaderTimeout: time.Second, IdleTimeout: time.Minute}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()

	idle, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	_, _ = io.WriteString(idle, "GET /first HTTP/1.1\r\nHost: x\r\n\r\n")
	idleR := bufio.NewReader(idle)
	if resp, err := http.ReadResponse(idleR, nil); err != nil {
		t.Fatal(err)
	} else {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}

	slow := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String() + "/slow")
		if err != nil {
			slow <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		slow <- string(b)
	}()
	<-started
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(5 * time.Second) }()
	_ = idle.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := idleR.ReadByte(); !errors.Is(err, io.EOF) {
		t.Fatalf("idle connection during shutdown: %v, want EOF", err)
	}
	close(release)
	if got := <-slow; got != "done /slow" {
		t.Fatalf("request in flight at shutdown got %q", got)
	}
	if err := <-shut; err != nil {
		t.Fatal(err)
	}
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	if _, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		t.Fatal("still accepting after shutdown")
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// TestServerWriteTimeout: a client that stops reading its answer is cut off
// after WriteTimeout, and the handler's writes fail instead of blocking.
func TestServerWriteTimeout(t *testing.T) {
	werr := make(chan error, 1)
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		chunk := make([]byte, 64<<10)
		for range 1024 { // 64 MiB: more than the socket buffers hold
			if _, err := w.Write(chunk); err != nil {
				werr <- err
				return
			}
		}
		werr <- nil
	}), func(s *Server) { s.WriteTimeout = 200 * time.Millisecond })
	c, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	// The client reads nothing.
	select {
	case err := <-werr:
		if err == nil {
			t.Fatal("64 MiB written to a client that reads nothing")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the handler is still blocked writing to a client that stopped reading")
	}
}
