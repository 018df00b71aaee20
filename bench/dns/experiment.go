package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"runtime"

	mdns "github.com/miekg/dns"

	"github.com/meridian-platform/meridian/internal/dns"
)

// Experiments (-experiments) serve the same dns.Server's handler over UDP
// in other ways than Run does, next to the product in the same rounds. They
// were written to measure changes proposed for internal/dns before they
// were made (issue #5); now that internal/dns serves UDP with its own
// batched worker pool and fast path, they measure what those layers add.
// They are not the product.
const (
	// expPlain gives internal/dns a PacketConn that is not a *net.UDPConn:
	// its workers then read and write one datagram per system call
	// (ReadFrom, WriteTo) instead of batches; the fast path still applies.
	// (Before issue #5 this measured miekg/dns without IP_PKTINFO.)
	expPlain = "plain"
	// expPool answers UDP with this program's own pool of goroutines, each
	// looping read → ServeDNS → write on its own buffer: the general path
	// (miekg/dns Unpack and Pack), one datagram per system call, no fast
	// path; TCP stays with Run.
	expPool = "pool"
)

var experiments = []string{expPlain, expPool}

// plainConn hides the *net.UDPConn behind the net.PacketConn interface.
type plainConn struct{ net.PacketConn }

// experimentConfig adapts cfg for experiment exp on addr and returns a
// function that serves the experiment's UDP side (nil when Run serves it).
func experimentConfig(cfg *dns.Config, exp, addr string) (serveUDP func(context.Context, *dns.Server) error, err error) {
	switch exp {
	case "":
		return nil, nil
	case expPlain:
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, err
		}
		cfg.PacketConn = plainConn{pc}
		return nil, nil
	case expPool:
		ap, err := netip.ParseAddrPort(addr)
		if err != nil {
			return nil, err
		}
		conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(ap))
		if err != nil {
			return nil, err
		}
		// Run still wants a UDP socket: give it one nobody queries, on
		// another port of the same address; TCP goes to addr.
		unused, err := net.ListenPacket("udp", ap.Addr().String()+":0")
		if err != nil {
			_ = conn.Close()
			return nil, err
		}
		cfg.PacketConn = unused
		return func(ctx context.Context, s *dns.Server) error { return servePool(ctx, s, conn) }, nil
	}
	return nil, fmt.Errorf("unknown experiment %q (want one of %v)", exp, experiments)
}

// servePool runs 2×GOMAXPROCS workers on conn until ctx is done.
func servePool(ctx context.Context, s *dns.Server, conn *net.UDPConn) error {
	n := 2 * runtime.GOMAXPROCS(0)
	errc := make(chan error, n)
	for range n {
		go func() { errc <- poolWorker(s, conn) }()
	}
	<-ctx.Done()
	_ = conn.Close()
	for range n {
		<-errc //nolint:errcheck // each worker returns the error of reading a closed conn
	}
	return nil
}

func poolWorker(s *dns.Server, conn *net.UDPConn) error {
	in := make([]byte, mdns.MaxMsgSize)
	w := &poolWriter{conn: conn, buf: make([]byte, mdns.MaxMsgSize)}
	for {
		n, from, err := conn.ReadFromUDPAddrPort(in)
		if err != nil {
			return err // closed
		}
		req := new(mdns.Msg)
		if req.Unpack(in[:n]) != nil {
			continue // miekg/dns would answer FORMERR; the mix has no malformed queries
		}
		w.to = from
		s.ServeDNS(w, req)
	}
}

// poolWriter is the mdns.ResponseWriter of one pool worker.
type poolWriter struct {
	conn *net.UDPConn
	to   netip.AddrPort
	buf  []byte
}

var _ mdns.ResponseWriter = (*poolWriter)(nil)

func (w *poolWriter) LocalAddr() net.Addr  { return w.conn.LocalAddr() }
func (w *poolWriter) RemoteAddr() net.Addr { return net.UDPAddrFromAddrPort(w.to) }
func (w *poolWriter) WriteMsg(m *mdns.Msg) error {
	b, err := m.PackBuffer(w.buf)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}
func (w *poolWriter) Write(b []byte) (int, error) { return w.conn.WriteToUDPAddrPort(b, w.to) }
func (w *poolWriter) Close() error                { return nil }
func (w *poolWriter) TsigStatus() error           { return nil }
func (w *poolWriter) TsigTimersOnly(bool)         {}
func (w *poolWriter) Hijack()                     {}
