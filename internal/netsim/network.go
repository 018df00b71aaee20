package netsim

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"sync"
	"time"
)

// Network is a set of named nodes and the conditions of the links between
// them. Connections dialed through Dialer obey their link's conditions, and
// keep obeying them as they change. All methods are safe for concurrent use.
//
// Links are directed: every setter except PartitionOneWay changes both
// directions of a pair. A link that was never set has no latency, no loss and
// is not partitioned.
type Network struct {
	seed   int64
	dialer net.Dialer

	mu  sync.Mutex
	rng *rand.Rand
	// nodes maps a listening address ("host:port") or a bare host to a node.
	nodes map[string]string
	links map[link]*linkState
	// changed is closed and replaced whenever a link condition changes.
	changed chan struct{}
}

// link is one direction between two nodes.
type link struct{ from, to string }

type linkState struct {
	oneWay time.Duration
	loss   float64
	// cutAt, lastCut, lastHeal: see condition.
	cutAt, lastCut, lastHeal time.Time
}

// New returns a Network with no nodes whose random choices (which chunks are
// "lost") come from a source seeded with seed.
func New(seed int64) *Network {
	s := uint64(seed) //nolint:gosec // G115: the seed's bits, reinterpreted
	return &Network{
		seed:    seed,
		rng:     rand.New(rand.NewPCG(s, s^0x9e3779b97f4a7c15)), //nolint:gosec // G404: a seeded source, so runs repeat (STYLE.md)
		nodes:   make(map[string]string),
		links:   make(map[link]*linkState),
		changed: make(chan struct{}),
	}
}

// Seed returns the seed the Network was built with, for a failing test to
// print.
func (n *Network) Seed() int64 { return n.seed }

// Register maps a listening address to a node name. addr is either
// "host:port", matching dials to exactly that address, or a bare host (an IP),
// matching dials to any port on it; an exact match wins.
func (n *Network) Register(name, addr string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.nodes[addr] = name
}

// node returns the node listening on addr.
func (n *Network) node(addr string) (string, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if name, ok := n.nodes[addr]; ok {
		return name, true
	}
	if host, _, err := net.SplitHostPort(addr); err == nil {
		if name, ok := n.nodes[host]; ok {
			return name, true
		}
	}
	return "", false
}

// state returns the state of one direction, creating it. n.mu is held.
func (n *Network) state(from, to string) *linkState {
	l := link{from, to}
	s, ok := n.links[l]
	if !ok {
		s = &linkState{}
		n.links[l] = s
	}
	return s
}

// update applies fn to the given directions and wakes everything waiting on
// link conditions.
func (n *Network) update(fn func(*linkState), links ...link) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, l := range links {
		fn(n.state(l.from, l.to))
	}
	close(n.changed)
	n.changed = make(chan struct{})
}

func both(a, b string) []link { return []link{{a, b}, {b, a}} }

// SetLatency sets the round-trip time between a and b: each direction gets
// half of rtt. A negative rtt counts as zero. Open connections see the new
// latency on the bytes they deliver from now on.
func (n *Network) SetLatency(a, b string, rtt time.Duration) {
	oneWay := max(rtt, 0) / 2
	n.update(func(s *linkState) { s.oneWay = oneWay }, both(a, b)...)
}

// SetLatencyOneWay sets the latency of the direction from→to only, for
// asymmetric links. A negative d counts as zero.
func (n *Network) SetLatencyOneWay(from, to string, d time.Duration) {
	n.update(func(s *linkState) { s.oneWay = max(d, 0) }, link{from, to})
}

// SetLoss sets the loss probability between a and b, clamped to [0, 1].
// TCP does not lose bytes, so loss is modelled as retransmission delay: each
// chunk (one Write, or one read of the socket) is, with probability p, held
// back an extra 200 ms, and the chunks behind it wait for it.
func (n *Network) SetLoss(a, b string, p float64) {
	switch {
	case math.IsNaN(p) || p < 0:
		p = 0
	case p > 1:
		p = 1
	}
	n.update(func(s *linkState) { s.loss = p }, both(a, b)...)
}

// Partition black-holes both directions between a and b: bytes stop flowing
// (they are held, not delivered and not reset) and new dials between them
// block until the dialer's context ends.
func (n *Network) Partition(a, b string) {
	n.update(cut, both(a, b)...)
}

// PartitionOneWay black-holes the direction from→to: bytes from `from` to
// `to` are held while the other direction flows. New dials between the two
// block either way, as a TCP handshake needs both directions.
func (n *Network) PartitionOneWay(from, to string) {
	n.update(cut, link{from, to})
}

