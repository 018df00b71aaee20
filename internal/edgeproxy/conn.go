package edgeproxy

import (
	"context"
	"net"
	"net/http"
	"sync/atomic"
)

// listener marks accepted connections so that requests the HTTP server
// refuses before they reach the proxy (slow or malformed headers, headers
// too large) are counted.
type listener struct{ net.Listener }

func (ln listener) Accept() (net.Conn, error) {
	c, err := ln.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &conn{Conn: c}, nil
}

// conn counts the requests of one client connection that reached the proxy.
type conn struct {
	net.Conn
	handled atomic.Int64 // requests that reached ServeHTTP
	atStart atomic.Int64 // handled when the connection last went active
	state   atomic.Int32 // the last http.ConnState
}

type connKey struct{}

func connContext(ctx context.Context, c net.Conn) context.Context {
	if tc, ok := c.(*conn); ok {
		return context.WithValue(ctx, connKey{}, tc)
	}
	return ctx
}

// connState counts connections closed while a request was being read and
// before it reached the proxy (refused: the server timed it out or answered
// 400/431 itself), and connections closed before sending anything.
func (p *Proxy) connState(c net.Conn, s http.ConnState) {
	tc, ok := c.(*conn)
	if !ok {
		return
	}
	switch s {
	case http.StateActive:
		tc.atStart.Store(tc.handled.Load())
	case http.StateClosed:
		switch http.ConnState(tc.state.Load()) {
		case http.StateNew:
			p.m.rejections.WithLabelValues("no_request").Inc()
		case http.StateActive:
			if tc.handled.Load() == tc.atStart.Load() {
				p.m.rejections.WithLabelValues("refused").Inc()
			}
		}
	}
	tc.state.Store(int32(s))
}
