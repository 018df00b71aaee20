package dns

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

// fakeHealth is a Health whose verdicts tests set.
type fakeHealth struct {
	mu sync.Mutex
	m  map[string]bool
}

func (h *fakeHealth) Health(id string) (bool, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ok, known := h.m[id]
	return ok, known
}

func (h *fakeHealth) set(id string, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m == nil {
		h.m = map[string]bool{}
	}
	h.m[id] = ok
}

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func testZones() []Zone {
	mv := RecordSet{Name: "mv", Type: "A", Policy: Multivalue}
	for i := 1; i <= 12; i++ {
		mv.Targets = append(mv.Targets, Target{Value: fmt.Sprintf("127.0.5.%d", i), HealthCheck: fmt.Sprintf("mv-%d", i)})
	}
	big := RecordSet{Name: "big", Type: "TXT"}
	for i := range 40 {
		big.Targets = append(big.Targets, Target{Value: fmt.Sprintf("\"%02d %s\"", i, strings.Repeat("x", 90))})
	}
	return []Zone{{
		Name: "meridian.test",
		Records: []RecordSet{
			{Name: "www", Type: "A", TTL: 30 * time.Second, Targets: []Target{{Value: "127.0.1.1"}, {Value: "127.0.1.2"}}},
			{Name: "www", Type: "TXT", Targets: []Target{{Value: `"hello world"`}}},
			{Name: "w", Type: "A", Policy: Weighted, Targets: []Target{
				{Value: "127.0.2.1", Weight: 1, HealthCheck: "w-a"},
				{Value: "127.0.2.2", Weight: 3, HealthCheck: "w-b"},
			}},
			{Name: "shop", Type: "A", Policy: Latency, Targets: []Target{
				{Value: "127.0.1.1", Region: "us-east", HealthCheck: "us-east"},
				{Value: "127.0.1.2", Region: "eu-west", HealthCheck: "eu-west"},
				{Value: "127.0.1.3", Region: "ap-south", HealthCheck: "ap-south"},
			}},
			{Name: "fo", Type: "A", Policy: Failover, Targets: []Target{
				{Value: "127.0.3.1", Role: Primary, HealthCheck: "fo-p"},
				{Value: "127.0.3.2", Role: Secondary, HealthCheck: "fo-s"},
			}},
			{Name: "geo", Type: "A", Policy: Geolocation, Targets: []Target{
				{Value: "127.0.4.1", Location: "na", HealthCheck: "geo-na"},
				{Value: "127.0.4.2", Location: "eu"},
				{Value: "127.0.4.9", Location: DefaultLocation},
			}},
			{Name: "geo-nodefault", Type: "A", Policy: Geolocation, Targets: []Target{
				{Value: "127.0.4.1", Location: "na"},
			}},
			mv, big,
			{Name: "alias", Type: "CNAME", Targets: []Target{{Value: "www.meridian.test."}}},
			{Name: "away", Type: "CNAME", Targets: []Target{{Value: "elsewhere.example."}}},
			{Name: "@", Type: "MX", Targets: []Target{{Value: "10 shop.meridian.test."}, {Value: "20 mail.meridian.test."}}},
			{Name: "_http._tcp", Type: "SRV", Targets: []Target{{Value: "0 5 8080 www.meridian.test."}}},
			{Name: "v6", Type: "AAAA", Targets: []Target{{Value: "::1"}}},
		},
	}}
}

type testServer struct {
	s        *Server
	udp, tcp string
	health   *fakeHealth
	clock    *fakeClock
}

// startServer runs a server on 127.0.0.1 (UDP and TCP, port 0) until the test
// ends. mod edits the config first.
func startServer(t *testing.T, mod func(*Config)) *testServer {
	t.Helper()
	ts := &testServer{health: &fakeHealth{}, clock: &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		PacketConn: pc, Listener: ln,
		Zones:  testZones(),
		Health: ts.health,
		Now:    ts.clock.Now,
		Seed:   1,
		Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	cfg.RateLimit.Disabled = true
	if mod != nil {
		mod(&cfg)
	}
	t.Logf("seed %d", cfg.Seed)
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts.s, ts.udp, ts.tcp = s, pc.LocalAddr().String(), ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	select {
	case <-s.Ready():
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("server not ready")
	}
	return ts
}

// client returns a DNS client over proto ("udp" or "tcp") whose source
// address is from (empty for any).
func client(proto, from string) *mdns.Client {
	c := &mdns.Client{Net: proto, Timeout: 2 * time.Second}
	if from != "" {
		d := &net.Dialer{Timeout: 2 * time.Second}
		if proto == "tcp" {
			d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
		} else {
			d.LocalAddr = &net.UDPAddr{IP: net.ParseIP(from)}
		}
		c.Dialer = d
	}
	return c
}

// newQuery builds a query; ecs, when not empty, is a CIDR sent as EDNS Client
// Subnet (and turns EDNS0 on).
func newQuery(name string, qtype uint16, ecs string) *mdns.Msg {
	m := new(mdns.Msg)
	m.SetQuestion(mdns.Fqdn(name), qtype)
	if ecs != "" {
		ip, n, err := net.ParseCIDR(ecs)
		if err != nil {
			panic(err)
		}
		bits, _ := n.Mask.Size()
		fam := uint16(1)
		if ip.To4() == nil {
			fam = 2
		}
		m.SetEdns0(1232, false)
		opt := m.IsEdns0()
		opt.Option = append(opt.Option, &mdns.EDNS0_SUBNET{Code: mdns.EDNS0SUBNET, Family: fam,
			SourceNetmask: uint8(bits), Address: n.IP})
	}
	return m
}

func exchange(t *testing.T, c *mdns.Client, addr string, m *mdns.Msg) *mdns.Msg {
	t.Helper()
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("query %s over %s: %v", m.Question[0].String(), c.Net, err)
	}
	return r
}

// values is the sorted record data of the answer section.
func values(m *mdns.Msg) []string {
	var out []string
	for _, rr := range m.Answer {
		h := rr.Header().String()
		out = append(out, strings.TrimSpace(strings.TrimPrefix(rr.String(), h)))
	}
	sort.Strings(out)
	return out
}

func ecsOf(m *mdns.Msg) *mdns.EDNS0_SUBNET {
	if opt := m.IsEdns0(); opt != nil {
		for _, o := range opt.Option {
			if e, ok := o.(*mdns.EDNS0_SUBNET); ok {
				return e
			}
		}
	}
	return nil
}
