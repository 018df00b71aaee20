package h1

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Pool is a keep-alive connection pool to one upstream address. Unlike
// http.Transport it runs a request on the calling goroutine (no per
// connection reader and writer goroutines to hand off to), which is most of
// a proxy's cost at small responses. Set its fields before the first
// RoundTrip.
type Pool struct {
	// Addr is the upstream's host:port.
	Addr string
	// Dial connects to Addr, bounding the time it takes itself (default: a
	// net.Dialer with a 30 s keep-alive, bounded by ConnectTimeout). Its
	// errors are returned wrapped in a *ConnectError. A Server's event
	// loops dial Addr themselves, with ConnectTimeout.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// HeaderTimeout bounds the wait for the response headers (0: none).
	HeaderTimeout time.Duration
	// MaxIdle is how many idle connections are kept (0: none).
	MaxIdle int
	// ConnectTimeout bounds connecting where the pool dials itself: with
	// the default Dial, and on a Server's event loops (0: none).
	ConnectTimeout time.Duration
	// IdleTimeout closes connections idle longer than this (0: never). Set
	// it below the upstream's own keep-alive timeout, so that the pool,
	// not the upstream, closes idle connections.
	IdleTimeout time.Duration

	mu     sync.Mutex
	idle   []*upConn
	closed bool
}

// ConnectError marks a failure to connect: nothing of the request was sent.
type ConnectError struct{ Err error }

func (e *ConnectError) Error() string { return "connecting: " + e.Err.Error() }
func (e *ConnectError) Unwrap() error { return e.Err }

type upConn struct {
	c     net.Conn
	rc    syscall.RawConn
	br    *bufio.Reader
	bw    *bufio.Writer
	abort func()    // breaks off the exchange under way (the client went away)
	since time.Time // idle since
}

var defaultDialer = &net.Dialer{KeepAlive: 30 * time.Second}

// get returns a pooled connection or a new one. A pooled one is checked
// for being closed by the upstream only when the request cannot be sent
// again: a replayable request that finds it dead is retried on a fresh
// connection (RoundTrip), which costs less over many requests than a
// system call each.
//
// The connection's read deadline is set to deadline (the check reads).
func (u *Pool) get(ctx context.Context, replayable bool, deadline time.Time) (*upConn, bool, error) {
	for {
		u.mu.Lock()
		n := len(u.idle)
		if n == 0 {
			u.mu.Unlock()
			break
		}
		pc := u.idle[n-1]
		u.idle[n-1] = nil
		u.idle = u.idle[:n-1]
		u.mu.Unlock()
		if u.IdleTimeout > 0 && time.Since(pc.since) > u.IdleTimeout {
			pc.close()
			continue
		}
		_ = pc.c.SetReadDeadline(deadline)
		if pc.br.Buffered() == 0 && (replayable || pc.alive()) {
			return pc, true, nil
		}
		pc.close()
	}
	dial := u.Dial
	if dial == nil {
		dial = defaultDialer.DialContext
		if u.ConnectTimeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, u.ConnectTimeout)
			defer cancel()
		}
	}
	c, err := dial(ctx, "tcp", u.Addr)
	if err != nil {
		return nil, false, &ConnectError{Err: err}
	}
	pc := &upConn{c: c, br: bufio.NewReaderSize(c, 4096), bw: bufio.NewWriterSize(c, 4096)}
	pc.abort = func() { _ = c.SetDeadline(longAgo) }
	if sc, ok := c.(syscall.Conn); ok {
		pc.rc, _ = sc.SyscallConn()
	}
	_ = c.SetReadDeadline(deadline)
	return pc, false, nil
}

// alive checks, without blocking, that an idle connection was not closed by
// the target (or sent something unasked) while it sat in the pool: a
// request written to it could be lost in a way that cannot be told apart
// from the target failing while processing it.
func (pc *upConn) alive() bool {
	if pc.br.Buffered() > 0 {
		return false
	}
	if pc.rc == nil {
		return true
	}
	ok := false
	var b [1]byte
	err := pc.rc.Read(func(fd uintptr) bool {
		_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		ok = errors.Is(err, syscall.EAGAIN)
		return true
	})
	return err == nil && ok
}

func (pc *upConn) close() { _ = pc.c.Close() }

func (u *Pool) put(pc *upConn) {
	if u.IdleTimeout > 0 {
		pc.since = time.Now()
	}
	u.mu.Lock()
	if u.closed || len(u.idle) >= u.MaxIdle {
		u.mu.Unlock()
		pc.close()
		return
	}
	u.idle = append(u.idle, pc)
	u.mu.Unlock()
}

