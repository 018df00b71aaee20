package lb

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// server is the balancer's HTTP/1.1 server. It replaces net/http's Server
// because of what that one does per request on top of the proxying:
// a goroutine that watches for the client hanging up (a read that fails
// with EAGAIN, then two deadline changes to stop it), a context, the
// ConnState hooks and a response writer built for handlers in general.
// Here each connection's requests run on its own goroutine and are parsed
// by net/http's ReadRequest (the same header syntax checks), with the
// server's other checks (Host, protocol version, Expect, header size)
// redone below. Whether the client is still there is watched only for a
// request whose target has not answered within watchAfter.
type server struct {
	l *LB

	mu      sync.Mutex
	conns   map[*srvConn]struct{}
	closing bool
	ln      net.Listener
	wg      sync.WaitGroup

	date atomic.Pointer[dateCache]
}

// watchAfter is how long a request waits for its target before its
// connection is watched for the client going away (which cancels the
// request, counted as 499).
const watchAfter = 50 * time.Millisecond

// maxDrain is how much of an unread request body is read past to keep the
// connection (as net/http does); a longer one closes it.
const maxDrain = 256 << 10

func newServer(l *LB) *server {
	return &server{l: l, conns: map[*srvConn]struct{}{}}
}

// serve accepts connections until shutdown closes ln.
func (s *server) serve(ln net.Listener) error {
	s.mu.Lock()
	s.ln = ln
	closing := s.closing
	s.mu.Unlock()
	if closing {
		_ = ln.Close()
		return nil
	}
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closing := s.closing
			s.mu.Unlock()
			if closing {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			// Out of file descriptors and the like: back off and retry.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.l.limit.Log("accept_error", "accepting a connection failed", "err", err, "retry_in", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		sc := &srvConn{s: s, c: c, remote: c.RemoteAddr().String()}
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			_ = c.Close()
			continue
		}
		s.conns[sc] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go sc.serve()
	}
}

// shutdown stops accepting, closes idle connections, lets active ones
// finish their request and waits for them up to timeout; then it closes the
// rest and says so.
func (s *server) shutdown(timeout time.Duration) error {
	s.mu.Lock()
	s.closing = true
	if s.ln != nil {
		_ = s.ln.Close()
	}
	for sc := range s.conns {
		if sc.state.CompareAndSwap(connIdle, connClosed) {
			_ = sc.c.Close()
		}
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-done:
		return nil
	case <-t.C:
	}
	s.mu.Lock()
	n := len(s.conns)
	for sc := range s.conns {
		_ = sc.c.Close()
	}
	s.mu.Unlock()
	<-done
	return errors.New(strconv.Itoa(n) + " connections still busy after " + timeout.String())
}

