package dns

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	mdns "github.com/miekg/dns"
)

func TestPolicies(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil)
	tests := []struct {
		name  string
		qname string
		from  string // source address of the client
		ecs   string // EDNS Client Subnet sent, if any
		want  []string
	}{
		{"simple answers every target", "www.meridian.test", "", "", []string{"127.0.1.1", "127.0.1.2"}},
		{"failover answers primary", "fo.meridian.test", "", "", []string{"127.0.3.1"}},
		{"latency na by source", "shop.meridian.test", "127.0.10.7", "", []string{"127.0.1.1"}},
		{"latency eu by source", "shop.meridian.test", "127.0.20.7", "", []string{"127.0.1.2"}},
		{"latency ap by source", "shop.meridian.test", "127.0.30.7", "", []string{"127.0.1.3"}},
		{"latency eu by ecs", "shop.meridian.test", "127.0.10.7", "127.0.20.0/24", []string{"127.0.1.2"}},
		{"latency ap by ecs", "shop.meridian.test", "", "127.0.30.0/24", []string{"127.0.1.3"}},
		{"ecs source /0 falls back to the source", "shop.meridian.test", "127.0.30.9", "0.0.0.0/0", []string{"127.0.1.3"}},
		{"latency unknown location answers the first", "shop.meridian.test", "127.0.0.1", "", []string{"127.0.1.1"}},
		{"geo na by source", "geo.meridian.test", "127.0.10.7", "", []string{"127.0.4.1"}},
		{"geo eu by ecs", "geo.meridian.test", "", "127.0.20.0/24", []string{"127.0.4.2"}},
		{"geo ap gets the default", "geo.meridian.test", "127.0.30.7", "", []string{"127.0.4.9"}},
		{"geo unknown gets the default", "geo.meridian.test", "127.0.0.1", "", []string{"127.0.4.9"}},
		{"geo without default answers nothing", "geo-nodefault.meridian.test", "127.0.20.7", "", nil},
	}
	for _, tt := range tests {
		for _, proto := range []string{"udp", "tcp"} {
			t.Run(tt.name+"/"+proto, func(t *testing.T) {
				addr := ts.udp
				if proto == "tcp" {
					addr = ts.tcp
				}
				r := exchange(t, client(proto, tt.from), addr, newQuery(tt.qname, mdns.TypeA, tt.ecs))
				if r.Rcode != mdns.RcodeSuccess || !r.Authoritative {
					t.Fatalf("got rcode %s aa=%v, want NOERROR aa=true", mdns.RcodeToString[r.Rcode], r.Authoritative)
				}
				if got := values(r); !slices.Equal(got, tt.want) {
					t.Errorf("got %v, want %v", got, tt.want)
				}
			})
		}
	}
}

func TestECSScope(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil)
	c := client("udp", "")
	tests := []struct {
		qname, ecs string
		wantScope  uint8
	}{
		{"shop.meridian.test", "127.0.20.0/24", 24}, // latency: depends on the /24
		{"shop.meridian.test", "127.0.20.5/32", 24}, // the answer holds for the whole client network
		{"geo.meridian.test", "127.0.10.0/24", 24},
		{"www.meridian.test", "127.0.20.0/24", 0}, // simple: same for everyone
		{"shop.meridian.test", "0.0.0.0/0", 0},
		{"shop.meridian.test", "127.0.99.0/24", 24}, // unknown network: the answer holds for it only
		{"shop.meridian.test", "2001:db8::/56", 56},
		{"geo.meridian.test", "2001:db8::/48", 48},
	}
	for _, tt := range tests {
		t.Run(tt.qname+" "+tt.ecs, func(t *testing.T) {
			r := exchange(t, c, ts.udp, newQuery(tt.qname, mdns.TypeA, tt.ecs))
			e := ecsOf(r)
			if e == nil {
				t.Fatal("got no ECS option in the response, want it echoed")
			}
			q := ecsOf(newQuery(tt.qname, mdns.TypeA, tt.ecs))
			if e.SourceNetmask != q.SourceNetmask || !e.Address.Equal(q.Address) || e.Family != q.Family {
				t.Errorf("got ECS %s, want the query's %s echoed", e, q)
			}
			if e.SourceScope != tt.wantScope {
				t.Errorf("got scope /%d, want /%d", e.SourceScope, tt.wantScope)
			}
		})
	}
}

