package dns

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"runtime"

	mdns "github.com/miekg/dns"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
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
	if u, ok := pc.(*net.UDPConn); ok {
		return s.udpBatchWorker(u)
	}
	in := make([]byte, udpReadSize)
	sc := newUDPScratch()
	for {
		n, addr, err := pc.ReadFrom(in)
		if err != nil {
			if stop, err := readError(err); stop {
				return err
			}
			continue
		}
		var from netip.AddrPort
		if a, ok := addr.(*net.UDPAddr); ok {
			from = a.AddrPort()
		}
		b := s.udpAnswer(sc, in[:n], from)
		if b == nil {
			continue
		}
		if _, err := pc.WriteTo(b, addr); err != nil {
			s.log.Debug("writing response", "client", from.Addr().String(), "err", err)
		}
	}
}

// readError says whether a read error stops the worker, and with which
// error: nil once the socket is closed.
func readError(err error) (stop bool, _ error) {
	if errors.Is(err, net.ErrClosed) {
		return true, nil
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false, nil
	}
	return true, err
}

// udpBatch is how many datagrams a worker reads (recvmmsg) and writes
// (sendmmsg) with one system call at most on Linux; elsewhere one.
const udpBatch = 16

// batchConn is ipv4.PacketConn or ipv6.PacketConn.
type batchConn interface {
	ReadBatch(ms []ipv4.Message, flags int) (int, error)
	WriteBatch(ms []ipv4.Message, flags int) (int, error)
}

// udpBatchWorker reads up to udpBatch queries at once, answers them in
// order and writes the answers at once. Its read buffers hold whole
// datagrams, as miekg/dns's do: 16 × 64 KiB of address space per worker,
// of which the kernel backs only the pages datagrams have filled (queries
// are rarely over 512 bytes), since the buffers are allocated once.
func (s *Server) udpBatchWorker(u *net.UDPConn) error {
	var bc batchConn = ipv6.NewPacketConn(u)
	if a, ok := u.LocalAddr().(*net.UDPAddr); ok && a.IP.To4() != nil {
		bc = ipv4.NewPacketConn(u)
	}
	in := make([]ipv4.Message, udpBatch)
	out := make([]ipv4.Message, udpBatch)
	scs := make([]*udpScratch, udpBatch)
	for i := range in {
		in[i].Buffers = [][]byte{make([]byte, udpReadSize)}
		out[i].Buffers = make([][]byte, 1)
		scs[i] = newUDPScratch()
	}
	for {
		n, err := bc.ReadBatch(in, 0)
		if err != nil {
			if stop, err := readError(err); stop {
				return err
			}
			continue
		}
		k := 0
		for i := range in[:n] {
			m := &in[i]
			var from netip.AddrPort
			if a, ok := m.Addr.(*net.UDPAddr); ok {
				from = a.AddrPort()
			}
			b := s.udpAnswer(scs[k], m.Buffers[0][:m.N], from)
			if b == nil {
				continue
			}
			out[k].Buffers[0], out[k].Addr = b, m.Addr
			k++
		}
		for sent := 0; sent < k; {
			w, err := bc.WriteBatch(out[sent:k], 0)
			if err != nil { // the first unsent answer failed: skip it
				s.log.Debug("writing response", "client", out[sent].Addr.String(), "err", err)
				w++
			}
			sent += max(w, 1)
		}
	}
}

// udpScratch is a worker's reusable memory for one answer.
type udpScratch struct {
	out []byte // the answer
	key []byte // parseFast's index key
}

func newUDPScratch() *udpScratch {
	return &udpScratch{out: make([]byte, 1024), key: make([]byte, 0, 260)}
}

// udpAnswer returns the datagram answering m from from, or nil. It lives in
// sc.out until the next call with sc. Queries the fast path can parse are
// rate limited here and answered by it when it can, else by the general
// path without limiting them again.
func (s *Server) udpAnswer(sc *udpScratch, m []byte, from netip.AddrPort) []byte {
	var resp *mdns.Msg
	if q, ok := parseFast(m, sc.key); ok {
		sc.key = q.key[:0]
		src := net.IP(from.Addr().AsSlice())
		act := s.rateLimit(src)
		if act == pass {
			if b, ok := s.answerFast(&q, src, sc.out); ok {
				return b
			}
		}
		req := new(mdns.Msg)
		switch err := req.Unpack(m); {
		case err != nil: // parseFast accepts nothing that does not unpack
			s.invalid(m, err)
			resp = reject(req, mdns.MsgReject)
		case act == pass:
			resp = s.respond(req, src, true)
		default:
			resp = limitedReply(req, act)
		}
	} else {
		resp = s.serveUDPPacket(m, from)
	}
	if resp == nil {
		return nil
	}
	b, err := resp.PackBuffer(sc.out)
	if err != nil {
		s.log.Debug("packing response", "client", from.Addr().String(), "err", err)
		return nil
	}
	if len(b) > len(sc.out) {
		sc.out = b[:cap(b)] // keep the larger buffer
	}
	return b
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
