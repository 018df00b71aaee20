package edgeproxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"

	"github.com/meridian-platform/meridian/internal/h1"
)

// ServeHTTP forwards one request to a region, failing over to the next
// regions where safe (see the package doc).
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodConnect {
		p.reject(w, "connect", http.StatusMethodNotAllowed, "the edge is not a forward proxy: CONNECT is not supported")
		return
	}
	if up := r.Header.Get("Upgrade"); up != "" && !strings.EqualFold(up, "h2c") {
		// An h2c upgrade may be ignored (RFC 9113 §3.1 left it optional);
		// other protocols cannot be carried.
		p.reject(w, "upgrade", http.StatusNotImplemented, "protocol upgrades (such as WebSocket) are not supported through the edge")
		return
	}
	set := p.set.Load()
	affinity := p.affinityOf(r)
	retryable := h1.Idempotent(r.Method) || r.Header.Get("Idempotency-Key") != ""
	var bodyVal reqBody
	body := &bodyVal // (on the stack: outgoing fills it)
	out, err := p.outgoing(r, retryable, h1.Owned(w), body)
	if err != nil {
		p.reject(w, "bad_body", http.StatusBadRequest, "could not read the request body")
		return
	}
	defer body.closeOrig()

	var orderBuf [8]*region
	pl := p.choose(set, affinity, orderBuf[:])
	p.notePrimary(pl)

	var last *failure
	var saved *failure // the last gateway failure answer, for when no region does better
	for i, rg := range pl.order {
		if last != nil {
			if reason := last.noRetry(retryable, body); reason != "" {
				p.giveUp(w, r, last, reason) // last is not a status: those are answered at once
				return
			}
			p.noteRetry(last, rg)
		}
		start := p.cfg.Now()
		body.attach(out)
		ctx := r.Context()
		if i == len(pl.order)-1 {
			ctx = context.WithValue(ctx, lastRegionKey{}, true)
		}
		var abort *h1.Abort
		if retryable {
			// An ejection of the region aborts the attempt, which then
			// goes to the next region (see outlier.attempts).
			abort = new(h1.Abort)
			rg.out.track(abort)
		}
		resp, err := rg.up.RoundTripAbortable(ctx, out, retryable && body.replay, abort)
		if abort != nil {
			rg.out.untrack(abort)
		}
		if err != nil {
			if body.clientErr() != nil {
				// The client's upload broke (or timed out), not the region.
				// (net/http cancels the request's context then too.)
				p.m.requests.WithLabelValues("", "400").Inc()
				h1.Plain(w, http.StatusBadRequest, "could not read the request body")
				return
			}
			if r.Context().Err() != nil {
				p.m.requests.WithLabelValues("", "499").Inc() // the client went away
				return
			}
			kind := errKind(err)
			if errors.Is(err, errEjected) {
				kind = "ejected"
			}
			p.m.failures.WithLabelValues(rg.cfg.ID, kind).Inc()
			p.failed(set, rg, kind)
			last = &failure{r: rg, kind: kind, err: err}
			continue
		}
		p.observeUpstream(rg, p.cfg.Now().Sub(start))
		if !gatewayFailure(resp.StatusCode) {
			// Read the start of the body before committing to this region:
			// a region that dies while sending it can still be replaced,
			// since nothing has reached the client yet.
			bp := p.bufs.Get().(*[]byte)
			head, eof, rerr := prefetch(resp, *bp)
			if rerr != nil {
				p.bufs.Put(bp)
				_ = resp.Body.Close()
				if r.Context().Err() != nil {
					p.m.requests.WithLabelValues("", "499").Inc()
					return
				}
				p.m.failures.WithLabelValues(rg.cfg.ID, "body").Inc()
				p.failed(set, rg, "body")
				last = &failure{r: rg, kind: "body", err: rerr}
				continue
			}
			p.succeeded(rg)
			p.respond(w, resp, rg, affinity, head, eof)
			p.bufs.Put(bp)
			return
		}
		p.m.failures.WithLabelValues(rg.cfg.ID, "status").Inc()
		p.failed(set, rg, resp.Status)
		f := &failure{r: rg, kind: "status", status: resp.StatusCode}
		if i == len(pl.order)-1 || f.noRetry(retryable, body) != "" {
			p.respond(w, resp, rg, affinity, nil, false) // the region's own answer
			return
		}
		f.resp = bufferResponse(resp) //nolint:bodyclose // bufferResponse reads and closes it
		last, saved = f, f
	}
	switch {
	case saved != nil:
		// A region's own 502/503/504 says more than the edge's 502.
		p.respond(w, saved.resp, saved.r, affinity, nil, false)
	case last != nil:
		p.giveUp(w, r, last, fmt.Sprintf("no region answered (tried %d)", len(pl.order)))
	default: // no regions: SetRegions forbids it
		p.reject(w, "no_region", http.StatusServiceUnavailable, "the edge has no region to forward to")
	}
}

