package dns

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// Policy is a record set's Route 53 routing policy.
type Policy string

// Routing policies. Each one chooses among the record set's healthy targets;
// see Server for the fail-open rule when none is healthy.
const (
	// Simple answers every (healthy) target. It is the default.
	Simple Policy = "simple"
	// Weighted answers one target chosen at random in proportion to the
	// targets' weights. Targets of weight 0 are answered only when every
	// healthy target has weight 0.
	Weighted Policy = "weighted"
	// Latency answers the target whose Region has the lowest latency from
	// the client's location; ties go to the target listed first.
	Latency Policy = "latency"
	// Failover answers the primary target while it is healthy, else the
	// secondary.
	Failover Policy = "failover"
	// Geolocation answers the target whose Location is the client's
	// location, else the default target (Location "*"), else nothing
	// (NODATA).
	Geolocation Policy = "geolocation"
	// Multivalue answers up to 8 healthy targets in random order.
	Multivalue Policy = "multivalue"
)

// Failover roles.
const (
	Primary   = "primary"
	Secondary = "secondary"
)

// DefaultLocation is the geolocation target Location that matches clients no
// other target matches.
const DefaultLocation = "*"

// MaxMultivalue is how many targets a multivalue answer holds at most.
const MaxMultivalue = 8

// Target is one answer a record set can give.
type Target struct {
	// Value is the record data in zone-file form, e.g. "127.0.1.1" (A),
	// "10 mail.meridian.test." (MX), "0 5 8080 lb.meridian.test." (SRV),
	// "\"v=1 hello\"" (TXT). Relative names are not allowed: end every
	// domain name with a dot.
	Value string
	// HealthCheck ties the target to a health check id; empty means always
	// healthy.
	HealthCheck string
	// Weight is the weighted policy's relative weight.
	Weight uint32
	// Region is the latency policy's region (a key of the latency table).
	Region string
	// Location is the geolocation policy's client location, or "*" for the
	// default target.
	Location string
	// Role is the failover policy's "primary" or "secondary".
	Role string
}

// RecordSet is the records of one name and type, and how to choose among them.
type RecordSet struct {
	// Name is the owner name, absolute ("shop.meridian.test.") or relative
	// to the zone ("shop", "@" for the apex).
	Name string
	// Type is A, AAAA, CNAME, TXT, MX, NS, SOA or SRV.
	Type string
	// TTL of the answers; default 5 s, whole seconds.
	TTL time.Duration
	// Policy defaults to Simple.
	Policy Policy
	// Targets are the possible answers; at least one.
	Targets []Target
}

// Zone is one zone the server is authoritative for. Its SOA and NS records at
// the apex are synthesized unless the record sets define them.
type Zone struct {
	// Name of the zone, e.g. "meridian.test".
	Name string
	// NameServers are the apex NS targets; default "ns1.<zone>.".
	NameServers []string
	// Serial of the synthesized SOA; default 1.
	Serial uint32
	// NegativeTTL is the SOA minimum (how long resolvers cache NXDOMAIN and
	// NODATA); default 5 s.
	NegativeTTL time.Duration
	// Records are the zone's record sets.
	Records []RecordSet
}

// RateLimit configures response rate limiting per source network (/24 for
// IPv4, /56 for IPv6) over UDP. TCP is not limited: its handshake proves the
// source address, so a client throttled over UDP can always retry over TCP.
type RateLimit struct {
	// QPS is the sustained responses per second per source network;
	// default 100.
	QPS float64
	// Burst is the bucket size; default 2×QPS.
	Burst int
	// Slip: over the limit, every Slip-th query gets an empty truncated
	// (TC=1) response so a real client retries over TCP, and the others are
	// dropped. Default 2 (every other one); -1 drops them all.
	Slip int
	// Disabled turns rate limiting off.
	Disabled bool
}

