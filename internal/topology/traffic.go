package topology

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/meridian-platform/meridian/internal/dns"
	"github.com/meridian-platform/meridian/internal/health"
)

// Defaults of the traffic sections.
const (
	DefaultEdgeDNSPort  = 5353
	DefaultEdgeHTTPPort = 8080
	DefaultDNSTTL       = 5 * time.Second
	DefaultZone         = "meridian.test"
)

// Edge is one `meridian edge` process: an edge location with an
// authoritative DNS server, the accelerator proxy and the edge cache.
type Edge struct {
	// Name of the edge, such as "edge-1"; the same rules as node names, and
	// unique among nodes and edges.
	Name string `yaml:"name"`
	// Host is the IP address the edge listens on. Required.
	Host string `yaml:"host"`
	// Location is the client location the edge stands in (a location of
	// clients.networks, such as "na"); its latency to each region is
	// clients.latency's figure until the edge has measured its own.
	Location string `yaml:"location"`
	// DNSPort serves DNS over UDP and TCP. Default 5353.
	DNSPort int `yaml:"dns_port"`
	// HTTPPort serves the accelerator and the cache. Default 8080.
	HTTPPort int `yaml:"http_port"`
	// AdminPort serves /healthz, /readyz, /metrics, health verdicts and the
	// admin API. Default 9000.
	AdminPort int `yaml:"admin_port"`
}

// DNSAddr is the host:port of the edge's DNS server.
func (e Edge) DNSAddr() string { return joinHostPort(e.Host, e.DNSPort) }

// HTTPAddr is the host:port of the edge's proxy.
func (e Edge) HTTPAddr() string { return joinHostPort(e.Host, e.HTTPPort) }

// AdminAddr is the host:port of the edge's admin endpoint.
func (e Edge) AdminAddr() string { return joinHostPort(e.Host, e.AdminPort) }

// Clients maps client addresses to locations and locations to regions.
type Clients struct {
	// Networks maps client subnets to locations, longest prefix first:
	//
	//	networks:
	//	  - {cidr: 127.0.10.0/24, location: na}
	Networks []ClientNetwork `yaml:"networks,omitempty"`
	// Latency is the round trip from each location to each region, used
	// by latency-routed DNS answers and by edges before they have measured
	// their own; under a simulated WAN it is also the latency added between
	// an edge and a region:
	//
	//	latency:
	//	  - {location: na, region: us-east, rtt: 10ms}
	Latency []LocationLatency `yaml:"latency,omitempty"`
}

// ClientNetwork is one client subnet and its location.
type ClientNetwork struct {
	// CIDR such as "127.0.10.0/24".
	CIDR string `yaml:"cidr"`
	// Location is a short name such as "na", "eu" or "ap".
	Location string `yaml:"location"`
}

// LocationLatency is the round trip from a client location to a region.
type LocationLatency struct {
	Location string        `yaml:"location"`
	Region   string        `yaml:"region"`
	RTT      time.Duration `yaml:"rtt"`
}

// LatencyTo returns the round trip from location to region, and whether the
// table has it.
func (c Clients) LatencyTo(location, region string) (time.Duration, bool) {
	for _, l := range c.Latency {
		if l.Location == location && l.Region == region {
			return l.RTT, true
		}
	}
	return 0, false
}

// DNS is what the edges' authoritative servers serve.
type DNS struct {
	// Zones the edges are authoritative for.
	Zones []Zone `yaml:"zones,omitempty"`
}

// Zone is one DNS zone.
type Zone struct {
	// Name such as "meridian.test".
	Name string `yaml:"name"`
	// Records are the zone's record sets. SOA and NS records at the apex
	// are made up unless given.
	Records []RecordSet `yaml:"records,omitempty"`
}

