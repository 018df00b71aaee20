package dns

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"time"
)

// Health gives the verdict of a health check. Verdicts are made elsewhere
// (the edge's checkers); the server only reads them, on every query.
type Health interface {
	// Health reports whether check id is healthy; known is false when there
	// is no verdict yet, which the server treats as healthy.
	Health(id string) (healthy, known bool)
}

// Locator maps a client address to a location such as "na", "eu" or "ap";
// "" when unknown.
type Locator interface {
	ClientLocation(ip net.IP) string
}

// Latencies gives the latency from a client location to a region; ok is false
// when the table has no figure (treated as slower than any known one).
type Latencies interface {
	Latency(location, region string) (d time.Duration, ok bool)
}

// HealthFunc adapts a function to Health.
type HealthFunc func(id string) (healthy, known bool)

// Health calls f.
func (f HealthFunc) Health(id string) (healthy, known bool) { return f(id) }

type alwaysHealthy struct{}

func (alwaysHealthy) Health(string) (bool, bool) { return true, false }

// Network maps a client subnet to a location.
type Network struct {
	Prefix   netip.Prefix
	Location string
}

// Networks is a CIDR table implementing Locator by longest prefix match.
type Networks []Network

var _ Locator = Networks(nil)

// DefaultNetworks is the default client network table: 127.0.10.0/24 North
// America ("na"), 127.0.20.0/24 Europe ("eu"), 127.0.30.0/24 Asia-Pacific
// ("ap").
func DefaultNetworks() Networks {
	return Networks{
		{netip.MustParsePrefix("127.0.10.0/24"), "na"},
		{netip.MustParsePrefix("127.0.20.0/24"), "eu"},
		{netip.MustParsePrefix("127.0.30.0/24"), "ap"},
	}
}

// ParseNetworks builds a table from CIDR → location pairs.
func ParseNetworks(m map[string]string) (Networks, error) {
	var n Networks
	seen := map[netip.Prefix]string{}
	for cidr, loc := range m {
		p, err := netip.ParsePrefix(cidr)
		if err != nil {
			return nil, fmt.Errorf("client network %q: %w", cidr, err)
		}
		p = p.Masked()
		if other, dup := seen[p]; dup {
			return nil, fmt.Errorf("client network %q is the same network as %q", cidr, other)
		}
		seen[p] = cidr
		n = append(n, Network{p, loc})
	}
	slices.SortFunc(n, func(a, b Network) int { return a.Prefix.Addr().Compare(b.Prefix.Addr()) })
	return n, nil
}

// ClientLocation returns the location of the longest prefix holding ip.
func (n Networks) ClientLocation(ip net.IP) string {
	loc, _ := n.lookup(ip)
	return loc
}

// lookup also returns the matched prefix length, which the server uses as
// the EDNS Client Subnet scope of location-dependent answers; -1 when no
// network matches (the answer for an unknown client holds only for it).
func (n Networks) lookup(ip net.IP) (string, int) {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return "", -1
	}
	a = a.Unmap()
	best, bits := "", -1
	for _, nw := range n {
		if nw.Prefix.Contains(a) && nw.Prefix.Bits() > bits {
			best, bits = nw.Location, nw.Prefix.Bits()
		}
	}
	return best, bits
}

// prefixLocator is implemented by locators that can say how wide the subnet
// behind an answer is (Networks does).
type prefixLocator interface {
	lookup(ip net.IP) (string, int)
}

// LatencyTable is a location → region → latency table implementing Latencies.
type LatencyTable map[string]map[string]time.Duration

var _ Latencies = LatencyTable(nil)

// Latency returns t[location][region].
func (t LatencyTable) Latency(location, region string) (time.Duration, bool) {
	d, ok := t[location][region]
	return d, ok
}

// DefaultLatencies is a rough table between the default client locations and
// the default regions (us-east, eu-west, ap-south): 10 ms within a continent,
// else the round trips of the topology's realistic WAN profile.
func DefaultLatencies() LatencyTable {
	ms := time.Millisecond
	return LatencyTable{
		"na": {"us-east": 10 * ms, "eu-west": 70 * ms, "ap-south": 200 * ms},
		"eu": {"us-east": 70 * ms, "eu-west": 10 * ms, "ap-south": 120 * ms},
		"ap": {"us-east": 200 * ms, "eu-west": 120 * ms, "ap-south": 10 * ms},
	}
}
