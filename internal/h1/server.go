// Package h1 is the HTTP/1.1 server and upstream connection pool that
// Meridian's proxies (the regional load balancer, internal/lb, and the edge
// accelerator, internal/edgeproxy) serve and forward with.
//
// They replace net/http's Server and Transport on the proxies' hot path
// because of what those do per request on top of the proxying. The server:
// a goroutine that watches for the client hanging up (a read that fails
// with EAGAIN, then two deadline changes to stop it), the ConnState hooks
// and a response writer built for handlers in general. The transport: a
// reader and a writer goroutine per connection that every request is
// handed to and back from. Here each client connection's requests run on
// its own goroutine; plain heads are parsed in this package (head.go) and
// all others by net/http's ReadRequest (the same header syntax checks),
// with net/http's other server checks (Host, protocol version, Expect,
// header size) redone; whether the client is
// still there is watched only for a request that has not been answered
// within WatchAfter; and a request to an upstream runs on the calling
// goroutine. Connections that open with the HTTP/2 preface (h2c with prior
// knowledge) are handed to a net/http server when Server.HTTP2 is set.
//
// With Server.Proxy set (both proxies set it), the plain requests skip even
// that: event loops, one per core, read them, send them upstream and relay
// the answers without a goroutine per connection (loop.go, loop_linux.go),
// and hand every other connection to the goroutine server.
package h1

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meridian-platform/meridian/internal/loglimit"
)

// Server serves Handler over HTTP/1.x (and h2c with prior knowledge when
// HTTP2 is set). Set its fields before the first Serve.
//
// A request's context is cancelled when the client goes away while the
// request is waiting for its answer. A handler may abort the response
// (closing the connection) by panicking with http.ErrAbortHandler; any
// other panic is logged with its stack and does the same.
type Server struct {
	Handler http.Handler

	// MaxHeaderBytes bounds a request's header block; larger ones get 431.
	MaxHeaderBytes int
	// ReadHeaderTimeout bounds reading a request's headers, ReadTimeout
	// the whole request with its body, IdleTimeout a keep-alive
	// connection's wait for its next request.
	ReadHeaderTimeout, ReadTimeout, IdleTimeout time.Duration
	// WriteTimeout bounds each write of an HTTP/1 answer to the client
	// (0: none): a client that stops reading is cut off after it, as
	// nginx's send_timeout does, while a long answer it keeps reading may
	// take as long as it takes.
	WriteTimeout time.Duration

	// HTTP2 serves connections that begin with the HTTP/2 client preface
	// with a net/http server (same handler, limits and timeouts; at most
	// MaxConcurrentStreams streams each).
	HTTP2                bool
	MaxConcurrentStreams uint32

	// Rejected, when set, counts requests and connections the server
	// answered or closed itself, by reason: header_too_large, malformed,
	// not_implemented, status_505, status_417, header_timeout (headers
	// begun and not finished in time), no_request (a connection closed
	// or timed out before its first byte).
	Rejected func(reason string)
	// Logger gets panics and (at most once a second per reason) refused
	// requests.
	Logger *slog.Logger

	// Proxy, when set, has the plain requests proxied on event loops
	// (loop.go), Loops of them (0: one per GOMAXPROCS), rather than given
	// to Handler, which still serves all others. (Linux, TCP listeners.)
	Proxy Proxy
	Loops int

	initOnce sync.Once
	limit    *loglimit.Limiter
	h2       *http.Server
	h2ln     *connListener

	mu      sync.Mutex
	conns   map[*srvConn]struct{}
	closing bool
	lns     []net.Listener
	wg      sync.WaitGroup

	date atomic.Pointer[dateCache]

	loops     []*evLoop
	loopState *atomic.Int32
}

// WatchAfter is how long a request waits for its answer before its
// connection is watched for the client going away (which cancels the
// request's context).
const WatchAfter = 50 * time.Millisecond

// maxDrain is how much of an unread request body is read past to keep the
// connection (as net/http does); a longer one closes it.
const maxDrain = 256 << 10