// Config configures a Server. Its zero value serves an empty meridian.test on
// 127.0.0.1:5353 with every target healthy and the default client networks and
// latency table.
type Config struct {
	// Addr is the UDP and TCP address to serve on; default "127.0.0.1:5353".
	// Ignored for a protocol whose PacketConn or Listener is given.
	Addr string
	// PacketConn and Listener, when set, are served instead of listening on
	// Addr (tests bind port 0 themselves). Run closes them.
	PacketConn net.PacketConn
	Listener   net.Listener
	// Zones the server is authoritative for; default one empty
	// "meridian.test".
	Zones []Zone
	// Health gives health check verdicts; default every target healthy.
	Health Health
	// Locator maps a client address to a location; default DefaultNetworks().
	Locator Locator
	// Latencies gives location→region latency; default DefaultLatencies().
	Latencies Latencies
	// RateLimit limits responses per source network.
	RateLimit RateLimit
	// MaxUDPSize caps the EDNS0 UDP payload size the server advertises and
	// honours; default 1232 (the DNS flag day 2020 value).
	MaxUDPSize uint16
	// Seed seeds the weighted and multivalue randomness; 0 picks one from the
	// clock (logged at start).
	Seed uint64
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger; default slog.Default(). The server adds component=dns.
	Logger *slog.Logger
	// Registerer receives the server's metrics; nil registers nothing.
	Registerer prometheus.Registerer
}

const (
	defaultZone = "meridian.test"
	defaultAddr = "127.0.0.1:5353"
	defaultTTL  = 5 * time.Second
)

var supportedTypes = map[string]uint16{
	"A": mdns.TypeA, "AAAA": mdns.TypeAAAA, "CNAME": mdns.TypeCNAME, "TXT": mdns.TypeTXT,
	"MX": mdns.TypeMX, "NS": mdns.TypeNS, "SOA": mdns.TypeSOA, "SRV": mdns.TypeSRV,
}

func (c *Config) setDefaults() {
	if c.Addr == "" {
		c.Addr = defaultAddr
	}
	if len(c.Zones) == 0 {
		c.Zones = []Zone{{Name: defaultZone}}
	}
	if c.Health == nil {
		c.Health = alwaysHealthy{}
	}
	if c.Locator == nil {
		c.Locator = DefaultNetworks()
	}
	if c.Latencies == nil {
		c.Latencies = DefaultLatencies()
	}
	if c.RateLimit.QPS == 0 {
		c.RateLimit.QPS = 100
	}
	if c.RateLimit.Burst == 0 {
		c.RateLimit.Burst = int(2 * c.RateLimit.QPS)
		if c.RateLimit.Burst < 1 {
			c.RateLimit.Burst = 1
		}
	}
	if c.RateLimit.Slip == 0 {
		c.RateLimit.Slip = 2
	}
	if c.MaxUDPSize == 0 {
		c.MaxUDPSize = 1232
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Seed == 0 {
		c.Seed = uint64(c.Now().UnixNano())
	}
}

// Validate says what is wrong with the configuration.
func (c Config) Validate() error {
	if c.Addr != "" && c.PacketConn == nil && c.Listener == nil {
		if _, _, err := net.SplitHostPort(c.Addr); err != nil {
			return fmt.Errorf("dns address %q: %w", c.Addr, err)
		}
	}
	if c.RateLimit.QPS < 0 || c.RateLimit.Burst < 0 || c.RateLimit.Slip < -1 {
		return errors.New("dns rate limit: qps and burst must not be negative, slip must be -1 or more")
	}
	if c.MaxUDPSize != 0 && c.MaxUDPSize < 512 {
		return fmt.Errorf("dns max UDP size %d is below the 512 bytes every DNS server must support", c.MaxUDPSize)
	}
	_, err := compileZones(c.Zones)
	return err
}

// ValidateZones checks zones the way New and SetZones do.
func ValidateZones(zones []Zone) error {
	_, err := compileZones(zones)
	return err
}

// absName makes name absolute and lower case, relative names taken relative
// to zone ("@" is the apex).
func absName(name, zone string) string {
	name = strings.ToLower(strings.TrimSpace(name))
	switch {
	case name == "" || name == "@":
		return zone
	case strings.HasSuffix(name, "."):
		return name
	default:
		return name + "." + zone
	}
}
