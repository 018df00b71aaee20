package edge

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/meridian-platform/meridian/internal/dns"
	"github.com/meridian-platform/meridian/internal/topology"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// TestDefaultZoneAnswers pins what the edges of `meridian up` answer, per
// client network, with every region healthy and with us-east down: the
// zone data comes from topology.Default, the answers from the edge's own
// locator and latency table, over real UDP.
func TestDefaultZoneAnswers(t *testing.T) {
	top, err := topology.Default(nil, t.TempDir(), topology.WANRealistic)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex // the server reads down while the test writes it
	down := map[string]bool{}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := dns.New(dns.Config{
		PacketConn: pc, Listener: ln, Zones: top.DNSZones(), Seed: 7,
		Health: dns.HealthFunc(func(id string) (bool, bool) {
			mu.Lock()
			defer mu.Unlock()
			return !down[id], true
		}),
		Locator:   networks(top),
		Latencies: latencies{t: top}, // no measurements: the topology table
		RateLimit: dns.RateLimit{Disabled: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = srv.Run(ctx) }()
	<-srv.Ready()

	clients := []struct{ name, ecs string }{{"na", "127.0.10.0/24"}, {"eu", "127.0.20.0/24"}, {"ap", "127.0.30.0/24"}, {"unknown", "192.0.2.0/24"}}
	queries := []struct {
		name  string
		qtype uint16
	}{
		{"shop.meridian.test", mdns.TypeA}, {"www.meridian.test", mdns.TypeA}, {"static.meridian.test", mdns.TypeA},
		{"ns1.meridian.test", mdns.TypeA}, {"eu-west.meridian.test", mdns.TypeA}, {"meridian.test", mdns.TypeSOA},
		{"meridian.test", mdns.TypeNS}, {"shop.meridian.test", mdns.TypeAAAA}, {"nope.meridian.test", mdns.TypeA},
	}
	var b strings.Builder
	for _, phase := range []string{"every region healthy", "us-east and edge-1 down"} {
		if phase != "every region healthy" {
			mu.Lock()
			down["us-east"], down["edge-1"] = true, true
			mu.Unlock()
		}
		fmt.Fprintf(&b, "## %s\n", phase)
		for _, q := range queries {
			for _, c := range clients {
				r := exchange(t, pc.LocalAddr().String(), q.name, q.qtype, c.ecs)
				fmt.Fprintf(&b, "%-22s %-4s %-7s -> %s\n", q.name, mdns.TypeToString[q.qtype], c.name, render(r))
			}
		}
	}
	golden := filepath.Join("testdata", "default-zone-answers.txt")
	if *update {
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if b.String() != string(want) {
		t.Errorf("answers differ from %s (-update rewrites it):\ngot\n%s", golden, b.String())
	}
}

func exchange(t *testing.T, server, name string, qtype uint16, ecs string) *mdns.Msg {
	t.Helper()
	m := new(mdns.Msg)
	m.SetQuestion(name+".", qtype)
	m.SetEdns0(1232, false)
	_, n, _ := net.ParseCIDR(ecs)
	bits, _ := n.Mask.Size()
	opt := m.IsEdns0()
	opt.Option = append(opt.Option, &mdns.EDNS0_SUBNET{Code: mdns.EDNS0SUBNET, Family: 1, SourceNetmask: uint8(bits), Address: n.IP})
	c := &mdns.Client{Timeout: 2 * time.Second}
	r, _, err := c.Exchange(m, server)
	if err != nil {
		t.Fatalf("%s %s: %v", name, mdns.TypeToString[qtype], err)
	}
	return r
}

// render is one line: rcode, then the answer records' data, sorted.
func render(r *mdns.Msg) string {
	var rrs []string
	for _, rr := range r.Answer {
		h := rr.Header()
		rrs = append(rrs, fmt.Sprintf("%s %d %s", mdns.TypeToString[h.Rrtype], h.Ttl, strings.TrimPrefix(rr.String(), h.String())))
	}
	slices.Sort(rrs)
	out := mdns.RcodeToString[r.Rcode]
	if len(rrs) == 0 && r.Rcode == mdns.RcodeSuccess {
		out += " (no data)"
	}
	if len(rrs) > 0 {
		out += " " + strings.Join(rrs, ", ")
	}
	return out
}
