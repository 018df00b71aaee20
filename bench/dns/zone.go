package main

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/meridian-platform/meridian/internal/dns"
)

const (
	zoneName = "meridian.test."
	// negTTL is the SOA minimum and TTL in both servers (Meridian synthesizes
	// its SOA from it; Knot's zone file states the same record).
	negTTL = 60
)

// benchZone is the zone both servers serve: Meridian's record sets with
// their routing policies, and the static record sets Knot gets instead.
type benchZone struct {
	meridian dns.Zone
	// policy maps the owner names of record sets with a routing policy other
	// than simple to the policy: answers for them may differ between the two
	// servers (and between queries to Meridian).
	policy map[string]dns.Policy
	hosts  int
}

// buildZone makes meridian.test with an apex (SOA, two NS, MX, TXT),
// `hosts` hosts with A records (some with AAAA and TXT), CNAME aliases, SRV
// records, and the routing-policy record sets the product uses: a
// latency-routed shop over three regions (and www, a CNAME to it),
// weighted, failover, multivalue and geolocation sets, every policy target
// tied to a health check.
func buildZone(hosts int) benchZone {
	host := func(i int) string { return fmt.Sprintf("host-%03d", i) }
	var rs []dns.RecordSet
	add := func(name, typ string, ttl int, values ...string) {
		set := dns.RecordSet{Name: name, Type: typ, TTL: time.Duration(ttl) * time.Second}
		for _, v := range values {
			set.Targets = append(set.Targets, dns.Target{Value: v})
		}
		rs = append(rs, set)
	}
	add("@", "NS", 3600, "ns1.meridian.test.", "ns2.meridian.test.")
	add("@", "MX", 300, "10 mx1.meridian.test.", "20 mx2.meridian.test.")
	add("@", "TXT", 300, `"v=spf1 mx -all"`)
	add("ns1", "A", 3600, "127.0.54.1")
	add("ns1", "AAAA", 3600, "fd00:54::1")
	add("ns2", "A", 3600, "127.0.54.2")
	add("ns2", "AAAA", 3600, "fd00:54::2")
	add("mx1", "A", 300, "127.0.54.11")
	add("mx2", "A", 300, "127.0.54.12")
	for i := range hosts {
		a := []string{fmt.Sprintf("10.%d.%d.1", i/250, i%250)}
		if i%4 == 0 {
			a = append(a, fmt.Sprintf("10.%d.%d.2", i/250, i%250))
		}
		add(host(i), "A", 300, a...)
		if i%3 == 0 {
			add(host(i), "AAAA", 300, fmt.Sprintf("fd00:%x::%x", i/250, i%250+1))
		}
		if i%5 == 0 {
			add(host(i), "TXT", 300, fmt.Sprintf(`"owner=team-%02d env=prod build=%08x"`, i%17, i*2654435761))
		}
	}
	for i := range aliases(hosts) {
		add(fmt.Sprintf("alias-%02d", i), "CNAME", 300, host((i*7)%hosts)+".meridian.test.")
	}
	for i := range services(hosts) {
		add(fmt.Sprintf("_svc%02d._tcp", i), "SRV", 300,
			fmt.Sprintf("10 60 %d %s.meridian.test.", 8000+i, host((i*11)%hosts)),
			fmt.Sprintf("20 40 %d %s.meridian.test.", 8000+i, host((i*11+1)%hosts)))
	}

	policy := map[string]dns.Policy{}
	addPolicy := func(name string, p dns.Policy, targets ...dns.Target) {
		for i := range targets {
			targets[i].HealthCheck = fmt.Sprintf("%s-%d", name, i)
		}
		rs = append(rs, dns.RecordSet{Name: name, Type: "A", TTL: 60 * time.Second, Policy: p, Targets: targets})
		policy[name+"."+zoneName] = p
	}
	addPolicy("shop", dns.Latency,
		dns.Target{Value: "127.0.1.1", Region: "us-east"},
		dns.Target{Value: "127.0.1.2", Region: "eu-west"},
		dns.Target{Value: "127.0.1.3", Region: "ap-south"})
	addPolicy("api", dns.Weighted,
		dns.Target{Value: "127.0.2.1", Weight: 70},
		dns.Target{Value: "127.0.2.2", Weight: 20},
		dns.Target{Value: "127.0.2.3", Weight: 10})
	addPolicy("db", dns.Failover,
		dns.Target{Value: "127.0.3.1", Role: dns.Primary},
		dns.Target{Value: "127.0.3.2", Role: dns.Secondary})
	var mv []dns.Target
	for i := 1; i <= dns.MaxMultivalue; i++ {
		mv = append(mv, dns.Target{Value: fmt.Sprintf("127.0.4.%d", i)})
	}
	addPolicy("mv", dns.Multivalue, mv...)
	addPolicy("geo", dns.Geolocation,
		dns.Target{Value: "127.0.5.1", Location: "na"},
		dns.Target{Value: "127.0.5.2", Location: "eu"},
		dns.Target{Value: "127.0.5.3", Location: "ap"},
		dns.Target{Value: "127.0.5.9", Location: dns.DefaultLocation})
	// www leads into the latency-routed shop: the CNAME itself is static, the
	// address behind it is not.
	add("www", "CNAME", 300, "shop.meridian.test.")
	policy["www."+zoneName] = dns.Latency

	return benchZone{
		meridian: dns.Zone{Name: "meridian.test", NameServers: []string{"ns1.meridian.test.", "ns2.meridian.test."},
			Serial: 2026112501, NegativeTTL: negTTL * time.Second, Records: rs},
		policy: policy,
		hosts:  hosts,
	}
}

