package h1

import (
	"context"
	"sync/atomic"
	"testing"
)

type ctxValueKey struct{}

// TestAfterFunc checks the connection-slot afterFunc against
// context.AfterFunc's contract: f runs once the context ends unless
// stopped first, and Stop says which happened.
func TestAfterFunc(t *testing.T) {
	t.Run("stopped before the end", func(t *testing.T) {
		c := newConnCtx()
		var ran atomic.Int32
		s := afterFunc(c, func() { ran.Add(1) })
		if s.c == nil {
			t.Fatal("did not take the connection's slot")
		}
		if !s.Stop() {
			t.Error("Stop: got false, want true")
		}
		c.end()
		if ran.Load() != 0 {
			t.Error("f ran after Stop")
		}
	})
	t.Run("ended", func(t *testing.T) {
		c := newConnCtx()
		var ran atomic.Int32
		s := afterFunc(context.WithValue(c, ctxValueKey{}, 1), func() { ran.Add(1) })
		if s.c == nil {
			t.Fatal("a value on the connection's context: did not take the slot")
		}
		c.end()
		if ran.Load() != 1 {
			t.Errorf("f ran %d times, want 1", ran.Load())
		}
		if s.Stop() {
			t.Error("Stop after f ran: got true, want false")
		}
		if c.Err() == nil {
			t.Error("the context did not end")
		}
	})
	t.Run("slot taken, own cancellation, ended", func(t *testing.T) {
		c := newConnCtx()
		var first, second, child, late atomic.Int32
		s1 := afterFunc(c, func() { first.Add(1) })
		s2 := afterFunc(c, func() { second.Add(1) })
		if s2.c != nil {
			t.Fatal("a second afterFunc took the busy slot")
		}
		cctx, cancel := context.WithCancel(c)
		s3 := afterFunc(cctx, func() { child.Add(1) })
		if s3.c != nil {
			t.Fatal("a context with its own cancellation took the slot")
		}
		cancel()
		waitUntil(t, "f of the child context", func() bool { return child.Load() == 1 })
		c.end()
		waitUntil(t, "f of the fallback", func() bool { return second.Load() == 1 })
		if first.Load() != 1 || s1.Stop() || s2.Stop() {
			t.Error("after the end: f did not run, or Stop says it did not")
		}
		s4 := afterFunc(c, func() { late.Add(1) }) // on an ended context: runs at once
		waitUntil(t, "f on an ended context", func() bool { return late.Load() == 1 })
		if s4.Stop() {
			t.Error("Stop on an ended context: got true")
		}
	})
}
