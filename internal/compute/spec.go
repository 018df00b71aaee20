package compute

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Defaults for GroupSpec fields left out (or set to zero). They suit a
// deployment on one machine; production groups usually want longer warm-up
// and cooldown.
const (
	DefaultHealthPath         = "/healthz"
	DefaultHealthInterval     = time.Second
	DefaultHealthTimeout      = 500 * time.Millisecond
	DefaultHealthyThreshold   = 2
	DefaultUnhealthyThreshold = 2
	DefaultStartTimeout       = 30 * time.Second
	DefaultStopTimeout        = 10 * time.Second
	DefaultWarmUp             = 10 * time.Second
	DefaultCooldown           = 30 * time.Second
	DefaultDrainDelay         = 10 * time.Second
	// MaxInstances bounds a group's Max: every instance is a process and a
	// port on the node.
	MaxInstances = 256
)

// Scaling metrics.
const (
	// MetricInFlight is the average number of requests in flight per
	// instance.
	MetricInFlight = "in_flight"
	// MetricRPS is the average number of requests per second per instance.
	MetricRPS = "rps"
)

// GroupSpec declares an instance group: what to run, how many, how to tell
// that an instance is healthy and how to scale. It is the `groups` entry of
// a region in the topology file.
type GroupSpec struct {
	// Name of the group, unique in the region: lowercase letters, digits and
	// dashes, at most 63 characters. Instance ids are <name>-<n>, and the
	// load balancer's target group of the same name receives the instances.
	Name string `yaml:"name" json:"name"`
	// Command is the program to run: a path, or a name looked up in PATH.
	// "meridian" is the node's own binary.
	Command string `yaml:"command" json:"command"`
	// Args are the program's arguments. ${PORT}, ${HOST}, ${ADDR}
	// (host:port), ${INSTANCE} and ${GROUP} are replaced by the instance's
	// values; anything else is passed as written.
	Args []string `yaml:"args,omitempty" json:"args,omitempty"`
	// Env is added to every instance's environment, over the region's (API
	// endpoint, credentials, region name). Each instance also gets PORT and
	// HOST (where it must listen), MERIDIAN_LISTEN_ADDR (host:port),
	// MERIDIAN_INSTANCE and MERIDIAN_GROUP; those cannot be overridden.
	Env map[string]string `yaml:"env,omitempty" json:"env,omitempty"`
	// Min is the smallest number of instances (default 1).
	Min int `yaml:"min,omitempty" json:"min,omitempty"`
	// Max is the largest number of instances autoscaling may run (default:
	// the larger of Min and Desired).
	Max int `yaml:"max,omitempty" json:"max,omitempty"`
	// Desired is how many instances to start with (default Min).
	// Autoscaling changes it between Min and Max; applying a spec whose
	// Desired differs from the previous spec's resets it.
	Desired int `yaml:"desired,omitempty" json:"desired,omitempty"`
	// HealthCheck says how the supervisor decides that an instance is
	// healthy.
	HealthCheck HealthCheck `yaml:"health_check,omitempty" json:"health_check"`
	// Scaling is the target-tracking policy. Without a metric the group
	// keeps Desired instances.
	Scaling Scaling `yaml:"scaling,omitempty" json:"scaling"`
	// StartTimeout is how long a new instance may take to pass its first
	// health checks before it is replaced (default 30s).
	StartTimeout time.Duration `yaml:"start_timeout,omitempty" json:"start_timeout,omitempty"`
	// StopTimeout is how long an instance has to exit after SIGTERM before
	// it gets SIGKILL (default 10s).
	StopTimeout time.Duration `yaml:"stop_timeout,omitempty" json:"stop_timeout,omitempty"`
	// DrainDelay is the longest the load balancer waits for an instance's
	// in-flight requests to finish after it is deregistered, before the
	// instance is stopped anyway (default 10s).
	DrainDelay time.Duration `yaml:"drain_delay,omitempty" json:"drain_delay,omitempty"`
	// SlowStart is how long the load balancer ramps a newly registered
	// instance's share of requests up from nothing (default 0: full share
	// at once). The load balancer's target group applies it.
	SlowStart time.Duration `yaml:"slow_start,omitempty" json:"slow_start,omitempty"`
}

