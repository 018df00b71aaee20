package dns

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	mdns "github.com/miekg/dns"
)

// table is the compiled, immutable form of the configured zones. SetZones
// swaps it atomically.
type table struct {
	zones []*zone // longest name first, so the first match is the closest zone
	// fast indexes the record sets the UDP fast path answers (fast.go).
	fast map[string]*rrset
}

type zone struct {
	name   string
	soa    *mdns.SOA
	negSOA *mdns.SOA       // soa with the negative caching TTL, see negativeSOA
	names  map[string]bool // every owner name and empty non-terminal
	sets   map[setKey]*rrset
}

type setKey struct {
	name  string
	qtype uint16
}

type rrset struct {
	name    string
	qtype   uint16
	policy  Policy
	targets []target
}

type target struct {
	Target
	rr   mdns.RR
	wire []byte // rr in wire form after the owner name, for the fast path
}

func compileZones(zones []Zone) (*table, error) {
	if len(zones) == 0 {
		zones = []Zone{{Name: defaultZone}}
	}
	t := &table{}
	seen := map[string]bool{}
	for i := range zones {
		z, err := compileZone(&zones[i])
		if err != nil {
			return nil, fmt.Errorf("zone %q: %w", zones[i].Name, err)
		}
		if seen[z.name] {
			return nil, fmt.Errorf("zone %q is configured twice", z.name)
		}
		seen[z.name] = true
		t.zones = append(t.zones, z)
	}
	sort.SliceStable(t.zones, func(i, j int) bool {
		return mdns.CountLabel(t.zones[i].name) > mdns.CountLabel(t.zones[j].name)
	})
	if err := t.compileFast(); err != nil {
		return nil, fmt.Errorf("compiling records: %w", err)
	}
	return t, nil
}

func seconds(d time.Duration, def time.Duration) (uint32, error) {
	if d == 0 {
		d = def
	}
	if d < 0 || d > 68*365*24*time.Hour {
		return 0, fmt.Errorf("TTL %v is out of range", d)
	}
	return uint32(d / time.Second), nil
}

func compileZone(c *Zone) (*zone, error) {
	name := mdns.Fqdn(strings.ToLower(strings.TrimSpace(c.Name)))
	if name == "." || c.Name == "" {
		return nil, errors.New("a zone needs a name")
	}
	if _, ok := mdns.IsDomainName(name); !ok {
		return nil, errors.New("not a valid domain name")
	}
	z := &zone{name: name, names: map[string]bool{name: true}, sets: map[setKey]*rrset{}}
	for i := range c.Records {
		rs, err := compileSet(&c.Records[i], name)
		if err != nil {
			return nil, fmt.Errorf("record set %q %s: %w", c.Records[i].Name, c.Records[i].Type, err)
		}
		k := setKey{rs.name, rs.qtype}
		if z.sets[k] != nil {
			return nil, fmt.Errorf("record set %s %s is configured twice", rs.name, c.Records[i].Type)
		}
		z.sets[k] = rs
		for n := rs.name; mdns.IsSubDomain(name, n) && !z.names[n]; {
			z.names[n] = true
			off, end := mdns.NextLabel(n, 0)
			if end {
				break
			}
			n = n[off:]
		}
	}
	for k := range z.sets {
		if k.qtype == mdns.TypeCNAME {
			if k.name == name {
				return nil, errors.New("a CNAME cannot be at the zone apex")
			}
			for k2 := range z.sets {
				if k2.name == k.name && k2.qtype != mdns.TypeCNAME {
					return nil, fmt.Errorf("%s has a CNAME and other records", k.name)
				}
			}
		}
		if k.qtype == mdns.TypeSOA && k.name != name {
			return nil, fmt.Errorf("SOA record %s is not at the zone apex", k.name)
		}
	}
	neg, err := seconds(c.NegativeTTL, defaultTTL)
	if err != nil {
		return nil, fmt.Errorf("negative TTL: %w", err)
	}
	ns := c.NameServers
	if len(ns) == 0 {
		ns = []string{"ns1." + name}
	}
	if z.sets[setKey{name, mdns.TypeNS}] == nil {
		rs := RecordSet{Name: name, Type: "NS"}
		for _, n := range ns {
			rs.Targets = append(rs.Targets, Target{Value: mdns.Fqdn(n)})
		}
		set, err := compileSet(&rs, name)
		if err != nil {
			return nil, fmt.Errorf("name servers: %w", err)
		}
		z.sets[setKey{name, mdns.TypeNS}] = set
	}
	if s := z.sets[setKey{name, mdns.TypeSOA}]; s != nil {
		z.soa = s.targets[0].rr.(*mdns.SOA)
	} else {
		serial := c.Serial
		if serial == 0 {
			serial = 1
		}
		z.soa = &mdns.SOA{
			Hdr:     mdns.RR_Header{Name: name, Rrtype: mdns.TypeSOA, Class: mdns.ClassINET, Ttl: neg},
			Ns:      mdns.Fqdn(strings.ToLower(ns[0])),
			Mbox:    "hostmaster." + name,
			Serial:  serial,
			Refresh: 3600, Retry: 600, Expire: 86400, Minttl: neg,
		}
		z.sets[setKey{name, mdns.TypeSOA}] = &rrset{name: name, qtype: mdns.TypeSOA, policy: Simple,
			targets: []target{{rr: z.soa}}}
	}
	z.negSOA = mdns.Copy(z.soa).(*mdns.SOA)
	z.negSOA.Hdr.Ttl = min(z.negSOA.Hdr.Ttl, z.negSOA.Minttl)
	return z, nil
}

