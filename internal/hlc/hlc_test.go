package hlc

import (
	"errors"
	"sync"
	"testing"
	"time"
)

type manualClock struct {
	mu sync.Mutex
	t  time.Time
}

func (m *manualClock) now() time.Time  { m.mu.Lock(); defer m.mu.Unlock(); return m.t }
func (m *manualClock) set(t time.Time) { m.mu.Lock(); m.t = t; m.mu.Unlock() }

func TestNowIsStrictlyMonotonic(t *testing.T) {
	mc := &manualClock{t: time.Unix(1000, 0)}
	c := New(mc.now, 0)
	a := c.Now()
	b := c.Now() // wall clock stalled
	if !a.Less(b) {
		t.Fatalf("stalled wall clock: got %v then %v, want increasing", a, b)
	}
	mc.set(time.Unix(999, 0)) // wall clock stepped back
	d := c.Now()
	if !b.Less(d) {
		t.Fatalf("clock stepped back: got %v after %v, want increasing", d, b)
	}
	mc.set(time.Unix(1001, 0))
	e := c.Now()
	if e != (Timestamp{WallNanos: time.Unix(1001, 0).UnixNano()}) {
		t.Fatalf("got %v, want wall time with logical 0 once the wall clock moves past", e)
	}
}

func TestUpdateOrdersLaterWritesAfterRemote(t *testing.T) {
	mc := &manualClock{t: time.Unix(1000, 0)}
	c := New(mc.now, time.Second)
	remote := Timestamp{WallNanos: time.Unix(1000, 0).Add(400 * time.Millisecond).UnixNano(), Logical: 7}
	if err := c.Update(remote); err != nil {
		t.Fatalf("update within offset: %v", err)
	}
	if got := c.Now(); !remote.Less(got) {
		t.Fatalf("got %v, want after remote %v", got, remote)
	}
}

func TestUpdateRefusesClockAheadOfMaxOffset(t *testing.T) {
	mc := &manualClock{t: time.Unix(1000, 0)}
	c := New(mc.now, 500*time.Millisecond)
	remote := Timestamp{WallNanos: time.Unix(1002, 0).UnixNano()}
	err := c.Update(remote)
	var oe *OffsetError
	if !errors.As(err, &oe) {
		t.Fatalf("got %v, want an OffsetError", err)
	}
	if got := c.Now(); !got.Less(remote) {
		t.Fatalf("refused timestamp leaked into the clock: got %v", got)
	}
}

func TestConcurrentNowIsUnique(t *testing.T) {
	c := New(nil, 0)
	const n = 8
	const per = 2000
	out := make(chan Timestamp, n*per)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for range per {
				out <- c.Now()
			}
		})
	}
	wg.Wait()
	close(out)
	seen := map[Timestamp]bool{}
	for ts := range out {
		if seen[ts] {
			t.Fatalf("timestamp %v issued twice", ts)
		}
		seen[ts] = true
	}
}
