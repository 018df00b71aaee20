package dns

import (
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// rawExchange sends b from a fresh UDP socket and returns the reply, or nil
// if none comes within wait.
func rawExchange(t *testing.T, addr string, b []byte, wait time.Duration) []byte {
	t.Helper()
	conn, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write(b); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 65535)
	n, err := conn.Read(buf)
	if err != nil {
		return nil
	}
	return buf[:n]
}

const anyReply = -2

func TestMalformedPackets(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil)
	good, err := newQuery("www.meridian.test", mdns.TypeA, "").Pack()
	if err != nil {
		t.Fatal(err)
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("garbage seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	noQuestion := append([]byte(nil), good[:12]...)
	noQuestion[5] = 0 // qdcount 0
	twoQuestions := append([]byte(nil), good...)
	twoQuestions[5] = 2
	tests := []struct {
		name      string
		b         []byte
		wantRcode int // -1: no reply expected; anyReply: some reply
	}{
		{"empty", nil, -1},
		{"short header", good[:5], -1},
		{"header only, qdcount 1", good[:12], mdns.RcodeFormatError},
		{"truncated question", good[:len(good)-3], mdns.RcodeFormatError},
		{"no question", noQuestion, mdns.RcodeFormatError},
		{"two questions, one present", twoQuestions, mdns.RcodeFormatError},
		{"bad label length", append(append([]byte(nil), good[:12]...), 0x3f, 'a', 0, 0, 1, 0, 1), mdns.RcodeFormatError},
		{"compression loop", append(append([]byte(nil), good[:12]...), 0xc0, 12, 0, 1, 0, 1), mdns.RcodeFormatError},
		{"oversized", append(append([]byte(nil), good...), make([]byte, 9000)...), anyReply},
		{"response bit set", append([]byte{good[0], good[1], 0x80}, good[3:]...), -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rawExchange(t, ts.udp, tt.b, 200*time.Millisecond)
			switch {
			case tt.wantRcode == -1 && r != nil:
				t.Errorf("got a %d-byte reply, want none", len(r))
			case tt.wantRcode == anyReply:
				if r == nil {
					t.Error("got no reply, want one")
				}
			case tt.wantRcode >= 0:
				var m mdns.Msg
				if r == nil {
					t.Fatalf("got no reply, want %s", mdns.RcodeToString[tt.wantRcode])
				}
				if err := m.Unpack(r); err != nil {
					t.Fatalf("unpacking reply: %v", err)
				}
				if m.Rcode != tt.wantRcode {
					t.Errorf("got rcode %s, want %s", mdns.RcodeToString[m.Rcode], mdns.RcodeToString[tt.wantRcode])
				}
			}
		})
	}
	// Random garbage, then random corruptions of a good query: whatever the
	// reply, the server must keep answering.
	conn, err := net.Dial("udp", ts.udp)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for i := range 500 {
		var b []byte
		if i%2 == 0 {
			b = make([]byte, rng.IntN(600))
			for j := range b {
				b[j] = byte(rng.UintN(256))
			}
		} else {
			b = append([]byte(nil), good...)
			for range 1 + rng.IntN(4) {
				b[rng.IntN(len(b))] = byte(rng.UintN(256))
			}
		}
		if _, err := conn.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	// The burst can overflow the server's socket buffer, which drops what
	// arrives next as any UDP server would; retry like a resolver does.
	c := client("udp", "")
	c.Timeout = 200 * time.Millisecond
	var r *mdns.Msg
	for try := 0; ; try++ {
		if r, _, err = c.Exchange(newQuery("www.meridian.test", mdns.TypeA, ""), ts.udp); err == nil {
			break
		}
		if try == 20 {
			t.Fatalf("after garbage: no answer in %d tries: %v", try+1, err)
		}
	}
	if len(r.Answer) != 2 {
		t.Errorf("after garbage: got %d answers, want 2", len(r.Answer))
	}
	r = exchange(t, client("tcp", ""), ts.tcp, newQuery("www.meridian.test", mdns.TypeA, ""))
	if len(r.Answer) != 2 {
		t.Errorf("after garbage over tcp: got %d answers, want 2", len(r.Answer))
	}
	// Garbage over TCP: a bogus length prefix, then a closed connection.
	tc, err := net.Dial("tcp", ts.tcp)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = tc.Write([]byte{0xff, 0xff, 1, 2, 3})
	_ = tc.Close()
	r = exchange(t, client("tcp", ""), ts.tcp, newQuery("www.meridian.test", mdns.TypeA, ""))
	if len(r.Answer) != 2 {
		t.Errorf("after tcp garbage: got %d answers, want 2", len(r.Answer))
	}
	if st := ts.s.Stats(); st.Malformed == 0 {
		t.Errorf("got stats %+v, want malformed queries counted", st)
	}
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	ts := startServer(t, func(c *Config) {
		c.RateLimit = RateLimit{QPS: 10, Burst: 10, Slip: 2}
		c.Registerer = reg
	})
	// The clock does not move, so the flooder gets its burst of 10, then
	// every other query a truncated reply and the rest nothing.
	flood, err := net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP("127.0.30.66")}, net.UDPAddrFromAddrPort(mustAddrPort(t, ts.udp)))
	if err != nil {
		t.Fatal(err)
	}
	defer flood.Close()
	const sent = 40
	for i := range sent {
		m := newQuery("www.meridian.test", mdns.TypeA, "")
		m.Id = uint16(i)
		b, _ := m.Pack()
		if _, err := flood.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	answered, slipped := 0, 0
	buf := make([]byte, 65535)
	for {
		_ = flood.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		n, err := flood.Read(buf)
		if err != nil {
			break
		}
		var m mdns.Msg
		if err := m.Unpack(buf[:n]); err != nil {
			t.Fatal(err)
		}
		if m.Truncated && len(m.Answer) == 0 {
			slipped++
		} else {
			answered++
		}
	}
	if answered != 10 || slipped != 15 {
		t.Errorf("flooder: got %d answered and %d truncated of %d, want 10 and 15 (the rest dropped)", answered, slipped, sent)
	}
	// Another client network is not affected, nor is another host in the
	// flooder's /24 over TCP.
	if r := exchange(t, client("udp", "127.0.20.5"), ts.udp, newQuery("www.meridian.test", mdns.TypeA, "")); len(r.Answer) != 2 || r.Truncated {
		t.Errorf("other network: got %d answers TC=%v, want 2 and TC=false", len(r.Answer), r.Truncated)
	}
	if r := exchange(t, client("tcp", "127.0.30.67"), ts.tcp, newQuery("www.meridian.test", mdns.TypeA, "")); len(r.Answer) != 2 {
		t.Errorf("flooder's network over tcp: got %d answers, want 2", len(r.Answer))
	}
	// A neighbour in the flooder's /24 is limited with it (ECS does not help:
	// limits key on the packet's source).
	m := newQuery("www.meridian.test", mdns.TypeA, "127.0.10.0/24")
	c := client("udp", "127.0.30.68")
	c.Timeout = 200 * time.Millisecond
	if r, _, err := c.Exchange(m, ts.udp); err == nil && !r.Truncated {
		t.Errorf("neighbour of the flooder: got a full answer, want it limited")
	}
	// A second later the bucket has refilled.
	ts.clock.advance(time.Second)
	if r := exchange(t, client("udp", "127.0.30.66"), ts.udp, newQuery("www.meridian.test", mdns.TypeA, "")); len(r.Answer) != 2 || r.Truncated {
		t.Errorf("after refill: got %d answers TC=%v, want 2 and TC=false", len(r.Answer), r.Truncated)
	}
	st := ts.s.Stats()
	if st.RateDropped == 0 || st.RateSlipped != 15 {
		t.Errorf("got stats %+v, want drops and 15 slips counted", st)
	}
	if got := counterValue(t, reg, "meridian_dns_rate_limited_total", "slip"); got != 15 {
		t.Errorf("got meridian_dns_rate_limited_total{action=slip} %v, want 15", got)
	}
}