// RecordSet is the records of one name and type and the Route 53 routing
// policy that chooses among them:
//
//   - name: shop               # relative to the zone; "@" is the apex
//     type: A                  # A AAAA CNAME TXT MX NS SOA SRV
//     ttl: 5s                  # default 5s
//     policy: latency          # simple weighted latency failover geolocation multivalue
//     targets:
//   - {value: 127.0.1.1, region: us-east, health_check: us-east}
//   - {value: 127.0.1.2, region: eu-west, health_check: eu-west}
type RecordSet struct {
	Name    string        `yaml:"name"`
	Type    string        `yaml:"type"`
	TTL     time.Duration `yaml:"ttl,omitempty"`
	Policy  string        `yaml:"policy,omitempty"`
	Targets []Target      `yaml:"targets"`
}

// Target is one answer of a record set.
type Target struct {
	// Value in zone-file form; domain names end with a dot.
	Value string `yaml:"value"`
	// HealthCheck ties the target to a health check id (a region's name is
	// the id of that region's check, an edge's name its own).
	HealthCheck string `yaml:"health_check,omitempty"`
	// Weight for the weighted policy.
	Weight uint32 `yaml:"weight,omitempty"`
	// Region for the latency policy.
	Region string `yaml:"region,omitempty"`
	// Location for the geolocation policy ("*" is the default).
	Location string `yaml:"location,omitempty"`
	// Role for the failover policy: primary or secondary.
	Role string `yaml:"role,omitempty"`
}

// HealthCheck is a health check beyond the built-in ones (each region's
// deep health, id = the region's name; each region node's, id = the node's
// name; each edge's, id = the edge's name), as Route 53 offers them.
type HealthCheck struct {
	// ID names the check for record targets and calculated checks.
	ID string `yaml:"id"`
	// Type is http, tcp or calculated.
	Type string `yaml:"type"`
	// URL to GET (http): healthy on 2xx and 3xx.
	URL string `yaml:"url,omitempty"`
	// SearchString must appear in the first 5120 bytes of the body (http).
	SearchString string `yaml:"search_string,omitempty"`
	// Addr to connect to (tcp), host:port.
	Addr string `yaml:"addr,omitempty"`
	// Children are the check ids a calculated check counts.
	Children []string `yaml:"children,omitempty"`
	// HealthyThreshold is how many children must be healthy (calculated).
	HealthyThreshold int `yaml:"healthy_threshold,omitempty"`
	// Invert reports healthy as unhealthy and the other way round.
	Invert bool `yaml:"invert,omitempty"`
}

// CDN is the edges' cache (CloudFront's part): distributions served from
// an in-memory cache in front of origins in every region.
type CDN struct {
	// MaxBytes caps each edge's cache, bodies and headers together.
	// Default 256 MiB.
	MaxBytes int64 `yaml:"max_bytes,omitempty"`
	// Distributions are the cached sites:
	//
	//	distributions:
	//	  - name: static
	//	    hosts: [static.meridian.test]
	//	    origin: {bucket: static}        # the bucket, in every region
	//	  - name: shop-static
	//	    path_prefixes: [/static/]       # on any host, these paths
	//	    origin: {load_balancer: true}   # every region's balancer
	Distributions []Distribution `yaml:"distributions,omitempty"`
}

// Distribution is one cached site.
type Distribution struct {
	// Name labels the distribution in metrics, logs and invalidations.
	// Required, unique.
	Name string `yaml:"name"`
	// Hosts are the host names whose requests the distribution serves.
	Hosts []string `yaml:"hosts,omitempty"`
	// PathPrefixes route requests for any other host under these paths
	// (each starting and ending with "/") to the distribution, as a
	// CloudFront cache behavior's path pattern does; the rest goes to the
	// accelerator.
	PathPrefixes []string `yaml:"path_prefixes,omitempty"`
	// Origin is where objects come from, tried region by region, nearest
	// healthy first.
	Origin DistributionOrigin `yaml:"origin"`
	// DefaultTTL, MinTTL and MaxTTL bound freshness as CloudFront's cache
	// policies do. Defaults 24h, 0 and one year.
	DefaultTTL time.Duration `yaml:"default_ttl,omitempty"`
	MinTTL     time.Duration `yaml:"min_ttl,omitempty"`
	MaxTTL     time.Duration `yaml:"max_ttl,omitempty"`
}

