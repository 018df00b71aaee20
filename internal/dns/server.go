// Package dns is Meridian's authoritative DNS server (Route 53's part of the
// platform): it serves configured zones over UDP and TCP with EDNS0 and EDNS
// Client Subnet, and answers record sets through Route 53 routing policies
// (simple, weighted, latency, failover, geolocation, multivalue answer), each
// target optionally tied to a health check.
//
// Health verdicts, client locations and latencies come from outside through
// the small interfaces Health, Locator and Latencies; the server only reads
// them. A target whose check is unhealthy is never answered while a healthy
// target of the same record set exists; when every target is unhealthy the
// server answers as if all were healthy (Route 53's fail-open rule), because
// an answer that may work beats an answer that surely does not.
//
// Answers follow RFC 1034/2308: authoritative (AA) for names in a zone;
// NXDOMAIN with the zone's SOA in the authority section for an unknown name;
// NODATA (NOERROR, no answer, SOA) for a known name or empty non-terminal
// without the asked type, and for a geolocation record set with no target for
// the client and no default; REFUSED for names outside every zone, zone
// transfers and classes other than IN; CNAMEs are chased within the zones.
// ANY gets one HINFO "RFC8482" record (RFC 8482). Answers of NS, MX and SRV
// records carry the in-zone addresses of their targets in the additional
// section, chosen by those names' routing policies; they are the first thing
// left out when the answer does not fit. Malformed queries get
// FORMERR, opcodes other than QUERY get NOTIMP, EDNS versions above 0 get
// BADVERS, and packets too short to carry a header get nothing.
//
// UDP answers fit the client's EDNS0 buffer size (capped at MaxUDPSize, 512
// bytes without EDNS0); when they do not, they are cut and carry TC=1 so the
// client retries over TCP, where the whole answer is sent.
//
// The client's location comes from the EDNS Client Subnet option when it has
// a source prefix, else from the packet's source address. ECS is echoed with
// a scope prefix: 0 when the answer is the same for every client, else the
// prefix length of the client network the address matched (the source
// prefix length when the Locator cannot say or no network matched).
//
// UDP responses are rate limited per source network (see RateLimit) so one
// flooding source cannot starve the others. Limits key on the packet's
// source, never on ECS, which anyone can forge. FORMERR and NOTIMP replies
// sent before a query reaches the handler are not limited; they are never
// larger than the query.
//
// TCP is served by miekg/dns. UDP on a socket bound to one address is
// served by a fixed pool of workers that each read, answer and write in a
// loop (udp.go), reading and writing several datagrams per system call;
// the workers answer plain A, AAAA and TXT queries from records compiled
// to wire form (fast.go) and everything else like miekg/dns would. On a
// wildcard address (0.0.0.0, ::) UDP is served by miekg/dns, which answers
// from the address each query came to.
//
// The edge (internal/edge) and the CLI may import this package; it imports
// nothing of Meridian's.
package dns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mdns "github.com/miekg/dns"
)

// Server is an authoritative DNS server. Build it with New and serve it with
// Run; it is safe for concurrent use.
type Server struct {
	cfg   Config
	log   *slog.Logger
	zones atomic.Pointer[table]
	limit *limiter

	mu  sync.Mutex // guards rng
	rng *rand.Rand

	m *metrics

	runMu   sync.Mutex
	running bool
	ready   chan struct{}
	udpAddr net.Addr
	tcpAddr net.Addr
}

var _ mdns.Handler = (*Server)(nil)

// New builds a server from cfg; Run serves it.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("dns config: %w", err)
	}
	cfg.setDefaults()
	t, err := compileZones(cfg.Zones)
	if err != nil {
		return nil, fmt.Errorf("dns config: %w", err)
	}
	s := &Server{
		cfg:   cfg,
		log:   cfg.Logger.With("component", "dns"),
		rng:   rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)), //nolint:gosec // G404: a seeded source, so runs repeat (STYLE.md)
		ready: make(chan struct{}),
		m:     newMetrics(cfg.Registerer),
	}
	if !cfg.RateLimit.Disabled {
		s.limit = newLimiter(cfg.RateLimit)
	}
	s.zones.Store(t)
	return s, nil
}

// SetZones replaces the served zones atomically; queries in flight finish on
// the old ones. On error the old zones stay.
func (s *Server) SetZones(zones []Zone) error {
	t, err := compileZones(zones)
	if err != nil {
		return fmt.Errorf("dns zones: %w", err)
	}
	s.zones.Store(t)
	return nil
}

// Ready is closed once Run serves both UDP and TCP.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Addrs returns the UDP and TCP addresses served, nil until Ready is closed.
func (s *Server) Addrs() (udp, tcp net.Addr) {
	select {
	case <-s.ready:
		return s.udpAddr, s.tcpAddr
	default:
		return nil, nil
	}
}