// failure is a region's failure to answer one attempt.
type failure struct {
	r      *region
	kind   string // connect, reset, timeout, status
	err    error
	status int
	resp   *http.Response // the 502/503/504 answer, read into memory
}

func (f *failure) errText() string {
	if f.err != nil {
		return f.err.Error()
	}
	return http.StatusText(f.status)
}

// noRetry says why the request cannot go to another region after f, or "".
func (f *failure) noRetry(retryable bool, body *reqBody) string {
	if f.kind == "connect" && !body.touched() {
		return "" // nothing was sent
	}
	if !retryable {
		return "the request was not resent to another region: its method is not idempotent and it has no Idempotency-Key header"
	}
	if !body.replay {
		return "the request was not resent to another region: its body is too large to hold for a retry"
	}
	return ""
}

// noteRetry counts and logs (rate-limited) a request going on to region
// next after last.
func (p *Proxy) noteRetry(last *failure, next *region) {
	p.m.retries.WithLabelValues(last.r.cfg.ID).Inc()
	p.limit.Log("retry_"+last.r.cfg.ID, "region failed a request before answering; trying the next region",
		"region", last.r.cfg.ID, "next", next.cfg.ID, "failure", last.kind, "err", last.errText())
}

// giveUp answers a request no region answered.
func (p *Proxy) giveUp(w http.ResponseWriter, r *http.Request, f *failure, reason string) {
	code, msg := p.giveUpAnswer(r.Method, f, reason)
	w.Header().Set("X-Meridian-Edge", p.cfg.Name)
	h1.Plain(w, code, msg)
}

// giveUpAnswer logs and counts the edge's own answer to a request no
// region answered, and returns it.
func (p *Proxy) giveUpAnswer(method string, f *failure, reason string) (int, string) {
	code := http.StatusBadGateway
	if f.kind == "timeout" {
		code = http.StatusGatewayTimeout
	}
	p.limit.Log("give_up", "request failed: no region answered it", "region", f.r.cfg.ID,
		"method", method, "failure", f.kind, "code", code, "reason", reason)
	p.m.requests.WithLabelValues("", h1.CodeLabel(code)).Inc()
	return code, fmt.Sprintf("region %s failed before answering (%s); %s", f.r.cfg.ID, failureText(f), reason)
}

func failureText(f *failure) string {
	switch f.kind {
	case "connect":
		return "could not connect"
	case "timeout":
		return "timed out"
	case "status":
		return fmt.Sprintf("answered %d", f.status)
	}
	return "connection closed"
}

func (p *Proxy) reject(w http.ResponseWriter, reason string, code int, msg string) {
	p.m.rejections.WithLabelValues(reason).Inc()
	p.m.requests.WithLabelValues("", h1.CodeLabel(code)).Inc()
	w.Header().Set("X-Meridian-Edge", p.cfg.Name)
	h1.Plain(w, code, msg)
}

// notePrimary logs when the nearest available region changes: the traffic's
// failover decisions, one line each, not one per request.
func (p *Proxy) notePrimary(pl plan) {
	const allSick, allEjected = "!unhealthy", "!ejected" // not region IDs
	id := allEjected
	switch {
	case pl.failOpen:
		id = allSick
	case pl.primary != nil:
		id = pl.primary.cfg.ID
	}
	old := p.primary.Load()
	if old != nil && *old == id {
		return // (before any allocation: this runs on every request)
	}
	nid := id
	if !p.primary.CompareAndSwap(old, &nid) {
		return
	}
	prev := ""
	if old != nil {
		prev = *old
	}
	switch {
	case id == allSick:
		p.log.Warn("no region is healthy; trying every region", "previous", prev)
	case id == allEjected:
		p.log.Warn("every healthy region is ejected; trying them nearest first", "previous", prev)
	case prev == "":
		p.log.Info("edge traffic goes to region", "region", id)
	default:
		p.log.Warn("edge traffic now prefers another region", "region", id, "previous", prev)
	}
}

