package dns

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"runtime"

	mdns "github.com/miekg/dns"
)

// UDP serving. miekg/dns reads UDP with one goroutine and starts a new
// goroutine per packet, and on a *net.UDPConn parses and builds IP_PKTINFO
// control messages for every packet so answers leave from the address a
// query came to. When the socket is bound to one address that address is
// already the source, so the server answers UDP itself instead: a fixed
// pool of workers, each looping read → answer → write on its own buffers.
// A socket bound to a wildcard address (0.0.0.0, ::) stays with miekg/dns,
// which needs the control messages to answer from the right address.
//
// Before a query reaches the handler the workers do what miekg/dns's
// server does, in the same order (see serveUDPPacket): packets shorter than
// a header are counted as malformed and dropped, responses are ignored,
// other opcodes than QUERY and NOTIFY get NOTIMP, and queries that fail
// miekg's acceptance checks or do not parse get FORMERR.

// udpWorkersPerCPU is the number of workers per GOMAXPROCS: two, so one
// can read while another answers.
const udpWorkersPerCPU = 2

// udpReadSize is the read buffer: a whole datagram, as miekg/dns reads with
// Server.UDPSize = MaxMsgSize.
const udpReadSize = mdns.MaxMsgSize

// boundToOneAddress reports whether pc needs no control messages to answer
// from the address a query came to.
func boundToOneAddress(pc net.PacketConn) bool {
	u, ok := pc.(*net.UDPConn)
	if !ok {
		return true // miekg/dns would use ReadFrom and WriteTo too
	}
	a, ok := u.LocalAddr().(*net.UDPAddr)
	return ok && a.IP != nil && !a.IP.IsUnspecified()
}

// serveUDP answers queries on pc with a pool of workers until pc is closed;
// it returns nil once it is. Any other read error stops every worker and is
// returned.
func (s *Server) serveUDP(pc net.PacketConn, closing func() bool) error {
	n := udpWorkersPerCPU * runtime.GOMAXPROCS(0)
	errc := make(chan error, n)
	for range n {
		go func() { errc <- s.udpWorker(pc) }() // returns when pc is closed
	}
	var err error
	for range n {
		if e := <-errc; e != nil && err == nil && !closing() {
			err = e
			_ = pc.Close() // stop the other workers
		}
	}
	return err
}

func (s *Server) udpWorker(pc net.PacketConn) error {
	u, _ := pc.(*net.UDPConn)
	in := make([]byte, udpReadSize)
	out := make([]byte, 4096)
	for {
		var (
			n    int
			from netip.AddrPort
			addr net.Addr
			err  error
		)
		if u != nil {
			n, from, err = u.ReadFromUDPAddrPort(in)
		} else {
			n, addr, err = pc.ReadFrom(in)
			if a, ok := addr.(*net.UDPAddr); ok {
				from = a.AddrPort()
			}
		}
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		resp := s.serveUDPPacket(in[:n], from)
		if resp == nil {
			continue
		}
		b, err := resp.PackBuffer(out)
		if err != nil {
			s.log.Debug("packing response", "client", from.Addr().String(), "err", err)
			continue
		}
		if len(b) > len(out) {
			out = b[:cap(b)] // keep the larger buffer
		}
		if u != nil {
			_, err = u.WriteToUDPAddrPort(b, from)
		} else {
			_, err = pc.WriteTo(b, addr)
		}
		if err != nil {
			s.log.Debug("writing response", "client", from.Addr().String(), "err", err)
		}
	}
}

// serveUDPPacket answers one datagram as miekg/dns's server and then
// ServeDNS would; nil means no response.
func (s *Server) serveUDPPacket(m []byte, from netip.AddrPort) *mdns.Msg {
	if len(m) < 12 {
		s.invalid(m, mdns.ErrShortRead)
		return nil
	}
	dh := mdns.Header{
		Id:      binary.BigEndian.Uint16(m[0:]),
		Bits:    binary.BigEndian.Uint16(m[2:]),
		Qdcount: binary.BigEndian.Uint16(m[4:]),
		Ancount: binary.BigEndian.Uint16(m[6:]),
		Nscount: binary.BigEndian.Uint16(m[8:]),
		Arcount: binary.BigEndian.Uint16(m[10:]),
	}
	req := new(mdns.Msg)
	switch action := mdns.DefaultMsgAcceptFunc(dh); action {
	case mdns.MsgAccept:
		err := req.Unpack(m)
		if err == nil {
			return s.reply(req, from.Addr().AsSlice(), true)
		}
		s.invalid(m, err)
		return reject(req, mdns.MsgReject)
	case mdns.MsgReject, mdns.MsgRejectNotImplemented:
		_ = req.Unpack(m[:12]) // the header alone, which always parses
		return reject(req, action)
	default: // MsgIgnore
		return nil
	}
}

// reject turns req, as far as it parsed, into miekg/dns's FORMERR or
// NOTIMP reply.
func reject(req *mdns.Msg, action mdns.MsgAcceptAction) *mdns.Msg {
	opcode := req.Opcode
	req.SetRcodeFormatError(req)
	req.Zero = false
	if action == mdns.MsgRejectNotImplemented {
		req.Opcode = opcode
		req.Rcode = mdns.RcodeNotImplemented
	}
	req.Ns, req.Answer, req.Extra = nil, nil, nil
	return req
}