// Run serves UDP and TCP until ctx is cancelled, then shuts both down.
func (s *Server) Run(ctx context.Context) error {
	s.runMu.Lock()
	if s.running {
		s.runMu.Unlock()
		return errors.New("dns server is already running")
	}
	s.running = true
	s.runMu.Unlock()

	pc, ln := s.cfg.PacketConn, s.cfg.Listener
	var lc net.ListenConfig
	if pc == nil {
		var err error
		if pc, err = lc.ListenPacket(ctx, "udp", s.cfg.Addr); err != nil {
			if ln != nil {
				_ = ln.Close()
			}
			return fmt.Errorf("dns listening on udp %s: %w", s.cfg.Addr, err)
		}
	}
	if ln == nil {
		addr := s.cfg.Addr
		if s.cfg.PacketConn == nil {
			addr = pc.LocalAddr().String() // same port when Addr asked for port 0
		}
		var err error
		if ln, err = lc.Listen(ctx, "tcp", addr); err != nil {
			_ = pc.Close()
			return fmt.Errorf("dns listening on tcp %s: %w", addr, err)
		}
	}
	s.udpAddr, s.tcpAddr = pc.LocalAddr(), ln.Addr()
	s.log.Info("dns serving", "udp", s.udpAddr.String(), "tcp", s.tcpAddr.String(), "seed", s.cfg.Seed)

	started := make(chan struct{}, 2)
	notify := func() { started <- struct{}{} }
	tcp := &mdns.Server{Listener: ln, Handler: s, ReadTimeout: 2 * time.Second,
		IdleTimeout:       func() time.Duration { return 8 * time.Second },
		NotifyStartedFunc: notify, MsgInvalidFunc: s.invalid}
	errc := make(chan error, 2)
	// Both goroutines exit when their server is shut down below.
	var stopUDP func(context.Context) error
	if boundToOneAddress(pc) {
		var closing atomic.Bool
		stopUDP = func(context.Context) error { closing.Store(true); return pc.Close() }
		notify()
		go func() { errc <- s.serveUDP(pc, closing.Load) }()
	} else {
		udp := &mdns.Server{PacketConn: pc, Handler: s, UDPSize: mdns.MaxMsgSize,
			NotifyStartedFunc: notify, MsgInvalidFunc: s.invalid}
		stopUDP = udp.ShutdownContext
		go func() { errc <- udp.ActivateAndServe() }()
	}
	go func() { errc <- tcp.ActivateAndServe() }()

	var err error
	pending := 2
	for n := 0; n < 2 && err == nil; {
		select {
		case <-started:
			n++
		case e := <-errc:
			pending--
			err = fmt.Errorf("dns server stopped: %w", errOr(e, "without an error"))
		}
	}
	if err == nil {
		close(s.ready)
		select {
		case <-ctx.Done():
		case e := <-errc:
			pending--
			err = fmt.Errorf("dns server stopped: %w", errOr(e, "without an error"))
		}
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	_ = stopUDP(sctx) // errors only say it had already stopped
	_ = tcp.ShutdownContext(sctx)
	for ; pending > 0; pending-- {
		<-errc //nolint:errcheck // a server's error once shut down says only that it stopped
	}
	s.log.Info("dns stopped")
	return err
}

func (s *Server) invalid(m []byte, err error) {
	s.m.malformedQuery()
	s.log.Debug("malformed query", "bytes", len(m), "err", err)
}

// ServeDNS answers one query; it implements miekg/dns's Handler.
func (s *Server) ServeDNS(w mdns.ResponseWriter, req *mdns.Msg) {
	src, udp := sourceIP(w.RemoteAddr())
	resp := s.reply(req, src, udp)
	if resp == nil {
		return
	}
	if err := w.WriteMsg(resp); err != nil {
		s.log.Debug("writing response", "client", src.String(), "err", err)
	}
}

// reply builds the response to req from src over UDP or TCP, rate limited
// and fit to the transport; nil means no response (rate limited).
func (s *Server) reply(req *mdns.Msg, src net.IP, udp bool) *mdns.Msg {
	if udp {
		if act := s.rateLimit(src); act != pass {
			return limitedReply(req, act)
		}
	}
	return s.respond(req, src, udp)
}

// rateLimit applies the UDP rate limit to a query from src.
func (s *Server) rateLimit(src net.IP) action {
	if s.limit == nil {
		return pass
	}
	act, started := s.limit.allow(s.cfg.Now(), src)
	if act == pass {
		return pass
	}
	if started {
		s.log.Warn("rate limiting source network", "client", src.String(),
			"qps", s.cfg.RateLimit.QPS, "burst", s.cfg.RateLimit.Burst)
	}
	s.m.rateLimited(act)
	return act
}

// limitedReply is the response to a query over the rate limit: an empty
// truncated one when act is slip, else none.
func limitedReply(req *mdns.Msg, act action) *mdns.Msg {
	if act != slip {
		return nil
	}
	m := new(mdns.Msg)
	m.SetReply(req)
	m.Truncated = true
	return m
}

// respond answers req and fits the answer to the transport.
func (s *Server) respond(req *mdns.Msg, src net.IP, udp bool) (resp *mdns.Msg) {
	defer func() {
		if r := recover(); r != nil { // a bug must not take the server down
			s.log.Error("panic answering query", "err", r, "query", req.String())
			resp = new(mdns.Msg)
			resp.SetRcode(req, mdns.RcodeServerFailure)
		}
	}()
	resp = s.answer(req, src)
	size := mdns.MaxMsgSize
	if udp {
		size = udpSize(req, s.cfg.MaxUDPSize)
	}
	fit(resp, size)
	s.m.answered(resp, udp)
	return resp
}

func sourceIP(a net.Addr) (ip net.IP, udp bool) {
	switch a := a.(type) {
	case *net.UDPAddr:
		return a.IP, true
	case *net.TCPAddr:
		return a.IP, false
	}
	return nil, false
}

func udpSize(req *mdns.Msg, max uint16) int {
	opt := req.IsEdns0()
	if opt == nil {
		return mdns.MinMsgSize
	}
	size := int(opt.UDPSize())
	if size > int(max) {
		size = int(max)
	}
	if size < mdns.MinMsgSize {
		size = mdns.MinMsgSize
	}
	return size
}

// answer builds the response to req from client address src (before ECS).
func (s *Server) answer(req *mdns.Msg, src net.IP) *mdns.Msg {
	s.m.queries.Add(1)
	resp := new(mdns.Msg)
	if req.Opcode != mdns.OpcodeQuery {
		resp.SetRcode(req, mdns.RcodeNotImplemented)
		return resp
	}
	if len(req.Question) != 1 {
		s.m.malformedQuery()
		resp.SetRcode(req, mdns.RcodeFormatError)
		return resp
	}
	resp.SetReply(req)
	resp.RecursionAvailable = false

	client, ecs := src, (*mdns.EDNS0_SUBNET)(nil)
	if opt := req.IsEdns0(); opt != nil {
		resp.SetEdns0(s.cfg.MaxUDPSize, false)
		if opt.Version() != 0 {
			resp.Rcode = mdns.RcodeBadVers
			return resp
		}
		for _, o := range opt.Option {
			if e, ok := o.(*mdns.EDNS0_SUBNET); ok {
				if !validECS(e) {
					s.m.malformedQuery()
					resp.Rcode = mdns.RcodeFormatError
					return resp
				}
				ecs = e
				if e.SourceNetmask > 0 {
					client = e.Address
				}
			}
		}
	}
	q := req.Question[0]
	if q.Qclass != mdns.ClassINET {
		s.m.refused.Add(1)
		resp.Rcode = mdns.RcodeRefused
		return resp
	}
	t := s.zones.Load()
	qname := strings.ToLower(q.Name)
	if t.find(qname) == nil {
		s.m.refused.Add(1)
		resp.Rcode = mdns.RcodeRefused
		return resp
	}
	resp.Authoritative = true
	switch q.Qtype {
	case mdns.TypeAXFR, mdns.TypeIXFR:
		s.m.refused.Add(1)
		resp.Rcode = mdns.RcodeRefused
		return resp
	}

	location, scope := s.locate(client)
	dependsOnLocation := false
	owner, name := q.Name, qname
	for hop := 0; hop < 8; hop++ {
		z := t.find(name)
		if z == nil {
			break // a CNAME led out of our zones; the resolver follows it
		}
		if q.Qtype == mdns.TypeANY {
			if z.names[name] {
				resp.Answer = append(resp.Answer, &mdns.HINFO{Hdr: mdns.RR_Header{Name: owner,
					Rrtype: mdns.TypeHINFO, Class: mdns.ClassINET, Ttl: uint32(defaultTTL / time.Second)},
					Cpu: "RFC8482"})
			} else {
				resp.Rcode = mdns.RcodeNameError
				resp.Ns = []mdns.RR{negativeSOA(z)}
			}
			break
		}
		if rs := z.sets[setKey{name, q.Qtype}]; rs != nil {
			chosen, dep := s.choose(rs, location)
			dependsOnLocation = dependsOnLocation || dep
			resp.Answer = rrs(resp.Answer, chosen, owner)
			if len(chosen) == 0 {
				resp.Ns = []mdns.RR{negativeSOA(z)}
			}
			break
		}
		if rs := z.sets[setKey{name, mdns.TypeCNAME}]; rs != nil {
			chosen, dep := s.choose(rs, location)
			dependsOnLocation = dependsOnLocation || dep
			if len(chosen) == 0 {
				resp.Ns = []mdns.RR{negativeSOA(z)}
				break
			}
			resp.Answer = rrs(resp.Answer, chosen[:1], owner)
			name = strings.ToLower(chosen[0].rr.(*mdns.CNAME).Target)
			owner = name
			continue
		}
		resp.Ns = []mdns.RR{negativeSOA(z)}
		if !z.names[name] {
			resp.Rcode = mdns.RcodeNameError
			s.m.nxdomain.Add(1)
		}
		break
	}
	if s.additional(t, resp, location) {
		dependsOnLocation = true
	}
	if ecs != nil {
		out := &mdns.EDNS0_SUBNET{Code: mdns.EDNS0SUBNET, Family: ecs.Family,
			SourceNetmask: ecs.SourceNetmask, Address: ecs.Address}
		if dependsOnLocation && ecs.SourceNetmask > 0 {
			out.SourceScope = uint8(scope) //nolint:gosec // G115: scope is a prefix length (at most 128), or -1 and replaced below
			if scope < 0 {
				out.SourceScope = ecs.SourceNetmask
			}
		}
		opt := resp.IsEdns0()
		opt.Option = append(opt.Option, out)
	}
	return resp
}

// additional adds the addresses of in-zone NS, MX and SRV targets to the
// additional section, chosen by their record sets' policies, so a resolver
// needs no second query. It reports whether a choice depended on the
// client's location.
func (s *Server) additional(t *table, resp *mdns.Msg, location string) bool {
	dep, seen := false, map[string]bool{}
	for _, rr := range resp.Answer {
		var name string
		switch rr := rr.(type) {
		case *mdns.NS:
			name = rr.Ns
		case *mdns.MX:
			name = rr.Mx
		case *mdns.SRV:
			name = rr.Target
		default:
			continue
		}
		name = strings.ToLower(name)
		if seen[name] {
			continue
		}
		seen[name] = true
		z := t.find(name)
		if z == nil {
			continue
		}
		for _, qt := range []uint16{mdns.TypeA, mdns.TypeAAAA} {
			if rs := z.sets[setKey{name, qt}]; rs != nil {
				chosen, d := s.choose(rs, location)
				dep = dep || d
				resp.Extra = rrs(resp.Extra, chosen, name)
			}
		}
	}
	return dep
}

// fit makes resp fit size bytes: first without its additional addresses,
// which a client can do without, then cut with TC=1. Answers are sent with
// name compression. An answer whose uncompressed length fits (the usual
// case) is measured once.
func fit(resp *mdns.Msg, size int) {
	resp.Compress = false
	if resp.Len() > size {
		resp.Compress = true
		if resp.Len() > size {
			extra := resp.Extra[:0]
			for _, rr := range resp.Extra {
				if rr.Header().Rrtype == mdns.TypeOPT {
					extra = append(extra, rr)
				}
			}
			resp.Extra = extra
		}
		resp.Truncate(size)
	}
	// Truncate turns compression off when the message fits without it;
	// compress anyway, it is what clients are sent.
	resp.Compress = true
}

// locate returns the client's location and, when known, the prefix length of
// the client network it came from (-1 when the locator cannot say).
func (s *Server) locate(ip net.IP) (string, int) {
	if ip == nil {
		return "", 0
	}
	if pl, ok := s.cfg.Locator.(prefixLocator); ok {
		return pl.lookup(ip)
	}
	return s.cfg.Locator.ClientLocation(ip), -1
}

// validECS checks an EDNS Client Subnet option as RFC 7871 §7.1.2 asks.
func validECS(e *mdns.EDNS0_SUBNET) bool {
	switch e.Family {
	case 1:
		return e.SourceNetmask <= 32 && e.SourceScope == 0
	case 2:
		return e.SourceNetmask <= 128 && e.SourceScope == 0
	}
	return false
}

// rrs appends the records of ts to out with owner name owner. The compiled
// records are answered as they are (packing only reads them) unless the
// owner differs from the stored one (another case in the query, a chased
// CNAME), which gets a copy.
func rrs(out []mdns.RR, ts []target, owner string) []mdns.RR {
	for _, t := range ts {
		rr := t.rr
		if rr.Header().Name != owner {
			rr = mdns.Copy(rr)
			rr.Header().Name = owner
		}
		out = append(out, rr)
	}
	return out
}

// negativeSOA is the SOA for the authority section of NXDOMAIN and NODATA
// answers, its TTL the negative caching time (RFC 2308 §3); compiled with
// the zone, never modified.
func negativeSOA(z *zone) mdns.RR { return z.negSOA }