func (s *server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

type dateCache struct {
	sec int64
	val []byte // "Date: ...\r\n"
}

// dateLine is the Date header line, formatted once a second.
func (s *server) dateLine() []byte {
	now := time.Now()
	if d := s.date.Load(); d != nil && d.sec == now.Unix() {
		return d.val
	}
	d := &dateCache{sec: now.Unix()}
	d.val = append([]byte("Date: "), now.UTC().AppendFormat(nil, http.TimeFormat)...)
	d.val = append(d.val, "\r\n"...)
	s.date.Store(d)
	return d.val
}

// Connection states: idle between requests (shutdown may close it), active
// while a request is read or served, closed by shutdown.
const (
	connIdle int32 = iota
	connActive
	connClosed
)

// srvConn is one client connection.
type srvConn struct {
	s      *server
	c      net.Conn
	remote string
	state  atomic.Int32

	cr connReader
	br *bufio.Reader
	bw *bufio.Writer

	// The watch for a client hanging up while its request waits on a
	// target: timer starts it after watchAfter; watchMu orders its start
	// against stopWatch.
	timer    *time.Timer
	cancel   context.CancelFunc
	watchMu  sync.Mutex
	watching bool
	stopped  bool
	watched  chan struct{}
	gone     atomic.Bool
}

// connReader is the connection as the request reader sees it: with a limit
// while headers are read (beyond which the request is too large), and a
// byte the watch may have read ahead.
type connReader struct {
	c       net.Conn
	limited bool
	remain  int64
	hit     bool
	read    int64 // bytes read since the last reset
	ahead   bool
	b       byte
}

func (cr *connReader) Read(p []byte) (int, error) {
	if cr.limited {
		if cr.remain <= 0 {
			cr.hit = true
			return 0, io.EOF
		}
		if int64(len(p)) > cr.remain {
			p = p[:cr.remain]
		}
	}
	if len(p) == 0 {
		return 0, nil
	}
	var n int
	var err error
	if cr.ahead {
		p[0], cr.ahead, n = cr.b, false, 1
	} else {
		n, err = cr.c.Read(p)
	}
	cr.remain -= int64(n)
	cr.read += int64(n)
	return n, err
}

func (sc *srvConn) serve() {
	s := sc.s
	ctx, cancel := context.WithCancel(context.Background())
	sc.cancel = cancel
	defer func() {
		cancel()
		_ = sc.c.Close()
		s.mu.Lock()
		delete(s.conns, sc)
		s.mu.Unlock()
		s.wg.Done()
	}()
	sc.cr.c = sc.c
	sc.br = bufio.NewReaderSize(&sc.cr, 4096)
	sc.bw = bufio.NewWriterSize(sc.c, 4096)
	sc.timer = time.AfterFunc(time.Hour, sc.watch)
	sc.timer.Stop()
	w := &respWriter{sc: sc, h: http.Header{}}
	lastPost := false
	for served := 0; ; served++ {
		req, ok := sc.readRequest(served, lastPost)
		if !ok {
			return
		}
		lastPost = req.Method == http.MethodPost
		w.reset(req, s.isClosing() || req.Close || !req.ProtoAtLeast(1, 1))
		body, _ := req.Body.(*reqBody)
		watch := body == nil
		if watch {
			sc.armWatch()
		}
		aborted := sc.handle(ctx, w, req)
		if watch {
			sc.stopWatch()
		}
		if aborted || sc.gone.Load() {
			return
		}
		if err := w.finish(); err != nil {
			return
		}
		if body != nil && !body.drain() {
			// Unread request bytes would make the close a reset, which can
			// destroy the response before the client reads it.
			sc.closeWriteAndWait()
			return
		}
		if w.closeAfter {
			return
		}
		if !sc.state.CompareAndSwap(connActive, connIdle) {
			return // shutdown
		}
		if s.isClosing() {
			return
		}
	}
}

// handle runs the balancer on one request; it reports whether the response
// was aborted (the connection must be closed without finishing it).
func (sc *srvConn) handle(ctx context.Context, w *respWriter, req *http.Request) (aborted bool) {
	defer func() {
		if v := recover(); v != nil {
			aborted = true
			if v != http.ErrAbortHandler { //nolint:errorlint // the sentinel itself is what is panicked
				sc.s.l.log.Error("panic serving a request", "client", sc.remote, "panic", v, "stack", string(debug.Stack()))
			}
		}
	}()
	sc.s.l.serve(ctx, w, req, true)
	return false
}

// readRequest waits for the next request and reads its headers, answering
// and counting the ones refused. It returns false when the connection is
// done.
func (sc *srvConn) readRequest(served int, lastPost bool) (*http.Request, bool) {
	l := sc.s.l
	cfg := &l.cfg
	if served > 0 {
		// Idle between requests: shutdown may close the connection.
		_ = sc.c.SetReadDeadline(time.Now().Add(cfg.IdleTimeout))
		sc.cr.read = 0
		if _, err := sc.br.Peek(1); err != nil {
			return nil, false
		}
	}
	if !sc.state.CompareAndSwap(connIdle, connActive) {
		return nil, false // shutdown closed it
	}
	t0 := time.Now()
	if served == 0 || !headerBuffered(sc.br) {
		// (A header block already in the buffer needs no more reads,
		// and the idle deadline still bounds the connection.)
		_ = sc.c.SetReadDeadline(t0.Add(cfg.ReadHeaderTimeout))
	}
	sc.cr.limited, sc.cr.remain, sc.cr.hit = true, int64(cfg.MaxHeaderBytes)+4096-int64(sc.br.Buffered()), false
	if served == 0 {
		sc.cr.read = 0
	}
	if lastPost {
		// RFC 9112 §2.2: tolerate a CRLF an old client sent after a body.
		if peek, _ := sc.br.Peek(2); len(peek) > 0 {
			n := 0
			for n < len(peek) && (peek[n] == '\r' || peek[n] == '\n') {
				n++
			}
			_, _ = sc.br.Discard(n)
		}
	}
	req, err := http.ReadRequest(sc.br)
	sc.cr.limited = false
	if err != nil {
		var ne net.Error
		switch {
		case sc.cr.hit:
			sc.refuse(http.StatusRequestHeaderFieldsTooLarge, "header_too_large", "")
		case strings.Contains(err.Error(), "unsupported transfer encoding"):
			sc.refuse(http.StatusNotImplemented, "not_implemented", "Unsupported transfer encoding")
		case errors.As(err, &ne) && ne.Timeout():
			if sc.cr.read > 0 || sc.br.Buffered() > 0 {
				sc.count("header_timeout", "closed a client connection that did not send its request headers in time")
			} else if served == 0 {
				// Connected and sent nothing (a pre-opened connection, or
				// a slow client): counted, not worth a log line.
				l.m.rejected.WithLabelValues("no_request").Inc()
			}
		case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed), isReadError(err):
			// The client hung up between requests.
		default:
			sc.refuse(http.StatusBadRequest, "malformed", "")
		}
		return nil, false
	}
	if req.ProtoMajor != 1 {
		sc.refuse(http.StatusHTTPVersionNotSupported, "status_505", "unsupported protocol version")
		return nil, false
	}
	if req.Host == "" && req.ProtoAtLeast(1, 1) && req.Method != http.MethodConnect {
		sc.refuse(http.StatusBadRequest, "malformed", "missing required Host header")
		return nil, false
	}
	if !validHost(req.Host) {
		sc.refuse(http.StatusBadRequest, "malformed", "malformed Host header")
		return nil, false
	}
	expect, hasExpect := req.Header["Expect"]
	if hasExpect {
		if len(expect) != 1 || !strings.EqualFold(expect[0], "100-continue") {
			sc.refuse(http.StatusExpectationFailed, "status_417", "")
			return nil, false
		}
	}
	req.RemoteAddr = sc.remote
	if req.Body != http.NoBody && req.Body != nil {
		_ = sc.c.SetReadDeadline(t0.Add(cfg.ReadTimeout))
		rb := &reqBody{r: req.Body, sc: sc}
		rb.expect = hasExpect && req.ProtoAtLeast(1, 1) && req.ContentLength != 0
		req.Body = rb
	}
	return req, true
}

