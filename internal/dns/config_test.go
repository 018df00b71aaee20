package dns

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

func TestValidate(t *testing.T) {
	t.Parallel()
	zone := func(rs ...RecordSet) Config { return Config{Zones: []Zone{{Name: "meridian.test", Records: rs}}} }
	a := func(v string) []Target { return []Target{{Value: v}} }
	tests := []struct {
		name    string
		cfg     Config
		wantErr string // "" for valid
	}{
		{"zero value", Config{}, ""},
		{"test zones", Config{Zones: testZones()}, ""},
		{"bad address", Config{Addr: "nope"}, "dns address"},
		{"negative qps", Config{RateLimit: RateLimit{QPS: -1}}, "rate limit"},
		{"small udp size", Config{MaxUDPSize: 100}, "below the 512"},
		{"zone without name", Config{Zones: []Zone{{}}}, "needs a name"},
		{"zone twice", Config{Zones: []Zone{{Name: "a.test"}, {Name: "A.test."}}}, "configured twice"},
		{"unsupported type", zone(RecordSet{Name: "x", Type: "PTR", Targets: a("x.")}), "not supported"},
		{"outside the zone", zone(RecordSet{Name: "x.example.", Type: "A", Targets: a("127.0.0.1")}), "outside the zone"},
		{"bad value", zone(RecordSet{Name: "x", Type: "A", Targets: a("not-an-ip")}), `value "not-an-ip"`},
		{"no targets", zone(RecordSet{Name: "x", Type: "A"}), "no targets"},
		{"set twice", zone(RecordSet{Name: "x", Type: "A", Targets: a("127.0.0.1")}, RecordSet{Name: "X.meridian.test.", Type: "a", Targets: a("127.0.0.2")}), "configured twice"},
		{"unknown policy", zone(RecordSet{Name: "x", Type: "A", Policy: "random", Targets: a("127.0.0.1")}), "not one of"},
		{"latency without region", zone(RecordSet{Name: "x", Type: "A", Policy: Latency, Targets: a("127.0.0.1")}), "no region"},
		{"failover without role", zone(RecordSet{Name: "x", Type: "A", Policy: Failover, Targets: a("127.0.0.1")}), "role"},
		{"failover two primaries", zone(RecordSet{Name: "x", Type: "A", Policy: Failover, Targets: []Target{
			{Value: "127.0.0.1", Role: Primary}, {Value: "127.0.0.2", Role: Primary}}}), "one primary"},
		{"geolocation without location", zone(RecordSet{Name: "x", Type: "A", Policy: Geolocation, Targets: a("127.0.0.1")}), "no location"},
		{"geolocation location twice", zone(RecordSet{Name: "x", Type: "A", Policy: Geolocation, Targets: []Target{
			{Value: "127.0.0.1", Location: "eu"}, {Value: "127.0.0.2", Location: "eu"}}}), "two targets"},
		{"cname and a", zone(RecordSet{Name: "x", Type: "CNAME", Targets: a("y.meridian.test.")}, RecordSet{Name: "x", Type: "A", Targets: a("127.0.0.1")}), "CNAME and other"},
		{"cname at apex", zone(RecordSet{Name: "@", Type: "CNAME", Targets: a("y.meridian.test.")}), "apex"},
		{"two simple cnames", zone(RecordSet{Name: "x", Type: "CNAME", Targets: []Target{{Value: "a.test."}, {Value: "b.test."}}}), "exactly one"},
		{"soa off apex", zone(RecordSet{Name: "x", Type: "SOA", Targets: a("ns. h. 1 2 3 4 5")}), "apex"},
		{"negative ttl", zone(RecordSet{Name: "x", Type: "A", TTL: -time.Second, Targets: a("127.0.0.1")}), "TTL"},
		{"weighted cname", zone(RecordSet{Name: "x", Type: "CNAME", Policy: Weighted, Targets: []Target{{Value: "a.test.", Weight: 1}, {Value: "b.test.", Weight: 2}}}), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("got error %v, want none", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("got error %v, want one saying %q", err, tt.wantErr)
			}
			if _, nerr := New(tt.cfg); (nerr == nil) != (err == nil) {
				t.Errorf("New: got error %v, Validate said %v", nerr, err)
			}
		})
	}
}

