package dns

import (
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// newHandler builds a server that is not listening, for calling answer
// directly with a fixed seed.
func newHandler(t testing.TB, seed uint64, h Health) *Server {
	t.Helper()
	s, err := New(Config{Zones: testZones(), Seed: seed, Health: h,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// respond runs a query through the handler path as ServeDNS does for UDP:
// answer, then truncate to the client's buffer size.
func respond(s *Server, m *mdns.Msg, from string) *mdns.Msg {
	resp := s.answer(m, net.ParseIP(from))
	fit(resp, udpSize(m, s.cfg.MaxUDPSize))
	return resp
}

func TestGolden(t *testing.T) {
	t.Parallel()
	down := &fakeHealth{}
	down.set("fo-p", false)
	down.set("eu-west", false)
	tests := []struct {
		name   string
		qname  string
		qtype  uint16
		from   string
		ecs    string
		health Health
		repeat int // queries in a row on one server (for seeded randomness)
	}{
		{name: "simple", qname: "www.meridian.test", qtype: mdns.TypeA, from: "127.0.0.1"},
		{name: "weighted", qname: "w.meridian.test", qtype: mdns.TypeA, from: "127.0.0.1", repeat: 4},
		{name: "multivalue", qname: "mv.meridian.test", qtype: mdns.TypeA, from: "127.0.0.1", repeat: 2},
		{name: "latency-eu-ecs", qname: "shop.meridian.test", qtype: mdns.TypeA, from: "127.0.10.1", ecs: "127.0.20.0/24"},
		{name: "latency-eu-down", qname: "shop.meridian.test", qtype: mdns.TypeA, from: "127.0.20.1", health: down},
		{name: "failover-primary-down", qname: "fo.meridian.test", qtype: mdns.TypeA, from: "127.0.0.1", health: down},
		{name: "geolocation-default", qname: "geo.meridian.test", qtype: mdns.TypeA, from: "127.0.30.1"},
		{name: "cname", qname: "alias.meridian.test", qtype: mdns.TypeA, from: "127.0.0.1"},
		{name: "apex-soa", qname: "meridian.test", qtype: mdns.TypeSOA, from: "127.0.0.1"},
		{name: "apex-ns", qname: "meridian.test", qtype: mdns.TypeNS, from: "127.0.0.1"},
		{name: "srv", qname: "_http._tcp.meridian.test", qtype: mdns.TypeSRV, from: "127.0.0.1"},
		{name: "mx-latency-glue", qname: "meridian.test", qtype: mdns.TypeMX, from: "127.0.0.1", ecs: "127.0.30.0/24"},
		{name: "nxdomain", qname: "nope.meridian.test", qtype: mdns.TypeA, from: "127.0.0.1"},
		{name: "nodata", qname: "www.meridian.test", qtype: mdns.TypeAAAA, from: "127.0.0.1"},
		{name: "refused", qname: "example.com", qtype: mdns.TypeA, from: "127.0.0.1"},
		{name: "truncated", qname: "big.meridian.test", qtype: mdns.TypeTXT, from: "127.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const seed = 7
			t.Logf("seed %d", seed)
			s := newHandler(t, seed, tt.health)
			var b strings.Builder
			for i := range max(1, tt.repeat) {
				m := newQuery(tt.qname, tt.qtype, tt.ecs)
				m.Id = 0x1234
				resp := respond(s, m, tt.from)
				wire, err := resp.Pack()
				if err != nil {
					t.Fatalf("packing the answer: %v", err)
				}
				// The size pins name compression, which the text does not show.
				fmt.Fprintf(&b, "# query %d from %s ecs %q\n%s\n# %d bytes on the wire\n", i+1, tt.from, tt.ecs, resp, len(wire))
			}
			got := b.String()
			path := filepath.Join("testdata", "golden", tt.name+".txt")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("reading golden file (run with -update to create it): %v", err)
			}
			if got != string(want) {
				t.Errorf("got\n%s\nwant (%s)\n%s", got, path, want)
			}
		})
	}
}

func TestGoldenZone(t *testing.T) {
	t.Parallel()
	zones := append(testZones(), Zone{Name: "other.test", Serial: 7, NameServers: []string{"ns1.meridian.test", "ns2.meridian.test"},
		Records: []RecordSet{{Name: "@", Type: "A", TTL: time.Minute, Targets: []Target{{Value: "127.0.9.9"}}}}})
	s, err := New(Config{Zones: zones, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := s.WriteZones(&b); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "zones.txt")
	if *update {
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden file (run with -update to create it): %v", err)
	}
	if got := b.String(); got != string(want) {
		t.Errorf("got\n%s\nwant (%s)\n%s", got, path, want)
	}
}