// counterValue sums the counter name's series having a label of value want.
func counterValue(t *testing.T, reg *prometheus.Registry, name, want string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetValue() == want {
					sum += m.GetCounter().GetValue()
				}
			}
		}
	}
	return sum
}

func TestLimiterKeys(t *testing.T) {
	t.Parallel()
	l := newLimiter(RateLimit{QPS: 1, Burst: 1, Slip: -1})
	now := time.Unix(0, 0)
	tests := []struct {
		ip   string
		want action
	}{
		{"10.0.0.1", pass},
		{"10.0.0.200", drop}, // same /24
		{"10.0.1.1", pass},   // next /24
		{"2001:db8::1", pass},
		{"2001:db8:0:ff::1", drop}, // same /56
		{"2001:db8:0:100::1", pass},
	}
	for _, tt := range tests {
		if got, _ := l.allow(now, net.ParseIP(tt.ip)); got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.ip, got, tt.want)
		}
	}
}

func TestLimiterOverflow(t *testing.T) {
	t.Parallel()
	l := newLimiter(RateLimit{QPS: 1, Burst: 1, Slip: -1})
	l.max = 3
	now := time.Unix(0, 0)
	steps := []struct {
		ip   string
		want action
	}{
		{"10.0.1.1", pass},
		{"10.0.2.1", pass},
		{"10.0.3.1", pass},
		{"10.0.4.1", pass}, // full: first in the overflow bucket
		{"10.0.5.1", drop}, // shares it
		{"10.0.1.2", drop}, // tracked networks keep their own bucket
	}
	for _, st := range steps {
		if got, _ := l.allow(now, net.ParseIP(st.ip)); got != st.want {
			t.Errorf("%s: got %v, want %v", st.ip, got, st.want)
		}
	}
	// Two seconds on, every bucket has refilled and is swept; new networks
	// get their own again.
	now = now.Add(2 * time.Second)
	for _, ip := range []string{"10.0.6.1", "10.0.7.1"} {
		if got, _ := l.allow(now, net.ParseIP(ip)); got != pass {
			t.Errorf("after sweep %s: got %v, want pass", ip, got)
		}
	}
	if len(l.buckets) > l.max {
		t.Errorf("got %d buckets, want at most %d", len(l.buckets), l.max)
	}
}

func mustAddrPort(t *testing.T, s string) netip.AddrPort {
	t.Helper()
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		t.Fatal(err)
	}
	return ap
}
