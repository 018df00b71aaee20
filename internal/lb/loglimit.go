package lb

import (
	"log/slog"
	"sync"
	"time"
)

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
