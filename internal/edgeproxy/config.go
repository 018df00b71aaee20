package edgeproxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Health gives the verdict of a health check. Verdicts are made elsewhere
// (the edge's checkers, by majority over the peer channel); the proxy only
// reads them, on every request.
type Health interface {
	// Health reports whether check id is healthy; known is false when there
	// is no verdict yet, which the proxy treats as healthy.
	Health(id string) (healthy, known bool)
}

// HealthFunc adapts a function to Health.
type HealthFunc func(id string) (healthy, known bool)

// Health calls f.
func (f HealthFunc) Health(id string) (healthy, known bool) { return f(id) }

// RTT gives the measured round-trip time from this edge to a region; ok is
// false when there is no measurement yet (the region then counts as slower
// than any measured one).
type RTT interface {
	RTT(region string) (d time.Duration, ok bool)
}

// RTTFunc adapts a function to RTT.
type RTTFunc func(region string) (time.Duration, bool)

// RTT calls f.
func (f RTTFunc) RTT(region string) (time.Duration, bool) { return f(region) }

// DialFunc opens a connection to a region's load balancer; it has the
// signature of net.Dialer.DialContext.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// Defaults for the zero values of Config.
const (
	DefaultName              = "edge"
	DefaultAffinityCookie    = "meridian-region"
	DefaultLatencyTolerance  = 5 * time.Millisecond
	DefaultMaxRetryBody      = 1 << 20
	DefaultMaxHeaderBytes    = 32 << 10
	DefaultReadHeaderTimeout = 5 * time.Second
	DefaultReadTimeout       = 60 * time.Second
	DefaultWriteTimeout      = 60 * time.Second
	DefaultIdleTimeout       = 60 * time.Second
	DefaultConnectTimeout    = 2 * time.Second
	MinConnectTimeout        = 250 * time.Millisecond
	DefaultUpstreamTimeout   = 60 * time.Second
	DefaultMaxIdlePerRegion  = 256
	DefaultShutdownTimeout   = 10 * time.Second

	DefaultConsecutiveFailures = 3
	DefaultBaseEjection        = 5 * time.Second
	DefaultMaxEjection         = 60 * time.Second
	DefaultMaxEjectionPercent  = 50
)

// Config configures an edge proxy. Zero values mean the defaults.
type Config struct {
	// Name is this edge's name, sent to clients in X-Meridian-Edge ("edge").
	Name string
	// Regions are the regions' load balancers requests are forwarded to. They
	// can be replaced at run time with SetRegions.
	Regions []Region

	// Health gives the health verdict of each region's check (see
	// Region.HealthCheck). Nil treats every region as healthy.
	Health Health
	// RTT gives the measured latency from this edge to each region, by
	// Region.ID. Nil treats every region as equally far.
	RTT RTT
	// LatencyTolerance (5ms): regions whose latency is within this much of
	// the nearest available region share its traffic by Weight; measurements
	// jitter by a few milliseconds, and a region 1 ms farther should not
	// lose all its traffic to that noise.
	LatencyTolerance time.Duration

	// AffinityCookie names the cookie that pins a client to the region that
	// served it ("meridian-region"), so it reads its own writes. The pin holds
	// while that region is healthy, not ejected and its traffic dial is above
	// zero; the cookie is set again when the client moves.
	AffinityCookie string
	// DisableAffinity turns client affinity off: no cookie is read or set.
	DisableAffinity bool

	// MaxRetryBody is the largest request body (1 MiB) the proxy holds in
	// memory so that it can resend the request to another region. A retryable
	// request with a larger body is sent once, not retried.
	MaxRetryBody int64
	// Outlier configures ejection of regions that keep failing.
	Outlier OutlierDetection

	// MaxHeaderBytes bounds a request's header block (32 KiB); larger ones are
	// answered 431 and the connection closed.
	MaxHeaderBytes int
	// ReadHeaderTimeout bounds how long a client may take to send a request's
	// headers (5s); slower connections (slowloris) are closed.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole HTTP/1.1 request, body included (60s).
	ReadTimeout time.Duration
	// IdleTimeout closes keep-alive client connections idle this long (60s).
	IdleTimeout time.Duration
	// WriteTimeout closes an HTTP/1.1 client connection whose client has
	// not taken any of the answer for this long (60s): a client that stops
	// reading.
	WriteTimeout time.Duration
	// ShutdownTimeout bounds how long Serve waits for in-flight requests once
	// its context is cancelled (10s).
	ShutdownTimeout time.Duration

	// Dial connects to regions' load balancers; nil dials TCP directly. The
	// deployment wraps it to carry the WAN's latency and partitions.
	Dial DialFunc
	// ConnectTimeout bounds connecting to a region (2s); a request that cannot
	// connect is retried on the next region. Where the region's RTT is
	// known the bound is 4 × RTT + 100ms, at least MinConnectTimeout, if
	// that is less: a region that holds the handshake is a failure after a
	// few round trips, not after seconds. The last region a request can
	// try gets the whole ConnectTimeout.
	ConnectTimeout time.Duration
	// UpstreamTimeout bounds how long a region may take to start its response
	// once the request is sent (60s). A request safe to retry then goes to the
	// next region; others get 504.
	UpstreamTimeout time.Duration
	// MaxIdlePerRegion is the keep-alive pool size per region (256).
	MaxIdlePerRegion int

	// Seed seeds the random choices among regions (weights, traffic dials);
	// zero picks a random seed. Proxy.Seed reports the one in use.
	Seed uint64
	// Wrap, when set, is what Serve serves instead of the proxy itself:
	// Wrap(proxy), with the same timeouts and limits. The edge puts its
	// cache in front of the proxy this way.
	Wrap func(proxy http.Handler) http.Handler
	// Wrapped, with Wrap, reports whether Wrap's handler serves r itself
	// rather than pass it to the proxy. The requests it does not claim
	// may be proxied on the server's event loops (Proxy.Exchange), which
	// Wrap's handler does not see; without Wrapped none are.
	Wrapped func(r *http.Request) bool
	// Logger receives the proxy's logs (component=edgeproxy added); nil
	// discards them.
	Logger *slog.Logger
	// Registerer receives the proxy's metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// Now is the clock for ejections, log rate limiting and latencies
	// (time.Now).
	Now func() time.Time
}

