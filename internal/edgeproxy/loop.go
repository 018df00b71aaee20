package edgeproxy

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/meridian-platform/meridian/internal/h1"
)

// Exchange implements h1.Proxy: the server's event loops serve the plain
// requests (bodiless HTTP/1.1; internal/h1's loop.go) as ServeHTTP serves
// every request: the same order of regions, failovers, outlier ejections
// (which abort attempts under way), answers, headers and metrics. The
// start of each answer's body is held before the answer is taken
// (prefetch's buffer, when its length is known), and a region's 502, 503
// or 504 is refused while another region may do better and kept for when
// none does.
//
// The loops dial TCP themselves, so they serve only when Config.Dial is
// nil (a simulated network's dialer is not theirs), and only requests
// that Config.Wrap's handler passes to the proxy (Config.Wrapped).
func (p *Proxy) Exchange(r *http.Request) h1.Exchange {
	if p.cfg.Wrap != nil && p.cfg.Wrapped(r) {
		return nil
	}
	if _, ok := r.Header["Upgrade"]; ok {
		return nil // (ServeHTTP refuses it, or ignores an h2c upgrade)
	}
	x := &loopExchange{p: p, set: p.set.Load(), method: r.Method, body: reqBody{replay: true}}
	x.affinity = p.affinityOf(r)
	x.retryable = h1.Idempotent(r.Method) || r.Header.Get("Idempotency-Key") != ""
	h1.ForwardHeaders(r)
	pl := p.choose(x.set, x.affinity, x.orderBuf[:])
	p.notePrimary(pl)
	x.order = pl.order
	return x
}

// loopExchange is one request on an event loop: ServeHTTP's loop over the
// regions, turned inside out.
type loopExchange struct {
	p         *Proxy
	set       *regionSet
	method    string
	affinity  string
	retryable bool
	orderBuf  [8]*region
	order     []*region
	body      reqBody // (none)
	i         int     // regions tried
	cur       *region // the one being tried, or whose answer was taken
	abort     *h1.Abort
	start     time.Time
	last      *failure
	saved     *failure // the last gateway failure refused, for Failed
	exhausted bool     // every region was tried
	giveUp    string   // why the request went to no further region
	fallback  bool     // Failed asked for saved's answer
}

func (x *loopExchange) Next(err error) h1.Attempt {
	p := x.p
	x.untrack()
	if err != nil {
		rg := x.cur
		kind := errKind(err)
		var be *h1.BodyError
		switch {
		case errors.Is(err, errEjected):
			kind = "ejected"
		case errors.Is(err, h1.ErrRefused):
			kind = "status"
		case errors.As(err, &be):
			kind = "body"
		}
		if kind != "status" { // (a refused answer was counted by Answer)
			p.m.failures.WithLabelValues(rg.cfg.ID, kind).Inc()
			p.failed(x.set, rg, kind)
			x.last = &failure{r: rg, kind: kind, err: err}
		}
	}
	if x.i >= len(x.order) {
		x.exhausted = true
		x.giveUp = fmt.Sprintf("no region answered (tried %d)", len(x.order))
		return h1.Attempt{}
	}
	if x.last != nil {
		if reason := x.last.noRetry(x.retryable, &x.body); reason != "" {
			x.giveUp = reason
			return h1.Attempt{}
		}
	}
	rg := x.order[x.i]
	x.i++
	if x.last != nil {
		p.noteRetry(x.last, rg)
	}
	x.cur = rg
	x.start = p.cfg.Now()
	a := h1.Attempt{Pool: rg.up, Hold: prefetchSize}
	if x.i < len(x.order) {
		a.ConnectTimeout = p.connectTimeout(rg.cfg.ID)
	}
	if x.retryable {
		x.abort = new(h1.Abort)
		rg.out.track(x.abort)
		a.Abort = x.abort
	}
	return a
}

// Failed answers as ServeHTTP does when no region answered: a region's own
// gateway failure when one was kept, else the edge's own.
func (x *loopExchange) Failed(h http.Header) (int, string) {
	p := x.p
	h["X-Meridian-Edge"] = p.nameValue
	if x.exhausted && x.saved != nil {
		x.fallback = true
		return 0, "" // the region's own 502/503/504 says more than the edge's 502
	}
	f := x.last
	if f == nil { // no regions: SetRegions forbids it
		p.m.rejections.WithLabelValues("no_region").Inc()
		p.m.requests.WithLabelValues("", "503").Inc()
		return http.StatusServiceUnavailable, "the edge has no region to forward to"
	}
	x.cur = nil // the edge's answer, not a region's
	return p.giveUpAnswer(x.method, f, x.giveUp)
}

func (x *loopExchange) Answer(resp *http.Response) bool {
	p, rg := x.p, x.cur
	if x.fallback {
		rg = x.saved.r // the kept answer, which Failed asked for
	} else {
		p.observeUpstream(rg, p.cfg.Now().Sub(x.start))
		if gatewayFailure(resp.StatusCode) {
			p.m.failures.WithLabelValues(rg.cfg.ID, "status").Inc()
			p.failed(x.set, rg, resp.Status)
			f := &failure{r: rg, kind: "status", status: resp.StatusCode}
			x.last = f
			if x.i < len(x.order) && f.noRetry(x.retryable, &x.body) == "" {
				x.saved = f
				return false
			}
		} else {
			p.succeeded(rg)
		}
	}
	x.cur = rg
	p.regionFields(resp.Header, rg, x.affinity, resp.StatusCode)
	p.answered(rg, resp.StatusCode)
	return true
}

func (x *loopExchange) Done(code int, err error) {
	p := x.p
	x.untrack()
	switch {
	case code == 499:
		p.m.requests.WithLabelValues("", "499").Inc() // the client went away
	case err != nil && x.cur != nil:
		p.brokeOff(x.cur, err)
	}
}

// untrack ends the ejection's hold on the last attempt.
func (x *loopExchange) untrack() {
	if x.abort != nil {
		x.cur.out.untrack(x.abort)
		x.abort = nil
	}
}