// HealthCheck is an HTTP check of one instance: GET http://<addr><Path>
// answered with a 2xx or 3xx status within Timeout passes.
type HealthCheck struct {
	// Path to request (default /healthz).
	Path string `yaml:"path,omitempty" json:"path,omitempty"`
	// Interval between checks (default 1s).
	Interval time.Duration `yaml:"interval,omitempty" json:"interval,omitempty"`
	// Timeout of one check (default 500ms); at most Interval.
	Timeout time.Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
	// HealthyThreshold is how many checks in a row must pass before a new
	// instance receives traffic (default 2).
	HealthyThreshold int `yaml:"healthy_threshold,omitempty" json:"healthy_threshold,omitempty"`
	// UnhealthyThreshold is how many checks in a row must fail before a
	// serving instance is drained and replaced (default 2).
	UnhealthyThreshold int `yaml:"unhealthy_threshold,omitempty" json:"unhealthy_threshold,omitempty"`
}

// Scaling is a target-tracking policy: the group runs
// ceil(total metric / Target) instances, clamped to [Min, Max], where the
// total is the average over warmed-up instances times the instances in
// service.
type Scaling struct {
	// Metric to track: "in_flight" (requests in flight per instance) or
	// "rps" (requests per second per instance). Empty turns autoscaling
	// off.
	Metric string `yaml:"metric,omitempty" json:"metric,omitempty"`
	// Target value of the metric per instance; required with a metric.
	Target float64 `yaml:"target,omitempty" json:"target,omitempty"`
	// WarmUp is how long after registration a new instance's metric is
	// left out of the average, and scale-in waits (default 10s).
	WarmUp time.Duration `yaml:"warm_up,omitempty" json:"warm_up,omitempty"`
	// Cooldown is how long after any scaling action a scale-in must wait
	// (default 30s). Scale-out never waits for it.
	Cooldown time.Duration `yaml:"cooldown,omitempty" json:"cooldown,omitempty"`
}

var groupName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// withDefaults returns a copy of s with every zero field set to its default.
func (s GroupSpec) withDefaults() GroupSpec {
	s.Args = slices.Clone(s.Args)
	s.Env = maps.Clone(s.Env)
	if s.Min == 0 {
		s.Min = 1
	}
	if s.Desired == 0 {
		s.Desired = s.Min
	}
	if s.Max == 0 {
		s.Max = max(s.Min, s.Desired)
	}
	h := &s.HealthCheck
	if h.Path == "" {
		h.Path = DefaultHealthPath
	}
	if h.Interval == 0 {
		h.Interval = DefaultHealthInterval
	}
	if h.Timeout == 0 {
		h.Timeout = min(DefaultHealthTimeout, h.Interval)
	}
	if h.HealthyThreshold == 0 {
		h.HealthyThreshold = DefaultHealthyThreshold
	}
	if h.UnhealthyThreshold == 0 {
		h.UnhealthyThreshold = DefaultUnhealthyThreshold
	}
	if s.Scaling.WarmUp == 0 {
		s.Scaling.WarmUp = DefaultWarmUp
	}
	if s.Scaling.Cooldown == 0 {
		s.Scaling.Cooldown = DefaultCooldown
	}
	if s.StartTimeout == 0 {
		s.StartTimeout = DefaultStartTimeout
	}
	if s.StopTimeout == 0 {
		s.StopTimeout = DefaultStopTimeout
	}
	if s.DrainDelay == 0 {
		s.DrainDelay = DefaultDrainDelay
	}
	return s
}

