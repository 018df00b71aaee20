package lb

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/meridian-platform/meridian/internal/h1"
)

type rule struct {
	host     string // lower case; "" matches any
	wildcard bool   // host is a suffix ".example.com"
	prefix   string
	g        *group
}

func compileRule(r Rule, g *group) rule {
	c := rule{host: strings.ToLower(r.Host), prefix: r.PathPrefix, g: g}
	if strings.HasPrefix(c.host, "*.") {
		c.host, c.wildcard = c.host[1:], true
	}
	return c
}

func (r *rule) matches(host, path string) bool {
	if r.host != "" {
		if r.wildcard {
			if len(host) <= len(r.host) || !strings.HasSuffix(host, r.host) {
				return false
			}
		} else if host != r.host {
			return false
		}
	}
	if r.prefix != "" {
		if !strings.HasPrefix(path, r.prefix) {
			return false
		}
		if !strings.HasSuffix(r.prefix, "/") && len(path) > len(r.prefix) && path[len(r.prefix)] != '/' {
			return false
		}
	}
	return true
}

// route returns the request's target group, or nil.
func (l *LB) route(r *http.Request) *group {
	if len(l.rules) == 0 {
		return l.def
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for i := range l.rules {
		if l.rules[i].matches(host, r.URL.Path) {
			return l.rules[i].g
		}
	}
	return l.def
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// ServeHTTP proxies one request; LB is an http.Handler so it can also be
// mounted elsewhere (Run serves it with internal/h1's server).
func (l *LB) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	l.serve(r.Context(), w, r, h1.Owned(w))
}

// serve proxies one request; ctx ends when the client goes away.
//
// With own, r came from internal/h1's server and may be reused as the
// request to the target.
func (l *LB) serve(ctx context.Context, w http.ResponseWriter, r *http.Request, own bool) {
	start := l.cfg.Now()
	g := l.route(r)
	if g == nil {
		l.m.requests.WithLabelValues("", "", "404").Inc()
		h1.Plain(w, http.StatusNotFound, "no route for this request")
		return
	}
	code, t := l.forward(ctx, w, r, g, own)
	if t != nil {
		t.counter(code).Inc()
	} else {
		l.m.requests.WithLabelValues(g.cfg.Name, "", h1.CodeLabel(code)).Inc()
	}
	g.latency.Observe(l.cfg.Now().Sub(start).Seconds())
}

// forward sends r to a target of g, retrying on others where safe, and
// writes the response. It returns the status code sent and the target that
// answered (nil if none did).
func (l *LB) forward(ctx context.Context, w http.ResponseWriter, r *http.Request, g *group, own bool) (int, *target) {
	out, body := l.outgoing(r, own)
	defer body.closeOrig()
	a := attempts{l: l, g: g, method: r.Method, idempotent: h1.Idempotent(r.Method)}
	for t := a.next(); t != nil; t = a.next() {
		out.URL.Host = t.addr
		resp, err := t.up.RoundTrip(ctx, out, a.idempotent && body == nil) //nolint:bodyclose // respond closes it
		if err == nil {
			code := l.respond(w, resp, t, g)
			t.release()
			return code, t
		}
		a.failed(err, body.touched())
		if ctx.Err() != nil {
			return 499, nil // the client went away; nobody to answer
		}
	}
	code, msg := a.failure(r.URL.Path)
	h1.Plain(w, code, msg)
	return code, nil
}

// attempts is one request's tries at a group's targets, for both ways a
// request is served (forward, and the server's event loops: loopExchange).
type attempts struct {
	l          *LB
	g          *group
	method     string
	idempotent bool
	tried      []*target
	cur        *target // acquired for the attempt under way
	n          int
	lastErr    error
	stop       bool
}

// next picks and acquires the target for the next attempt, or returns nil
// when there is none.
func (a *attempts) next() *target {
	for !a.stop && a.n < a.l.cfg.MaxAttempts {
		t := a.g.pick(a.tried)
		if t == nil {
			break
		}
		if !t.acquire() {
			a.tried = append(a.tried, t) // began draining after the pick
			continue
		}
		if a.n > 0 {
			a.l.m.retries.WithLabelValues(a.g.cfg.Name).Inc()
		}
		a.n++
		a.cur = t
		return t
	}
	return nil
}

// failed ends the current attempt, which failed with err: the target
// released, the failure counted, and further attempts stopped unless
// retryable.
func (a *attempts) failed(err error, bodyTouched bool) {
	t := a.cur
	a.cur = nil
	t.release()
	a.lastErr = err
	kind := errKind(err)
	a.l.m.upstream.WithLabelValues(a.g.cfg.Name, kind).Inc()
	if kind == "connect" && errors.Is(err, syscall.ECONNREFUSED) {
		a.g.refused(t, err)
	}
	if !retryable(kind, a.idempotent, bodyTouched) {
		a.stop = true
		return
	}
	a.tried = append(a.tried, t)
	a.l.limit.Log("upstream_retry", "retrying request on another target",
		"group", a.g.cfg.Name, "target", t.id, "method", a.method, "err", err)
}

// failure is the answer when no attempt succeeded.
func (a *attempts) failure(path string) (int, string) {
	if a.lastErr == nil {
		return http.StatusServiceUnavailable, "no healthy target"
	}
	code := http.StatusBadGateway
	if errKind(a.lastErr) == "timeout" {
		code = http.StatusGatewayTimeout
	}
	a.l.limit.Log("upstream_error", "request failed upstream", "group", a.g.cfg.Name,
		"method", a.method, "path", path, "code", code, "err", a.lastErr)
	return code, http.StatusText(code)
}

// Exchange implements h1.Proxy: the server's event loops serve the plain
// requests (internal/h1's loop.go) with what forward does for the others.
func (l *LB) Exchange(r *http.Request) h1.Exchange {
	g := l.route(r)
	if g == nil {
		return nil // (the handler's 404)
	}
	h1.ForwardHeaders(r)
	return &loopExchange{a: attempts{l: l, g: g, method: r.Method, idempotent: h1.Idempotent(r.Method)},
		path: r.URL.Path, start: l.cfg.Now()}
}

// loopExchange is one request on an event loop.
type loopExchange struct {
	a     attempts
	path  string
	start time.Time
}

func (x *loopExchange) Next(err error) h1.Attempt {
	if err != nil {
		x.a.failed(err, false)
	}
	if t := x.a.next(); t != nil {
		return h1.Attempt{Pool: t.up}
	}
	return h1.Attempt{}
}

func (x *loopExchange) Failed(http.Header) (int, string) { return x.a.failure(x.path) }

func (x *loopExchange) Answer(*http.Response) bool { return true }

func (x *loopExchange) Done(code int, err error) {
	l, g, t := x.a.l, x.a.g, x.a.cur
	if err != nil && t != nil {
		l.m.upstream.WithLabelValues(g.cfg.Name, "body").Inc()
		l.limit.Log("upstream_body", "target broke off its response", "group", g.cfg.Name,
			"target", t.id, "err", err)
	}
	if t != nil {
		t.release()
	}
	if t != nil && code != 499 {
		t.counter(code).Inc()
	} else {
		l.m.requests.WithLabelValues(g.cfg.Name, "", h1.CodeLabel(code)).Inc()
	}
	g.latency.Observe(l.cfg.Now().Sub(x.start).Seconds())
}

// errKind classifies a RoundTrip error.
func errKind(err error) string {
	var ce *h1.ConnectError
	var ne net.Error
	switch {
	case errors.As(err, &ce):
		return "connect"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.As(err, &ne) && ne.Timeout(), errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, net.ErrClosed):
		return "reset"
	}
	return "other"
}