func (s *Server) init() {
	s.initOnce.Do(func() {
		if s.Logger == nil {
			s.Logger = slog.New(slog.DiscardHandler)
		}
		s.limit = loglimit.New(s.Logger, time.Now)
		s.conns = map[*srvConn]struct{}{}
		if s.HTTP2 {
			var protos http.Protocols
			protos.SetUnencryptedHTTP2(true)
			s.h2ln = newConnListener()
			s.h2 = &http.Server{
				Handler:           s.Handler,
				Protocols:         &protos,
				MaxHeaderBytes:    s.MaxHeaderBytes,
				ReadHeaderTimeout: s.ReadHeaderTimeout,
				ReadTimeout:       s.ReadTimeout,
				IdleTimeout:       s.IdleTimeout,
				HTTP2:             &http.HTTP2Config{MaxConcurrentStreams: int(s.MaxConcurrentStreams)},
				ErrorLog:          slog.NewLogLogger(s.Logger.Handler(), slog.LevelWarn),
			}
			go func() { _ = s.h2.Serve(s.h2ln) }() // ends at Shutdown
		}
	})
}

// Serve accepts connections on ln until Shutdown; it returns nil then, or
// why accepting failed. Serve may run on several listeners at once.
func (s *Server) Serve(ln net.Listener) error {
	s.init()
	s.mu.Lock()
	s.lns = append(s.lns, ln)
	closing := s.closing
	s.mu.Unlock()
	if closing {
		_ = ln.Close()
		return nil
	}
	if ok, err := s.serveLoops(ln); ok {
		return err
	}
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if s.isClosing() {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			// Out of file descriptors and the like: back off and retry.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.limit.Log("accept_error", "accepting a connection failed", "err", err, "retry_in", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		s.serveConn(c, nil)
	}
}

// serveConn serves c on a goroutine of its own, pre being what was read
// of it already (by an event loop).
func (s *Server) serveConn(c net.Conn, pre []byte) {
	sc := &srvConn{s: s, c: c, remote: c.RemoteAddr().String()}
	sc.cr.pre = pre
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		_ = c.Close()
		return
	}
	s.conns[sc] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	go sc.serve()
}

