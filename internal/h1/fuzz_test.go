package h1

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// FuzzServer sends arbitrary bytes to a server as one client connection.
// Whatever the server writes back must be a sequence of well-formed
// HTTP/1.1 responses, and the server must neither panic nor hang.
//
//	go test -fuzz FuzzServer ./internal/h1
func FuzzServer(f *testing.F) {
	for _, seed := range []string{
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /two HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
		"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
		"POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		"POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n1\r\na\r\n0\r\n\r\n",
		"POST /p HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi",
		"GET / HTTP/1.0\r\n\r\n",
		"HEAD /chunked HTTP/1.1\r\nHost: x\r\n\r\n",
		"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",
		"GET /\x00 HTTP/1.1\r\nHost: x\r\n\r\n",
		"\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
	} {
		f.Add([]byte(seed))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	s := &Server{
		Handler:           http.HandlerFunc(echo),
		MaxHeaderBytes:    4 << 10,
		ReadHeaderTimeout: time.Second,
		ReadTimeout:       time.Second,
		IdleTimeout:       time.Second,
	}
	go func() { _ = s.Serve(ln) }()
	f.Cleanup(func() { _ = s.Shutdown(time.Second) })

	f.Fuzz(func(t *testing.T, in []byte) { checkAnswers(t, ln.Addr().String(), in) })
}

// checkAnswers sends in to addr as one client connection and checks that
// what comes back is a sequence of well-formed HTTP/1.1 responses, one per
// request in in, within 5 s.
func checkAnswers(t *testing.T, addr string, in []byte) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	go func() {
		_, _ = c.Write(in)
		_ = c.(*net.TCPConn).CloseWrite()
	}()
	br := bufio.NewReader(c)
	methods := requestMethods(in)
	for i := 0; ; {
		if _, err := br.Peek(1); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("server still holds the connection after 5s (input %q)", in)
			}
			return // EOF or reset: the server closed the connection
		}
		// The answer to a HEAD has no body whatever its
		// Content-Length says: the client must know which it reads.
		var req *http.Request
		if i < len(methods) {
			req = &http.Request{Method: methods[i]}
		}
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			t.Fatalf("malformed answer to %q: %v", in, err)
		}
		if resp.StatusCode >= 200 {
			i++ // (a 100 Continue comes before the answer)
		}
		if resp.StatusCode < 100 || resp.StatusCode > 599 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		// A body cut by the server closing (a panic) is allowed; a
		// response the client cannot find the end of is not.
		if _, err := io.Copy(io.Discard, resp.Body); err != nil && !errors.Is(err, io.ErrUnexpectedEOF) &&
			!strings.Contains(err.Error(), "connection reset") {
			t.Fatalf("reading a body for %q: %v", in, err)
		}
		resp.Body.Close()
		if resp.Close {
			// The last answer: what follows (the body of a refusal
			// of a HEAD, say) is not one.
			return
		}
	}
}

// FuzzChunkScan checks chunkScan against net/http's chunked body reader:
// wherever net/http reads a body whole, the scan ends it at the same byte,
// and wherever the scan ends a body, net/http reads it.
//
//	go test -fuzz FuzzChunkScan ./internal/h1
func FuzzChunkScan(f *testing.F) {
	for _, seed := range []string{
		"5\r\nhello\r\n0\r\n\r\n",
		"5;ext=1\r\nhello\r\n0\r\nX-Sum: 42\r\n\r\nnext",
		"A \r\n0123456789\r\n000\n\n",
		"5\r\nhelloXX0\r\n\r\n",
		"fffffffffffffffff\r\n",
		"0\r\nbad trailer\r\n\r\n",
		"3\r\nabc\r\n0\r\n\rx",
	} {
		f.Add([]byte(seed), 3)
	}
	const head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	f.Fuzz(func(t *testing.T, body []byte, split int) {
		// net/http's end of the body, and whether it reads the body
		// whole with nothing after it (with bytes after, it may read an
		// LF as the trailer's end that it would not take at the end).
		read := func(body []byte) (int, error) {
			rd := bytes.NewReader(append([]byte(head), body...))
			br := bufio.NewReader(rd)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			_, herr := io.Copy(io.Discard, resp.Body)
			return len(body) - rd.Len() - br.Buffered(), herr
		}
		hend, herr := read(body)
		if herr == nil {
			_, herr = read(body[:hend])
		}

		// The scan sees the body in two reads, split anywhere.
		var c chunkScan
		split = min(max(split, 0), len(body))
		n, end, err := c.scan(body[:split])
		if err == nil && !end {
			var m int
			m, end, err = c.scan(body[split:])
			n += m
		}
		if herr == nil && (err != nil || !end || n != hend) {
			t.Fatalf("%q: net/http reads a body of %d bytes; the scan: %d, end %v, %v", body, hend, n, end, err)
		}
		if err == nil && end && herr != nil {
			t.Fatalf("%q: the scan ends a body of %d bytes that net/http refuses: %v", body, n, herr)
		}
	})
}

// requestMethods are the methods of the requests in, as far as net/http
// reads them (with the CRLFs the server tolerates between requests).
func requestMethods(in []byte) []string {
	br := bufio.NewReader(bytes.NewReader(in))
	var ms []string
	for {
		for {
			b, err := br.Peek(1)
			if err != nil || b[0] != '\r' && b[0] != '\n' {
				break
			}
			_, _ = br.Discard(1)
		}
		req, err := http.ReadRequest(br)
		if err != nil {
			return ms
		}
		ms = append(ms, req.Method)
		if _, err := io.Copy(io.Discard, req.Body); err != nil {
			return ms
		}
	}
}