// Region is one region's load balancer as seen from the edge.
type Region struct {
	// ID names the region ("us-east"). It is the key for RTT, the value of
	// the X-Meridian-Region response header and of the affinity cookie.
	ID string
	// URL is the region's load balancer, scheme and host only
	// ("http://127.0.1.1:8080"). Requests keep their own Host header, by
	// which the balancer routes them.
	URL string
	// HealthCheck is the id of the health check whose verdict (from
	// Config.Health) says whether the region takes traffic. Empty means the
	// region is always healthy.
	HealthCheck string
	// Weight is the region's relative share of the traffic among regions
	// about as near as it (see Config.LatencyTolerance). Zero means 1.
	Weight int
	// TrafficDial is the percentage (0–100) of the traffic that would go to
	// this region that it actually gets; the rest spills to the next region
	// in order of preference, as with Global Accelerator's traffic dials.
	// Nil means 100. A region dialed to 0 gets no traffic of its own but is
	// still tried when the regions before it fail a request. If every
	// region dials traffic away, the shares are scaled up in proportion.
	TrafficDial *int
}

// Percent returns a pointer to pct, for Region.TrafficDial in literals.
func Percent(pct int) *int { return &pct }

// OutlierDetection ejects a region that keeps failing before the global health
// verdict arrives (Envoy's consecutive gateway failure detection). A failure
// is a connect error, a connection closed or timed out before the response
// headers, or a 502, 503 or 504 answer from the region's balancer; any other
// answer resets the count. A 500 is the application's answer and does not
// count. Ejected regions are tried after all others, not never.
type OutlierDetection struct {
	// Disabled turns ejection off.
	Disabled bool
	// ConsecutiveFailures ejects a region after this many failures in a row
	// (3).
	ConsecutiveFailures int
	// BaseEjection is how long a first ejection lasts (5s); the n-th ejection
	// in a row lasts n times as long, up to MaxEjection. The count of
	// ejections drops by one for every MaxEjection the region goes without
	// being ejected.
	BaseEjection time.Duration
	// MaxEjection caps an ejection (60s).
	MaxEjection time.Duration
	// MaxEjectionPercent caps the share of regions ejected at once (50). The
	// last healthy region that is not ejected is never ejected, whatever
	// this says.
	MaxEjectionPercent int
}