func aliases(hosts int) int  { return max(1, hosts/5) }
func services(hosts int) int { return max(1, hosts/8) }

// records counts the zone's resource records as Meridian stores them (every
// target, the synthesized SOA included).
func (z benchZone) records() (sets, rrs int) {
	for _, r := range z.meridian.Records {
		sets++
		rrs += len(r.Targets)
	}
	return sets + 1, rrs + 1
}

// staticTargets is the closest static equivalent of a record set for a
// server without routing policies: what Meridian answers a client in North
// America (the benchmark's source address) with every target healthy:
// latency → the us-east target, weighted → the heaviest target, failover →
// the primary, geolocation → the "na" target, multivalue and simple → all
// targets (Meridian shuffles multivalue answers; Knot keeps one order).
func staticTargets(r dns.RecordSet) []dns.Target {
	switch r.Policy {
	case dns.Latency:
		return r.Targets[:1]
	case dns.Weighted:
		best := r.Targets[0]
		for _, t := range r.Targets {
			if t.Weight > best.Weight {
				best = t
			}
		}
		return []dns.Target{best}
	case dns.Failover:
		for _, t := range r.Targets {
			if t.Role == dns.Primary {
				return []dns.Target{t}
			}
		}
	case dns.Geolocation:
		for _, t := range r.Targets {
			if t.Location == "na" {
				return []dns.Target{t}
			}
		}
	}
	return r.Targets
}

// zoneFile renders the zone for Knot: the SOA Meridian synthesizes, then
// every record set with its static equivalent.
func (z benchZone) zoneFile() string {
	var b strings.Builder
	fmt.Fprintf(&b, "$ORIGIN %s\n", zoneName)
	fmt.Fprintf(&b, "@\t%d\tIN\tSOA\tns1.meridian.test. hostmaster.meridian.test. %d 3600 600 86400 %d\n",
		negTTL, z.meridian.Serial, negTTL)
	for _, r := range z.meridian.Records {
		for _, t := range staticTargets(r) {
			fmt.Fprintf(&b, "%s\t%d\tIN\t%s\t%s\n", r.Name, int(r.TTL/time.Second), r.Type, t.Value)
		}
	}
	return b.String()
}

// healthChecks is every health check id of the zone, all healthy: the
// verdicts the edge's checkers would give Meridian's server.
func (z benchZone) healthChecks() map[string]bool {
	m := map[string]bool{}
	for _, r := range z.meridian.Records {
		for _, t := range r.Targets {
			if t.HealthCheck != "" {
				m[t.HealthCheck] = true
			}
		}
	}
	return m
}

// query is one query of the dnsperf input.
type query struct {
	name  string
	qtype uint16
	kind  string // what the mix calls it, for the table of the mix
	edns  bool
	ecs   string // client subnet sent as ECS, "" for none
}

// mixEntry is a kind of query and its share of the mix, in percent.
type mixEntry struct {
	kind   string
	weight int
	gen    func(r *rand.Rand) (string, uint16)
}