// Validate reports what is wrong with the spec, after defaults, in words
// an operator understands. Every problem is reported, not just the first.
func (s GroupSpec) Validate() error {
	d := s.withDefaults()
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf(format, args...))
	}
	if !groupName.MatchString(d.Name) {
		bad("group name %q: use 1 to 63 lowercase letters, digits and dashes, starting and ending with a letter or digit", d.Name)
	}
	if strings.TrimSpace(d.Command) == "" {
		bad("no command: say which program the instances run")
	}
	for _, k := range slices.Sorted(maps.Keys(d.Env)) {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			bad("environment variable name %q: must be non-empty without '=' or NUL", k)
		}
		if reservedEnv(k) {
			bad("environment variable %s is set by the supervisor for each instance and cannot be overridden", k)
		}
	}
	switch {
	case d.Min < 0 || d.Max < 0 || d.Desired < 0:
		bad("min %d, desired %d, max %d: instance counts cannot be negative", d.Min, d.Desired, d.Max)
	case d.Min > d.Max:
		bad("min %d is larger than max %d", d.Min, d.Max)
	case d.Desired < d.Min || d.Desired > d.Max:
		bad("desired %d is outside min %d .. max %d", d.Desired, d.Min, d.Max)
	}
	if d.Max > MaxInstances {
		bad("max %d is more than the %d instances a group may run", d.Max, MaxInstances)
	}
	h := d.HealthCheck
	if !strings.HasPrefix(h.Path, "/") {
		bad("health check path %q must start with /", h.Path)
	}
	if h.Interval < 0 || h.Timeout < 0 {
		bad("health check interval %v and timeout %v must be positive", h.Interval, h.Timeout)
	} else if h.Timeout > h.Interval {
		bad("health check timeout %v is longer than its interval %v", h.Timeout, h.Interval)
	}
	if h.HealthyThreshold < 1 || h.UnhealthyThreshold < 1 {
		bad("health check thresholds (healthy %d, unhealthy %d) must be at least 1", h.HealthyThreshold, h.UnhealthyThreshold)
	}
	sc := d.Scaling
	switch sc.Metric {
	case "":
		if sc.Target != 0 {
			bad("scaling target %v given without a metric: set metric to %q or %q", sc.Target, MetricInFlight, MetricRPS)
		}
	case MetricInFlight, MetricRPS:
		if !(sc.Target > 0) {
			bad("scaling on %s needs a target above zero (the value per instance to keep)", sc.Metric)
		}
	default:
		bad("scaling metric %q: use %q (requests in flight per instance) or %q (requests per second per instance)", sc.Metric, MetricInFlight, MetricRPS)
	}
	for _, f := range []struct {
		name string
		v    time.Duration
	}{
		{"scaling warm_up", sc.WarmUp}, {"scaling cooldown", sc.Cooldown},
		{"start_timeout", d.StartTimeout}, {"stop_timeout", d.StopTimeout},
		{"drain_delay", d.DrainDelay}, {"slow_start", d.SlowStart},
	} {
		if f.v < 0 {
			bad("%s %v is negative", f.name, f.v)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	name := s.Name
	if name == "" {
		name = "(unnamed)"
	}
	return fmt.Errorf("instance group %s: %w", name, errors.Join(errs...))
}

// sameTemplate reports whether a and b start instances alike: a change of any
// of these fields rolls the group.
func sameTemplate(a, b GroupSpec) bool {
	return a.Command == b.Command && slices.Equal(a.Args, b.Args) && maps.Equal(a.Env, b.Env) &&
		a.HealthCheck == b.HealthCheck && a.StartTimeout == b.StartTimeout && a.StopTimeout == b.StopTimeout
}

// Environment variables the supervisor sets for each instance.
const (
	EnvPort     = "PORT"
	EnvHost     = "HOST"
	EnvAddr     = "MERIDIAN_LISTEN_ADDR"
	EnvInstance = "MERIDIAN_INSTANCE"
	EnvGroup    = "MERIDIAN_GROUP"
)

// reservedEnv reports whether the supervisor sets k for each instance.
func reservedEnv(k string) bool {
	switch k {
	case EnvPort, EnvHost, EnvAddr, EnvInstance, EnvGroup:
		return true
	}
	return false
}
