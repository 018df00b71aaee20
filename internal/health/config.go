package health

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Type is the kind of a health check.
type Type string

// Check types, as Route 53 names them HTTP (or HTTP_STR_MATCH with a
// SearchString), TCP and CALCULATED.
const (
	// HTTP checks GET URL: healthy on a 2xx or 3xx status within Timeout
	// (redirects are not followed) and, with a SearchString, when that string
	// appears in the first 5120 bytes of the body.
	HTTP Type = "http"
	// TCP checks that a TCP connection to Addr is established within Timeout.
	TCP Type = "tcp"
	// Calculated is healthy while at least HealthyThreshold of its Children
	// are healthy by their global verdicts. It is not probed.
	Calculated Type = "calculated"
)

// Defaults for the zero values of Config and Check, and limits Validate
// enforces.
const (
	DefaultInterval         = time.Second
	DefaultFailureThreshold = 3
	// DefaultMaxTimeout caps the default Timeout, which is the smaller of
	// Interval and this. It is below one second so that a black-holed target
	// (whose probes time out rather than being refused) is still declared
	// unhealthy everywhere within Interval×FailureThreshold + 1s.
	DefaultMaxTimeout  = 700 * time.Millisecond
	DefaultExpireAfter = 6 * time.Second

	MinInterval         = 10 * time.Millisecond
	MaxTimeout          = time.Minute
	MaxFailureThreshold = 10
	MinExpireAfter      = 30 * time.Millisecond
	// MaxSearchString is the longest SearchString, as in Route 53.
	MaxSearchString = 255
	// SearchBytes is how much of a response body a SearchString is looked
	// for in, as in Route 53.
	SearchBytes = 5120
	// MaxHold bounds how long the verdict endpoint holds a long-poll.
	MaxHold = 10 * time.Second
)

// Config configures a Checker. Zero values mean the defaults.
type Config struct {
	// Name identifies this checker to its peers: the name they have for it in
	// their Peers, such as the node name ("edge-1", "us-east-1"). Required.
	Name string
	// Checks are the health checks every checker of the deployment runs; all
	// checkers should be given the same list.
	Checks []Check
	// Peers are the other checkers whose verdicts count towards the global
	// verdicts. A peer named Name (this checker) is skipped, so every checker
	// may be given the same list.
	Peers []Peer
	// ExpireAfter is how long a peer's verdicts count after they were last
	// refreshed (6s: on a busy host a long-poll answer can be seconds late,
	// and an expired vote cannot make a majority). A reachable peer is
	// refreshed at least every ExpireAfter/3, which is also how long a
	// quiet long-poll is held.
	ExpireAfter time.Duration

	// Dial opens every connection: probes and peer fetches (a net.Dialer's
	// DialContext). Deployments wrap it to simulate WAN latency and
	// partitions.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// TLS configures https probes and peer fetches; nil means the system
	// roots and no client certificate.
	TLS *tls.Config
	// Now is the clock for round-trip times, peer expiry and status
	// timestamps (time.Now). Probe and poll scheduling uses real timers.
	Now func() time.Time
	// Logger receives one line per verdict change (component=health and
	// checker=Name added); nil discards.
	Logger *slog.Logger
	// Registerer receives the checker's metrics; nil registers nothing.
	Registerer prometheus.Registerer
}

// Check is one health check, modelled on a Route 53 health check.
type Check struct {
	// ID names the check; DNS records and the edge refer to it by ID.
	ID string
	// Type is HTTP, TCP or Calculated.
	Type Type
	// URL is what an HTTP check GETs: http or https, with a host.
	URL string
	// SearchString, for HTTP checks, must appear in the first 5120 bytes of
	// the response body (at most 255 bytes long).
	SearchString string
	// Addr is the host:port a TCP check connects to.
	Addr string
	// Children are the IDs of the checks a Calculated check combines.
	Children []string
	// HealthyThreshold is how many Children must be healthy for a Calculated
	// check to be healthy (0 means all of them).
	HealthyThreshold int
	// Invert reports healthy as unhealthy and the reverse, after thresholds.
	Invert bool
	// Interval is the time between the starts of two probes (1s, at least
	// 10ms). A probe that takes longer delays the next.
	Interval time.Duration
	// Timeout bounds one probe, connecting and reading included: the
	// smaller of Interval and 700ms by default, at most a minute. Probes of
	// one check never overlap, so a Timeout above Interval slows the probing
	// of a target that does not answer to one probe per Timeout, and its
	// detection with it.
	Timeout time.Duration
	// FailureThreshold is how many consecutive failed probes make a healthy
	// check unhealthy and how many consecutive successes make an unhealthy
	// one healthy again (3, between 1 and 10). A check with no verdict yet
	// becomes healthy on its first success and unhealthy after
	// FailureThreshold failures.
	FailureThreshold int
}

