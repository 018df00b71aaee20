package compute

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Supervisor runs a region node's instance groups. Build it with New and
// run it with Run; Update, Remove and Status are safe for concurrent use.
type Supervisor struct {
	cfg    Config
	log    *slog.Logger
	m      *metrics
	client *http.Client  // health checks
	wake   chan struct{} // tells Run that a group was added

	mu     sync.Mutex
	groups map[string]*group
	ran    bool // Run has been called

	portMu sync.Mutex
	ports  map[int]bool // ports held by this supervisor's instances
	cursor int          // next port to try, as an offset into the range
}

// GroupStatus is one group in Status.
type GroupStatus struct {
	Name      string           `json:"name"`
	Desired   int              `json:"desired"`
	Min       int              `json:"min"`
	Max       int              `json:"max"`
	Instances []InstanceStatus `json:"instances"`
	// Error is why the group's last instance failed before becoming
	// healthy, until one becomes healthy.
	Error string `json:"error,omitempty"`
}

// InstanceStatus is one instance in Status.
type InstanceStatus struct {
	ID      string `json:"id"`
	PID     int    `json:"pid"`
	Addr    string `json:"addr"`
	Healthy bool   `json:"healthy"`
	// State is starting, healthy or draining.
	State string `json:"state"`
}

// New builds a supervisor. It starts nothing until Run.
func New(cfg Config) (*Supervisor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	s := &Supervisor{
		cfg: cfg,
		log: cfg.Logger.With("component", "compute", "region", cfg.Region),
		m:   newMetrics(cfg.Registerer),
		client: &http.Client{
			Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil},
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
		wake:   make(chan struct{}, 1),
		groups: map[string]*group{},
		ports:  map[int]bool{},
	}
	for _, spec := range cfg.Groups {
		s.groups[spec.Name] = s.newGroup(spec.withDefaults())
	}
	return s, nil
}

// Run starts every group's instances and supervises them until ctx ends;
// then it drains and stops all instances and returns nil. A supervisor
// runs once.
func (s *Supervisor) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.ran {
		s.mu.Unlock()
		return errors.New("compute: a supervisor runs once; build a new one with New")
	}
	s.ran = true
	s.mu.Unlock()
	s.log.Info("supervisor starting", "host", s.cfg.Host, "ports", s.cfg.PortRange.String(), "log_dir", s.cfg.LogDir)

	var wg sync.WaitGroup
	for {
		s.mu.Lock()
		for _, name := range slices.Sorted(maps.Keys(s.groups)) {
			if g := s.groups[name]; !g.started {
				g.started = true
				// Exits when ctx ends or the group is removed, after stopping
				// every instance.
				wg.Go(func() { g.run(ctx) })
			}
		}
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			wg.Wait()
			s.log.Info("supervisor stopped")
			return nil
		case <-s.wake:
		}
	}
}

// Update applies spec to the group of its name, adding the group if it is
// new. A change of command, arguments, environment, health check or start
// and stop timeouts rolls the group: instances are replaced one at a time,
// each new one healthy and registered before an old one is drained and
// stopped. Other changes (counts, scaling, drain delay) apply in place.
// Update returns when the group has converged (every instance on the new
// configuration, healthy, and as many as desired), or with an error when
// ctx ends first; the rollout goes on regardless. It needs Run to be
// running to make progress.
func (s *Supervisor) Update(ctx context.Context, spec GroupSpec) error {
	if err := spec.Validate(); err != nil {
		return err
	}
	spec = spec.withDefaults()
	s.mu.Lock()
	g := s.groups[spec.Name]
	if g == nil {
		g = s.newGroup(spec)
		s.groups[spec.Name] = g
		s.mu.Unlock()
		g.log.Info("group added", "command", spec.Command, "desired", spec.Desired)
		select {
		case s.wake <- struct{}{}:
		default:
		}
	} else {
		s.mu.Unlock()
		g.apply(spec)
	}
	return g.awaitConverged(ctx)
}

// Remove drains and stops every instance of the group and forgets it. It
// returns when they are stopped or ctx ends; the group goes on draining
// regardless.
func (s *Supervisor) Remove(ctx context.Context, name string) error {
	s.mu.Lock()
	g := s.groups[name]
	if g == nil {
		s.mu.Unlock()
		return fmt.Errorf("compute: no instance group %q", name)
	}
	if !g.started {
		delete(s.groups, name)
		s.mu.Unlock()
		s.m.forget(name)
		return nil
	}
	s.mu.Unlock()
	g.mu.Lock()
	g.removed = true
	g.mu.Unlock()
	g.kickLoop()
	select {
	case <-g.loopDone:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("compute: removing instance group %s: %w", name, ctx.Err())
	}
}

// forget drops a removed group once its loop has stopped its instances.
func (s *Supervisor) forget(g *group) {
	s.mu.Lock()
	if s.groups[g.name] == g {
		delete(s.groups, g.name)
	}
	s.mu.Unlock()
	s.m.forget(g.name)
}

// Status reports every group, sorted by name, and its instances in start
// order.
func (s *Supervisor) Status() []GroupStatus {
	s.mu.Lock()
	groups := make([]*group, 0, len(s.groups))
	for _, name := range slices.Sorted(maps.Keys(s.groups)) {
		groups = append(groups, s.groups[name])
	}
	s.mu.Unlock()
	out := make([]GroupStatus, 0, len(groups))
	for _, g := range groups {
		out = append(out, g.status())
	}
	return out
}

// allocPort finds a port of the range that no instance of this supervisor
// holds and that is free on Host now. It rotates through the range so a
// port just released is not handed out again at once.
func (s *Supervisor) allocPort() (int, error) {
	s.portMu.Lock()
	defer s.portMu.Unlock()
	r := s.cfg.PortRange
	n := r.Last - r.First + 1
	for i := range n {
		off := (s.cursor + i) % n
		p := r.First + off
		if s.ports[p] {
			continue
		}
		ln, err := net.Listen("tcp", net.JoinHostPort(s.cfg.Host, strconv.Itoa(p)))
		if err != nil {
			continue
		}
		_ = ln.Close()
		s.ports[p] = true
		s.cursor = (off + 1) % n
		return p, nil
	}
	return 0, fmt.Errorf("no free port in %s on %s", r, s.cfg.Host)
}

func (s *Supervisor) releasePort(p int) {
	s.portMu.Lock()
	delete(s.ports, p)
	s.portMu.Unlock()
}

func (s *Supervisor) logPath(group, id string) string {
	return filepath.Join(s.cfg.LogDir, group, id+".log")
}

// backoff is the delay before the next start after n failures in a row.
func (s *Supervisor) backoff(n int) time.Duration {
	d := s.cfg.BackoffMin
	for i := 1; i < n && d < s.cfg.BackoffMax; i++ {
		d *= 2
	}
	return min(d, s.cfg.BackoffMax)
}
