package compute

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Targets is the load balancer as the supervisor sees it: one target group
// per instance group, named like the group. The regional load balancer
// implements it.
type Targets interface {
	// Register adds an instance that passed the supervisor's health checks
	// to the group's targets. An error (such as an unknown target group) is
	// logged and shown in the group's status, and registration is retried
	// at every scaling evaluation.
	Register(group, id, addr string) error
	// Deregister stops new requests to the instance at once, then waits
	// until its in-flight requests have finished or ctx is done (the
	// supervisor bounds ctx by the group's DrainDelay). The supervisor stops
	// the process after it returns. Deregistering an unknown id is not an
	// error.
	Deregister(ctx context.Context, group, id string) error
	// Stats reports the group's registered targets, for autoscaling.
	Stats(group string) ([]TargetStats, error)
}

// HealthWaiter is implemented by a load balancer that health-checks
// targets itself and routes to a new one only once they pass. The
// supervisor then counts an instance as in service (for rolling updates
// and scale-in) only after WaitHealthy returns nil; an error, or no verdict
// within the group's StartTimeout, replaces the instance.
type HealthWaiter interface {
	WaitHealthy(ctx context.Context, group, id string) error
}

// TargetStats is what the load balancer knows of one target.
type TargetStats struct {
	ID string
	// InFlight is the number of requests the target is serving now.
	InFlight int64
	// Requests counts the requests sent to the target since it was
	// registered; it only grows.
	Requests uint64
}

// PortRange is an inclusive range of TCP ports.
type PortRange struct {
	First, Last int
}

// ParsePortRange reads "20000-29999" (or a single port).
func ParsePortRange(s string) (PortRange, error) {
	lo, hi, found := strings.Cut(strings.TrimSpace(s), "-")
	if !found {
		hi = lo
	}
	a, err1 := strconv.Atoi(strings.TrimSpace(lo))
	b, err2 := strconv.Atoi(strings.TrimSpace(hi))
	if err1 != nil || err2 != nil {
		return PortRange{}, fmt.Errorf("port range %q: write it as FIRST-LAST, such as 20000-29999", s)
	}
	r := PortRange{a, b}
	if err := r.validate(); err != nil {
		return PortRange{}, err
	}
	return r, nil
}

func (r PortRange) String() string { return fmt.Sprintf("%d-%d", r.First, r.Last) }

func (r PortRange) validate() error {
	if r.First < 1 || r.Last > 65535 || r.First > r.Last {
		return fmt.Errorf("port range %d-%d: ports go from 1 to 65535 and the first may not exceed the last", r.First, r.Last)
	}
	return nil
}

// DefaultPortRange is where instances get their ports by default.
func DefaultPortRange() PortRange { return PortRange{20000, 29999} }

// Config configures a Supervisor. The zero value of every field means the
// default.
type Config struct {
	// Region is the region this node serves, for logs and the instance log
	// directory.
	Region string
	// Host is the address instances listen on (default 127.0.0.1): the
	// region's address.
	Host string
	// PortRange is where instances get their ports (default 20000-29999).
	PortRange PortRange
	// BaseEnv is added to every instance's environment: the region's API
	// endpoint and credentials (AWS_ENDPOINT_URL, AWS_REGION,
	// AWS_SHARED_CREDENTIALS_FILE, AWS_PROFILE, MERIDIAN_REGION, ...).
	// Instances inherit only PATH, HOME, TMPDIR, LANG, TZ and USER from the
	// node's own environment.
	BaseEnv map[string]string
	// LogDir receives each instance's stdout and stderr in
	// <LogDir>/<group>/<instance>.log (default
	// $TMPDIR/meridian-instances/<region>).
	LogDir string
	// Executable is the program a group whose command is "meridian" runs
	// (default: this process's own executable), so the built-in
	// applications run from the same binary as the node.
	Executable string
	// Groups are started by Run. Update and Remove change them later.
	Groups []GroupSpec
	// Targets is the load balancer (default: none; instances run but
	// nothing routes to them and groups do not autoscale).
	Targets Targets
	// Logger (default: discard).
	Logger *slog.Logger
	// Registerer receives the supervisor's metrics (default: none).
	Registerer prometheus.Registerer
	// Now is the clock of scaling decisions: warm-up, cooldown and request
	// rates (default time.Now). Health checks, timeouts and restart backoff
	// run on real time.
	Now func() time.Time
	// EvalInterval is how often each group's scaling policy is evaluated
	// (default 1s).
	EvalInterval time.Duration
	// BackoffMin and BackoffMax bound the delay before restarting a group
	// whose instances keep failing before they become healthy (defaults
	// 100ms and 30s); the delay doubles with each failure in a row.
	BackoffMin, BackoffMax time.Duration
}

// Validate reports what is wrong with the config.
func (c *Config) Validate() error {
	var errs []error
	if c.Host != "" && net.ParseIP(c.Host) == nil {
		errs = append(errs, fmt.Errorf("compute: host %q is not an IP address", c.Host))
	}
	if c.PortRange != (PortRange{}) {
		if err := c.PortRange.validate(); err != nil {
			errs = append(errs, fmt.Errorf("compute: %w", err))
		}
	}
	if c.EvalInterval < 0 || c.BackoffMin < 0 || c.BackoffMax < 0 {
		errs = append(errs, errors.New("compute: scaling interval and backoff delays cannot be negative"))
	}
	if c.BackoffMin > 0 && c.BackoffMax > 0 && c.BackoffMin > c.BackoffMax {
		errs = append(errs, fmt.Errorf("compute: backoff minimum %v exceeds maximum %v", c.BackoffMin, c.BackoffMax))
	}
	seen := map[string]bool{}
	for _, g := range c.Groups {
		if err := g.Validate(); err != nil {
			errs = append(errs, err)
		}
		if seen[g.Name] {
			errs = append(errs, fmt.Errorf("compute: instance group %s is declared twice", g.Name))
		}
		seen[g.Name] = true
	}
	return errors.Join(errs...)
}

func (c *Config) setDefaults() {
	if c.Host == "" {
		c.Host = "127.0.0.1"
	}
	if c.PortRange == (PortRange{}) {
		c.PortRange = DefaultPortRange()
	}
	if c.LogDir == "" {
		region := c.Region
		if region == "" {
			region = "default"
		}
		c.LogDir = filepath.Join(os.TempDir(), "meridian-instances", region)
	}
	if c.Executable == "" {
		if exe, err := os.Executable(); err == nil {
			c.Executable = exe
		} else {
			c.Executable = "meridian"
		}
	}
	if c.Targets == nil {
		c.Targets = noTargets{}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.EvalInterval == 0 {
		c.EvalInterval = time.Second
	}
	if c.BackoffMin == 0 {
		c.BackoffMin = 100 * time.Millisecond
	}
	if c.BackoffMax == 0 {
		c.BackoffMax = 30 * time.Second
	}
	c.BackoffMax = max(c.BackoffMax, c.BackoffMin)
}

type noTargets struct{}

func (noTargets) Register(string, string, string) error            { return nil }
func (noTargets) Deregister(context.Context, string, string) error { return nil }
func (noTargets) Stats(string) ([]TargetStats, error)              { return nil, nil }

var _ Targets = noTargets{}