// Heal ends any partition between a and b, in both directions.
//
// Connections survive a partition: bytes held by it are delivered one
// latency after the heal, as TCP retransmits them once the path returns.
// Applications' own deadlines and keepalives fire during the partition
// exactly as over a black-holed link, and a connection they close stays
// closed; new connections work normally after the heal.
func (n *Network) Heal(a, b string) {
	n.update(heal, both(a, b)...)
}

// HealAll ends every partition. Latency and loss stay as they are.
func (n *Network) HealAll() {
	n.mu.Lock()
	links := make([]link, 0, len(n.links))
	for l := range n.links {
		links = append(links, l)
	}
	n.mu.Unlock()
	n.update(heal, links...)
}

func cut(s *linkState) {
	if s.cutAt.IsZero() {
		s.cutAt = time.Now()
	}
}

func heal(s *linkState) {
	if !s.cutAt.IsZero() {
		s.lastCut, s.lastHeal, s.cutAt = s.cutAt, time.Now(), time.Time{}
	}
}

// netPath is one direction of a connection between two nodes.
type netPath struct {
	n *Network
	l link
}

func (p netPath) condition() (condition, <-chan struct{}) {
	p.n.mu.Lock()
	defer p.n.mu.Unlock()
	s, ok := p.n.links[p.l]
	if !ok {
		return condition{}, p.n.changed
	}
	return condition{
		delay:    s.oneWay,
		loss:     s.loss,
		cutAt:    s.cutAt,
		lastCut:  s.lastCut,
		lastHeal: s.lastHeal,
	}, p.n.changed
}

func (p netPath) lost(prob float64) bool {
	p.n.mu.Lock()
	defer p.n.mu.Unlock()
	return p.n.rng.Float64() < prob
}

// Dialer returns a dial function for node from, fit for gRPC's
// WithContextDialer (wrap it for http.Transport.DialContext). It dials addr
// over TCP; if addr is registered to a node, the returned conn obeys the
// link's conditions for as long as it is open: its writes travel from→to, its
// reads to→from, so only the dialing end needs wrapping.
//
// Establishing a connection takes one extra round trip of the link, and while
// either direction is partitioned the dial blocks until ctx ends and then
// fails with an error whose Timeout method reports true if ctx's deadline
// passed. Dials to unknown addresses, and a node's dials to itself, are
// plain TCP dials with no conditions.
func (n *Network) Dialer(from string) func(ctx context.Context, addr string) (net.Conn, error) {
	return func(ctx context.Context, addr string) (net.Conn, error) {
		to, ok := n.node(addr)
		if !ok || to == from {
			return n.dialer.DialContext(ctx, "tcp", addr)
		}
		out, in := netPath{n, link{from, to}}, netPath{n, link{to, from}}
		if err := n.awaitOpen(ctx, out, in); err != nil {
			return nil, &net.OpError{Op: "dial", Net: "tcp", Addr: dialAddr(addr), Err: err}
		}
		c, err := n.dialer.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("dialing %s from node %s: %w", to, from, err)
		}
		outCond, _ := out.condition()
		inCond, _ := in.condition()
		t := time.NewTimer(outCond.delay + inCond.delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			_ = c.Close() // nobody will use it; its close error is moot
			return nil, &net.OpError{Op: "dial", Net: "tcp", Addr: dialAddr(addr), Err: &dialError{why: "waiting for the handshake round trip", cause: ctx.Err()}}
		}
		return newConn(c, out, in), nil
	}
}

// awaitOpen waits until neither direction is black-holed or ctx ends.
func (n *Network) awaitOpen(ctx context.Context, out, in netPath) error {
	for {
		o, changed := out.condition()
		i, _ := in.condition()
		if o.cutAt.IsZero() && i.cutAt.IsZero() {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return &dialError{why: fmt.Sprintf("link %s-%s is partitioned", out.l.from, out.l.to), cause: ctx.Err()}
		}
	}
}

// dialError is the error of a dial whose context ended while it waited, as
// net.Dialer reports one: a net.Error that is a timeout if the deadline
// passed, and that unwraps to the context's error.
type dialError struct {
	why   string
	cause error
}

func (e *dialError) Error() string {
	msg := e.cause.Error()
	if e.Timeout() {
		msg = "i/o timeout"
	}
	if e.why != "" {
		msg += ": " + e.why
	}
	return msg
}

// Timeout reports whether the dial's context deadline passed.
func (e *dialError) Timeout() bool { return errors.Is(e.cause, context.DeadlineExceeded) }

// Temporary reports the same as Timeout.
func (e *dialError) Temporary() bool { return e.Timeout() }

func (e *dialError) Unwrap() error { return e.cause }

var _ net.Error = (*dialError)(nil)

// dialAddr is the address of a dial for error messages.
type dialAddr string

func (a dialAddr) Network() string { return "tcp" }
func (a dialAddr) String() string  { return string(a) }
