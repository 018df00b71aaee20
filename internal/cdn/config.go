package cdn

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

// Defaults for the zero values of Config and Distribution. The TTLs are
// CloudFront's defaults for a cache behavior; the timeouts are CloudFront's
// origin connection timeout and origin response timeout.
const (
	DefaultTTL            = 24 * time.Hour
	DefaultMaxTTL         = 365 * 24 * time.Hour
	DefaultErrorTTL       = 10 * time.Second
	DefaultMaxBytes       = 256 << 20
	DefaultMaxObjectBytes = 8 << 20
	DefaultConnectTimeout = 10 * time.Second
	DefaultOriginTimeout  = 30 * time.Second
)

// MaxPatternLength is the longest invalidation path accepted, as in
// CloudFront.
const MaxPatternLength = 4000

// Config configures an edge cache. Zero values mean the defaults.
type Config struct {
	// Distributions are the sites the cache serves, chosen by the request's
	// Host header. A request for any other host is answered 404.
	Distributions []Distribution

	// MaxBytes caps the memory the cached objects use, bodies and headers
	// together (256 MiB). When a new object does not fit, the least recently
	// used objects are evicted. Objects are held in memory only; there is
	// no disk tier.
	MaxBytes int64
	// MaxObjectBytes is the largest response body that is cached (8 MiB, or
	// MaxBytes/8 when that is smaller). Larger responses are streamed from
	// the origin to the client without being stored; requests that waited
	// on the fetch that found one too large then fetch on their own, and a
	// Range or conditional request for one goes to the origin as sent.
	MaxObjectBytes int64

	// ConnectTimeout bounds connecting to an origin (10s); a connection
	// that fails or times out makes a GET or HEAD try the next origin.
	ConnectTimeout time.Duration
	// OriginTimeout bounds how long an origin may take to start its
	// response once the request is sent, and how long its body may stall
	// between reads (30s). The body as a whole is not time-limited, so
	// large objects can stream.
	OriginTimeout time.Duration

	// Dial opens connections to origins (a net.Dialer's DialContext). The
	// deployment wraps it to simulate WAN latency and partitions; a
	// netsim.Network dialer fits as
	// func(ctx context.Context, _, addr string) (net.Conn, error) { return dial(ctx, addr) }.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Logger receives the cache's logs (component=cdn added); nil discards.
	// The cache logs configuration and invalidations, never single
	// requests.
	Logger *slog.Logger
	// Registerer receives the cache's metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// Now is the clock for freshness and ages (time.Now). Tests set it to
	// expire entries without sleeping.
	Now func() time.Time
}

// Distribution is one site: the host names it answers for and the origins
// it fetches from.
type Distribution struct {
	// Name labels the distribution's metrics and log lines; empty means
	// the first host name.
	Name string
	// Hosts are the host names (Host header, port ignored, case-insensitive)
	// this distribution answers, e.g. "static.meridian.test". A host
	// belongs to one distribution only.
	Hosts []string
	// Origins are tried in order (or in the order Order gives) for a GET or
	// HEAD until one answers with a status below 500; other methods go to
	// the first only. At least one is required.
	Origins []Origin
	// Order, when set, is called for every origin fetch and returns origin
	// names in the order to try them: the edge reorders origins by health
	// and latency through it. Origins it leaves out are not tried; unknown
	// names are ignored. When it returns no known name, the configured
	// order is used, so a fetch is always attempted. It is called
	// concurrently, also from background refreshes.
	Order func() []string

	// AllowWrites passes requests with methods other than GET and HEAD
	// (POST, PUT, PATCH, DELETE, OPTIONS...) to the first origin, uncached;
	// a success invalidates the URL. When false (the default, like
	// CloudFront's default allowed methods) they are answered 405. The Sign
	// hook signs these requests too: leave it off for a bucket origin
	// unless every client may write to the bucket with the edge's
	// credentials.
	AllowWrites bool

	// DefaultTTL is how long a response is cached when the origin gives no
	// freshness (no Cache-Control max-age or s-maxage, no Expires): zero
	// means 24h (or MinTTL or MaxTTL when 24h is outside them); a negative
	// value means such responses are not cached.
	// Error responses (404, 405, 410, 414, 501) without freshness are
	// cached for 10s instead, as CloudFront's error caching does.
	DefaultTTL time.Duration
	// MinTTL is the least freshness a cached response gets, even if the
	// origin asks for less (0). It does not override no-store, private or
	// no-cache.
	MinTTL time.Duration
	// MaxTTL caps the freshness the origin asks for (zero means one year,
	// or MinTTL or DefaultTTL when larger).
	MaxTTL time.Duration
}

// Origin is a place a distribution fetches objects from.
type Origin struct {
	// Name identifies the origin to Order and in metrics; empty means the
	// URL's host:port.
	Name string
	// URL is the origin's base, http or https, with an optional path
	// prefix that is put before every request path: a bucket on a region's
	// S3 API in path style ("http://127.0.1.1:4566/static") or a region's
	// load balancer ("http://127.0.1.1:8080").
	URL string
	// ForwardHost sends the client's Host header to the origin instead of
	// the URL's host: set it for a load balancer that routes by host, leave
	// it unset for S3.
	ForwardHost bool
	// DropQuery sends requests to this origin without their query string
	// (it stays part of the cache key, so "?v=2" still fetches anew). Set it
	// for an S3 origin whose requests Sign signs: otherwise a client can
	// call S3 subresources such as "/?list-type=2" (list the bucket) or
	// "?acl" with the edge's credentials, unless those credentials may only
	// s3:GetObject.
	DropQuery bool
	// Sign, when set, is called on every origin request after its URL and
	// headers are set and before it is sent; the edge signs requests with
	// SigV4 and its own credentials here. An error fails that origin
	// attempt. It is called concurrently.
	Sign func(*http.Request) error
}