// headerBuffered reports whether a whole header block is in br's buffer.
func headerBuffered(br *bufio.Reader) bool {
	b, _ := br.Peek(br.Buffered())
	return bytes.Contains(b, []byte("\n\r\n")) || bytes.Contains(b, []byte("\n\n"))
}

func isReadError(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "read"
}

// refuse answers a request the server does not pass on, counts it and
// closes the connection.
func (sc *srvConn) refuse(code int, reason, detail string) {
	text := strconv.Itoa(code) + " " + http.StatusText(code)
	if detail != "" {
		text += ": " + detail
	}
	sc.count(reason, "refused a client request") // before the answer, which a test may be waiting for
	_ = sc.c.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = io.WriteString(sc.c, "HTTP/1.1 "+text+"\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"+text)
	if code == http.StatusRequestHeaderFieldsTooLarge {
		// Let the client read the answer before the close resets it.
		if tc, ok := sc.c.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		_ = sc.c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		_, _ = io.CopyN(io.Discard, sc.c, 256<<10)
	}
}

// closeWriteAndWait half-closes the connection and gives the client a
// moment to read what was sent before the full close (net/http's
// rstAvoidanceDelay).
func (sc *srvConn) closeWriteAndWait() {
	if tc, ok := sc.c.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
	time.Sleep(500 * time.Millisecond)
}

func (sc *srvConn) count(reason, msg string) {
	l := sc.s.l
	l.m.rejected.WithLabelValues(reason).Inc()
	l.limit.Log("client_"+reason, msg, "reason", reason, "client", sc.remote)
}