func (c *Config) setDefaults() {
	if c.Name == "" {
		c.Name = DefaultName
	}
	if c.AffinityCookie == "" {
		c.AffinityCookie = DefaultAffinityCookie
	}
	setDur := func(d *time.Duration, def time.Duration) {
		if *d == 0 {
			*d = def
		}
	}
	setInt := func(n *int, def int) {
		if *n == 0 {
			*n = def
		}
	}
	setDur(&c.LatencyTolerance, DefaultLatencyTolerance)
	if c.MaxRetryBody == 0 {
		c.MaxRetryBody = DefaultMaxRetryBody
	}
	setInt(&c.MaxHeaderBytes, DefaultMaxHeaderBytes)
	setDur(&c.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	setDur(&c.ReadTimeout, DefaultReadTimeout)
	setDur(&c.WriteTimeout, DefaultWriteTimeout)
	setDur(&c.IdleTimeout, DefaultIdleTimeout)
	setDur(&c.ShutdownTimeout, DefaultShutdownTimeout)
	setDur(&c.ConnectTimeout, DefaultConnectTimeout)
	setDur(&c.UpstreamTimeout, DefaultUpstreamTimeout)
	setInt(&c.MaxIdlePerRegion, DefaultMaxIdlePerRegion)
	o := &c.Outlier
	setInt(&o.ConsecutiveFailures, DefaultConsecutiveFailures)
	setDur(&o.BaseEjection, DefaultBaseEjection)
	setDur(&o.MaxEjection, DefaultMaxEjection)
	setInt(&o.MaxEjectionPercent, DefaultMaxEjectionPercent)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	c.Regions = append([]Region(nil), c.Regions...)
}

// Validate says what is wrong with the configuration, after defaults.
func (c Config) Validate() error {
	c.setDefaults()
	var errs []error
	if err := validateRegions(c.Regions); err != nil {
		errs = append(errs, err)
	}
	if c.LatencyTolerance < 0 {
		errs = append(errs, fmt.Errorf("latency tolerance %v must not be negative", c.LatencyTolerance))
	}
	if c.MaxRetryBody < 0 || c.MaxHeaderBytes < 0 || c.MaxIdlePerRegion < 0 {
		errs = append(errs, errors.New("size limits must not be negative"))
	}
	for _, d := range []time.Duration{c.ReadHeaderTimeout, c.ReadTimeout, c.WriteTimeout, c.IdleTimeout,
		c.ShutdownTimeout, c.ConnectTimeout, c.UpstreamTimeout} {
		if d < 0 {
			errs = append(errs, errors.New("timeouts must not be negative"))
			break
		}
	}
	if !validCookieName(c.AffinityCookie) {
		errs = append(errs, fmt.Errorf("affinity cookie name %q may only hold letters, digits and !#$%%&'*+-.^_`|~", c.AffinityCookie))
	}
	o := c.Outlier
	if o.ConsecutiveFailures < 1 {
		errs = append(errs, fmt.Errorf("outlier detection: consecutive failures %d must be at least 1", o.ConsecutiveFailures))
	}
	if o.BaseEjection < 0 || o.MaxEjection < 0 {
		errs = append(errs, errors.New("outlier detection: ejection times must not be negative"))
	} else if o.MaxEjection < o.BaseEjection {
		errs = append(errs, fmt.Errorf("outlier detection: max ejection %v is shorter than the base ejection %v",
			o.MaxEjection, o.BaseEjection))
	}
	if o.MaxEjectionPercent < 0 || o.MaxEjectionPercent > 100 {
		errs = append(errs, fmt.Errorf("outlier detection: max ejection percent %d is not between 0 and 100", o.MaxEjectionPercent))
	}
	return errors.Join(errs...)
}

func validateRegions(regions []Region) error {
	var errs []error
	if len(regions) == 0 {
		errs = append(errs, errors.New("no regions to forward to"))
	}
	seen := map[string]bool{}
	for i, r := range regions {
		name := fmt.Sprintf("region %q", r.ID)
		switch {
		case r.ID == "":
			name = fmt.Sprintf("region %d", i+1)
			errs = append(errs, fmt.Errorf("%s has no ID", name))
		case seen[r.ID]:
			errs = append(errs, fmt.Errorf("%s is declared twice", name))
		case !validCookieValue(r.ID):
			errs = append(errs, fmt.Errorf("%s: the ID may only hold letters, digits and -._~", name))
		}
		seen[r.ID] = true
		if err := validateURL(r.URL); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
		if r.Weight < 0 {
			errs = append(errs, fmt.Errorf("%s: weight %d must not be negative", name, r.Weight))
		}
		if r.TrafficDial != nil && (*r.TrafficDial < 0 || *r.TrafficDial > 100) {
			errs = append(errs, fmt.Errorf("%s: traffic dial %d%% is not between 0 and 100", name, *r.TrafficDial))
		}
	}
	return errors.Join(errs...)
}

func validateURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case s == "":
		return errors.New("no load balancer URL")
	case err != nil:
		return fmt.Errorf("load balancer URL %q is not like http://127.0.1.1:8080: %w", s, err)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("load balancer URL %q must start with http:// or https://", s)
	case u.Host == "":
		return fmt.Errorf("load balancer URL %q has no host", s)
	case (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		return fmt.Errorf("load balancer URL %q may only have a scheme, host and port", s)
	}
	return nil
}

// validCookieName: an RFC 6265 token.
func validCookieName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isAlnum(c) && strings.IndexByte("!#$%&'*+-.^_`|~", c) < 0 {
			return false
		}
	}
	return true
}

// validCookieValue: region IDs travel unquoted in the affinity cookie.
func validCookieValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && strings.IndexByte("-._~", c) < 0 {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}
