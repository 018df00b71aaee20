package lb

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Algorithm chooses among a target group's healthy targets.
type Algorithm string

const (
	// RoundRobin sends requests to the healthy targets in turn (the default).
	RoundRobin Algorithm = "round_robin"
	// LeastOutstanding sends each request to the healthy target with the
	// fewest requests in flight, taking turns among equals.
	LeastOutstanding Algorithm = "least_outstanding"
)

// Defaults for the zero values of Config, TargetGroup and HealthCheck.
const (
	DefaultListen              = ":8080"
	DefaultMaxHeaderBytes      = 32 << 10
	DefaultReadHeaderTimeout   = 5 * time.Second
	DefaultReadTimeout         = 60 * time.Second
	DefaultWriteTimeout        = 60 * time.Second
	DefaultIdleTimeout         = 60 * time.Second
	DefaultUpstreamTimeout     = 60 * time.Second
	DefaultConnectTimeout      = 2 * time.Second
	DefaultShutdownTimeout     = 10 * time.Second
	DefaultMaxAttempts         = 3
	DefaultMaxIdlePerTarget    = 256
	DefaultHealthPath          = "/healthz"
	DefaultHealthInterval      = time.Second
	DefaultHealthTimeout       = time.Second
	DefaultHealthyThreshold    = 2
	DefaultUnhealthyThreshold  = 2
	DefaultDeregistrationDelay = 30 * time.Second
)

// Config configures a load balancer. Zero values mean the defaults.
type Config struct {
	// Listen is the address to serve on, host:port: the region's host and
	// port 8080 (":8080").
	Listen string
	// Listener, when set, is used instead of listening on Listen (tests,
	// benchmarks, inherited sockets). Run closes it.
	Listener net.Listener

	// Rules are tried in order; the first that matches a request chooses its
	// target group. A request no rule matches goes to DefaultGroup.
	Rules []Rule
	// DefaultGroup receives requests no rule matches. Empty means the only
	// target group when there is exactly one, otherwise such requests get
	// 404.
	DefaultGroup string
	// TargetGroups are the groups rules route to; targets are added to them
	// at run time with Register.
	TargetGroups []TargetGroup

	// MaxHeaderBytes bounds a request's header block (32 KiB); larger ones
	// are answered 431 and the connection closed.
	MaxHeaderBytes int
	// ReadHeaderTimeout bounds how long a client may take to send a request's
	// headers (5s); slower connections (slowloris) are closed.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, body included (60s).
	ReadTimeout time.Duration
	// IdleTimeout closes keep-alive client connections idle this long (60s).
	IdleTimeout time.Duration
	// WriteTimeout closes a client connection whose client has not taken
	// any of the answer for this long (60s): a client that stops reading.
	WriteTimeout time.Duration
	// UpstreamTimeout bounds how long a target may take to start its
	// response once the request is sent (60s); the client gets 504 after it.
	UpstreamTimeout time.Duration
	// ConnectTimeout bounds connecting to a target (2s); a request that
	// cannot connect is retried on another target.
	ConnectTimeout time.Duration
	// MaxAttempts is how many targets one request may be tried on (3).
	MaxAttempts int
	// MaxIdlePerTarget is the keep-alive pool size per target (256).
	MaxIdlePerTarget int
	// ShutdownTimeout bounds how long Run waits for in-flight requests once
	// its context is cancelled (10s).
	ShutdownTimeout time.Duration

	// Logger receives the balancer's logs (component=lb added); nil discards.
	Logger *slog.Logger
	// Registerer receives the balancer's metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// Now is the clock for slow start, log rate limiting and latencies
	// (time.Now).
	Now func() time.Time
}

// Rule routes requests to a target group by host and/or path prefix. An
// empty Host or PathPrefix matches everything.
type Rule struct {
	// Host is an exact host name ("shop.example.com") or a wildcard
	// ("*.example.com", which matches any name under example.com but not
	// example.com itself). Case-insensitive; the request's port is ignored.
	Host string
	// PathPrefix matches a path equal to it or under it: "/api" matches
	// "/api" and "/api/cart" but not "/apix"; "/api/" matches only paths
	// under "/api/".
	PathPrefix string
	// Group is the target group name.
	Group string
}

// TargetGroup is a set of targets that serve the same application.
type TargetGroup struct {
	Name string
	// Algorithm is RoundRobin (the default) or LeastOutstanding.
	Algorithm   Algorithm
	HealthCheck HealthCheck
	// DeregistrationDelay bounds how long Deregister waits for a target's
	// in-flight requests (30s).
	DeregistrationDelay time.Duration
	// SlowStart, when positive, ramps a newly healthy target's share of
	// requests linearly from nothing to full over this period. It does not
	// apply when no other target of the group is healthy.
	SlowStart time.Duration
}

// HealthCheck is the active health check the balancer runs against every
// target of a group: GET Path, healthy on a 2xx or 3xx answer within
// Timeout (as the instance supervisor judges instances).
type HealthCheck struct {
	Path     string        // "/healthz"
	Interval time.Duration // between checks of one target (1s)
	Timeout  time.Duration // per check (1s)
	// HealthyThreshold consecutive successes make a target healthy (2).
	HealthyThreshold int
	// UnhealthyThreshold consecutive failures make it unhealthy (2).
	UnhealthyThreshold int
}