// armWatch starts the watch for the client hanging up if the request is
// still being served after watchAfter.
func (sc *srvConn) armWatch() {
	sc.watchMu.Lock()
	sc.watching, sc.stopped = false, false
	sc.watchMu.Unlock()
	sc.timer.Reset(watchAfter)
}

// watch reads from the client while its request waits: an error means it
// hung up, and the request is cancelled; a byte (the next pipelined
// request) is kept for the request reader.
func (sc *srvConn) watch() {
	sc.watchMu.Lock()
	if sc.stopped || sc.watching {
		// Stopped before it began, or a late start from an earlier
		// request already watches this one.
		sc.watchMu.Unlock()
		return
	}
	sc.watching = true
	done := make(chan struct{})
	sc.watched = done
	_ = sc.c.SetReadDeadline(time.Time{})
	sc.watchMu.Unlock()
	defer close(done)
	if sc.br.Buffered() > 0 || sc.cr.ahead {
		return // a pipelined request is already waiting
	}
	var b [1]byte
	n, err := sc.c.Read(b[:])
	if n == 1 {
		sc.cr.b, sc.cr.ahead = b[0], true
		return
	}
	var ne net.Error
	if err != nil && !(errors.As(err, &ne) && ne.Timeout()) {
		sc.gone.Store(true)
		sc.cancel()
	}
}

// stopWatch ends the watch and waits for it, so that the request reader
// owns the connection again.
//
// The timer may have fired for an earlier request with its func not yet
// run; that late watch then watches a later request, which is harmless as
// long as every stopWatch looks at the state under the lock rather than
// trusting the timer's Stop.
func (sc *srvConn) stopWatch() {
	sc.timer.Stop()
	sc.watchMu.Lock()
	sc.stopped = true
	watching, done := sc.watching, sc.watched
	if watching {
		_ = sc.c.SetReadDeadline(longAgo)
	}
	sc.watchMu.Unlock()
	if watching {
		<-done
	}
}

// reqBody is a request body read from the connection: it sends 100
// Continue before the first read when the client asked for it, and on
// Close does not read the rest (that is drain's job, with a bound).
type reqBody struct {
	r      io.ReadCloser
	sc     *srvConn
	expect bool // 100 Continue not sent yet
	eof    bool
}

func (b *reqBody) Read(p []byte) (int, error) {
	if b.expect {
		b.expect = false
		if _, err := b.sc.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n"); err != nil {
			return 0, err
		}
		if err := b.sc.bw.Flush(); err != nil {
			return 0, err
		}
	}
	n, err := b.r.Read(p)
	if err == io.EOF {
		b.eof = true
	}
	return n, err
}

func (b *reqBody) Close() error { return nil }

// drain reads past what the handler left of the body, and says whether
// the connection can serve another request.
func (b *reqBody) drain() bool {
	if b.eof {
		return true
	}
	if b.expect {
		return false // the client may not send the body at all
	}
	n, err := io.CopyN(io.Discard, b.r, maxDrain+1)
	return errors.Is(err, io.EOF) && n <= maxDrain
}

// respWriter writes one response on a client connection: the status line
// and headers at the first write, then the body with the Content-Length
// the handler set, or chunked.
type respWriter struct {
	sc         *srvConn
	req        *http.Request
	h          http.Header
	wrote      bool
	noBody     bool
	chunked    bool
	cl         int64 // -1: none declared
	n          int64
	closeAfter bool
	err        error
}

func (w *respWriter) reset(req *http.Request, closeAfter bool) {
	clear(w.h)
	*w = respWriter{sc: w.sc, h: w.h, req: req, cl: -1, closeAfter: closeAfter}
}

func (w *respWriter) Header() http.Header { return w.h }

// takeHeader makes h the response's header map (instead of copying a
// target's headers into it).
func (w *respWriter) takeHeader(h http.Header) {
	if !w.wrote {
		w.h = h
	}
}

