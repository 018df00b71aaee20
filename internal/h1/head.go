package h1

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// The common request and response heads are parsed here rather than by
// net/http's ReadRequest and ReadResponse (net/textproto underneath), which
// cost a proxy a tenth of its CPU: a head that is whole in the connection's
// buffer becomes one string, its header keys and values are cut from it
// (keys canonicalised only when they are not already), and the header map
// is built once with its final size.
//
// Only heads of the plainest shape take this path: HTTP/1.1, CRLF line
// ends, token field names, no obs-fold, no Transfer-Encoding, at most one
// Content-Length, a request target that needs no unescaping, and none of
// the headers whose handling net/http spreads over several places
// (Pragma, Expect, Trailer). Anything else, malformed or merely unusual,
// is left in the buffer for net/http, so that every rule it enforces
// (RFC 9112 §6 framing, obs-fold, header syntax and size) still decides
// those; the tests check that both paths agree wherever this one answers.

// peekHead returns the head at the start of br's buffer, with its
// terminating blank line, reading more from the connection while the
// buffer has room. It returns nil when the head does not end with
// CRLF CRLF inside the buffer (a bare LF ends it, the buffer fills, or
// reading fails): net/http then reads it from the same place.
func peekHead(br *bufio.Reader) []byte {
	from := 0
	for {
		buf, _ := br.Peek(br.Buffered())
		n, next := scanHead(buf, from)
		if n > 0 {
			return buf[:n]
		}
		if n < 0 || len(buf) >= br.Size() {
			return nil
		}
		from = next
		if _, err := br.Peek(len(buf) + 1); err != nil {
			return nil
		}
	}
}

// scanHead looks for the end of the head at the start of buf, from the
// line that begins at from (0, or what an earlier call returned as next).
// It returns the head's length with its CRLF CRLF; 0 and where to go on
// from when buf ends first; -1 when the head does not end the plain way
// (a bare LF, LF LF): net/http decides those.
func scanHead(buf []byte, from int) (n, next int) {
	for {
		i := bytes.IndexByte(buf[from:], '\n')
		if i < 0 {
			return 0, from
		}
		i += from
		if i+1 < len(buf) && buf[i+1] == '\n' {
			return -1, 0 // LF LF: not ours
		}
		if i+2 < len(buf) && buf[i+1] == '\r' && buf[i+2] == '\n' {
			if i == 0 || buf[i-1] != '\r' {
				return -1, 0
			}
			return i + 3, 0
		}
		if i+2 >= len(buf) {
			return 0, from // the next bytes decide
		}
		from = i + 1
	}
}

// tokenByte marks the bytes of an RFC 9110 token (field names, methods).
var tokenByte = [256]bool{}

// pathByte marks the bytes a request path may have here: those that
// net/url keeps as they are (no unescaping, no RawPath).
var pathByte = [256]bool{}

// queryByte marks the bytes a query may have here.
var queryByte = [256]bool{}

func init() {
	for c := '0'; c <= '9'; c++ {
		tokenByte[c], pathByte[c], queryByte[c] = true, true, true
	}
	for c := 'a'; c <= 'z'; c++ {
		tokenByte[c], pathByte[c], queryByte[c] = true, true, true
		tokenByte[c-'a'+'A'], pathByte[c-'a'+'A'], queryByte[c-'a'+'A'] = true, true, true
	}
	for _, c := range []byte("!#$%&'*+-.^_`|~") {
		tokenByte[c] = true
	}
	for _, c := range []byte("-_.~$&+,/:;=@") {
		pathByte[c], queryByte[c] = true, true
	}
	for _, c := range []byte("?%!'()*[]") {
		queryByte[c] = true
	}
}

// valueOK reports whether every byte of a field value is one net/textproto
// accepts (VCHAR, SP, HTAB, obs-text).
func valueOK(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !tokenByte[s[i]] {
			return false
		}
	}
	return true
}

// trimOWS removes leading and trailing spaces and tabs.
func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// headFields is what parseFields saw besides the map.
type headFields struct {
	h        http.Header
	special  bool   // a field this path leaves to net/http
	host     string // the Host field's value
	hosts    int
	cl       string // the Content-Length field's value
	cls      int
	connHdrs int // Connection fields
	close    bool
	// connOther: a Connection field names something besides keep-alive
	// and close (a field to remove with it).
	connOther bool
	hop       bool // a hop-by-hop field other than Connection
}

