package edgeproxy

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meridian-platform/meridian/internal/h1"
)

// outlier is a region's failure count and ejection. It is kept by region ID,
// so it outlives SetRegions.
type outlier struct {
	failures atomic.Int64
	// until is when the current ejection ends (Unix nanoseconds), 0 when
	// the region is not ejected.
	until atomic.Int64
	// lastEnd is when the last ejection ended (Unix nanoseconds); ejections
	// counts ejections in a row. Both are guarded by Proxy.ejectMu.
	lastEnd   atomic.Int64
	ejections int

	// attempts are the retryable attempts in flight to the region, which an ejection aborts so that they go to another
	// region: a request held by a region that stopped answering would
	// otherwise wait for UpstreamTimeout.
	attemptsMu sync.Mutex
	attempts   map[*h1.Abort]struct{}
	// healthy is the region's health when last looked at (see
	// Proxy.healthy); it starts true.
	healthy atomic.Bool
}

func newOutlier() *outlier {
	o := &outlier{}
	o.healthy.Store(true)
	return o
}

// errEjected is the cause of an attempt aborted by its region's ejection.
var errEjected = errors.New("the region was ejected while the request waited for its answer")

// track registers an attempt until untrack.
func (o *outlier) track(a *h1.Abort) {
	o.attemptsMu.Lock()
	if o.attempts == nil {
		o.attempts = map[*h1.Abort]struct{}{}
	}
	o.attempts[a] = struct{}{}
	o.attemptsMu.Unlock()
}

func (o *outlier) untrack(a *h1.Abort) {
	o.attemptsMu.Lock()
	delete(o.attempts, a)
	o.attemptsMu.Unlock()
}

// abortAll aborts every tracked attempt and returns how many.
func (o *outlier) abortAll() int {
	o.attemptsMu.Lock()
	defer o.attemptsMu.Unlock()
	for a := range o.attempts {
		a.Abort(errEjected)
	}
	n := len(o.attempts)
	clear(o.attempts)
	return n
}

// ejected reports whether r is ejected now; the first caller to see an
// ejection over logs its end.
func (p *Proxy) ejected(r *region, now time.Time) bool {
	u := r.out.until.Load()
	if u == 0 {
		return false
	}
	if now.UnixNano() < u {
		return true
	}
	if r.out.until.CompareAndSwap(u, 0) {
		r.out.lastEnd.Store(u)
		p.log.Info("region ejection ended", "region", r.cfg.ID)
	}
	return false
}

// succeeded records an answer from r that is not a gateway failure.
func (p *Proxy) succeeded(r *region) {
	if r.out.failures.Load() != 0 {
		r.out.failures.Store(0)
	}
}

// failed records a failure of r and ejects it after enough in a row, unless
// the ejection limits forbid it.
func (p *Proxy) failed(set *regionSet, r *region, why string) {
	o := &p.cfg.Outlier
	if o.Disabled {
		return
	}
	now := p.cfg.Now()
	if p.ejected(r, now) {
		return // tried as a last resort: that does not count toward the next ejection
	}
	n := r.out.failures.Add(1)
	if n < int64(o.ConsecutiveFailures) {
		return
	}
	p.ejectMu.Lock()
	defer p.ejectMu.Unlock()
	if p.ejected(r, now) {
		return
	}
	if r.out.failures.Load() < int64(o.ConsecutiveFailures) {
		return // a success or another ejection came in between
	}
	ejected, others := 0, 0
	for _, x := range set.list {
		switch {
		case p.ejected(x, now):
			ejected++
		case x != r && p.healthy(x):
			others++
		}
	}
	if others == 0 {
		p.limit.Log("eject_last_"+r.cfg.ID, "not ejecting a failing region: no other healthy region is left",
			"region", r.cfg.ID, "failures", n, "last_failure", why)
		return
	}
	if (ejected+1)*100 > o.MaxEjectionPercent*len(set.list) {
		p.limit.Log("eject_limit_"+r.cfg.ID, "not ejecting a failing region: max ejection percent reached",
			"region", r.cfg.ID, "failures", n, "ejected", ejected, "max_ejection_percent", o.MaxEjectionPercent,
			"last_failure", why)
		return
	}
	if last := r.out.lastEnd.Load(); last != 0 && r.out.ejections > 0 {
		quiet := now.Sub(time.Unix(0, last))
		r.out.ejections = max(0, r.out.ejections-int(quiet/o.MaxEjection))
	}
	r.out.ejections++
	d := min(o.BaseEjection*time.Duration(r.out.ejections), o.MaxEjection)
	r.out.until.Store(now.Add(d).UnixNano())
	r.out.failures.Store(0)
	p.m.ejections.WithLabelValues(r.cfg.ID).Inc()
	aborted := r.out.abortAll()
	p.log.Warn("region ejected", "region", r.cfg.ID, "duration", d, "ejections_in_a_row", r.out.ejections,
		"failures", n, "last_failure", why, "aborted_attempts", aborted)
}