func (w *respWriter) WriteHeader(code int) {
	if w.wrote {
		return
	}
	w.wrote = true
	bw := w.sc.bw
	w.noBody = w.req.Method == http.MethodHead || code == http.StatusNoContent ||
		code == http.StatusNotModified || code < 200
	if v := w.h["Content-Length"]; len(v) == 1 {
		if n, err := strconv.ParseInt(v[0], 10, 64); err == nil && n >= 0 {
			w.cl = n
		}
	}
	if w.cl < 0 && !w.noBody {
		if w.req.ProtoAtLeast(1, 1) {
			w.chunked = true
		} else {
			w.closeAfter = true // the end of the body is the end of the connection
		}
	}
	var line [32]byte
	b := append(line[:0], "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, ' ')
	_, _ = bw.Write(b)
	if text := http.StatusText(code); text != "" {
		_, _ = bw.WriteString(text)
	} else {
		_, _ = bw.WriteString("status code " + strconv.Itoa(code))
	}
	_, _ = bw.WriteString("\r\n")
	hasDate := false
	for k, vv := range w.h {
		switch k {
		case "Content-Length":
			if w.cl < 0 || code == http.StatusNoContent || code < 200 {
				continue
			}
		case "Transfer-Encoding", "Connection":
			continue
		case "Trailer":
			if !w.chunked {
				continue
			}
		case "Date":
			hasDate = len(vv) > 0
		}
		for _, v := range vv {
			_, _ = bw.WriteString(k)
			_, _ = bw.WriteString(": ")
			_, _ = bw.WriteString(headerValue(v))
			_, _ = bw.WriteString("\r\n")
		}
	}
	if !hasDate {
		_, _ = bw.Write(w.sc.s.dateLine())
	}
	if w.chunked {
		_, _ = bw.WriteString("Transfer-Encoding: chunked\r\n")
	}
	if w.closeAfter {
		_, _ = bw.WriteString("Connection: close\r\n")
	}
	_, _ = bw.WriteString("\r\n")
}

// headerValue keeps a value on its line (net/http does the same).
func headerValue(v string) string {
	for i := 0; i < len(v); i++ {
		if v[i] == '\r' || v[i] == '\n' {
			return strings.NewReplacer("\r", " ", "\n", " ").Replace(v)
		}
	}
	return v
}

func (w *respWriter) Write(p []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if w.err != nil {
		return 0, w.err
	}
	if w.noBody {
		if w.req.Method == http.MethodHead {
			return len(p), nil
		}
		return 0, http.ErrBodyNotAllowed
	}
	if w.cl >= 0 && w.n+int64(len(p)) > w.cl {
		return 0, http.ErrContentLength
	}
	if len(p) == 0 {
		return 0, nil
	}
	bw := w.sc.bw
	if w.chunked {
		var hdr [20]byte
		b := strconv.AppendInt(hdr[:0], int64(len(p)), 16)
		b = append(b, '\r', '\n')
		_, _ = bw.Write(b)
	}
	n, err := bw.Write(p)
	if err == nil && w.chunked {
		_, err = bw.WriteString("\r\n")
	}
	w.n += int64(n)
	if err != nil {
		w.err = err
	}
	return n, err
}

func (w *respWriter) Flush() {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if w.err == nil {
		w.err = w.sc.bw.Flush()
	}
}

// finish ends the response (last chunk and trailers) and sends it.
func (w *respWriter) finish() error {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if w.err != nil {
		return w.err
	}
	bw := w.sc.bw
	if w.chunked {
		_, _ = bw.WriteString("0\r\n")
		for _, keys := range w.h["Trailer"] {
			for k := range strings.SplitSeq(keys, ",") {
				k = http.CanonicalHeaderKey(strings.TrimSpace(k))
				for _, v := range w.h[k] {
					_, _ = bw.WriteString(k + ": " + headerValue(v) + "\r\n")
				}
			}
		}
		_, _ = bw.WriteString("\r\n")
	}
	if w.cl >= 0 && w.n < w.cl && !w.noBody {
		w.closeAfter = true // short body: the client must see it end
	}
	return bw.Flush()
}

// validHost reports whether h has only bytes a Host header may have
// (net/http's check).
func validHost(h string) bool {
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!$%&'()*+,-.:;=[]_~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// Compile-time checks.
var (
	_ http.ResponseWriter = (*respWriter)(nil)
	_ http.Flusher        = (*respWriter)(nil)
)