func TestUnhealthyTargetsLeaveAndReturn(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil)
	eu := client("udp", "127.0.20.9")
	na := client("udp", "127.0.10.9")
	ask := func(c *mdns.Client, name string) []string {
		return values(exchange(t, c, ts.udp, newQuery(name, mdns.TypeA, "")))
	}
	steps := []struct {
		name   string
		set    map[string]bool
		client *mdns.Client
		qname  string
		want   []string
	}{
		{"latency eu healthy", nil, eu, "shop.meridian.test", []string{"127.0.1.2"}},
		{"latency eu-west down goes to next nearest", map[string]bool{"eu-west": false}, eu, "shop.meridian.test", []string{"127.0.1.1"}},
		{"latency us-east down too", map[string]bool{"us-east": false}, eu, "shop.meridian.test", []string{"127.0.1.3"}},
		{"latency all down fails open to nearest", map[string]bool{"ap-south": false}, eu, "shop.meridian.test", []string{"127.0.1.2"}},
		{"latency eu-west back", map[string]bool{"eu-west": true, "us-east": true, "ap-south": true}, eu, "shop.meridian.test", []string{"127.0.1.2"}},
		{"failover primary down", map[string]bool{"fo-p": false}, na, "fo.meridian.test", []string{"127.0.3.2"}},
		{"failover both down answers primary", map[string]bool{"fo-s": false}, na, "fo.meridian.test", []string{"127.0.3.1"}},
		{"failover secondary back", map[string]bool{"fo-s": true}, na, "fo.meridian.test", []string{"127.0.3.2"}},
		{"failover primary back", map[string]bool{"fo-p": true}, na, "fo.meridian.test", []string{"127.0.3.1"}},
		{"geo na down gets default", map[string]bool{"geo-na": false}, na, "geo.meridian.test", []string{"127.0.4.9"}},
		{"geo na back", map[string]bool{"geo-na": true}, na, "geo.meridian.test", []string{"127.0.4.1"}},
	}
	for _, st := range steps {
		for id, ok := range st.set {
			ts.health.set(id, ok)
		}
		if got := ask(st.client, st.qname); !slices.Equal(got, st.want) {
			t.Errorf("%s: got %v, want %v", st.name, got, st.want)
		}
	}

	// Weighted and multivalue over many queries: the unhealthy target never
	// appears, and appears again once healthy.
	count := func(name, value string, n int) int {
		seen := 0
		for range n {
			if slices.Contains(ask(na, name), value) {
				seen++
			}
		}
		return seen
	}
	ts.health.set("w-b", false)
	if got := count("w.meridian.test", "127.0.2.2", 50); got != 0 {
		t.Errorf("weighted: unhealthy 127.0.2.2 answered %d/50 times, want 0", got)
	}
	ts.health.set("w-b", true)
	if got := count("w.meridian.test", "127.0.2.2", 50); got == 0 {
		t.Errorf("weighted: healthy again 127.0.2.2 answered 0/50 times, want some")
	}
	ts.health.set("mv-3", false)
	if got := count("mv.meridian.test", "127.0.5.3", 50); got != 0 {
		t.Errorf("multivalue: unhealthy 127.0.5.3 answered %d/50 times, want 0", got)
	}
	ts.health.set("mv-3", true)
	if got := count("mv.meridian.test", "127.0.5.3", 50); got == 0 {
		t.Errorf("multivalue: healthy again 127.0.5.3 answered 0/50 times, want some")
	}
}

func TestWeightedDistribution(t *testing.T) {
	t.Parallel()
	ts := startServer(t, func(c *Config) { c.Seed = 42 })
	c := client("udp", "")
	const n = 2000
	got := map[string]int{}
	for range n {
		v := values(exchange(t, c, ts.udp, newQuery("w.meridian.test", mdns.TypeA, "")))
		if len(v) != 1 {
			t.Fatalf("got %d answers, want 1", len(v))
		}
		got[v[0]]++
	}
	// Weights 1:3, so 25% and 75%; allow ±4 points (many standard deviations).
	share := float64(got["127.0.2.2"]) / n
	if share < 0.71 || share > 0.79 {
		t.Errorf("got 127.0.2.2 in %.1f%% of answers (%v), want about 75%%", share*100, got)
	}
}