// CloseIdle closes the pooled connections; with forever, connections
// returned later are closed too.
func (u *Pool) CloseIdle(forever bool) {
	u.mu.Lock()
	idle := u.idle
	u.idle = nil
	if forever {
		u.closed = true
	}
	u.mu.Unlock()
	for _, pc := range idle {
		pc.close()
	}
}

// isClosed reports whether CloseIdle(true) was called.
func (u *Pool) isClosed() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.closed
}

var longAgo = time.Unix(1, 0)

// RoundTrip sends req to Addr (its request line from req.URL, its Host
// header from req.Host) and reads the response headers. The response body
// returns the connection to the pool once read to its end, or closes it
// when closed early. A pooled connection that turns out dead before any
// response byte is replaced by a fresh one when req can be sent again
// (replayable; a request with a body then needs GetBody).
//
// When ctx ends, the exchange (or the body's reading) is broken off and
// the error is ctx's cause.
func (u *Pool) RoundTrip(ctx context.Context, req *http.Request, replayable bool) (*http.Response, error) {
	return u.RoundTripAbortable(ctx, req, replayable, nil)
}

// Abort lets another goroutine break off a RoundTripAbortable before its
// response headers arrive (the edge proxy does when it ejects a region),
// which costs less than a context of its own for every attempt. The zero
// value is ready; an Abort serves one round trip.
type Abort struct {
	mu    sync.Mutex
	pc    *upConn
	wake  func() // an event loop's, while it runs the attempt
	cause error
}

// Abort breaks off the round trip, now or when it begins; RoundTripAbortable
// then returns cause.
func (a *Abort) Abort(cause error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cause != nil {
		return
	}
	a.cause = cause
	if a.pc != nil {
		a.pc.abort()
	}
	if a.wake != nil {
		a.wake()
	}
}

// watch has wake called (once) when the attempt is aborted, until detach;
// false when it was aborted already.
func (a *Abort) watch(wake func()) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cause != nil {
		return false
	}
	a.wake = wake
	return true
}

// attach makes pc the connection Abort breaks; false when aborted already.
func (a *Abort) attach(pc *upConn) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cause != nil {
		return false
	}
	a.pc = pc
	return true
}

// detach ends the exchange's exposure to Abort and returns the cause if
// it was aborted.
func (a *Abort) detach() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.pc, a.wake = nil, nil
	return a.cause
}

// RoundTripAbortable is RoundTrip that abort (when not nil) can also break
// off until the response headers are in.
func (u *Pool) RoundTripAbortable(ctx context.Context, req *http.Request, replayable bool, abort *Abort) (*http.Response, error) {
	for attempt := 0; ; attempt++ {
		var deadline time.Time
		if u.HeaderTimeout > 0 {
			deadline = time.Now().Add(u.HeaderTimeout)
		}
		if attempt > 0 && req.Body != nil {
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			req.Body = body
		}
		pc, reused, err := u.get(ctx, replayable, deadline)
		if err != nil {
			return nil, err
		}
		if abort != nil && !abort.attach(pc) {
			u.put(pc) // untouched
			return nil, abort.cause
		}
		stop := afterFunc(ctx, pc.abort)
		resp, ub, err := pc.exchange(req)
		var aborted error
		if abort != nil {
			aborted = abort.detach()
		}
		if err != nil {
			stop.Stop()
			pc.close()
			if ctx.Err() != nil {
				return nil, context.Cause(ctx)
			}
			if aborted != nil {
				return nil, aborted
			}
			if reused && replayable && (req.Body == nil || req.GetBody != nil) && isReset(err) {
				continue
			}
			return nil, err
		}
		if aborted != nil {
			// Broken off just as the headers came: the connection's
			// deadline is in the past.
			stop.Stop()
			pc.close()
			return nil, aborted
		}
		if u.HeaderTimeout > 0 && (resp.ContentLength < 0 || int64(pc.br.Buffered()) < resp.ContentLength) {
			// The body is still to come, and may take longer than the
			// headers were given. (One already buffered is read without
			// touching the connection; the next request sets a deadline.)
			_ = pc.c.SetReadDeadline(time.Time{})
		}
		// (Not reused per connection: the handler may still Close this
		// body after the connection went back to the pool.)
		*ub = upBody{r: resp.Body, pc: pc, u: u, ctx: ctx, stop: stop, reuse: !resp.Close, hop: ub.hop}
		resp.Body = ub
		return resp, nil
	}
}

