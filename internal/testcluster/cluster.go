// Package testcluster is the in-process multi-region harness: it starts
// region nodes on their own loopback addresses in one test process, joined by
// a simulated network (per-link latency, loss, full and one-way partitions),
// and lets a test stop, restart and wipe nodes and skew their clocks.
//
//	c := testcluster.New(t, testcluster.Options{})
//	c.Partition("us-east", "eu-west")
//	c.Put(t, "us-east", "k", "v")
//	c.HealAll()
//	c.AwaitConverged(t, 30*time.Second)
//
// Only tests import it.
package testcluster

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meridian-platform/meridian/internal/iam"
	"github.com/meridian-platform/meridian/internal/netsim"
	"github.com/meridian-platform/meridian/internal/pki"
	"github.com/meridian-platform/meridian/internal/region"
	"github.com/meridian-platform/meridian/internal/store"
	"github.com/meridian-platform/meridian/internal/topology"
)

// Options configures a cluster. Zero values mean the defaults.
type Options struct {
	// Regions to start (default us-east, eu-west, ap-south).
	Regions []string
	// Seed drives the simulated network's randomness (default: from the
	// time; always logged).
	Seed int64
	// AntiEntropyInterval (default 2s), Heartbeat (default 200ms) and
	// TruncateInterval (default 1s) are short so that tests run quickly.
	AntiEntropyInterval time.Duration
	Heartbeat           time.Duration
	TruncateInterval    time.Duration
	// LogRetentionRecords bounds each origin's change log (default: the
	// topology default).
	LogRetentionRecords int
	// MaxClockOffset (default 500ms).
	MaxClockOffset time.Duration
	// Verbose logs node output to the test log.
	Verbose bool
	// API builds what each node serves on its API port (internal/awsapi's
	// New for the AWS APIs); nil leaves the port closed.
	API func(ctx context.Context, env region.APIEnv) (region.API, error)
}

// Cluster is a running set of region nodes.
type Cluster struct {
	t    testing.TB
	opts Options
	// Net is the simulated network between nodes.
	Net  *netsim.Network
	Topo *topology.Topology

	mu    sync.Mutex
	nodes map[string]*handle
	skew  map[string]time.Duration
}

type handle struct {
	node   *region.Node
	cancel context.CancelFunc
	done   chan error
}

// New starts a cluster and stops it when the test ends.
func New(t testing.TB, opts Options) *Cluster {
	t.Helper()
	if len(opts.Regions) == 0 {
		opts.Regions = topology.DefaultRegions()
	}
	if opts.Seed == 0 {
		opts.Seed = time.Now().UnixNano()
	}
	t.Logf("testcluster: seed %d", opts.Seed)
	if opts.AntiEntropyInterval == 0 {
		opts.AntiEntropyInterval = 2 * time.Second
	}
	if opts.Heartbeat == 0 {
		opts.Heartbeat = 200 * time.Millisecond
	}
	if opts.TruncateInterval == 0 {
		opts.TruncateInterval = time.Second
	}
	rng := rand.New(rand.NewPCG(uint64(opts.Seed), 1)) //nolint:gosec // G404: a seeded source, so runs repeat (STYLE.md)
	// Each cluster gets its own 127.a.b.0/24 so parallel tests and a running
	// `meridian up` (127.0.1.x) never collide.
	a, b := 100+rng.IntN(150), rng.IntN(256)
	dir := t.TempDir()
	topo := &topology.Topology{Version: topology.Version, DataDir: dir}
	for i, name := range opts.Regions {
		topo.Regions = append(topo.Regions, topology.Region{Name: name, Nodes: []topology.Node{{
			Name: name + "-1", Host: fmt.Sprintf("127.%d.%d.%d", a, b, i+1),
		}}})
	}
	topo.Replication.LogRetentionRecords = opts.LogRetentionRecords
	topo.Replication.AntiEntropyInterval = opts.AntiEntropyInterval
	topo.Clock.MaxOffset = opts.MaxClockOffset
	topo.SetDefaults()
	if err := topo.Validate(); err != nil {
		t.Fatalf("testcluster topology: %v", err)
	}
	var specs []pki.NodeSpec
	for _, ref := range topo.Nodes() {
		specs = append(specs, pki.NodeSpec{Name: ref.Node.Name, IPs: []net.IP{net.ParseIP(ref.Node.Host)}})
	}
	if err := pki.EnsureCluster(topo.TLS.Dir, specs); err != nil {
		t.Fatalf("testcluster certificates: %v", err)
	}
	if opts.API != nil {
		topo.Secrets.BootstrapCredentials = filepath.Join(dir, "credentials")
		if _, err := iam.EnsureBootstrapCredentials(topo.Secrets.BootstrapCredentials, iam.Profile); err != nil {
			t.Fatalf("testcluster credentials: %v", err)
		}
	}
	c := &Cluster{t: t, opts: opts, Net: netsim.New(opts.Seed), Topo: topo, nodes: map[string]*handle{}, skew: map[string]time.Duration{}}
	for _, ref := range topo.Nodes() {
		c.Net.Register(ref.Region, ref.Node.PeerAddr())
	}
	t.Cleanup(c.StopAll)
	for _, r := range opts.Regions {
		c.Start(r)
	}
	return c
}