func TestMultivalue(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil)
	c := client("udp", "")
	orders := map[string]bool{}
	for range 20 {
		r := exchange(t, c, ts.udp, newQuery("mv.meridian.test", mdns.TypeA, ""))
		if len(r.Answer) == 0 || len(r.Answer) > MaxMultivalue {
			t.Fatalf("got %d answers, want 1..%d", len(r.Answer), MaxMultivalue)
		}
		v := values(r)
		if len(slices.Compact(slices.Clone(v))) != len(v) {
			t.Errorf("got duplicate answers %v", v)
		}
		var order []string
		for _, rr := range r.Answer {
			order = append(order, rr.(*mdns.A).A.String())
		}
		orders[strings.Join(order, ",")] = true
	}
	if len(orders) < 2 {
		t.Errorf("got the same order in 20 answers, want random order")
	}
	// With 3 healthy of 12, exactly those 3 are answered.
	for i := 4; i <= 12; i++ {
		ts.health.set(fmt.Sprintf("mv-%d", i), false)
	}
	want := []string{"127.0.5.1", "127.0.5.2", "127.0.5.3"}
	if got := values(exchange(t, c, ts.udp, newQuery("mv.meridian.test", mdns.TypeA, ""))); !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestTruncation(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil)
	tests := []struct {
		name    string
		proto   string
		bufsize uint16 // 0: no EDNS0
		wantTC  bool
	}{
		{"udp without edns", "udp", 0, true},
		{"udp edns 1232", "udp", 1232, true},
		{"udp edns 65000 is capped", "udp", 65000, true},
		{"tcp", "tcp", 0, false},
		{"tcp edns", "tcp", 1232, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newQuery("big.meridian.test", mdns.TypeTXT, "")
			if tt.bufsize > 0 {
				m.SetEdns0(tt.bufsize, false)
			}
			addr := ts.udp
			if tt.proto == "tcp" {
				addr = ts.tcp
			}
			c := client(tt.proto, "")
			c.UDPSize = 65535
			r := exchange(t, c, addr, m)
			if r.Truncated != tt.wantTC {
				t.Fatalf("got TC=%v, want %v", r.Truncated, tt.wantTC)
			}
			if tt.wantTC {
				if len(r.Answer) >= 40 {
					t.Errorf("got %d answers in a truncated response, want fewer than 40", len(r.Answer))
				}
				return
			}
			if len(r.Answer) != 40 {
				t.Errorf("got %d answers, want all 40", len(r.Answer))
			}
		})
	}
}

func TestRcodes(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil)
	c := client("udp", "")
	tests := []struct {
		name      string
		qname     string
		qtype     uint16
		wantRcode int
		wantAA    bool
		wantAns   int
		wantSOA   bool // SOA in authority
	}{
		{"other zone refused", "example.com", mdns.TypeA, mdns.RcodeRefused, false, 0, false},
		{"root refused", ".", mdns.TypeNS, mdns.RcodeRefused, false, 0, false},
		{"unknown name nxdomain", "nope.meridian.test", mdns.TypeA, mdns.RcodeNameError, true, 0, true},
		{"known name other type nodata", "www.meridian.test", mdns.TypeAAAA, mdns.RcodeSuccess, true, 0, true},
		{"empty non-terminal nodata", "_tcp.meridian.test", mdns.TypeSRV, mdns.RcodeSuccess, true, 0, true},
		{"apex soa", "meridian.test", mdns.TypeSOA, mdns.RcodeSuccess, true, 1, false},
		{"apex ns", "meridian.test", mdns.TypeNS, mdns.RcodeSuccess, true, 1, false},
		{"apex mx", "meridian.test", mdns.TypeMX, mdns.RcodeSuccess, true, 2, false},
		{"srv", "_http._tcp.meridian.test", mdns.TypeSRV, mdns.RcodeSuccess, true, 1, false},
		{"aaaa", "v6.meridian.test", mdns.TypeAAAA, mdns.RcodeSuccess, true, 1, false},
		{"txt", "www.meridian.test", mdns.TypeTXT, mdns.RcodeSuccess, true, 1, false},
		{"cname chased", "alias.meridian.test", mdns.TypeA, mdns.RcodeSuccess, true, 3, false},
		{"cname asked for", "alias.meridian.test", mdns.TypeCNAME, mdns.RcodeSuccess, true, 1, false},
		{"cname out of zone", "away.meridian.test", mdns.TypeA, mdns.RcodeSuccess, true, 1, false},
		{"case insensitive", "WwW.Meridian.TEST", mdns.TypeA, mdns.RcodeSuccess, true, 2, false},
		{"axfr refused", "meridian.test", mdns.TypeAXFR, mdns.RcodeRefused, true, 0, false},
		{"any minimal", "www.meridian.test", mdns.TypeANY, mdns.RcodeSuccess, true, 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := exchange(t, c, ts.udp, newQuery(tt.qname, tt.qtype, ""))
			if r.Rcode != tt.wantRcode {
				t.Errorf("got rcode %s, want %s", mdns.RcodeToString[r.Rcode], mdns.RcodeToString[tt.wantRcode])
			}
			if r.Authoritative != tt.wantAA {
				t.Errorf("got AA=%v, want %v", r.Authoritative, tt.wantAA)
			}
			if len(r.Answer) != tt.wantAns {
				t.Errorf("got %d answers %v, want %d", len(r.Answer), r.Answer, tt.wantAns)
			}
			gotSOA := len(r.Ns) == 1 && r.Ns[0].Header().Rrtype == mdns.TypeSOA
			if gotSOA != tt.wantSOA {
				t.Errorf("got authority %v, want SOA: %v", r.Ns, tt.wantSOA)
			}
			if r.Question[0].Name != mdns.Fqdn(tt.qname) {
				t.Errorf("got question %q, want the query's %q", r.Question[0].Name, tt.qname)
			}
		})
	}
}