// Peer is another checker.
type Peer struct {
	// Name is the peer's Config.Name.
	Name string
	// URL is the base URL of the peer's admin endpoint, such as
	// "http://127.0.2.1:9000"; verdicts are fetched from URL + Path.
	URL string
}

func (c *Config) setDefaults() {
	if c.ExpireAfter == 0 {
		c.ExpireAfter = DefaultExpireAfter
	}
	if c.Dial == nil {
		var d net.Dialer
		c.Dial = d.DialContext
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	c.Checks = append([]Check(nil), c.Checks...)
	for i := range c.Checks {
		c.Checks[i].setDefaults()
	}
	peers := make([]Peer, 0, len(c.Peers))
	for _, p := range c.Peers {
		if p.Name != c.Name || c.Name == "" {
			peers = append(peers, p)
		}
	}
	c.Peers = peers
}

func (k *Check) setDefaults() {
	k.Children = append([]string(nil), k.Children...)
	if k.Type == Calculated {
		if k.HealthyThreshold == 0 {
			k.HealthyThreshold = len(k.Children)
		}
		return
	}
	if k.Interval == 0 {
		k.Interval = DefaultInterval
	}
	if k.Timeout == 0 {
		k.Timeout = min(k.Interval, DefaultMaxTimeout)
	}
	if k.FailureThreshold == 0 {
		k.FailureThreshold = DefaultFailureThreshold
	}
}

// Validate says what is wrong with the configuration, after defaults.
func (c Config) Validate() error {
	c.setDefaults()
	var errs []error
	if c.Name == "" {
		errs = append(errs, errors.New("checker name is empty: set it to this node's name as its peers know it"))
	}
	if c.ExpireAfter < MinExpireAfter {
		errs = append(errs, fmt.Errorf("peer verdict expiry %v is too short: it must be at least %v", c.ExpireAfter, MinExpireAfter))
	}
	ids := make(map[string]int, len(c.Checks))
	for i, k := range c.Checks {
		if k.ID == "" {
			errs = append(errs, fmt.Errorf("check %d has no ID", i+1))
			continue
		}
		if j, dup := ids[k.ID]; dup {
			errs = append(errs, fmt.Errorf("checks %d and %d have the same ID %q", j+1, i+1, k.ID))
			continue
		}
		ids[k.ID] = i
	}
	for _, k := range c.Checks {
		if err := k.validate(ids); err != nil {
			errs = append(errs, err)
		}
	}
	if err := findCycle(c.Checks, ids); err != nil {
		errs = append(errs, err)
	}
	names := map[string]bool{}
	for i, p := range c.Peers {
		if p.Name == "" {
			errs = append(errs, fmt.Errorf("peer %d (%s) has no name", i+1, p.URL))
			continue
		}
		if names[p.Name] {
			errs = append(errs, fmt.Errorf("peer %q is listed twice", p.Name))
		}
		names[p.Name] = true
		if err := checkURL(p.URL); err != nil {
			errs = append(errs, fmt.Errorf("peer %q: %w", p.Name, err))
		}
	}
	return errors.Join(errs...)
}

func (k Check) validate(ids map[string]int) error {
	var errs []error
	add := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("check %q: "+format, append([]any{k.ID}, args...)...))
	}
	notFor := func(field string, set bool) {
		if set {
			add("%s does not apply to %s checks", field, k.Type)
		}
	}
	switch k.Type {
	case HTTP:
		if err := checkURL(k.URL); err != nil {
			add("%v", err)
		}
		if len(k.SearchString) > MaxSearchString {
			add("search string is %d bytes long; the limit is %d", len(k.SearchString), MaxSearchString)
		}
		notFor("Addr", k.Addr != "")
	case TCP:
		if err := checkAddr(k.Addr); err != nil {
			add("%v", err)
		}
		notFor("URL", k.URL != "")
		notFor("SearchString", k.SearchString != "")
	case Calculated:
		notFor("URL", k.URL != "")
		notFor("Addr", k.Addr != "")
		notFor("SearchString", k.SearchString != "")
		notFor("Interval", k.Interval != 0)
		notFor("Timeout", k.Timeout != 0)
		notFor("FailureThreshold", k.FailureThreshold != 0)
		if len(k.Children) == 0 {
			add("a calculated check needs at least one child check")
		}
		seen := map[string]bool{}
		for _, ch := range k.Children {
			switch {
			case ch == k.ID:
				add("lists itself as a child")
			case seen[ch]:
				add("lists child %q twice", ch)
			default:
				if _, ok := ids[ch]; !ok {
					add("child %q is not a configured check", ch)
				}
			}
			seen[ch] = true
		}
		if k.HealthyThreshold < 0 || k.HealthyThreshold > len(k.Children) {
			add("healthy threshold %d is out of range: it must be between 1 and the number of children (%d)", k.HealthyThreshold, len(k.Children))
		}
		return errors.Join(errs...)
	case "":
		add("no type: want %q, %q or %q", HTTP, TCP, Calculated)
		return errors.Join(errs...)
	default:
		add("unknown type %q: want %q, %q or %q", k.Type, HTTP, TCP, Calculated)
		return errors.Join(errs...)
	}
	notFor("Children", len(k.Children) > 0)
	notFor("HealthyThreshold", k.HealthyThreshold != 0)
	if k.Interval < MinInterval {
		add("interval %v is too short: it must be at least %v", k.Interval, MinInterval)
	}
	if k.Timeout <= 0 || k.Timeout > MaxTimeout {
		add("timeout %v is out of range: it must be positive and at most %v", k.Timeout, MaxTimeout)
	}
	if k.FailureThreshold < 1 || k.FailureThreshold > MaxFailureThreshold {
		add("failure threshold %d is out of range: it must be between 1 and %d", k.FailureThreshold, MaxFailureThreshold)
	}
	return errors.Join(errs...)
}

