package h1

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// requestHeads are request heads for the fast parser: fast says whether it
// must take them itself (the rest it must leave to net/http).
var requestHeads = []struct {
	name string
	in   string
	fast bool
}{
	{"plain", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", true},
	{"headers", "GET /a/b?c=d&e=%20f HTTP/1.1\r\nHost: example.com:8080\r\nUser-Agent: ua\r\nAccept: */*\r\n\r\n", true},
	{"repeated field", "GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\nx-a: 2\r\nX-a:3\r\n\r\n", true},
	{"lower-case keys", "GET / HTTP/1.1\r\nhost: x\r\nuser-agent: u\r\nx-forwarded-for: 1.2.3.4\r\n\r\n", true},
	{"value whitespace", "GET / HTTP/1.1\r\nHost: x\r\nX-A: \t a b \t\r\nX-B:\r\n\r\n", true},
	{"obs-text", "GET / HTTP/1.1\r\nHost: x\r\nX-A: caf\xc3\xa9\r\n\r\n", true},
	{"connection close", "GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Close\r\n\r\n", true},
	{"connection long s", "GET / HTTP/1.1\r\nHost: x\r\nConnection: clo\u017fe\r\n\r\n", true},
	{"content-length 0", "POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", true},
	{"pipelined", "GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n", true},
	{"path characters", "GET /a-b_c.d~e$f&g+h,i/j:k;l=m@n HTTP/1.1\r\nHost: x\r\n\r\n", true},
	{"query characters", "GET /?a=b?c/d%zz!'()*[] HTTP/1.1\r\nHost: x\r\n\r\n", true},
	{"double slash", "GET //a/b HTTP/1.1\r\nHost: x\r\n\r\n", true},

	{"HTTP/1.0", "GET / HTTP/1.0\r\nHost: x\r\n\r\n", false},
	{"HTTP/2.0", "GET / HTTP/2.0\r\nHost: x\r\n\r\n", false},
	{"no host", "GET / HTTP/1.1\r\n\r\n", false},
	{"empty host", "GET / HTTP/1.1\r\nHost: \r\n\r\n", false},
	{"two hosts", "GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", false},
	{"bad host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", false},
	{"absolute form", "GET http://x/ HTTP/1.1\r\nHost: x\r\n\r\n", false},
	{"asterisk", "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", false},
	{"connect", "CONNECT x:443 HTTP/1.1\r\nHost: x:443\r\n\r\n", false},
	{"escaped path", "GET /a%20b HTTP/1.1\r\nHost: x\r\n\r\n", false},
	{"force query", "GET /? HTTP/1.1\r\nHost: x\r\n\r\n", false},
	{"fragment", "GET /#f HTTP/1.1\r\nHost: x\r\n\r\n", false},
	{"body", "POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", false},
	{"two lengths", "POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n", false},
	{"chunked", "POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", false},
	{"smuggling", "POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n0\r\n\r\n", false},
	{"expect", "GET / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n", false},
	{"pragma", "GET / HTTP/1.1\r\nHost: x\r\nPragma: no-cache\r\n\r\n", false},
	{"obs-fold", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n", false},
	{"leading fold", "GET / HTTP/1.1\r\n Host: x\r\n\r\n", false},
	{"space before colon", "GET / HTTP/1.1\r\nHost: x\r\nX-A : a\r\n\r\n", false},
	{"no colon", "GET / HTTP/1.1\r\nHost: x\r\nX-A\r\n\r\n", false},
	{"empty name", "GET / HTTP/1.1\r\nHost: x\r\n: a\r\n\r\n", false},
	{"control in value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n", false},
	{"CR in value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n", false},
	{"bare LF", "GET / HTTP/1.1\nHost: x\n\n", false},
	{"bare LF in headers", "GET / HTTP/1.1\r\nHost: x\nX-A: b\r\n\r\n", false},
	{"LF CRLF end", "GET / HTTP/1.1\r\nHost: x\n\r\n", false},
	{"two spaces", "GET  / HTTP/1.1\r\nHost: x\r\n\r\n", false},
	{"space in target", "GET /a b HTTP/1.1\r\nHost: x\r\n\r\n", false},
	{"bad method", "G(T / HTTP/1.1\r\nHost: x\r\n\r\n", false},
	{"unfinished", "GET / HTTP/1.1\r\nHost: x\r\n", false},
	{"too long for the buffer", "GET / HTTP/1.1\r\nHost: x\r\nX-A: " + strings.Repeat("a", 5000) + "\r\n\r\n", false},
}

// TestFastRequest checks that the fast request parser takes the heads it
// should and reads them exactly as net/http's ReadRequest does.
func TestFastRequest(t *testing.T) {
	for _, tc := range requestHeads {
		t.Run(tc.name, func(t *testing.T) {
			fast := compareRequest(t, []byte(tc.in))
			if fast != tc.fast {
				t.Errorf("fast path took it: got %v, want %v", fast, tc.fast)
			}
		})
	}
}

type ctxKey struct{}

// compareRequest parses in with both parsers and fails t where they
// differ; it reports whether the fast one took it.
func compareRequest(t *testing.T, in []byte) bool {
	t.Helper()
	ctx := context.WithValue(context.Background(), ctxKey{}, 1)
	br := bufio.NewReaderSize(strings.NewReader(string(in)), 4096)
	got := fastRequest(br, baseRequest(ctx))
	if got == nil {
		if br.Buffered() > 0 {
			if b, _ := br.Peek(br.Buffered()); string(b) != string(in[:len(b)]) {
				t.Fatalf("left %q in the buffer, want the input's start", b)
			}
		}
		return false
	}
	rest, _ := io.ReadAll(br)
	wbr := bufio.NewReaderSize(strings.NewReader(string(in)), 4096)
	want, err := http.ReadRequest(wbr)
	if err != nil {
		t.Fatalf("fast path took %q, which net/http refuses: %v", in, err)
	}
	wrest, _ := io.ReadAll(wbr)
	if got.Context().Value(ctxKey{}) != 1 {
		t.Errorf("request lost the connection's context")
	}
	if string(rest) != string(wrest) {
		t.Errorf("left %q unread, net/http %q", rest, wrest)
	}
	if got.Body != http.NoBody || want.Body != http.NoBody {
		t.Errorf("body %T, net/http's %T; want both NoBody", got.Body, want.Body)
	}
	if want.Host == "" || !validHost(want.Host) || want.ProtoMajor != 1 || want.Header["Expect"] != nil {
		t.Errorf("fast path took a request the server refuses: %q", in)
	}
	type view struct {
		Method, Proto, Host, RequestURI string
		ProtoMajor, ProtoMinor          int
		URL                             any
		Header                          http.Header
		Close                           bool
		ContentLength                   int64
		TransferEncoding                []string
		Trailer                         http.Header
	}
	g := view{got.Method, got.Proto, got.Host, got.RequestURI, got.ProtoMajor, got.ProtoMinor, *got.URL,
		got.Header, got.Close, got.ContentLength, got.TransferEncoding, got.Trailer}
	w := view{want.Method, want.Proto, want.Host, want.RequestURI, want.ProtoMajor, want.ProtoMinor, *want.URL,
		want.Header, want.Close, want.ContentLength, want.TransferEncoding, want.Trailer}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("parsed %q as\n%+v\nnet/http:\n%+v", in, g, w)
	}
	return true
}

var responseHeads = []struct {
	name   string
	method string
	in     string
	fast   bool
}{
	{"plain", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello", true},
	{"no reason", "GET", "HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n", true},
	{"odd reason", "GET", "HTTP/1.1 200 Fine  thanks \r\nContent-Length: 1\r\n\r\nx", true},
	{"host field", "GET", "HTTP/1.1 200 OK\r\nHost: h\r\nContent-Length: 1\r\n\r\nx", true},
	{"repeated", "GET", "HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\nContent-Length: 2\r\n\r\nhi", true},
	{"status 999", "GET", "HTTP/1.1 999 X\r\nContent-Length: 1\r\n\r\nx", true},
	{"pipelined rest", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxHTTP/1.1 200 OK\r\n", true},
	{"leading zeros", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 007\r\n\r\n1234567", true},
	// nginx, Node.js and others name keep-alive; close ends the connection.
	{"keep-alive", "GET", "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nContent-Length: 1\r\n\r\nx", true},
	{"close", "GET", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx", true},
	{"close in a list", "GET", "HTTP/1.1 200 OK\r\nConnection: X-A, Close\r\nX-A: 1\r\nContent-Length: 1\r\n\r\nx", true},
	{"two connection fields", "GET", "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nconnection: close\r\nContent-Length: 1\r\n\r\nx", true},
	{"connection long s", "GET", "HTTP/1.1 200 OK\r\nConnection: clo\u017fe\r\nContent-Length: 1\r\n\r\nx", true},
	{"connection names a field", "GET", "HTTP/1.1 200 OK\r\nConnection: keep-alive, X-B\r\nX-B: 1\r\nX-C: 2\r\nContent-Length: 1\r\n\r\nx", true},
	{"connection empty", "GET", "HTTP/1.1 200 OK\r\nConnection:\r\nContent-Length: 1\r\n\r\nx", true},

	{"HEAD", "HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", false},
	{"no length", "GET", "HTTP/1.1 200 OK\r\n\r\nhello", false},
	{"chunked", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", false},
	{"smuggling", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n", false},
	{"two lengths", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx", false},
	{"signed length", "GET", "HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\nx", false},
	{"1xx", "GET", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false},
	{"204", "GET", "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n", false},
	{"304", "GET", "HTTP/1.1 304 Not Modified\r\n\r\n", false},
	{"HTTP/1.0", "GET", "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx", false},
	{"two-digit status", "GET", "HTTP/1.1 20 OK\r\nContent-Length: 1\r\n\r\nx", false},
	{"obs-fold", "GET", "HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 1\r\n\r\nx", false},
	{"trailer", "GET", "HTTP/1.1 200 OK\r\nTrailer: X\r\nContent-Length: 1\r\n\r\nx", false},
}

// TestFastResponse checks the fast response parser against ReadResponse,
// bodies included.
func TestFastResponse(t *testing.T) {
	for _, tc := range responseHeads {
		t.Run(tc.name, func(t *testing.T) {
			fast := compareResponse(t, tc.method, []byte(tc.in))
			if fast != tc.fast {
				t.Errorf("fast path took it: got %v, want %v", fast, tc.fast)
			}
		})
	}
}

func compareResponse(t *testing.T, method string, in []byte) bool {
	t.Helper()
	req := &http.Request{Method: method}
	br := bufio.NewReaderSize(strings.NewReader(string(in)), 4096)
	rs := fastResponse(br, req)
	if rs == nil {
		return false
	}
	got := &rs.r
	defer got.Body.Close()
	wbr := bufio.NewReaderSize(strings.NewReader(string(in)), 4096)
	want, err := http.ReadResponse(wbr, req)
	if err != nil {
		t.Fatalf("fast path took %q, which net/http refuses: %v", in, err)
	}
	defer want.Body.Close()
	gb, gerr := io.ReadAll(got.Body)
	wb, werr := io.ReadAll(want.Body)
	if string(gb) != string(wb) || !errors.Is(gerr, werr) && (gerr == nil || werr == nil || gerr.Error() != werr.Error()) {
		t.Errorf("body %q, %v; net/http %q, %v", gb, gerr, wb, werr)
	}
	rest, _ := io.ReadAll(br)
	wrest, _ := io.ReadAll(wbr)
	if string(rest) != string(wrest) {
		t.Errorf("left %q unread, net/http %q", rest, wrest)
	}
	type view struct {
		Status, Proto        string
		StatusCode, Maj, Min int
		Header, Trailer      http.Header
		ContentLength        int64
		Close                bool
		TransferEncoding     []string
		NoBody, SameRequest  bool
	}
	g := view{got.Status, got.Proto, got.StatusCode, got.ProtoMajor, got.ProtoMinor, got.Header, got.Trailer,
		got.ContentLength, got.Close, got.TransferEncoding, got.Body == http.NoBody, got.Request == req}
	w := view{want.Status, want.Proto, want.StatusCode, want.ProtoMajor, want.ProtoMinor, want.Header, want.Trailer,
		want.ContentLength, want.Close, want.TransferEncoding, want.Body == http.NoBody, want.Request == req}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("parsed %q as\n%+v\nnet/http:\n%+v", in, g, w)
	}
	// What the fast path noted about hop-by-hop fields must remove what
	// RemoveHopHeaders would.
	gh, wh := got.Header.Clone(), want.Header.Clone()
	RemoveResponseHopHeaders(&http.Response{Header: gh, Body: &rs.up})
	RemoveHopHeaders(wh)
	if !reflect.DeepEqual(gh, wh) {
		t.Errorf("hop-by-hop fields of %q: left %v; RemoveHopHeaders leaves %v", in, gh, wh)
	}
	return true
}

// TestLengthBodyEnds checks that a body's last bytes come with io.EOF (the
// pool takes its connection back then) and that a body cut short is an
// error.
func TestLengthBodyEnds(t *testing.T) {
	b := &lengthBody{br: bufio.NewReader(strings.NewReader("helloNEXT")), n: 5}
	p := make([]byte, 64)
	n, err := b.Read(p)
	if n != 5 || err != io.EOF { //nolint:errorlint // io.EOF itself, as Read must return it
		t.Errorf("Read: got %d, %v; want 5, EOF", n, err)
	}
	b = &lengthBody{br: bufio.NewReader(strings.NewReader("hel")), n: 5}
	if _, err := io.ReadAll(b); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("short body: got %v, want ErrUnexpectedEOF", err)
	}
}

// FuzzHead checks, on arbitrary bytes, that whatever the fast parsers take
// net/http reads the same way.
//
//	go test -fuzz FuzzHead ./internal/h1
func FuzzHead(f *testing.F) {
	for _, tc := range requestHeads {
		f.Add([]byte(tc.in))
	}
	for _, tc := range responseHeads {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		compareRequest(t, in)
		compareResponse(t, http.MethodGet, in)
	})
}