func TestOpcodesAndBadEDNS(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil)
	c := client("udp", "")
	status := newQuery("www.meridian.test", mdns.TypeA, "")
	status.Opcode = mdns.OpcodeStatus
	badVers := newQuery("www.meridian.test", mdns.TypeA, "")
	badVers.SetEdns0(1232, false)
	badVers.IsEdns0().SetVersion(1)
	badECS := newQuery("www.meridian.test", mdns.TypeA, "127.0.20.0/24")
	ecsOf(badECS).SourceScope = 24 // must be 0 in queries (RFC 7871 §6)
	tests := []struct {
		name string
		m    *mdns.Msg
		want int
	}{
		{"status opcode", status, mdns.RcodeNotImplemented},
		{"edns version 1", badVers, mdns.RcodeBadVers},
		{"ecs with scope", badECS, mdns.RcodeFormatError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if r := exchange(t, c, ts.udp, tt.m); r.Rcode != tt.want {
				t.Errorf("got rcode %s, want %s", mdns.RcodeToString[r.Rcode], mdns.RcodeToString[tt.want])
			}
		})
	}
}

func TestFitDropsAdditionalBeforeTruncating(t *testing.T) {
	t.Parallel()
	m := newQuery("meridian.test", mdns.TypeMX, "")
	m.SetEdns0(1232, false)
	resp := new(mdns.Msg)
	resp.SetReply(m)
	mx, _ := mdns.NewRR("meridian.test. 5 IN MX 10 a.meridian.test.")
	resp.Answer = []mdns.RR{mx}
	for i := range 40 {
		rr, _ := mdns.NewRR(fmt.Sprintf("a.meridian.test. 5 IN AAAA 2001:db8::%x", i))
		resp.Extra = append(resp.Extra, rr)
	}
	resp.SetEdns0(1232, false)
	fit(resp, 512)
	if resp.Truncated {
		t.Error("got TC=1, want the additional section dropped instead")
	}
	if len(resp.Answer) != 1 || len(resp.Extra) != 1 || resp.IsEdns0() == nil {
		t.Errorf("got %d answers and extra %v, want 1 answer and only the OPT", len(resp.Answer), resp.Extra)
	}
	small := new(mdns.Msg)
	small.SetReply(m)
	small.Answer = []mdns.RR{mx}
	small.Extra = resp.Extra[:0:0]
	rr, _ := mdns.NewRR("a.meridian.test. 5 IN A 127.0.0.1")
	small.Extra = append(small.Extra, rr)
	fit(small, 512)
	if len(small.Extra) != 1 || small.Truncated {
		t.Errorf("got extra %v TC=%v, want the address kept when it fits", small.Extra, small.Truncated)
	}
}