func checkURL(s string) error {
	if s == "" {
		return errors.New("URL is empty")
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("bad URL %q: %w", s, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("URL %q: the scheme must be http or https", s)
	}
	if u.Host == "" {
		return fmt.Errorf("URL %q has no host", s)
	}
	if u.User != nil {
		return fmt.Errorf("URL %q must not carry credentials", u.Redacted())
	}
	return nil
}

func checkAddr(s string) error {
	if s == "" {
		return errors.New("address is empty: want host:port")
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("bad address %q: want host:port", s)
	}
	if host == "" {
		return fmt.Errorf("address %q has no host", s)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("address %q: port %q is not a number between 1 and 65535", s, port)
	}
	return nil
}

// findCycle reports a cycle among calculated checks, naming its checks in
// order.
func findCycle(checks []Check, ids map[string]int) error {
	const (
		unvisited = iota
		onPath
		done
	)
	state := make([]int, len(checks))
	var path []string
	var visit func(i int) error
	visit = func(i int) error {
		switch state[i] {
		case done:
			return nil
		case onPath:
			start := 0
			for j, id := range path {
				if id == checks[i].ID {
					start = j
				}
			}
			cycle := append(append([]string(nil), path[start:]...), checks[i].ID)
			return fmt.Errorf("calculated checks form a cycle: %s", strings.Join(cycle, " → "))
		}
		state[i] = onPath
		path = append(path, checks[i].ID)
		for _, ch := range checks[i].Children {
			if j, ok := ids[ch]; ok && ch != checks[i].ID {
				if err := visit(j); err != nil {
					return err
				}
			}
		}
		path = path[:len(path)-1]
		state[i] = done
		return nil
	}
	for i := range checks {
		if _, ok := ids[checks[i].ID]; !ok || ids[checks[i].ID] != i {
			continue // unnamed or duplicate: reported elsewhere
		}
		if err := visit(i); err != nil {
			return err
		}
	}
	return nil
}