func (c *Config) setDefaults() {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	setDur := func(d *time.Duration, def time.Duration) {
		if *d == 0 {
			*d = def
		}
	}
	if c.MaxHeaderBytes == 0 {
		c.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	setDur(&c.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	setDur(&c.ReadTimeout, DefaultReadTimeout)
	setDur(&c.WriteTimeout, DefaultWriteTimeout)
	setDur(&c.IdleTimeout, DefaultIdleTimeout)
	setDur(&c.UpstreamTimeout, DefaultUpstreamTimeout)
	setDur(&c.ConnectTimeout, DefaultConnectTimeout)
	setDur(&c.ShutdownTimeout, DefaultShutdownTimeout)
	if c.MaxAttempts == 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.MaxIdlePerTarget == 0 {
		c.MaxIdlePerTarget = DefaultMaxIdlePerTarget
	}
	if c.DefaultGroup == "" && len(c.TargetGroups) == 1 {
		c.DefaultGroup = c.TargetGroups[0].Name
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	c.TargetGroups = append([]TargetGroup(nil), c.TargetGroups...)
	for i := range c.TargetGroups {
		g := &c.TargetGroups[i]
		if g.Algorithm == "" {
			g.Algorithm = RoundRobin
		}
		setDur(&g.DeregistrationDelay, DefaultDeregistrationDelay)
		h := &g.HealthCheck
		if h.Path == "" {
			h.Path = DefaultHealthPath
		}
		setDur(&h.Interval, DefaultHealthInterval)
		setDur(&h.Timeout, DefaultHealthTimeout)
		if h.HealthyThreshold == 0 {
			h.HealthyThreshold = DefaultHealthyThreshold
		}
		if h.UnhealthyThreshold == 0 {
			h.UnhealthyThreshold = DefaultUnhealthyThreshold
		}
	}
}

// Validate says what is wrong with the configuration, after defaults.
func (c Config) Validate() error {
	c.setDefaults()
	var errs []error
	if c.Listener == nil {
		if _, _, err := net.SplitHostPort(c.Listen); err != nil {
			errs = append(errs, fmt.Errorf("listen address %q is not host:port: %w", c.Listen, err))
		}
	}
	groups := map[string]bool{}
	for _, g := range c.TargetGroups {
		switch {
		case g.Name == "":
			errs = append(errs, errors.New("a target group has no name"))
		case groups[g.Name]:
			errs = append(errs, fmt.Errorf("target group %q is declared twice", g.Name))
		}
		groups[g.Name] = true
		if g.Algorithm != RoundRobin && g.Algorithm != LeastOutstanding {
			errs = append(errs, fmt.Errorf("target group %q: algorithm %q is not %q or %q",
				g.Name, g.Algorithm, RoundRobin, LeastOutstanding))
		}
		h := g.HealthCheck
		if !strings.HasPrefix(h.Path, "/") {
			errs = append(errs, fmt.Errorf("target group %q: health check path %q does not start with /", g.Name, h.Path))
		}
		if h.Interval < 0 || h.Timeout < 0 || g.DeregistrationDelay < 0 || g.SlowStart < 0 {
			errs = append(errs, fmt.Errorf("target group %q: durations must not be negative", g.Name))
		}
		if h.HealthyThreshold < 1 || h.UnhealthyThreshold < 1 {
			errs = append(errs, fmt.Errorf("target group %q: health thresholds must be at least 1", g.Name))
		}
	}
	for i, r := range c.Rules {
		if !groups[r.Group] {
			errs = append(errs, fmt.Errorf("rule %d routes to unknown target group %q", i+1, r.Group))
		}
		if r.PathPrefix != "" && !strings.HasPrefix(r.PathPrefix, "/") {
			errs = append(errs, fmt.Errorf("rule %d: path prefix %q does not start with /", i+1, r.PathPrefix))
		}
		if strings.Contains(strings.TrimPrefix(r.Host, "*."), "*") {
			errs = append(errs, fmt.Errorf("rule %d: host %q may only have a leading \"*.\" wildcard", i+1, r.Host))
		}
	}
	if c.DefaultGroup != "" && !groups[c.DefaultGroup] {
		errs = append(errs, fmt.Errorf("default target group %q is not declared", c.DefaultGroup))
	}
	if c.MaxHeaderBytes < 0 || c.MaxAttempts < 0 || c.MaxIdlePerTarget < 0 {
		errs = append(errs, errors.New("limits must not be negative"))
	}
	for _, d := range []time.Duration{c.ReadHeaderTimeout, c.ReadTimeout, c.WriteTimeout, c.IdleTimeout,
		c.UpstreamTimeout, c.ConnectTimeout, c.ShutdownTimeout} {
		if d < 0 {
			errs = append(errs, errors.New("timeouts must not be negative"))
			break
		}
	}
	return errors.Join(errs...)
}