// PrefixHost is the host name under which the cache keeps what d serves
// for its path prefixes: every host's /static/... is one object, whichever
// name the client used.
func (d Distribution) PrefixHost() string { return d.Name + ".cdn.internal" }

// InvalidationHost is a host name by which the cache knows d.
func (d Distribution) InvalidationHost() string {
	if len(d.Hosts) > 0 {
		return d.Hosts[0]
	}
	return d.PrefixHost()
}

// DistributionOrigin is a distribution's origin: one of Bucket and
// LoadBalancer.
type DistributionOrigin struct {
	// Bucket is an S3 bucket on the regions' API ports; the edge signs its
	// requests with the deployment's credentials, as CloudFront's origin
	// access control does, so the bucket need not be public.
	Bucket string `yaml:"bucket,omitempty"`
	// LoadBalancer fetches from the regions' load balancers.
	LoadBalancer bool `yaml:"load_balancer,omitempty"`
}

// Edge finds the edge called name.
func (t *Topology) Edge(name string) (Edge, bool) {
	for _, e := range t.Edges {
		if e.Name == name {
			return e, true
		}
	}
	return Edge{}, false
}

// locationFor is the client location `Default` gives region i: the
// continent the default region names suggest, else the region's own name.
func locationFor(region string) string {
	switch region {
	case "us-east":
		return "na"
	case "eu-west":
		return "eu"
	case "ap-south":
		return "ap"
	}
	return region
}

// defaultTraffic fills in what Default gives the traffic sections: edge j
// on <edgeSubnet>.j in the location of region j, client network 127.0.(10·j).0/24
// for that location, latencies of 10 ms within a location and the WAN
// profile's round trips (realisticRTT) between the others, and the zone
// meridian.test with shop (latency-routed to the regions' balancers), www
// and static (latency-routed to the edges), one name per region and per
// edge, and ns1 (the edges).
func (t *Topology) defaultTraffic(regions []string, edgeSubnet string) {
	for i, r := range regions {
		loc := locationFor(r)
		t.Edges = append(t.Edges, Edge{
			Name: fmt.Sprintf("edge-%d", i+1), Host: fmt.Sprintf("%s.%d", edgeSubnet, i+1), Location: loc,
		})
		if i < 25 {
			t.Clients.Networks = append(t.Clients.Networks, ClientNetwork{CIDR: fmt.Sprintf("127.0.%d.0/24", 10*(i+1)), Location: loc})
		}
		for _, other := range regions {
			rtt := 10 * time.Millisecond
			if other != r {
				rtt = realisticRTT(r, other)
			}
			t.Clients.Latency = append(t.Clients.Latency, LocationLatency{Location: loc, Region: other, RTT: rtt})
		}
	}
	z := Zone{Name: DefaultZone}
	shop := RecordSet{Name: "shop", Type: "A", Policy: "latency"}
	for _, r := range t.Regions {
		shop.Targets = append(shop.Targets, Target{Value: r.Nodes[0].Host, Region: r.Name, HealthCheck: r.Name})
	}
	edges := func(name string) RecordSet {
		rs := RecordSet{Name: name, Type: "A", Policy: "latency"}
		for i, e := range t.Edges {
			rs.Targets = append(rs.Targets, Target{Value: e.Host, Region: regions[i], HealthCheck: e.Name})
		}
		return rs
	}
	z.Records = append(z.Records, shop, edges("www"), edges("static"))
	t.CDN.Distributions = []Distribution{
		{Name: "static", Hosts: []string{"static." + DefaultZone}, Origin: DistributionOrigin{Bucket: "static"}},
		{Name: "shop-static", PathPrefixes: []string{"/static/"}, Origin: DistributionOrigin{LoadBalancer: true}},
	}
	ns := RecordSet{Name: "ns1", Type: "A", Policy: "multivalue"}
	for _, e := range t.Edges {
		ns.Targets = append(ns.Targets, Target{Value: e.Host, HealthCheck: e.Name})
		z.Records = append(z.Records, RecordSet{Name: e.Name, Type: "A", Targets: []Target{{Value: e.Host}}})
	}
	z.Records = append(z.Records, ns)
	for _, r := range t.Regions {
		z.Records = append(z.Records, RecordSet{Name: r.Name, Type: "A", Targets: []Target{{Value: r.Nodes[0].Host, HealthCheck: r.Name}}})
	}
	t.DNS.Zones = append(t.DNS.Zones, z)
}

