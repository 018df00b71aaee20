package netsim

import "net"

// QueuedWrite reports how many bytes c, a conn from this package, holds on
// their way to the peer.
func QueuedWrite(c net.Conn) int {
	cc := c.(*conn)
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return cc.wq.bytes
}

// Stopped returns a channel closed once c's goroutines have exited.
func Stopped(c net.Conn) <-chan struct{} { return c.(*conn).stopped }