// Shutdown stops accepting, closes idle connections, lets active ones
// finish their request and waits for them up to timeout; then it closes the
// rest and says so.
func (s *Server) Shutdown(timeout time.Duration) error {
	s.init()
	s.mu.Lock()
	s.closing = true
	for _, ln := range s.lns {
		_ = ln.Close()
	}
	for sc := range s.conns {
		if sc.state.CompareAndSwap(connIdle, connClosed) {
			_ = sc.c.Close()
		}
	}
	s.mu.Unlock()
	s.tellLoops(loopDrain)
	deadline := time.Now().Add(timeout)
	var h2err error
	if s.h2 != nil {
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		h2err = s.h2.Shutdown(ctx)
		cancel()
		if h2err != nil {
			_ = s.h2.Close()
			h2err = errors.New("HTTP/2 connections still busy after " + timeout.String())
		}
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-done:
		return h2err
	case <-t.C:
	}
	s.tellLoops(loopStop)
	s.mu.Lock()
	n := len(s.conns)
	for sc := range s.conns {
		_ = sc.c.Close()
	}
	s.mu.Unlock()
	<-done
	return errors.Join(h2err, errors.New(strconv.Itoa(n)+" connections still busy after "+timeout.String()))
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

func (s *Server) reject(reason string) {
	if s.Rejected != nil {
		s.Rejected(reason)
	}
}

type dateCache struct {
	sec int64
	val []byte // "Date: ...\r\n"
}

// dateLine is the Date header line, formatted once a second.
func (s *Server) dateLine() []byte {
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
	s      *Server
	c      net.Conn
	remote string
	state  atomic.Int32

	cr connReader
	br *bufio.Reader
	bw *bufio.Writer

	// The watch for a client hanging up while its request waits on a
	// target: timer starts it after WatchAfter; watchMu orders its start
	// against stopWatch.
	timer    *time.Timer
	cancel   func() // ends the connection's context
	watchMu  sync.Mutex
	watching bool
	stopped  bool
	watched  chan struct{}
	gone     atomic.Bool

	handedOff bool // to the HTTP/2 server, which closes it

	base *http.Request // what fastRequest copies: the connection's context

	resp    *respWriter // the response being written
	armedAt time.Time   // when the write deadline was last moved
	idleAt  time.Time   // when the read deadline was last set IdleTimeout ahead (zero: set otherwise since)
}

// connReader is the connection as the request reader sees it: with a limit
// while headers are read (beyond which the request is too large), bytes an
// event loop read before handing the connection over, and a byte the watch
// may have read ahead.
type connReader struct {
	c       net.Conn
	limited bool
	remain  int64
	hit     bool
	read    int64 // bytes read since the last reset
	pre     []byte
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
	switch {
	case len(cr.pre) > 0:
		n = copy(p, cr.pre)
		cr.pre = cr.pre[n:]
	case cr.ahead:
		p[0], cr.ahead, n = cr.b, false, 1
	default:
		n, err = cr.c.Read(p)
	}
	cr.remain -= int64(n)
	cr.read += int64(n)
	return n, err
}

func (sc *srvConn) serve() {
	s := sc.s
	cc := newConnCtx()
	ctx := context.Context(cc)
	sc.cancel = cc.end
	defer func() {
		cc.end()
		if !sc.handedOff {
			_ = sc.c.Close()
		}
		s.mu.Lock()
		delete(s.conns, sc)
		s.mu.Unlock()
		s.wg.Done()
	}()
	sc.base = baseRequest(ctx)
	sc.cr.c = sc.c
	sc.br = bufio.NewReaderSize(&sc.cr, 4096)
	sc.bw = bufio.NewWriterSize(connWriter{sc}, 4096)
	sc.timer = time.AfterFunc(time.Hour, sc.watch)
	sc.timer.Stop()
	w := &respWriter{sc: sc, h: http.Header{}}
	sc.resp = w
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

// handle runs the handler on one request; it reports whether the response
// was aborted (the connection must be closed without finishing it).
func (sc *srvConn) handle(ctx context.Context, w *respWriter, req *http.Request) (aborted bool) {
	defer func() {
		if v := recover(); v != nil {
			aborted = true
			if v != http.ErrAbortHandler { //nolint:errorlint // the sentinel itself is what is panicked
				sc.s.Logger.Error("panic serving a request", "client", sc.remote, "panic", v, "stack", string(debug.Stack()))
			}
		}
	}()
	if req.Context() != ctx {
		req = req.WithContext(ctx)
	}
	sc.s.Handler.ServeHTTP(w, req)
	return false
}

// readRequest waits for the next request and reads its headers, answering
// and counting the ones refused. It returns false when the connection is
// done.
func (sc *srvConn) readRequest(served int, lastPost bool) (*http.Request, bool) {
	s := sc.s
	if served > 0 {
		// Idle between requests: shutdown may close the connection.
		sc.armIdle()
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
		sc.idleAt = time.Time{}
		_ = sc.c.SetReadDeadline(t0.Add(s.ReadHeaderTimeout))
	}
	if served == 0 {
		sc.cr.read = 0
		if s.HTTP2 && sc.h2Preface() {
			sc.handOff()
			return nil, false
		}
	}
	sc.cr.limited, sc.cr.remain, sc.cr.hit = true, int64(s.MaxHeaderBytes)+4096-int64(sc.br.Buffered()), false
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
	if req := fastRequest(sc.br, sc.base); req != nil {
		// (Checked there: HTTP/1.1, one valid Host, no Expect, no body.)
		sc.cr.limited = false
		req.RemoteAddr = sc.remote
		return req, true
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
		case errors.As(err, &ne) && ne.Timeout(),
			s.ReadHeaderTimeout > 0 && time.Since(t0) >= s.ReadHeaderTimeout: // (a timeout may surface as a garbled line)
			if sc.cr.read > 0 || sc.br.Buffered() > 0 {
				sc.count("header_timeout", "closed a client connection that did not send its request headers in time")
			} else if served == 0 {
				// Connected and sent nothing (a pre-opened connection, or
				// a slow client): counted, not worth a log line.
				s.reject("no_request")
			}
		case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed), isReadError(err):
			// The client hung up between requests.
		default:
			sc.refuse(http.StatusBadRequest, "malformed", "")
		}
		return nil, false
	}
	if req.ProtoMajor != 1 {
		sc.refuseMethod(req.Method, http.StatusHTTPVersionNotSupported, "status_505", "unsupported protocol version")
		return nil, false
	}
	if req.Host == "" && req.ProtoAtLeast(1, 1) && req.Method != http.MethodConnect {
		sc.refuseMethod(req.Method, http.StatusBadRequest, "malformed", "missing required Host header")
		return nil, false
	}
	if !validHost(req.Host) {
		sc.refuseMethod(req.Method, http.StatusBadRequest, "malformed", "malformed Host header")
		return nil, false
	}
	expect, hasExpect := req.Header["Expect"]
	if hasExpect {
		if len(expect) != 1 || !strings.EqualFold(expect[0], "100-continue") {
			sc.refuseMethod(req.Method, http.StatusExpectationFailed, "status_417", "")
			return nil, false
		}
	}
	req.RemoteAddr = sc.remote
	if req.Body != http.NoBody && req.Body != nil {
		sc.idleAt = time.Time{}
		_ = sc.c.SetReadDeadline(t0.Add(s.ReadTimeout))
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
// closes the connection. The answer to a HEAD request (when its method
// could be read) has no body.
func (sc *srvConn) refuse(code int, reason, detail string) {
	sc.refuseMethod("", code, reason, detail)
}

func (sc *srvConn) refuseMethod(method string, code int, reason, detail string) {
	text := strconv.Itoa(code) + " " + http.StatusText(code)
	if detail != "" {
		text += ": " + detail
	}
	body := text
	if method == http.MethodHead {
		body = ""
	}
	sc.count(reason, "refused a client request") // before the answer, which a test may be waiting for
	_ = sc.c.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = io.WriteString(sc.c, "HTTP/1.1 "+text+"\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"+body)
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
	sc.s.reject(reason)
	sc.s.limit.Log("client_"+reason, msg, "reason", reason, "client", sc.remote)
}

// armWatch starts the watch for the client hanging up if the request is
// still being served after WatchAfter.
func (sc *srvConn) armWatch() {
	sc.watchMu.Lock()
	sc.watching, sc.stopped = false, false
	sc.watchMu.Unlock()
	sc.timer.Reset(WatchAfter)
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
	if sc.br.Buffered() > 0 || sc.cr.ahead || len(sc.cr.pre) > 0 {
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
		sc.idleAt = time.Time{}
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
		if b.sc.resp.wrote && !b.sc.resp.headPending {
			// The answer is on its way: too late for 100 Continue (the
			// client sends the body after a timeout, or not at all).
			return b.read(p)
		}
		if _, err := b.sc.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n"); err != nil {
			return 0, err
		}
		if err := b.sc.bw.Flush(); err != nil {
			return 0, err
		}
	}
	return b.read(p)
}

func (b *reqBody) read(p []byte) (int, error) {
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
	sc          *srvConn
	req         *http.Request
	h           http.Header
	head        []byte // the status line and headers, kept across requests
	headPending bool   // head is not in the connection's buffer yet
	wrote       bool
	noBody      bool
	chunked     bool
	cl          int64 // -1: none declared
	n           int64
	closeAfter  bool
	err         error
}

func (w *respWriter) reset(req *http.Request, closeAfter bool) {
	clear(w.h)
	*w = respWriter{sc: w.sc, h: w.h, head: w.head[:0], req: req, cl: -1, closeAfter: closeAfter}
}

func (w *respWriter) Header() http.Header { return w.h }

func (w *respWriter) WriteHeader(code int) {
	if w.wrote {
		return
	}
	w.wrote = true
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
	withLength := w.cl >= 0 && code != http.StatusNoContent && code >= 200
	b := appendHead(w.head[:0], code, w.h, withLength, w.chunked, w.closeAfter, w.sc.s.dateLine())
	w.head, w.headPending = b, true
}

// appendHead appends a response head to b: the status line; h's fields,
// but Transfer-Encoding and Connection, Content-Length unless withLength,
// and Trailer unless chunked; date (a Date line) when h has no Date; and
// the fields that chunked and closeAfter call for.
func appendHead(b []byte, code int, h http.Header, withLength, chunked, closeAfter bool, date []byte) []byte {
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, ' ')
	if text := http.StatusText(code); text != "" {
		b = append(b, text...)
	} else {
		b = append(b, "status code "...)
		b = strconv.AppendInt(b, int64(code), 10)
	}
	b = append(b, "\r\n"...)
	hasDate := false
	for k, vv := range h {
		switch k {
		case "Content-Length":
			if !withLength {
				continue
			}
		case "Transfer-Encoding", "Connection":
			continue
		case "Trailer":
			if !chunked {
				continue
			}
		case "Date":
			hasDate = len(vv) > 0
		}
		for _, v := range vv {
			b = append(b, k...)
			b = append(b, ": "...)
			b = append(b, headerValue(v)...)
			b = append(b, "\r\n"...)
		}
	}
	if !hasDate {
		b = append(b, date...)
	}
	if chunked {
		b = append(b, "Transfer-Encoding: chunked\r\n"...)
	}
	if closeAfter {
		b = append(b, "Connection: close\r\n"...)
	}
	return append(b, "\r\n"...)
}