// Regions lists the cluster's regions.
func (c *Cluster) Regions() []string { return c.opts.Regions }

func (c *Cluster) nodeName(region string) string {
	r, ok := c.Topo.Region(region)
	if !ok {
		c.t.Fatalf("testcluster: no region %q", region)
	}
	return r.Nodes[0].Name
}

// Start starts a region's node (from its data directory, if it ran before)
// and waits until it serves.
func (c *Cluster) Start(regionName string) {
	c.t.Helper()
	if err := c.TryStart(regionName); err != nil {
		c.t.Fatalf("testcluster: %v", err)
	}
}

// TryStart is Start that returns the node's start-up error.
func (c *Cluster) TryStart(regionName string) error {
	c.mu.Lock()
	if c.nodes[regionName] != nil {
		c.mu.Unlock()
		return fmt.Errorf("%s is already running", regionName)
	}
	skew := c.skew[regionName]
	c.mu.Unlock()
	logger := slog.New(slog.DiscardHandler)
	if c.opts.Verbose {
		logger = slog.New(slog.NewTextHandler(testWriter{c.t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	n, err := region.New(region.Config{
		Topology:            c.Topo,
		Node:                c.nodeName(regionName),
		Logger:              logger,
		Now:                 func() time.Time { return time.Now().Add(skew) },
		Dial:                c.Net.Dialer(regionName),
		AntiEntropyInterval: c.opts.AntiEntropyInterval,
		Heartbeat:           c.opts.Heartbeat,
		TruncateInterval:    c.opts.TruncateInterval,
		API:                 c.opts.API,
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &handle{node: n, cancel: cancel, done: make(chan error, 1)}
	go func() { h.done <- n.Run(ctx) }()
	select {
	case <-n.Ready():
	case err := <-h.done:
		cancel()
		return fmt.Errorf("starting %s: %w", regionName, err)
	case <-time.After(20 * time.Second):
		cancel()
		return fmt.Errorf("%s did not start within 20s", regionName)
	}
	c.mu.Lock()
	c.nodes[regionName] = h
	c.mu.Unlock()
	return nil
}

// Stop stops a region's node, keeping its data directory.
func (c *Cluster) Stop(regionName string) {
	c.t.Helper()
	c.mu.Lock()
	h := c.nodes[regionName]
	delete(c.nodes, regionName)
	c.mu.Unlock()
	if h == nil {
		return
	}
	h.cancel()
	select {
	case err := <-h.done:
		if err != nil {
			c.t.Errorf("testcluster: %s stopped with %v", regionName, err)
		}
	case <-time.After(20 * time.Second):
		var dump strings.Builder
		_ = pprof.Lookup("goroutine").WriteTo(&dump, 1)
		c.t.Fatalf("testcluster: %s did not stop within 20s; goroutines:\n%s", regionName, dump.String())
	}
}

// Restart stops and starts a region's node from the same data directory.
func (c *Cluster) Restart(regionName string) {
	c.t.Helper()
	c.Stop(regionName)
	c.Start(regionName)
}

// Wipe deletes a stopped region's data directory: it comes back empty, as a
// node whose disk was replaced.
func (c *Cluster) Wipe(regionName string) {
	c.t.Helper()
	if c.Running(regionName) {
		c.t.Fatalf("testcluster: wipe %s while it runs", regionName)
	}
	if err := os.RemoveAll(c.Topo.NodeDataDir(c.nodeName(regionName))); err != nil {
		c.t.Fatal(err)
	}
}

// SkewClock makes a region's wall clock run off by d from its next start.
func (c *Cluster) SkewClock(regionName string, d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.skew[regionName] = d
}

// StopAll stops every node.
func (c *Cluster) StopAll() {
	for _, r := range c.opts.Regions {
		c.Stop(r)
	}
}

// Running reports whether a region's node runs.
func (c *Cluster) Running(regionName string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[regionName] != nil
}

// Node returns a running region's node.
func (c *Cluster) Node(regionName string) *region.Node {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	h := c.nodes[regionName]
	if h == nil {
		c.t.Fatalf("testcluster: %s is not running", regionName)
	}
	return h.node
}

// StoreIfRunning returns a region's store, or nil when it is not running.
// Unlike Store it may be called from any goroutine.
func (c *Cluster) StoreIfRunning(regionName string) *store.Store {
	c.mu.Lock()
	defer c.mu.Unlock()
	if h := c.nodes[regionName]; h != nil {
		return h.node.Store()
	}
	return nil
}

// Store returns a running region's store.
func (c *Cluster) Store(regionName string) *store.Store { return c.Node(regionName).Store() }

// Credentials is the administrator's access key (with Options.API).
func (c *Cluster) Credentials() iam.AccessKey {
	c.t.Helper()
	ak, err := iam.ReadCredentials(c.Topo.Secrets.BootstrapCredentials, iam.Profile)
	if err != nil {
		c.t.Fatalf("testcluster credentials: %v", err)
	}
	return ak
}

// APIURL is a region's API endpoint (with Options.API).
func (c *Cluster) APIURL(regionName string) string {
	r, _ := c.Topo.Region(regionName)
	return "http://" + r.Nodes[0].APIAddr()
}

// AdminURL is a region's admin endpoint.
func (c *Cluster) AdminURL(regionName string) string {
	r, _ := c.Topo.Region(regionName)
	return "http://" + r.Nodes[0].AdminAddr()
}

// Partition black-holes both directions between two regions.
func (c *Cluster) Partition(a, b string) {
	c.t.Logf("testcluster: partition %s <-> %s", a, b)
	c.Net.Partition(a, b)
}

// PartitionOneWay black-holes traffic from one region to another.
func (c *Cluster) PartitionOneWay(from, to string) {
	c.t.Logf("testcluster: partition %s -> %s", from, to)
	c.Net.PartitionOneWay(from, to)
}

// HealAll removes every partition (latency and loss stay).
func (c *Cluster) HealAll() { c.t.Logf("testcluster: heal all"); c.Net.HealAll() }

// Key is the key the helpers below use.
func Key(k string) store.Key { return store.Key{Space: "test", Hash: []byte(k)} }

// Put writes a whole document in a region and returns where it landed.
func (c *Cluster) Put(t testing.TB, regionName, k, doc string) store.Commit {
	t.Helper()
	cm, err := c.Store(regionName).Apply(context.Background(), store.Mutation{Key: Key(k), Put: []byte(doc)})
	if err != nil {
		t.Fatalf("put %s in %s: %v", k, regionName, err)
	}
	return cm
}

// Get reads a document in a region ("" when absent).
func (c *Cluster) Get(t testing.TB, regionName, k string) string {
	t.Helper()
	st, err := c.Store(regionName).Get(Key(k))
	if err != nil {
		t.Fatalf("get %s in %s: %v", k, regionName, err)
	}
	if !st.Exists() {
		return ""
	}
	return string(st.Base.Doc)
}

// AwaitConverged waits until every running region holds the same digest and
// has applied the same records, and fails the test with the differences
// otherwise.
func (c *Cluster) AwaitConverged(t testing.TB, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		diff := c.divergence()
		if diff == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("regions did not converge within %s (seed %d): %s", timeout, c.opts.Seed, diff)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (c *Cluster) divergence() string {
	var first string
	var root [32]byte
	var vv map[string]uint64
	for _, r := range c.opts.Regions {
		if !c.Running(r) {
			continue
		}
		s := c.Store(r)
		rr, v := s.Root(), s.VV()
		if first == "" {
			first, root, vv = r, rr, v
			continue
		}
		if rr != root {
			return fmt.Sprintf("digest of %s %x differs from %s %x", r, rr[:6], first, root[:6])
		}
		for o, seq := range vv {
			if v[o] != seq {
				return fmt.Sprintf("%s applied %s up to %d, %s up to %d", r, o, v[o], first, seq)
			}
		}
		for o, seq := range v {
			if vv[o] != seq {
				return fmt.Sprintf("%s applied %s up to %d, %s up to %d", r, o, seq, first, vv[o])
			}
		}
	}
	return ""
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}