func compileSet(c *RecordSet, zoneName string) (*rrset, error) {
	typ := strings.ToUpper(strings.TrimSpace(c.Type))
	qtype, ok := supportedTypes[typ]
	if !ok {
		return nil, fmt.Errorf("type %q is not supported (A, AAAA, CNAME, TXT, MX, NS, SOA, SRV)", c.Type)
	}
	name := absName(c.Name, zoneName)
	if _, ok := mdns.IsDomainName(name); !ok {
		return nil, fmt.Errorf("%q is not a valid domain name", name)
	}
	if !mdns.IsSubDomain(zoneName, name) {
		return nil, fmt.Errorf("%s is outside the zone", name)
	}
	ttl, err := seconds(c.TTL, defaultTTL)
	if err != nil {
		return nil, err
	}
	if len(c.Targets) == 0 {
		return nil, errors.New("no targets")
	}
	policy := c.Policy
	if policy == "" {
		policy = Simple
	}
	rs := &rrset{name: name, qtype: qtype, policy: policy}
	for i, tc := range c.Targets {
		rr, err := mdns.NewRR(fmt.Sprintf("%s %d IN %s %s", name, ttl, typ, tc.Value))
		if err != nil || rr == nil {
			return nil, fmt.Errorf("target %d value %q: %w", i, tc.Value, errOr(err, "empty record"))
		}
		rs.targets = append(rs.targets, target{Target: tc, rr: rr})
	}
	if (qtype == mdns.TypeCNAME || qtype == mdns.TypeSOA) && policy == Simple && len(rs.targets) > 1 {
		return nil, fmt.Errorf("a simple %s record set has exactly one target", typ)
	}
	switch policy {
	case Simple, Weighted, Multivalue:
	case Latency:
		for i, t := range c.Targets {
			if t.Region == "" {
				return nil, fmt.Errorf("latency target %d has no region", i)
			}
		}
	case Failover:
		var roles = map[string]int{}
		for i, t := range c.Targets {
			if t.Role != Primary && t.Role != Secondary {
				return nil, fmt.Errorf("failover target %d role %q is neither %q nor %q", i, t.Role, Primary, Secondary)
			}
			roles[t.Role]++
		}
		if roles[Primary] != 1 || roles[Secondary] > 1 {
			return nil, errors.New("a failover record set has one primary and at most one secondary")
		}
	case Geolocation:
		locs := map[string]bool{}
		for i, t := range c.Targets {
			if t.Location == "" {
				return nil, fmt.Errorf("geolocation target %d has no location (use %q for the default)", i, DefaultLocation)
			}
			if locs[t.Location] {
				return nil, fmt.Errorf("geolocation location %q has two targets", t.Location)
			}
			locs[t.Location] = true
		}
	default:
		return nil, fmt.Errorf("routing policy %q is not one of simple, weighted, latency, failover, geolocation, multivalue", policy)
	}
	return rs, nil
}

func errOr(err error, msg string) error {
	if err != nil {
		return err
	}
	return errors.New(msg)
}

// find returns the closest enclosing zone of name, or nil.
func (t *table) find(name string) *zone {
	for _, z := range t.zones {
		if mdns.IsSubDomain(z.name, name) {
			return z
		}
	}
	return nil
}

// WriteZones writes the served zones in zone-file form, each target's routing
// policy and health check in a comment, for operators and golden tests.
func (s *Server) WriteZones(w io.Writer) error {
	t := s.zones.Load()
	zones := append([]*zone(nil), t.zones...)
	sort.Slice(zones, func(i, j int) bool { return canonical(zones[i].name) < canonical(zones[j].name) })
	var b strings.Builder
	for _, z := range zones {
		fmt.Fprintf(&b, "; zone %s\n", z.name)
		keys := make([]setKey, 0, len(z.sets))
		for k := range z.sets {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool {
			ci, cj := canonical(keys[i].name), canonical(keys[j].name)
			if ci != cj {
				return ci < cj
			}
			return typeRank(keys[i].qtype) < typeRank(keys[j].qtype)
		})
		for _, k := range keys {
			rs := z.sets[k]
			for _, tg := range rs.targets {
				b.WriteString(tg.rr.String())
				if note := tg.note(rs.policy); note != "" {
					b.WriteString("\t; " + note)
				}
				b.WriteByte('\n')
			}
		}
		b.WriteByte('\n')
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("writing zones: %w", err)
	}
	return nil
}

func (t target) note(p Policy) string {
	var parts []string
	switch p {
	case Weighted:
		parts = append(parts, fmt.Sprintf("weighted weight=%d", t.Weight))
	case Latency:
		parts = append(parts, "latency region="+t.Region)
	case Failover:
		parts = append(parts, "failover "+t.Role)
	case Geolocation:
		parts = append(parts, "geolocation location="+t.Location)
	case Multivalue:
		parts = append(parts, "multivalue")
	}
	if t.HealthCheck != "" {
		parts = append(parts, "health="+t.HealthCheck)
	}
	return strings.Join(parts, " ")
}

// canonical orders names the DNSSEC way: by labels from the root down.
func canonical(name string) string {
	labels := mdns.SplitDomainName(name)
	slices.Reverse(labels)
	return strings.Join(labels, "\x00")
}

// typeRank puts the SOA first, as zone files do.
func typeRank(t uint16) int {
	if t == mdns.TypeSOA {
		return -1
	}
	return int(t)
}
