package lb

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// listener wraps accepted connections so that requests the HTTP server
// refuses before they reach the handler (malformed, oversized headers, slow
// clients) are counted and logged.
type listener struct {
	net.Listener
	lb *LB
}

func (ln *listener) Accept() (net.Conn, error) {
	c, err := ln.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &conn{Conn: c, lb: ln.lb}, nil
}

type conn struct {
	net.Conn
	lb *LB
	// reads counts requests the server began reading (StateActive);
	// handled counts those that reached the handler. A write while
	// reads > handled is the server refusing a request.
	reads, handled atomic.Int64
	active         atomic.Bool
	served         atomic.Bool
	pendingBytes   atomic.Int64 // bytes read since the connection went idle
	refused        atomic.Bool
}

type connKey struct{}

func connContext(ctx context.Context, c net.Conn) context.Context {
	if tc, ok := c.(*conn); ok {
		return context.WithValue(ctx, connKey{}, tc)
	}
	return ctx
}

func (l *LB) connState(c net.Conn, s http.ConnState) {
	tc, ok := c.(*conn)
	if !ok {
		return
	}
	switch s {
	case http.StateActive:
		tc.reads.Add(1)
		tc.active.Store(true)
	case http.StateIdle:
		tc.served.Store(true)
		tc.active.Store(false)
		tc.pendingBytes.Store(0)
	}
}

func (c *conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if !c.active.Load() {
		c.pendingBytes.Add(int64(n))
		var ne net.Error
		if err != nil && errors.As(err, &ne) && ne.Timeout() && !c.served.Load() {
			if c.pendingBytes.Load() > 0 {
				c.refuse("header_timeout", "closed a client connection that did not send its request headers in time")
			} else if !c.refused.Swap(true) {
				// Connected and sent nothing (a pre-opened connection, or
				// a slow client): counted, not worth a log line.
				c.lb.m.rejected.WithLabelValues("no_request").Inc()
			}
		} else if err != nil && errors.As(err, &ne) && ne.Timeout() && c.pendingBytes.Load() > 0 {
			c.refuse("header_timeout", "closed a client connection that did not send its request headers in time")
		}
	}
	return n, err
}

func (c *conn) Write(p []byte) (int, error) {
	if c.reads.Load() > c.handled.Load() && len(p) >= 12 && string(p[:9]) == "HTTP/1.1 " {
		reason := "status_" + string(p[9:12])
		switch string(p[9:12]) {
		case "400":
			reason = "malformed"
		case "431":
			reason = "header_too_large"
		case "501":
			reason = "not_implemented"
		}
		c.refuse(reason, "refused a client request")
	}
	return c.Conn.Write(p)
}

func (c *conn) refuse(reason, msg string) {
	if c.refused.Swap(true) {
		return
	}
	c.lb.m.rejected.WithLabelValues(reason).Inc()
	c.lb.limit.log("client_"+reason, msg, "reason", reason, "client", c.RemoteAddr().String())
}

// logLimiter logs at most one line per key per second, counting the rest,
// so a flood of bad clients or a dead target cannot flood the log.
type logLimiter struct {
	out *slog.Logger
	now func() time.Time
	mu  sync.Mutex
	by  map[string]*limitState
}

type limitState struct {
	last       time.Time
	suppressed int
}

const logEvery = time.Second

func newLogLimiter(log *slog.Logger, now func() time.Time) *logLimiter {
	return &logLimiter{out: log, now: now, by: map[string]*limitState{}}
}

func (ll *logLimiter) log(key, msg string, args ...any) {
	now := ll.now()
	ll.mu.Lock()
	s := ll.by[key]
	if s == nil {
		if len(ll.by) > 1000 { // keys are fixed strings; this is a backstop
			clear(ll.by)
		}
		s = &limitState{}
		ll.by[key] = s
	} else if now.Sub(s.last) < logEvery {
		s.suppressed++
		ll.mu.Unlock()
		return
	}
	s.last = now
	suppressed := s.suppressed
	s.suppressed = 0
	ll.mu.Unlock()
	if suppressed > 0 {
		args = append(args, "suppressed", suppressed)
	}
	ll.out.Warn(msg, args...)
}
