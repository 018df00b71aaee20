// Package hlc is a hybrid logical clock: every write in Meridian is stamped with
// a Timestamp from it, and (Timestamp, region) totally orders writes for
// last-writer-wins. The physical part follows the wall clock; the logical part
// breaks ties and keeps the clock monotonic when the wall clock stalls or steps
// back. Update folds in timestamps seen from peers, refusing any that run ahead
// of the local wall clock by more than the configured maximum offset, so a
// region with a fast clock cannot win every conflict.
//
// Imported by the store and the replication layer.
package hlc

import (
	"fmt"
	"sync"
	"time"
)

// Timestamp is a hybrid logical clock reading: WallNanos is Unix nanoseconds,
// Logical orders events within one wall reading.
type Timestamp struct {
	WallNanos int64
	Logical   uint32
}

// Less reports whether t orders before u.
func (t Timestamp) Less(u Timestamp) bool {
	if t.WallNanos != u.WallNanos {
		return t.WallNanos < u.WallNanos
	}
	return t.Logical < u.Logical
}

// Compare returns -1, 0 or 1.
func (t Timestamp) Compare(u Timestamp) int {
	switch {
	case t.Less(u):
		return -1
	case u.Less(t):
		return 1
	}
	return 0
}

// IsZero reports whether t is the zero timestamp.
func (t Timestamp) IsZero() bool { return t.WallNanos == 0 && t.Logical == 0 }

// Time returns the physical part as a time.Time.
func (t Timestamp) Time() time.Time { return time.Unix(0, t.WallNanos) }

func (t Timestamp) String() string {
	return fmt.Sprintf("%s+%d", t.Time().UTC().Format("2006-01-02T15:04:05.000000000Z"), t.Logical)
}

// OffsetError is returned by Update when a remote timestamp is further ahead of
// the local wall clock than the maximum offset.
type OffsetError struct {
	Remote    Timestamp
	Local     time.Time
	MaxOffset time.Duration
}

func (e *OffsetError) Error() string {
	return fmt.Sprintf("remote clock is %s ahead of the local wall clock (maximum offset %s)",
		e.Remote.Time().Sub(e.Local).Round(time.Millisecond), e.MaxOffset)
}

// Clock is a hybrid logical clock. It is safe for concurrent use.
type Clock struct {
	now       func() time.Time
	maxOffset time.Duration

	mu   sync.Mutex
	last Timestamp
}

// New returns a clock reading physical time from now (time.Now when nil) that
// refuses remote timestamps more than maxOffset ahead (0 disables the check).
func New(now func() time.Time, maxOffset time.Duration) *Clock {
	if now == nil {
		now = time.Now
	}
	return &Clock{now: now, maxOffset: maxOffset}
}

// Now returns a timestamp strictly greater than every one returned or observed
// before.
func (c *Clock) Now() Timestamp {
	wall := c.now().UnixNano()
	c.mu.Lock()
	defer c.mu.Unlock()
	if wall > c.last.WallNanos {
		c.last = Timestamp{WallNanos: wall}
	} else {
		c.last.Logical++
	}
	return c.last
}

// Update folds a timestamp observed from a peer into the clock, so that later
// local timestamps order after it. It refuses timestamps too far ahead.
func (c *Clock) Update(remote Timestamp) error {
	local := c.now()
	if c.maxOffset > 0 && remote.WallNanos-local.UnixNano() > int64(c.maxOffset) {
		return &OffsetError{Remote: remote, Local: local, MaxOffset: c.maxOffset}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last.Less(remote) {
		c.last = remote
	}
	return nil
}

// Observe folds a timestamp into the clock without the offset check. It is for
// timestamps the node itself issued before a restart.
func (c *Clock) Observe(ts Timestamp) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last.Less(ts) {
		c.last = ts
	}
}

// MaxOffset is the configured maximum tolerated offset.
func (c *Clock) MaxOffset() time.Duration { return c.maxOffset }

// WallNow is the physical clock reading.
func (c *Clock) WallNow() time.Time { return c.now() }