func TestNetworks(t *testing.T) {
	t.Parallel()
	n, err := ParseNetworks(map[string]string{"10.0.0.0/8": "wide", "10.1.0.0/16": "narrow", "2001:db8::/32": "v6"})
	if err != nil {
		t.Fatal(err)
	}
	n = append(n, DefaultNetworks()...)
	tests := []struct {
		ip, want string
		bits     int
	}{
		{"10.2.3.4", "wide", 8},
		{"10.1.3.4", "narrow", 16},
		{"127.0.10.1", "na", 24},
		{"127.0.20.255", "eu", 24},
		{"127.0.30.0", "ap", 24},
		{"::ffff:127.0.20.1", "eu", 24},
		{"2001:db8::1", "v6", 32},
		{"192.0.2.1", "", -1},
	}
	for _, tt := range tests {
		loc, bits := n.lookup(net.ParseIP(tt.ip))
		if loc != tt.want || bits != tt.bits || n.ClientLocation(net.ParseIP(tt.ip)) != tt.want {
			t.Errorf("%s: got %q /%d, want %q /%d", tt.ip, loc, bits, tt.want, tt.bits)
		}
	}
	for _, bad := range []map[string]string{{"10.0.0.0/33": "x"}, {"10.0.0.0/8": "x", "10.9.9.9/8": "y"}} {
		if _, err := ParseNetworks(bad); err == nil {
			t.Errorf("ParseNetworks(%v): got no error, want one", bad)
		}
	}
	if got, ok := DefaultLatencies().Latency("eu", "eu-west"); !ok || got != 10*time.Millisecond {
		t.Errorf("got eu→eu-west %v %v, want 10ms", got, ok)
	}
	if _, ok := DefaultLatencies().Latency("mars", "eu-west"); ok {
		t.Error("got a latency for an unknown location, want none")
	}
}

// A custom Locator (not a CIDR table) still routes, and location-dependent
// ECS answers then carry the client's source prefix as scope.
func TestCustomLocator(t *testing.T) {
	t.Parallel()
	ts := startServer(t, func(c *Config) {
		c.Locator = locatorFunc(func(net.IP) string { return "ap" })
	})
	r := exchange(t, client("udp", ""), ts.udp, newQuery("shop.meridian.test", mdns.TypeA, "127.0.20.0/22"))
	if got := values(r); len(got) != 1 || got[0] != "127.0.1.3" {
		t.Errorf("got %v, want [127.0.1.3]", got)
	}
	if e := ecsOf(r); e == nil || e.SourceScope != 22 {
		t.Errorf("got ECS %v, want scope /22", e)
	}
}

type locatorFunc func(net.IP) string

func (f locatorFunc) ClientLocation(ip net.IP) string { return f(ip) }

func TestRunOnAddr(t *testing.T) {
	t.Parallel()
	s, err := New(Config{Addr: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	select {
	case <-s.Ready():
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("not ready")
	}
	udp, tcp := s.Addrs()
	up, tp := netip.MustParseAddrPort(udp.String()).Port(), netip.MustParseAddrPort(tcp.String()).Port()
	if up != tp {
		t.Errorf("got udp port %d and tcp port %d, want the same", up, tp)
	}
	if err := s.Run(ctx); err == nil {
		t.Error("second Run: got no error, want one")
	}
	for _, proto := range []string{"udp", "tcp"} {
		r := exchange(t, client(proto, ""), udp.String(), newQuery("meridian.test", mdns.TypeSOA, ""))
		if len(r.Answer) != 1 {
			t.Errorf("%s: got %d answers for the default zone's SOA, want 1", proto, len(r.Answer))
		}
	}
	// SetZones swaps the zones of a running server; a bad set keeps the old.
	if err := s.SetZones([]Zone{{Name: "other.test", Records: []RecordSet{{Name: "x", Type: "A", Targets: []Target{{Value: "127.0.0.9"}}}}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetZones([]Zone{{Name: "other.test", Records: []RecordSet{{Name: "x", Type: "A"}}}}); err == nil {
		t.Error("SetZones with a record set without targets: got no error, want one")
	}
	c := client("udp", "")
	if r := exchange(t, c, udp.String(), newQuery("x.other.test", mdns.TypeA, "")); len(r.Answer) != 1 {
		t.Errorf("after SetZones: got %v, want x.other.test answered", r.Answer)
	}
	if r := exchange(t, c, udp.String(), newQuery("meridian.test", mdns.TypeSOA, "")); r.Rcode != mdns.RcodeRefused {
		t.Errorf("after SetZones: got %s for the old zone, want REFUSED", mdns.RcodeToString[r.Rcode])
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: got %v, want nil after cancel", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}