// realisticEdgeLinks returns the WAN links between each edge and each
// region: the latency table's round trip from the edge's location.
func (t *Topology) realisticEdgeLinks() []Link {
	var links []Link
	for _, e := range t.Edges {
		for _, r := range t.Regions {
			if d, ok := t.Clients.LatencyTo(e.Location, r.Name); ok && d > 0 {
				links = append(links, Link{A: e.Name, B: r.Name, RTT: d})
			}
		}
	}
	return links
}

func (t *Topology) setTrafficDefaults() {
	for i := range t.Edges {
		e := &t.Edges[i]
		setDefault(&e.DNSPort, DefaultEdgeDNSPort)
		setDefault(&e.HTTPPort, DefaultEdgeHTTPPort)
		setDefault(&e.AdminPort, DefaultAdminPort)
	}
	for i := range t.DNS.Zones {
		for j := range t.DNS.Zones[i].Records {
			rs := &t.DNS.Zones[i].Records[j]
			setDefault(&rs.TTL, DefaultDNSTTL)
			setDefault(&rs.Policy, "simple")
			rs.Type = strings.ToUpper(rs.Type)
		}
	}
	if len(t.Edges) == 0 {
		t.Edges = nil
	}
	if len(t.Clients.Networks) == 0 {
		t.Clients.Networks = nil
	}
	if len(t.Clients.Latency) == 0 {
		t.Clients.Latency = nil
	}
	if len(t.DNS.Zones) == 0 {
		t.DNS.Zones = nil
	}
	if len(t.CDN.Distributions) == 0 {
		t.CDN.Distributions = nil
	}
	if len(t.Health.Checks) == 0 {
		t.Health.Checks = nil
	}
}

func (v *validator) cdn(c CDN) {
	nonNegative(v, "cdn.max_bytes", c.MaxBytes)
	names, hosts := map[string]bool{}, map[string]string{}
	for i, d := range c.Distributions {
		p := fmt.Sprintf("cdn.distributions[%d]", i)
		switch {
		case d.Name == "":
			v.add(p+".name", "required")
		case names[d.Name]:
			v.add(p+".name", "%q is already the name of another distribution", d.Name)
		}
		names[d.Name] = true
		if len(d.Hosts) == 0 && len(d.PathPrefixes) == 0 {
			v.add(p, "give hosts or path_prefixes: which requests the distribution serves")
		}
		for _, h := range d.Hosts {
			h = strings.ToLower(h)
			if prev, dup := hosts[h]; dup {
				v.add(p+".hosts", "%q is already served by distribution %s", h, prev)
			}
			hosts[h] = d.Name
		}
		for _, pp := range d.PathPrefixes {
			if !strings.HasPrefix(pp, "/") || !strings.HasSuffix(pp, "/") {
				v.add(p+".path_prefixes", "%q must start and end with /", pp)
			}
		}
		if (d.Origin.Bucket == "") == !d.Origin.LoadBalancer {
			v.add(p+".origin", "give exactly one of bucket and load_balancer")
		}
		nonNegative(v, p+".default_ttl", d.DefaultTTL)
		nonNegative(v, p+".min_ttl", d.MinTTL)
		nonNegative(v, p+".max_ttl", d.MaxTTL)
	}
}

