// Package chaos is how an operator injects faults into a running deployment
// for a game day: network partitions (both ways or one way) and extra
// latency between nodes, edges or whole regions, and nodes held down.
//
// The faults live in one file, State, at <data_dir>/chaos.json. Every node
// and edge process dials its peers through a Fabric: a simulated network
// (internal/netsim) over real TCP that carries the topology's WAN latencies
// and the State's faults, so a partition cuts real connections, open ones
// included. `meridian chaos` rewrites the file and pushes it to every
// running process's admin port (PUT /admin/chaos); a process that starts
// later reads the file. `meridian up` keeps the nodes the State lists as
// stopped down until they are restarted.
//
// Imported by the region node, the edge, the deployment supervisor and the
// CLI.
package chaos

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/meridian-platform/meridian/internal/topology"
)

// File is the name of the state file in the data directory.
const File = "chaos.json"

// State is every fault currently injected. Its zero value is a healthy
// network with every node allowed to run.
type State struct {
	// Partitions black-hole traffic between two names (nodes, edges or
	// regions, which stand for all their nodes).
	Partitions []Partition `json:"partitions,omitempty"`
	// Latency replaces the topology's round trip between two names.
	Latency []Latency `json:"latency,omitempty"`
	// Stopped lists the nodes and edges `meridian up` keeps down.
	Stopped []string `json:"stopped,omitempty"`
}

// Partition cuts From↔To, or only From→To when OneWay.
type Partition struct {
	From   string `json:"from"`
	To     string `json:"to"`
	OneWay bool   `json:"one_way,omitempty"`
}

// Latency is a round trip between A and B.
type Latency struct {
	A   string   `json:"a"`
	B   string   `json:"b"`
	RTT Duration `json:"rtt"`
}

// Duration is a time.Duration written as "150ms" in JSON.
type Duration time.Duration

// MarshalJSON writes d like "150ms".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads "150ms".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration: %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: %w", s, err)
	}
	*d = Duration(v)
	return nil
}

// Partition adds a partition; repeating one is a no-op.
func (s *State) Partition(from, to string, oneWay bool) {
	p := Partition{From: from, To: to, OneWay: oneWay}
	if !slices.Contains(s.Partitions, p) {
		s.Partitions = append(s.Partitions, p)
	}
}

// SetLatency sets the round trip between a and b, replacing an earlier one
// for the same pair.
func (s *State) SetLatency(a, b string, rtt time.Duration) {
	s.Latency = slices.DeleteFunc(s.Latency, func(l Latency) bool {
		return (l.A == a && l.B == b) || (l.A == b && l.B == a)
	})
	s.Latency = append(s.Latency, Latency{A: a, B: b, RTT: Duration(rtt)})
}

// Heal removes every partition and latency override; stopped nodes stay
// stopped.
func (s *State) Heal() {
	s.Partitions, s.Latency = nil, nil
}

// Stop marks name as held down.
func (s *State) Stop(name string) {
	if !slices.Contains(s.Stopped, name) {
		s.Stopped = append(s.Stopped, name)
	}
}

// Start lets name run again.
func (s *State) Start(name string) {
	s.Stopped = slices.DeleteFunc(s.Stopped, func(n string) bool { return n == name })
}

// IsStopped reports whether name is held down.
func (s State) IsStopped(name string) bool { return slices.Contains(s.Stopped, name) }

// Validate checks that every name in s is a node, edge or region of t.
func (s State) Validate(t *topology.Topology) error {
	var errs []error
	check := func(what, name string) {
		if len(Expand(t, name)) == 0 {
			errs = append(errs, fmt.Errorf("%s: %q is not a node, edge or region of this deployment (%v)", what, name, Names(t)))
		}
	}
	for i, p := range s.Partitions {
		check(fmt.Sprintf("partitions[%d].from", i), p.From)
		check(fmt.Sprintf("partitions[%d].to", i), p.To)
	}
	for i, l := range s.Latency {
		check(fmt.Sprintf("latency[%d].a", i), l.A)
		check(fmt.Sprintf("latency[%d].b", i), l.B)
		if l.RTT < 0 {
			errs = append(errs, fmt.Errorf("latency[%d].rtt: %v is negative", i, time.Duration(l.RTT)))
		}
	}
	for i, n := range s.Stopped {
		if _, _, ok := t.Node(n); !ok {
			if _, ok := t.Edge(n); !ok {
				errs = append(errs, fmt.Errorf("stopped[%d]: %q is not a node or edge of this deployment", i, n))
			}
		}
	}
	return errors.Join(errs...)
}

// Expand returns the node and edge names name stands for: itself for a node
// or edge, every node of a region; nil when t has no such name.
func Expand(t *topology.Topology, name string) []string {
	if _, _, ok := t.Node(name); ok {
		return []string{name}
	}
	if _, ok := t.Edge(name); ok {
		return []string{name}
	}
	if r, ok := t.Region(name); ok {
		names := make([]string, 0, len(r.Nodes))
		for _, n := range r.Nodes {
			names = append(names, n.Name)
		}
		return names
	}
	return nil
}

// Names lists every node and edge of t.
func Names(t *topology.Topology) []string {
	var names []string
	for _, ref := range t.Nodes() {
		names = append(names, ref.Node.Name)
	}
	for _, e := range t.Edges {
		names = append(names, e.Name)
	}
	return names
}

// Load reads the state file in dir; a missing file is the zero State.
func Load(dir string) (State, error) {
	var s State
	data, err := os.ReadFile(filepath.Join(dir, File))
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return s, fmt.Errorf("reading chaos state: %w", err)
	}
	if err := json.Unmarshal(data, &s); err != nil {
		return State{}, fmt.Errorf("%s: %w", filepath.Join(dir, File), err)
	}
	return s, nil
}

// Save writes s to the state file in dir atomically.
func Save(dir string, s State) error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding chaos state: %w", err)
	}
	path := filepath.Join(dir, File)
	tmp, err := os.CreateTemp(dir, "."+File+".tmp*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		_ = tmp.Close()
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("replacing %s: %w", path, err)
	}
	return nil
}