// retryable says whether a failed attempt may be repeated on another target:
// after a connect failure always (nothing was sent); after the connection
// was reset before any response byte only for idempotent methods whose body
// (if any) was not consumed.
func retryable(kind string, idempotent, bodyTouched bool) bool {
	switch kind {
	case "connect":
		return !bodyTouched
	case "reset":
		return idempotent && !bodyTouched
	}
	return false
}

// outgoing builds the request sent to targets from the client's request:
// a copy, or with own (the balancer's server read r and nothing reads it
// after the handler) r itself.
func (l *LB) outgoing(r *http.Request, own bool) (*http.Request, *trackedBody) {
	out := r
	if own {
		r.URL.Scheme, r.URL.Host = "http", ""
	} else {
		out = new(http.Request)
		*out = *r
		u := *r.URL
		u.Scheme, u.Host = "http", ""
		out.URL = &u
		if te := r.TransferEncoding; len(te) > 0 {
			out.TransferEncoding = append([]string(nil), te...)
		}
	}
	var body *trackedBody // nil: no body
	if r.ContentLength == 0 && (r.Body == nil || r.Body == http.NoBody) {
		out.Body = nil // lets the transport replay it on a stale connection
	} else {
		body = &trackedBody{r: r.Body}
		out.Body = body
	}
	out.RequestURI = ""
	out.Close = false
	h1.ForwardHeaders(r) // the server gave r's Header to this handler alone
	return out, body
}

// trackedBody passes the client's request body to the target, remembering
// whether any of it was read (then the request cannot be replayed), and keeps
// it open across attempts: the transport closes the body after each one.
// A nil *trackedBody stands for no body.
type trackedBody struct {
	r    io.ReadCloser
	read bool
	mu   sync.Mutex
}

func (b *trackedBody) Read(p []byte) (int, error) {
	if b.r == nil {
		return 0, io.EOF
	}
	b.mu.Lock()
	b.read = true
	b.mu.Unlock()
	return b.r.Read(p)
}

func (b *trackedBody) Close() error { return nil }

func (b *trackedBody) touched() bool {
	if b == nil || b.r == nil {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.read
}

func (b *trackedBody) closeOrig() {
	if b != nil && b.r != nil {
		_ = b.r.Close()
	}
}

// respond copies a target's response to the client and returns its code.
func (l *LB) respond(w http.ResponseWriter, resp *http.Response, t *target, g *group) int {
	defer func() { _ = resp.Body.Close() }()
	h := h1.ResponseHeader(w, resp)
	if len(resp.Trailer) > 0 {
		keys := make([]string, 0, len(resp.Trailer))
		for k := range resp.Trailer {
			keys = append(keys, k)
		}
		h["Trailer"] = []string{strings.Join(keys, ", ")}
	}
	w.WriteHeader(resp.StatusCode)

	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	flusher, _ := w.(http.Flusher)
	stream := resp.ContentLength < 0 && flusher != nil
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return resp.StatusCode // the client went away
			}
			if stream && !h1.MoreBuffered(resp.Body) {
				flusher.Flush()
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			l.m.upstream.WithLabelValues(g.cfg.Name, "body").Inc()
			l.limit.Log("upstream_body", "target broke off its response", "group", g.cfg.Name,
				"target", t.id, "err", rerr)
			// Abort the client's connection so it cannot take a truncated
			// body for a whole one.
			panic(http.ErrAbortHandler)
		}
	}
	for k, v := range resp.Trailer {
		h[k] = v
	}
	return resp.StatusCode
}

// Compile-time check.
var _ http.Handler = (*LB)(nil)