// Validate reports what is wrong with the configuration, in an operator's
// words.
func (c Config) Validate() error {
	var errs []error
	if c.MaxBytes < 0 {
		errs = append(errs, fmt.Errorf("max cache size %d bytes is negative", c.MaxBytes))
	}
	if c.MaxObjectBytes < 0 {
		errs = append(errs, fmt.Errorf("max object size %d bytes is negative", c.MaxObjectBytes))
	}
	if c.MaxBytes > 0 && c.MaxObjectBytes > c.MaxBytes {
		errs = append(errs, fmt.Errorf("max object size %d bytes is larger than the whole cache (%d bytes)", c.MaxObjectBytes, c.MaxBytes))
	}
	if c.ConnectTimeout < 0 || c.OriginTimeout < 0 {
		errs = append(errs, errors.New("origin timeouts must not be negative"))
	}
	hosts := map[string]string{}
	names := map[string]bool{}
	for i, d := range c.Distributions {
		label := d.label()
		if label == "" {
			label = fmt.Sprintf("#%d", i+1)
		}
		for _, err := range d.validate() {
			errs = append(errs, fmt.Errorf("distribution %s: %w", label, err))
		}
		if names[label] {
			errs = append(errs, fmt.Errorf("distribution name %q is used twice", label))
		}
		names[label] = true
		for _, h := range d.Hosts {
			h = strings.ToLower(h)
			if other, ok := hosts[h]; ok {
				errs = append(errs, fmt.Errorf("host %q belongs to both distribution %s and %s", h, other, label))
			}
			hosts[h] = label
		}
	}
	return errors.Join(errs...)
}

func (d Distribution) label() string {
	if d.Name != "" {
		return d.Name
	}
	if len(d.Hosts) > 0 {
		return strings.ToLower(d.Hosts[0])
	}
	return ""
}

func (d Distribution) validate() []error {
	var errs []error
	if len(d.Hosts) == 0 {
		errs = append(errs, errors.New("no host names: give at least one, e.g. static.meridian.test"))
	}
	for _, h := range d.Hosts {
		if h == "" || strings.ContainsAny(h, ":/ *") {
			errs = append(errs, fmt.Errorf("host %q is not a host name (no port, path or wildcard)", h))
		}
	}
	if len(d.Origins) == 0 {
		errs = append(errs, errors.New("no origins: give at least one origin URL"))
	}
	seen := map[string]bool{}
	for i, o := range d.Origins {
		u, err := url.Parse(o.URL)
		switch {
		case err != nil:
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err
			}
			errs = append(errs, fmt.Errorf("origin %d: URL %q is not valid (%w); write it as http://host:port/prefix", i+1, o.URL, err))
			continue
		case u.Scheme != "http" && u.Scheme != "https":
			errs = append(errs, fmt.Errorf("origin %d: URL %q must start with http:// or https://", i+1, o.URL))
			continue
		case u.Host == "":
			errs = append(errs, fmt.Errorf("origin %d: URL %q has no host", i+1, o.URL))
			continue
		case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
			errs = append(errs, fmt.Errorf("origin %d: URL %q must not have a query, fragment or user", i+1, o.URL))
			continue
		}
		name := o.name()
		if seen[name] {
			errs = append(errs, fmt.Errorf("origin name %q is used twice", name))
		}
		seen[name] = true
	}
	if d.MinTTL < 0 {
		errs = append(errs, fmt.Errorf("minimum TTL %v is negative", d.MinTTL))
	}
	if d.MaxTTL < 0 {
		errs = append(errs, fmt.Errorf("maximum TTL %v is negative", d.MaxTTL))
	}
	def, maxTTL := d.ttls()
	if d.MinTTL > maxTTL {
		errs = append(errs, fmt.Errorf("minimum TTL %v is above the maximum TTL %v", d.MinTTL, maxTTL))
	} else if def > 0 && (def < d.MinTTL || def > maxTTL) {
		errs = append(errs, fmt.Errorf("default TTL %v is outside the minimum and maximum TTLs [%v, %v]", def, d.MinTTL, maxTTL))
	}
	return errs
}

// ttls returns the default TTL (negative: do not cache) and the maximum
// TTL, with CloudFront's rules for unset values: the maximum is a year or
// the minimum or default TTL when larger; the default is 24h brought within
// [MinTTL, MaxTTL].
func (d Distribution) ttls() (def, maxTTL time.Duration) {
	def, maxTTL = d.DefaultTTL, d.MaxTTL
	if maxTTL == 0 {
		maxTTL = max(DefaultMaxTTL, d.MinTTL, def)
	}
	if def == 0 {
		def = min(max(DefaultTTL, d.MinTTL), maxTTL)
	}
	return def, maxTTL
}

func (o Origin) name() string {
	if o.Name != "" {
		return o.Name
	}
	if u, err := url.Parse(o.URL); err == nil {
		return u.Host
	}
	return o.URL
}

func (c *Config) setDefaults() {
	if c.MaxBytes == 0 {
		c.MaxBytes = DefaultMaxBytes
	}
	if c.MaxObjectBytes == 0 {
		c.MaxObjectBytes = min(DefaultMaxObjectBytes, c.MaxBytes/8)
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.OriginTimeout == 0 {
		c.OriginTimeout = DefaultOriginTimeout
	}
	if c.Dial == nil {
		c.Dial = (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}
