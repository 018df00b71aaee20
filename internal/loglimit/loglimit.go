// Package loglimit rate-limits warnings per key, so a flood of bad clients
// or a failing target cannot flood a log. It imports nothing of Meridian's.
package loglimit

import (
	"log/slog"
	"sync"
	"time"
)

// Limiter logs at most one warning per key per second, counting the rest
// and reporting them as "suppressed" on the next line it lets through.
type Limiter struct {
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

// New returns a Limiter writing to log with the clock now.
func New(log *slog.Logger, now func() time.Time) *Limiter {
	return &Limiter{out: log, now: now, by: map[string]*limitState{}}
}

// Log writes msg at warning level unless key was logged in the last second.
// Keys should be few and fixed (an event kind, a region).
func (ll *Limiter) Log(key, msg string, args ...any) {
	now := ll.now()
	ll.mu.Lock()
	s := ll.by[key]
	if s == nil {
		if len(ll.by) > 1000 { // a backstop against unbounded keys
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
	ll.out.Warn(msg, args...) //nolint:sloglint // a rate-limiting wrapper: callers pass static messages
}
