package h1

import (
	"context"
	"sync"
)

// connCtx is a client connection's context, the context of every request
// read from it: it ends when the client goes away or the connection
// closes. A Pool round trip on it registers its abort in a slot of the
// connection instead of with context.AfterFunc, which for every request
// allocates and registers a child with the context, and removes it again.
type connCtx struct {
	context.Context
	cancel context.CancelFunc

	mu   sync.Mutex
	hook func() // the abort of the round trip under way, if any
	done bool   // ended: no more hooks
}

type connCtxKey struct{}

func newConnCtx() *connCtx {
	c := &connCtx{}
	c.Context, c.cancel = context.WithCancel(context.Background())
	return c
}

func (c *connCtx) Value(key any) any {
	if key == (connCtxKey{}) {
		return c
	}
	return c.Context.Value(key)
}

// end cancels the context and runs the registered hook.
func (c *connCtx) end() {
	c.cancel()
	c.mu.Lock()
	f := c.hook
	c.hook, c.done = nil, true
	c.mu.Unlock()
	if f != nil {
		f()
	}
}

// afterStop undoes an afterFunc.
type afterStop struct {
	c    *connCtx
	stop func() bool
}

// afterFunc is context.AfterFunc(ctx, f), without its cost when ctx ends
// exactly when a connection's context does (it is one, or only carries
// values on top of one) and the connection's slot is free. f must not
// block: it may run on the goroutine that ends the context.
func afterFunc(ctx context.Context, f func()) afterStop {
	if c, _ := ctx.Value(connCtxKey{}).(*connCtx); c != nil && ctx.Done() == c.Done() {
		c.mu.Lock()
		if !c.done && c.hook == nil {
			c.hook = f
			c.mu.Unlock()
			return afterStop{c: c}
		}
		c.mu.Unlock()
	}
	return afterStop{stop: context.AfterFunc(ctx, f)}
}

// Stop keeps f from running; it reports whether it did (false: f ran or
// is running).
func (s afterStop) Stop() bool {
	if s.c == nil {
		return s.stop()
	}
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	if s.c.hook == nil {
		return false // ran: once the context ended nothing registers again
	}
	s.c.hook = nil
	return true
}
