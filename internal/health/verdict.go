package health

import (
	"slices"
	"time"
)

// Verdict is the state of a check.
type Verdict string

// Verdicts.
const (
	// Unknown means there is no verdict yet: no probe result, or no checker
	// with a known verdict.
	Unknown   Verdict = "unknown"
	Healthy   Verdict = "healthy"
	Unhealthy Verdict = "unhealthy"
)

func (v Verdict) valid() bool { return v == Unknown || v == Healthy || v == Unhealthy }

// invert swaps healthy and unhealthy when on is true.
func (v Verdict) invert(on bool) Verdict {
	switch {
	case !on:
		return v
	case v == Healthy:
		return Unhealthy
	case v == Unhealthy:
		return Healthy
	}
	return v
}

// tracker turns probe results into a verdict, Route 53 style: threshold
// consecutive failures make a check unhealthy, threshold consecutive
// successes make an unhealthy check healthy again. A check without a verdict
// becomes healthy on its first success.
type tracker struct {
	threshold  int
	verdict    Verdict
	oks, fails int
}

func newTracker(threshold int) tracker { return tracker{threshold: threshold, verdict: Unknown} }

// observe records one probe result and reports whether the verdict changed.
func (t *tracker) observe(ok bool) bool {
	old := t.verdict
	if ok {
		t.oks, t.fails = t.oks+1, 0
		if t.verdict == Unknown || (t.verdict == Unhealthy && t.oks >= t.threshold) {
			t.verdict = Healthy
		}
	} else {
		t.oks, t.fails = 0, t.fails+1
		if t.verdict != Unhealthy && t.fails >= t.threshold {
			t.verdict = Unhealthy
		}
	}
	return t.verdict != old
}

// majority is the global verdict from the votes of the checkers that have a
// fresh one, out of n configured checkers: unhealthy when a strict majority
// of all n vote unhealthy; otherwise healthy when any vote is known, and
// unknown when none is.
func majority(votes []Verdict, n int) Verdict {
	unhealthy, known := 0, false
	for _, v := range votes {
		switch v {
		case Unhealthy:
			unhealthy++
			known = true
		case Healthy:
			known = true
		}
	}
	switch {
	case 2*unhealthy > n:
		return Unhealthy
	case known:
		return Healthy
	}
	return Unknown
}

// combine is the verdict of a calculated check from its children's verdicts:
// healthy when at least need are healthy, unhealthy when that can no longer
// happen even if every unknown child turns out healthy, unknown otherwise.
func combine(children []Verdict, need int) Verdict {
	healthy, unknown := 0, 0
	for _, v := range children {
		switch v {
		case Healthy:
			healthy++
		case Unknown:
			unknown++
		}
	}
	switch {
	case healthy >= need:
		return Healthy
	case healthy+unknown < need:
		return Unhealthy
	}
	return Unknown
}

// rttWindow keeps the round-trip times of the last successful probes; RTT
// is their median, so one slow probe (a retransmission, a GC pause) does not
// move it.
type rttWindow struct {
	samples [rttSamples]time.Duration
	n, next int
}

const rttSamples = 5

func (w *rttWindow) add(d time.Duration) {
	w.samples[w.next] = d
	w.next = (w.next + 1) % rttSamples
	w.n = min(w.n+1, rttSamples)
}

func (w *rttWindow) median() (time.Duration, bool) {
	if w.n == 0 {
		return 0, false
	}
	s := slices.Clone(w.samples[:w.n])
	slices.Sort(s)
	if w.n%2 == 1 {
		return s[w.n/2], true
	}
	return (s[w.n/2-1] + s[w.n/2]) / 2, true
}