// queryMix is the benchmark's query mix: mostly hosts' addresses, a quarter
// routing-policy names, a tenth NXDOMAIN.
func queryMix(hosts int) []mixEntry {
	h := func(r *rand.Rand) string { return fmt.Sprintf("host-%03d.%s", r.IntN(hosts), zoneName) }
	hostN := func(r *rand.Rand, mod int) string {
		n := (hosts + mod - 1) / mod
		return fmt.Sprintf("host-%03d.%s", r.IntN(n)*mod, zoneName)
	}
	fixed := func(name string, t uint16) func(*rand.Rand) (string, uint16) {
		return func(*rand.Rand) (string, uint16) { return name, t }
	}
	return []mixEntry{
		{"host A", 28, func(r *rand.Rand) (string, uint16) { return h(r), mdns.TypeA }},
		{"host AAAA", 8, func(r *rand.Rand) (string, uint16) { return hostN(r, 3), mdns.TypeAAAA }},
		{"host TXT", 4, func(r *rand.Rand) (string, uint16) { return hostN(r, 5), mdns.TypeTXT }},
		{"alias A (CNAME→host)", 6, func(r *rand.Rand) (string, uint16) {
			return fmt.Sprintf("alias-%02d.%s", r.IntN(aliases(hosts)), zoneName), mdns.TypeA
		}},
		{"SRV (+additional)", 4, func(r *rand.Rand) (string, uint16) {
			return fmt.Sprintf("_svc%02d._tcp.%s", r.IntN(services(hosts)), zoneName), mdns.TypeSRV
		}},
		{"apex MX (+additional)", 2, fixed(zoneName, mdns.TypeMX)},
		{"apex NS (+additional)", 1, fixed(zoneName, mdns.TypeNS)},
		{"apex SOA", 1, fixed(zoneName, mdns.TypeSOA)},
		{"shop A (latency)", 12, fixed("shop."+zoneName, mdns.TypeA)},
		{"www A (CNAME→latency)", 4, fixed("www."+zoneName, mdns.TypeA)},
		{"api A (weighted)", 6, fixed("api."+zoneName, mdns.TypeA)},
		{"db A (failover)", 4, fixed("db."+zoneName, mdns.TypeA)},
		{"mv A (multivalue, 8)", 4, fixed("mv."+zoneName, mdns.TypeA)},
		{"geo A (geolocation)", 3, fixed("geo."+zoneName, mdns.TypeA)},
		{"NODATA (host MX)", 3, func(r *rand.Rand) (string, uint16) { return h(r), mdns.TypeMX }},
		{"NXDOMAIN", 10, func(r *rand.Rand) (string, uint16) {
			return fmt.Sprintf("nx-%06d.%s", r.IntN(1_000_000), zoneName), mdns.TypeA
		}},
	}
}

// ecsSubnets are the client subnets sent as ECS: the three default client
// networks of Meridian's locator (na, eu, ap) and one it does not know.
var ecsSubnets = []string{"127.0.10.0/24", "127.0.20.0/24", "127.0.30.0/24", "198.51.100.0/24"}

// makeQueries draws n queries from the mix. A share ednsShare of them carry
// EDNS0 (1232 B), and a share ecsShare of those an ECS option.
func makeQueries(n, hosts int, ednsShare, ecsShare float64, seed uint64) []query {
	r := rand.New(rand.NewPCG(seed, seed^0x5eed)) //nolint:gosec // G404: a seeded source, so runs repeat (STYLE.md)
	mix := queryMix(hosts)
	total := 0
	for _, m := range mix {
		total += m.weight
	}
	out := make([]query, 0, n)
	for range n {
		x := r.IntN(total)
		var m mixEntry
		for _, m = range mix {
			if x < m.weight {
				break
			}
			x -= m.weight
		}
		name, t := m.gen(r)
		q := query{name: name, qtype: t, kind: m.kind}
		if r.Float64() < ednsShare {
			q.edns = true
			if r.Float64() < ecsShare {
				q.ecs = ecsSubnets[r.IntN(len(ecsSubnets))]
			}
		}
		out = append(out, q)
	}
	return out
}

// msg is the query as a resolver sends it to an authoritative server (RD=0).
func (q query) msg() *mdns.Msg {
	m := new(mdns.Msg)
	m.SetQuestion(q.name, q.qtype)
	m.RecursionDesired = false
	if q.edns {
		m.SetEdns0(1232, false)
		if q.ecs != "" {
			_, n, err := net.ParseCIDR(q.ecs)
			if err != nil {
				panic(err) // ecsSubnets are constants
			}
			bits, _ := n.Mask.Size()
			opt := m.IsEdns0()
			opt.Option = append(opt.Option, &mdns.EDNS0_SUBNET{Code: mdns.EDNS0SUBNET, Family: 1,
				SourceNetmask: uint8(bits), Address: n.IP.To4()}) //nolint:gosec // G115: bits is an IPv4 prefix length, at most 32
		}
	}
	return m
}

// dnsperfInput renders queries in dnsperf's binary input format (-B): each
// packet preceded by its length, two bytes big-endian, as over TCP. The
// binary format is what lets the mix carry ECS on some queries only
// (dnsperf's -E adds an option to every query).
func dnsperfInput(qs []query) ([]byte, error) {
	var out []byte
	for _, q := range qs {
		wire, err := q.msg().Pack()
		if err != nil {
			return nil, fmt.Errorf("packing %s: %w", q.name, err)
		}
		out = binary.BigEndian.AppendUint16(out, uint16(len(wire))) //nolint:gosec // G115: a packed query is far below 64 KiB
		out = append(out, wire...)
	}
	return out, nil
}