// sendHead moves the response head into the connection's buffer.
func (w *respWriter) sendHead() {
	if w.headPending {
		w.headPending = false
		_, _ = w.sc.bw.Write(w.head)
	}
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
	if w.headPending && !w.chunked && bw.Buffered() == 0 && len(w.head)+len(p) > bw.Available() {
		// Head and body would take two writes through the buffer: one
		// writev instead.
		w.headPending = false
		bufs := net.Buffers{w.head, p}
		w.sc.armWrite()
		m, err := bufs.WriteTo(w.sc.c)
		n := int(max(m-int64(len(w.head)), 0))
		w.n += int64(n)
		if err != nil {
			w.err = err
			return n, err
		}
		return len(p), nil
	}
	w.sendHead()
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
	w.sendHead()
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
	w.sendHead()
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

// connWriter is the connection as the response writer sees it: every write
// to it gets WriteTimeout to make progress.
type connWriter struct{ sc *srvConn }

func (cw connWriter) Write(p []byte) (int, error) {
	cw.sc.armWrite()
	return cw.sc.c.Write(p)
}

// armWrite moves the write deadline WriteTimeout ahead, unless it was
// moved less than a tenth of that ago (the deadline is then between 0.9 and
// 1 WriteTimeout away; moving it costs more than reading the clock).
func (sc *srvConn) armWrite() {
	t := sc.s.WriteTimeout
	if t <= 0 {
		return
	}
	now := time.Now()
	if now.Sub(sc.armedAt) < t/10 {
		return
	}
	sc.armedAt = now
	_ = sc.c.SetWriteDeadline(now.Add(t))
}

// armIdle sets the read deadline IdleTimeout ahead for the wait for the
// next request, unless it was set so less than a tenth of that ago and not
// changed since (it is then between 0.9 and 1 IdleTimeout away), which
// saves a deadline change per request on a busy connection.
func (sc *srvConn) armIdle() {
	now := time.Now()
	t := sc.s.IdleTimeout
	if !sc.idleAt.IsZero() && now.Sub(sc.idleAt) < t/10 {
		return
	}
	sc.idleAt = now
	_ = sc.c.SetReadDeadline(now.Add(t))
}

// Owned reports whether w is this package's response writer: the request
// it answers was read by a Server and is read by nothing after the
// handler returns, so a proxy may reuse it (its Header, URL and Body) as
// the request it sends on.
func Owned(w http.ResponseWriter) bool {
	_, ok := w.(*respWriter)
	return ok
}

// TakeHeader makes h the response's header map instead of copying h into
// Header(), when w is this package's response writer with no header set
// and nothing written yet; it reports whether it did.
func TakeHeader(w http.ResponseWriter, h http.Header) bool {
	rw, ok := w.(*respWriter)
	if !ok || rw.wrote || len(rw.h) > 0 {
		return false
	}
	rw.h = h
	return true
}

// h2Preface reports whether the connection opens with the HTTP/2 client
// preface, reading no further than the first byte that differs from it
// (an HTTP/1 request may be shorter than the preface).
func (sc *srvConn) h2Preface() bool {
	const preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
	for n := 1; n <= len(preface); n++ {
		b, err := sc.br.Peek(n)
		if err != nil || b[n-1] != preface[n-1] {
			return false
		}
	}
	return true
}

// handOff gives the connection, with what was read of it, to the HTTP/2
// server.
func (sc *srvConn) handOff() {
	buf, _ := sc.br.Peek(sc.br.Buffered())
	c := &prefixConn{Conn: sc.c, r: io.MultiReader(bytes.NewReader(bytes.Clone(buf)), sc.c)}
	_ = sc.c.SetReadDeadline(time.Time{})
	sc.handedOff = sc.s.h2ln.deliver(c)
}

// prefixConn is a connection whose first bytes were already read.
type prefixConn struct {
	net.Conn
	r io.Reader
}

func (c *prefixConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// connListener hands connections to the HTTP/2 server.
type connListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newConnListener() *connListener {
	return &connListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *connListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *connListener) Addr() net.Addr { return h2cAddr{} }

// deliver passes c to the server; false when it is shut down.
func (l *connListener) deliver(c net.Conn) bool {
	select {
	case l.conns <- c:
		return true
	case <-l.done:
		return false
	}
}

type h2cAddr struct{}

func (h2cAddr) Network() string { return "h2c" }
func (h2cAddr) String() string  { return "h2c" }