func gatewayFailure(code int) bool {
	return code == http.StatusBadGateway || code == http.StatusServiceUnavailable || code == http.StatusGatewayTimeout
}

// errKind classifies a RoundTrip error.
func errKind(err error) string {
	var ce *h1.ConnectError
	var ne net.Error
	switch {
	case errors.As(err, &ce):
		return "connect"
	case errors.As(err, &ne) && ne.Timeout(), errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	}
	return "reset" // the connection broke (or the answer was garbage) before response headers
}

// reqBody is the request body as sent to regions: held in memory (replay)
// when it may be resent, else the client's stream, read at most once.
type reqBody struct {
	replay bool
	buf    []byte
	orig   io.ReadCloser
	stream *trackedBody
}

func (b *reqBody) touched() bool { return b.stream != nil && b.stream.touched() }

// clientErr is why reading the client's streamed body failed, if it did.
func (b *reqBody) clientErr() error {
	if b.stream == nil {
		return nil
	}
	return b.stream.clientErr()
}

func (b *reqBody) closeOrig() {
	if b.orig != nil {
		_ = b.orig.Close()
	}
}

// trackedBody passes the client's body on, remembering whether any of it was
// read (then the request cannot be sent again) and whether reading it failed
// (then the client, not the region, broke the request). Close does nothing:
// the transport closes the body after each attempt, and the client's body
// must outlive a failed connect.
type trackedBody struct {
	r    io.Reader
	mu   sync.Mutex
	read bool
	err  error // the first error reading the client's body, other than EOF
}

func (b *trackedBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.mu.Lock()
	b.read = true
	if err != nil && err != io.EOF && b.err == nil {
		b.err = err
	}
	b.mu.Unlock()
	return n, err
}

func (b *trackedBody) Close() error { return nil }

func (b *trackedBody) touched() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.read
}

func (b *trackedBody) clientErr() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

// outgoing builds the request sent to regions from the client's request (r
// itself when own: internal/h1's server read it and nothing reads it after
// the handler), reading the body into memory when the request may be
// resent and the body fits in MaxRetryBody. The request's URL gives only
// the request line: each region's pool connects to its own address.
func (p *Proxy) outgoing(r *http.Request, retryable, own bool, body *reqBody) (*http.Request, error) {
	out := r
	if !own {
		out = new(http.Request)
		*out = *r
		if te := r.TransferEncoding; len(te) > 0 {
			out.TransferEncoding = append([]string(nil), te...)
		}
	}
	out.RequestURI = ""
	out.Close = false
	out.Proto, out.ProtoMajor, out.ProtoMinor = "HTTP/1.1", 1, 1
	h := r.Header // the server gave it to this handler alone

	*body = reqBody{replay: true}
	hasBody := r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0
	switch {
	case !hasBody:
	case retryable && r.ContentLength <= p.cfg.MaxRetryBody:
		body.orig = r.Body
		buf, err := io.ReadAll(io.LimitReader(r.Body, p.cfg.MaxRetryBody+1))
		if err != nil {
			return nil, fmt.Errorf("reading request body: %w", err)
		}
		if int64(len(buf)) <= p.cfg.MaxRetryBody {
			body.buf = buf
			break
		}
		body.replay = false
		body.stream = &trackedBody{r: io.MultiReader(bytes.NewReader(buf), r.Body)}
	default:
		body.orig = r.Body
		body.replay = false
		body.stream = &trackedBody{r: r.Body}
	}
	if body.replay {
		out.ContentLength = int64(len(body.buf))
		out.TransferEncoding = nil
		delete(h, "Expect") // the body is here: no need to ask the region first
	}

	h1.ForwardHeaders(out)
	return out, nil
}