// exchange sends req and reads the response headers; with the response
// comes room for its upBody when it has some.
func (pc *upConn) exchange(req *http.Request) (*http.Response, *upBody, error) {
	if req.Body == nil && len(req.TransferEncoding) == 0 && len(req.Trailer) == 0 &&
		req.Method != http.MethodConnect && req.Host != "" && validHost(req.Host) {
		writeBodiless(pc.bw, req)
	} else if err := req.Write(pc.bw); err != nil {
		return nil, nil, err
	}
	if err := pc.bw.Flush(); err != nil {
		return nil, nil, err
	}
	for {
		if rs := fastResponse(pc.br, req); rs != nil {
			return &rs.r, &rs.up, nil
		}
		resp, err := http.ReadResponse(pc.br, req)
		if err != nil {
			return nil, nil, err
		}
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			return resp, new(upBody), nil
		}
		// 1xx informational: the real response follows.
	}
}

// writeBodiless writes a request without a body as Request.Write would,
// without its per-request formatting, header sorting and transfer-writer
// allocations (appendBodiless).
func writeBodiless(bw *bufio.Writer, req *http.Request) {
	_, _ = bw.Write(appendBodiless(bw.AvailableBuffer(), req))
}

// appendBodiless appends a request without a body to b: request line,
// Host, the first User-Agent (none when it is absent or empty: the
// balancer adds none), the other headers, and Content-Length: 0 for the
// methods that expect a body.
func appendBodiless(b []byte, req *http.Request) []byte {
	b = append(b, req.Method...)
	b = append(b, ' ')
	if u := req.URL; u.Opaque == "" {
		// RequestURI without joining path and query into a new string.
		p := u.EscapedPath()
		if p == "" {
			p = "/"
		}
		b = append(b, p...)
		if u.ForceQuery || u.RawQuery != "" {
			b = append(b, '?')
			b = append(b, u.RawQuery...)
		}
	} else {
		b = append(b, u.RequestURI()...)
	}
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, req.Host...)
	b = append(b, "\r\n"...)
	if ua := req.Header["User-Agent"]; len(ua) > 0 && ua[0] != "" {
		b = append(b, "User-Agent: "...)
		b = append(b, headerValue(strings.TrimSpace(ua[0]))...)
		b = append(b, "\r\n"...)
	}
	for k, vv := range req.Header {
		switch k {
		case "Host", "User-Agent", "Content-Length", "Transfer-Encoding", "Trailer":
			continue
		}
		for _, v := range vv {
			b = append(b, k...)
			b = append(b, ": "...)
			b = append(b, headerValue(strings.TrimSpace(v))...)
			b = append(b, "\r\n"...)
		}
	}
	switch req.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch:
		b = append(b, "Content-Length: 0\r\n"...)
	}
	return append(b, "\r\n"...)
}

// MoreBuffered reports whether body, a response body from a Pool, has
// more bytes already read from its connection: a proxy relaying a stream
// need not flush what it wrote yet, the next read will bring more without
// waiting (or end the body, whose end is flushed anyway).
func MoreBuffered(body io.Reader) bool {
	b, ok := body.(*upBody)
	return ok && !b.done && b.pc.br.Buffered() > 0
}

// upBody is a response body that gives its connection back once read.
type upBody struct {
	r     io.ReadCloser
	pc    *upConn
	u     *Pool
	ctx   context.Context
	stop  afterStop
	reuse bool
	done  bool
	hop   hopFields // the hop-by-hop fields of the response's head
}

func (b *upBody) Read(p []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	n, err := b.r.Read(p)
	if errors.Is(err, io.EOF) {
		b.finish(true)
	} else if err != nil && b.ctx.Err() != nil {
		err = context.Cause(b.ctx)
	}
	return n, err
}

func (b *upBody) Close() error {
	if !b.done {
		b.finish(false)
	}
	return nil
}

func (b *upBody) finish(complete bool) {
	b.done = true
	if !b.stop.Stop() || !complete || !b.reuse {
		b.pc.close() // the deadline may be set in the past, or the body unread
		return
	}
	b.u.put(b.pc)
}

// isReset reports whether err is the connection breaking (closed or reset
// by the peer) rather than a timeout or a malformed answer.
func isReset(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, net.ErrClosed)
}