// checkIDs returns every health check id: built-in and configured.
func (t *Topology) checkIDs() map[string]bool {
	ids := map[string]bool{}
	for _, r := range t.Regions {
		ids[r.Name] = true
		for _, n := range r.Nodes {
			ids[n.Name] = true
		}
	}
	for _, e := range t.Edges {
		ids[e.Name] = true
	}
	for _, c := range t.Health.Checks {
		ids[c.ID] = true
	}
	return ids
}

func (v *validator) traffic(t *Topology, nodeAt, addrAt map[string]string) {
	locations := map[string]bool{}
	for i, n := range t.Clients.Networks {
		p := fmt.Sprintf("clients.networks[%d]", i)
		if _, err := netip.ParsePrefix(n.CIDR); err != nil {
			v.add(p+".cidr", "%q is not a network in CIDR form such as 127.0.10.0/24", n.CIDR)
		}
		if n.Location == "" {
			v.add(p+".location", "required")
		}
		locations[n.Location] = true
	}
	regions := map[string]bool{}
	for i, r := range t.Regions {
		regions[r.Name] = true
		if r.Traffic.Weight < 0 {
			v.add(fmt.Sprintf("regions[%d].traffic.weight", i), "%d is negative", r.Traffic.Weight)
		}
		if d := r.Traffic.Dial; d != nil && (*d < 0 || *d > 100) {
			v.add(fmt.Sprintf("regions[%d].traffic.dial", i), "%d is not a percentage (0-100)", *d)
		}
	}
	for i, l := range t.Clients.Latency {
		p := fmt.Sprintf("clients.latency[%d]", i)
		if l.Location == "" {
			v.add(p+".location", "required")
		}
		locations[l.Location] = true
		if !regions[l.Region] {
			v.add(p+".region", "unknown region %q", l.Region)
		}
		nonNegative(v, p+".rtt", l.RTT)
	}
	for i, e := range t.Edges {
		ep := fmt.Sprintf("edges[%d]", i)
		v.endpoint(ep, e.Name, e.Host, []port{
			{"dns_port", e.DNSPort, DefaultEdgeDNSPort},
			{"http_port", e.HTTPPort, DefaultEdgeHTTPPort},
			{"admin_port", e.AdminPort, DefaultAdminPort},
		}, nodeAt, addrAt)
		if e.Location != "" && !locations[e.Location] {
			v.add(ep+".location", "%q is not a location of clients.networks or clients.latency", e.Location)
		}
	}
	ids := t.checkIDs()
	for i, c := range t.Health.Checks {
		p := fmt.Sprintf("health.checks[%d]", i)
		if c.ID == "" {
			v.add(p+".id", "required")
		}
		switch c.Type {
		case "http":
			if !strings.HasPrefix(c.URL, "http://") && !strings.HasPrefix(c.URL, "https://") {
				v.add(p+".url", "%q is not an http:// or https:// URL", c.URL)
			}
		case "tcp":
			if c.Addr == "" {
				v.add(p+".addr", "required for a tcp check: host:port")
			}
		case "calculated":
			if len(c.Children) == 0 {
				v.add(p+".children", "a calculated check needs at least one child")
			}
			for _, ch := range c.Children {
				if !ids[ch] || ch == c.ID {
					v.add(p+".children", "%q is not another health check", ch)
				}
			}
			if c.HealthyThreshold < 1 || c.HealthyThreshold > len(c.Children) {
				v.add(p+".healthy_threshold", "%d must be between 1 and the number of children (%d)", c.HealthyThreshold, len(c.Children))
			}
		default:
			v.add(p+".type", "%q is not known; use http, tcp or calculated", c.Type)
		}
	}
	v.cdn(t.CDN)
	if checks, _ := t.HealthChecks(); len(v.errs) == 0 {
		if err := (health.Config{Name: "validate", Checks: checks}).Validate(); err != nil {
			v.add("health", "%v", err)
		}
	}
	if err := dns.ValidateZones(t.DNSZones()); err != nil {
		v.add("dns", "%v", err)
	}
	for i, z := range t.DNS.Zones {
		zp := fmt.Sprintf("dns.zones[%d]", i)
		if z.Name == "" {
			v.add(zp+".name", "required")
		}
		for j, rs := range z.Records {
			rp := fmt.Sprintf("%s.records[%d]", zp, j)
			for k, tg := range rs.Targets {
				if tg.HealthCheck != "" && !ids[tg.HealthCheck] {
					v.add(fmt.Sprintf("%s.targets[%d].health_check", rp, k), "%q is not a health check (a region, node, edge or health.checks id)", tg.HealthCheck)
				}
			}
		}
	}
}