// attach gives out a fresh view of the body for the next attempt.
func (b *reqBody) attach(out *http.Request) {
	switch {
	case !b.replay:
		out.Body = b.stream
		// The pool may resend a request on a fresh connection when the
		// pooled one turned out closed before anything was written; the
		// stream can be sent then, as long as none of it was read.
		st := b.stream
		out.GetBody = func() (io.ReadCloser, error) {
			if st.touched() {
				return nil, errors.New("the request body was partly sent and cannot be sent again")
			}
			return st, nil
		}
	case len(b.buf) == 0:
		out.Body, out.GetBody = nil, nil
	default:
		buf := b.buf
		out.Body = io.NopCloser(bytes.NewReader(buf))
		out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf)), nil }
	}
}

// bufferResponse reads a gateway failure's answer (they are short) so that it
// can be given to the client if no other region answers. The body is cut at
// 64 KiB.
func bufferResponse(resp *http.Response) *http.Response {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(b))
	resp.ContentLength = int64(len(b))
	resp.Header.Del("Content-Length")
	resp.Trailer = nil
	return resp
}

// brokeOff counts and logs a region's answer broken off after its head
// went to the client (whose connection is then reset).
func (p *Proxy) brokeOff(rg *region, err error) {
	p.m.failures.WithLabelValues(rg.cfg.ID, "body").Inc()
	p.limit.Log("body_"+rg.cfg.ID, "region broke off its response; resetting the client's connection",
		"region", rg.cfg.ID, "err", err)
}

// regionFields adds the edge's fields to region rg's answer with code:
// X-Meridian-Edge and -Region, and the affinity cookie when the client's
// is not for rg (not on a gateway failure).
func (p *Proxy) regionFields(h http.Header, rg *region, affinity string, code int) {
	h["X-Meridian-Edge"] = p.nameValue
	h["X-Meridian-Region"] = rg.idValue
	if !p.cfg.DisableAffinity && affinity != rg.cfg.ID && !gatewayFailure(code) {
		h["Set-Cookie"] = append(h["Set-Cookie"], rg.cookieValue)
	}
}

// prefetch reads the start of resp's body into buf: all of it when its
// length is known and fits, else what the first reads bring without
// waiting for more (a stream's first event must not wait for the next).
// eof reports that the body ended; err, that it broke off.
func prefetch(resp *http.Response, buf []byte) (head []byte, eof bool, err error) {
	n := 0
	for n < len(buf) {
		m, rerr := resp.Body.Read(buf[n:])
		n += m
		if rerr == io.EOF {
			return buf[:n], true, nil
		}
		if rerr != nil {
			return nil, false, rerr
		}
		if resp.ContentLength < 0 && n > 0 {
			break
		}
	}
	return buf[:n], false, nil
}

// respond copies a region's response to the client: head, the part of the
// body already read (all of it when eof), then the rest.
func (p *Proxy) respond(w http.ResponseWriter, resp *http.Response, rg *region, affinity string, head []byte, eof bool) {
	defer func() { _ = resp.Body.Close() }()
	h := h1.ResponseHeader(w, resp)
	p.regionFields(h, rg, affinity, resp.StatusCode)
	if len(resp.Trailer) > 0 {
		keys := make([]string, 0, len(resp.Trailer))
		for k := range resp.Trailer {
			keys = append(keys, k)
		}
		h["Trailer"] = []string{strings.Join(keys, ", ")}
	}
	w.WriteHeader(resp.StatusCode)
	p.answered(rg, resp.StatusCode)

	flusher, _ := w.(http.Flusher)
	stream := resp.ContentLength < 0 && flusher != nil
	if len(head) > 0 {
		if _, werr := w.Write(head); werr != nil {
			return // the client went away
		}
		if stream && !eof && !h1.MoreBuffered(resp.Body) {
			flusher.Flush()
		}
	}
	if eof {
		for k, v := range resp.Trailer {
			h[k] = v
		}
		return
	}
	bp := p.bufs.Get().(*[]byte)
	defer p.bufs.Put(bp)
	buf := *bp
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return // the client went away
			}
			if stream && !h1.MoreBuffered(resp.Body) {
				flusher.Flush()
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			p.brokeOff(rg, rerr)
			// Abort the client's connection so it cannot take a truncated
			// body for a whole one.
			panic(http.ErrAbortHandler)
		}
	}
	for k, v := range resp.Trailer {
		h[k] = v
	}
}
