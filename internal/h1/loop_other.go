//go:build !linux

package h1

import "net"

// Event loops are Linux's (epoll); elsewhere the goroutine server serves
// every request.

type evLoop struct{}

func (*evLoop) nudge() {}

func (*Server) serveLoops(net.Listener) (bool, error) { return false, nil }
