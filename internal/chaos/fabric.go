package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/meridian-platform/meridian/internal/netsim"
	"github.com/meridian-platform/meridian/internal/topology"
)

// Fabric is one process's network to the rest of the deployment: dials to
// any node's or edge's host obey the topology's simulated WAN latency and
// the injected faults. Safe for concurrent use.
type Fabric struct {
	topo *topology.Topology
	self string
	log  *slog.Logger
	net  *netsim.Network
	dial func(ctx context.Context, addr string) (net.Conn, error)

	mu    sync.Mutex
	state State
}

// NewFabric builds the network of self (a node or edge of t) with t's WAN
// latencies and, when t.Chaos is on, the faults in the state file of t's
// data directory.
func NewFabric(t *topology.Topology, self string, log *slog.Logger) (*Fabric, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	n := netsim.New(1)
	for _, ref := range t.Nodes() {
		n.Register(ref.Node.Name, ref.Node.Host)
	}
	for _, e := range t.Edges {
		n.Register(e.Name, e.Host)
	}
	f := &Fabric{topo: t, self: self, log: log.With("component", "chaos"), net: n, dial: n.Dialer(self)}
	if !simulated(t) {
		// Nothing will ever be simulated (a real deployment, or a local one
		// with no WAN and no chaos): plain TCP, without netsim's two
		// goroutines and copy of every byte per connection, which cost a
		// replica ~11% of its CPU.
		var d net.Dialer
		f.dial = func(ctx context.Context, addr string) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }
	}
	var s State
	if t.Chaos {
		var err error
		if s, err = Load(t.DataDir); err != nil {
			return nil, err
		}
	}
	if err := f.Apply(s); err != nil {
		return nil, fmt.Errorf("%s: %w", File, err)
	}
	return f, nil
}

// simulated reports whether any link of t can ever carry a simulated
// condition: chaos can inject faults at run time, or the WAN has latency.
func simulated(t *topology.Topology) bool {
	if t.Chaos {
		return true
	}
	for _, l := range t.WAN.Latency {
		if l.RTT > 0 {
			return true
		}
	}
	return false
}

// Simulated reports whether any dial may ever carry a simulated condition;
// when not, Dial is a plain TCP dial.
func (f *Fabric) Simulated() bool { return simulated(f.topo) }

// Dial connects to addr over the simulated network.
func (f *Fabric) Dial(ctx context.Context, addr string) (net.Conn, error) { return f.dial(ctx, addr) }

// DialContext is Dial with a network argument, for http.Transport; only
// TCP is simulated.
func (f *Fabric) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
		return f.dial(ctx, addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

// State returns the faults in force.
func (f *Fabric) State() State {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.state
}

// Apply replaces the faults in force with s: every pair of names gets the
// topology's latency unless s overrides it, every partition not in s heals.
func (f *Fabric) Apply(s State) error {
	if err := s.Validate(f.topo); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	names := Names(f.topo)
	rtt := map[[2]string]time.Duration{}
	set := func(a, b string, d time.Duration) {
		for _, x := range Expand(f.topo, a) {
			for _, y := range Expand(f.topo, b) {
				if x != y {
					rtt[pair(x, y)] = d
				}
			}
		}
	}
	for _, l := range f.topo.WAN.Latency {
		set(l.A, l.B, l.RTT)
	}
	for _, l := range s.Latency {
		set(l.A, l.B, time.Duration(l.RTT))
	}
	for i, a := range names {
		for _, b := range names[i+1:] {
			f.net.SetLatency(a, b, rtt[pair(a, b)])
		}
	}
	f.net.HealAll()
	for _, p := range s.Partitions {
		for _, x := range Expand(f.topo, p.From) {
			for _, y := range Expand(f.topo, p.To) {
				if p.OneWay {
					f.net.PartitionOneWay(x, y)
				} else {
					f.net.Partition(x, y)
				}
			}
		}
	}
	if len(s.Partitions) > 0 || len(s.Latency) > 0 || len(f.state.Partitions) > 0 || len(f.state.Latency) > 0 {
		f.log.Info("network faults applied", "partitions", len(s.Partitions), "latency_overrides", len(s.Latency))
	}
	f.state = s
	return nil
}

func pair(a, b string) [2]string {
	if a > b {
		a, b = b, a
	}
	return [2]string{a, b}
}

// Handler serves GET and PUT /admin/chaos: the State in force, as JSON.
// Unless the topology turns chaos on, it answers 403 and changes nothing.
func (f *Fabric) Handler() http.Handler {
	if !f.topo.Chaos {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "fault injection is off: set chaos: true in the topology (meridian up does)"})
		})
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /admin/chaos", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, f.State())
	})
	mux.HandleFunc("PUT /admin/chaos", func(w http.ResponseWriter, r *http.Request) {
		var s State
		dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&s); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "chaos state: " + err.Error()})
			return
		}
		if err := f.Apply(s); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, f.State())
	})
	return mux
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v) // the client went away; nothing to do
}