// DNSZones returns the zones in the DNS server's terms.
func (t *Topology) DNSZones() []dns.Zone {
	zones := make([]dns.Zone, 0, len(t.DNS.Zones))
	for _, z := range t.DNS.Zones {
		dz := dns.Zone{Name: z.Name}
		for _, rs := range z.Records {
			drs := dns.RecordSet{Name: rs.Name, Type: rs.Type, TTL: rs.TTL, Policy: dns.Policy(rs.Policy)}
			for _, tg := range rs.Targets {
				drs.Targets = append(drs.Targets, dns.Target{
					Value: tg.Value, HealthCheck: tg.HealthCheck, Weight: tg.Weight,
					Region: tg.Region, Location: tg.Location, Role: tg.Role,
				})
			}
			dz.Records = append(dz.Records, drs)
		}
		zones = append(zones, dz)
	}
	return zones
}

// HealthChecks returns every health check of the deployment and every
// checker (each node and edge, at its admin port), as every checker runs
// them. Built in: each node's deep health (id = node name, GET
// /healthz/deep: storage writable and, where the region runs groups, a
// healthy instance), each region (id = region name: healthy while at least
// one of its nodes is), each edge (id = edge name, GET /healthz); then
// health.checks.
func (t *Topology) HealthChecks() ([]health.Check, []health.Peer) {
	var checks []health.Check
	var peers []health.Peer
	probe := func(id, url string) health.Check {
		return health.Check{ID: id, Type: health.HTTP, URL: url, Interval: t.Health.Interval, FailureThreshold: t.Health.Threshold}
	}
	for _, r := range t.Regions {
		region := health.Check{ID: r.Name, Type: health.Calculated, HealthyThreshold: 1}
		for _, n := range r.Nodes {
			checks = append(checks, probe(n.Name, "http://"+n.AdminAddr()+"/healthz/deep"))
			peers = append(peers, health.Peer{Name: n.Name, URL: "http://" + n.AdminAddr()})
			region.Children = append(region.Children, n.Name)
		}
		checks = append(checks, region)
	}
	for _, e := range t.Edges {
		checks = append(checks, probe(e.Name, "http://"+e.AdminAddr()+"/healthz"))
		peers = append(peers, health.Peer{Name: e.Name, URL: "http://" + e.AdminAddr()})
	}
	for _, c := range t.Health.Checks {
		hc := health.Check{ID: c.ID, Type: health.Type(c.Type), Invert: c.Invert}
		switch hc.Type {
		case health.Calculated: // no probes of its own: it counts its children
			hc.Children, hc.HealthyThreshold = c.Children, c.HealthyThreshold
		default:
			hc = probe(c.ID, c.URL)
			hc.Type, hc.SearchString, hc.Addr, hc.Invert = health.Type(c.Type), c.SearchString, c.Addr, c.Invert
		}
		checks = append(checks, hc)
	}
	return checks, peers
}