// parseFields parses the field lines of a head (s from just after the
// start line, up to and including the final CRLF CRLF) into a new map
// (a request's without Host), its values in strs when there is room.
// It returns false for anything not of the plainest shape.
func parseFields(s string, request bool, strs []string) (headFields, bool) {
	var f headFields
	n := strings.Count(s, "\n") - 1
	if n < 0 {
		return f, false
	}
	hint := n
	if request {
		// Room for what a proxy adds (X-Forwarded-For, -Proto, -Host,
		// Traceparent) without growing the map then.
		hint += 4
	}
	f.h = make(http.Header, hint)
	if len(strs) < n {
		strs = make([]string, n)
	}
	for {
		i := strings.IndexByte(s, '\n')
		if i < 1 || s[i-1] != '\r' {
			return f, false
		}
		line := s[:i-1]
		s = s[i+1:]
		if line == "" {
			return f, s == ""
		}
		if line[0] == ' ' || line[0] == '\t' {
			return f, false // obs-fold
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok || !isToken(k) || !valueOK(v) {
			return f, false
		}
		k = http.CanonicalHeaderKey(k)
		v = trimOWS(v)
		switch k {
		case "Host":
			f.host = v
			f.hosts++
			if request {
				continue // (ReadRequest keeps it in Request.Host only)
			}
		case "Content-Length":
			f.cl = v
			f.cls++
		case "Connection":
			f.connHdrs++
			for t := range strings.SplitSeq(v, ",") {
				switch t = trimOWS(t); {
				case asciiEqualFold(t, "close"):
					f.close = true
				case !asciiEqualFold(t, "keep-alive"):
					f.connOther = true
				}
			}
		case "Transfer-Encoding", "Pragma", "Expect", "Trailer":
			f.special = true
		case "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Te", "Upgrade", "Http2-Settings":
			f.hop = true // (with Connection and the three above: hopHeaders)
		}
		if vv := f.h[k]; vv != nil {
			f.h[k] = append(vv, v)
		} else if len(strs) > 0 {
			vv, strs = strs[:1:1], strs[1:]
			vv[0] = v
			f.h[k] = vv
		} else {
			f.h[k] = []string{v}
		}
	}
}

// asciiEqualFold is strings.EqualFold for ASCII only (net/http's
// tokenEqual): "cloſe" is not "close".
func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// parseTarget makes the URL of an origin-form request target that
// net/url would take as it is.
func parseTarget(t string, u *url.URL) bool {
	if t == "" || t[0] != '/' {
		return false
	}
	path, query, hasQuery := strings.Cut(t, "?")
	for i := 0; i < len(path); i++ {
		if !pathByte[path[i]] {
			return false
		}
	}
	if hasQuery {
		if query == "" {
			return false // ForceQuery: left to net/url
		}
		for i := 0; i < len(query); i++ {
			if !queryByte[query[i]] {
				return false
			}
		}
	}
	u.Path, u.RawQuery = path, query
	return true
}

// request is a request with its URL and header values, in one
// allocation.
type request struct {
	r    http.Request
	u    url.URL
	strs [6]string
}

// response is a response with its body and header values, in one
// allocation.
type response struct {
	r    http.Response
	body lengthBody
	up   upBody // for RoundTrip
	strs [8]string
}

// fastRequest parses a bodiless HTTP/1.1 request whose head is whole in
// br's buffer and consumes it; base gives the request its context (it is
// copied, so that nothing of an earlier request carries over). It returns
// nil, leaving br as it was, when net/http should read the request.
func fastRequest(br *bufio.Reader, base *http.Request) *http.Request {
	head := peekHead(br)
	if head == nil {
		return nil
	}
	r := parseRequest(head, base)
	if r != nil {
		_, _ = br.Discard(len(head))
	}
	return r
}

// parseRequest is fastRequest on a head (with its CRLF CRLF) in a slice,
// which it does not keep.
func parseRequest(head []byte, base *http.Request) *http.Request {
	// The request line must be plain before a string is made of it all.
	eol := bytes.IndexByte(head, '\n')
	if eol < len(" / HTTP/1.1\r") || !bytes.HasSuffix(head[:eol+1], []byte(" HTTP/1.1\r\n")) {
		return nil
	}
	s := string(head)
	line := s[:eol-len(" HTTP/1.1\r")]
	method, target, ok := strings.Cut(line, " ")
	if !ok || !isToken(method) || method == http.MethodConnect || method == "PRI" {
		return nil
	}
	rq := &request{r: *base}
	if !parseTarget(target, &rq.u) {
		return nil
	}
	f, ok := parseFields(s[eol+1:], true, rq.strs[:])
	if !ok || f.special || f.hosts != 1 || f.host == "" || !validHost(f.host) || f.cls > 1 || f.cls == 1 && f.cl != "0" {
		return nil
	}
	r := &rq.r
	r.Method, r.URL, r.RequestURI = method, &rq.u, target
	r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/1.1", 1, 1
	r.Header, r.Host, r.Close = f.h, f.host, f.close
	r.Body = http.NoBody
	return r
}

// fastResponse parses an HTTP/1.1 response to req framed by its
// Content-Length, with its head whole in br's buffer, and consumes the
// head. It returns nil, leaving br as it was, when net/http should read
// the response.
func fastResponse(br *bufio.Reader, req *http.Request) *response {
	head := peekHead(br)
	if head == nil {
		return nil
	}
	rs := parseResponse(head, req)
	if rs == nil {
		return nil
	}
	if rs.r.ContentLength == 0 {
		rs.r.Body = http.NoBody
	} else {
		rs.body = lengthBody{br: br, n: rs.r.ContentLength}
		rs.r.Body = &rs.body
	}
	_, _ = br.Discard(len(head))
	return rs
}

// parseResponse is fastResponse on a head (with its CRLF CRLF) in a slice,
// which it does not keep; the response it returns has no Body yet.
func parseResponse(head []byte, req *http.Request) *response {
	if !bytes.HasPrefix(head, []byte("HTTP/1.1 ")) || req == nil || req.Method == http.MethodHead {
		return nil
	}
	eol := bytes.IndexByte(head, '\n')
	if eol < len("HTTP/1.1 200\r") || head[eol-1] != '\r' {
		return nil
	}
	s := string(head)
	status := s[len("HTTP/1.1 ") : eol-1]
	if len(status) < 3 || len(status) > 3 && status[3] != ' ' || !valueOK(status) {
		return nil
	}
	code := 0
	for i := range 3 {
		c := status[i]
		if c < '0' || c > '9' {
			return nil
		}
		code = 10*code + int(c-'0')
	}
	if code < 200 || code == http.StatusNoContent || code == http.StatusNotModified {
		return nil
	}
	rs := new(response)
	f, ok := parseFields(s[eol+1:], false, rs.strs[:])
	if !ok || f.special || f.cls != 1 {
		return nil
	}
	if f.close {
		// As ReadResponse: the connection is not reused, and the field
		// that said so is gone from the header.
		delete(f.h, "Connection")
	}
	n, ok := parseLength(f.cl)
	if !ok {
		return nil
	}
	rs.r = http.Response{
		Status: status, StatusCode: code,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: f.h, ContentLength: n, Close: f.close, Request: req,
	}
	switch {
	case f.hop || f.connOther:
		rs.up.hop = hopAny
	case f.connHdrs > 0:
		rs.up.hop = hopConnection
	default:
		rs.up.hop = hopNone
	}
	return rs
}

// parseLength parses a Content-Length of plain digits.
func parseLength(s string) (int64, bool) {
	if s == "" || len(s) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = 10*n + int64(c-'0')
	}
	return n, true
}

// lengthBody is a body of known length read from a connection: io.EOF
// comes with its last bytes (so its connection goes back to the pool at
// once), io.ErrUnexpectedEOF when the connection ends early.
type lengthBody struct {
	br *bufio.Reader
	n  int64
}

func (b *lengthBody) Read(p []byte) (int, error) {
	if b.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.n {
		p = p[:b.n]
	}
	n, err := b.br.Read(p)
	b.n -= int64(n)
	if b.n == 0 {
		return n, io.EOF
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func (b *lengthBody) Close() error { return nil }

// baseRequest is the request every request of a connection is copied
// from: empty, with the connection's context.
func baseRequest(ctx context.Context) *http.Request {
	return (&http.Request{}).WithContext(ctx)
}
