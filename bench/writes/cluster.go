package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/meridian-platform/meridian/internal/pki"
	"github.com/meridian-platform/meridian/internal/region"
	"github.com/meridian-platform/meridian/internal/topology"
)

// benchTopology is a deployment of one node per region on hostPrefix.1,
// hostPrefix.2, … with the default ports, data under dir, no simulated WAN
// latency, anti-entropy every antiEntropy (0: the default), and its
// mutual-TLS material created under dir/certs.
func benchTopology(dir, hostPrefix string, regions []string, antiEntropy time.Duration) (*topology.Topology, error) {
	t := &topology.Topology{Version: topology.Version, DataDir: dir}
	t.Replication.AntiEntropyInterval = antiEntropy
	for i, name := range regions {
		t.Regions = append(t.Regions, topology.Region{Name: name, Nodes: []topology.Node{{
			Name: name + "-1",
			Host: fmt.Sprintf("%s.%d", hostPrefix, i+1),
		}}})
	}
	t.SetDefaults()
	if err := t.Validate(); err != nil {
		return nil, fmt.Errorf("bench topology: %w", err)
	}
	var specs []pki.NodeSpec
	for _, ref := range t.Nodes() {
		specs = append(specs, pki.NodeSpec{Name: ref.Node.Name, IPs: []net.IP{net.ParseIP(ref.Node.Host)}})
	}
	if err := pki.EnsureCluster(t.TLS.Dir, specs); err != nil {
		return nil, fmt.Errorf("bench certificates: %w", err)
	}
	return t, nil
}

// writeTopology writes topo to workDir/topology.yaml, for child processes
// (-procs, the idle step) to load, and returns the file's path.
func writeTopology(topo *topology.Topology, workDir string) (string, error) {
	raw, err := topo.Marshal()
	if err != nil {
		return "", fmt.Errorf("writing topology: %w", err)
	}
	path := filepath.Join(workDir, "topology.yaml")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		return "", fmt.Errorf("writing topology: %w", err)
	}
	return path, nil
}

// cluster is the region nodes of a topology running in this process.
type cluster struct {
	topo   *topology.Topology
	nodes  []*region.Node
	admin  []string
	cancel context.CancelFunc
	done   chan error
}

// startCluster runs every node of topo in this process, with mutual TLS on
// the peer port, and waits until each serves and replicates from all its
// peers.
func startCluster(ctx context.Context, topo *topology.Topology, logger *slog.Logger) (*cluster, error) {
	runCtx, cancel := context.WithCancel(ctx)
	c := &cluster{topo: topo, cancel: cancel}
	refs := topo.Nodes()
	c.done = make(chan error, len(refs))
	for _, ref := range refs {
		n, err := region.New(region.Config{Topology: topo, Node: ref.Node.Name, Logger: logger})
		if err != nil {
			_ = c.stop() // the error that made us give up is the one to report
			return nil, fmt.Errorf("creating node %s: %w", ref.Node.Name, err)
		}
		c.nodes = append(c.nodes, n)
		c.admin = append(c.admin, ref.Node.AdminAddr())
		go func() {
			err := n.Run(runCtx)
			if err != nil {
				err = fmt.Errorf("node %s: %w", ref.Node.Name, err)
			}
			c.done <- err
		}()
	}
	deadline := time.After(30 * time.Second)
	for _, n := range c.nodes {
		select {
		case <-n.Ready():
		case err := <-c.done:
			c.done <- err
			_ = c.stop() // the error that made us give up is the one to report
			return nil, fmt.Errorf("starting cluster: %w", err)
		case <-deadline:
			_ = c.stop() // the error that made us give up is the one to report
			return nil, fmt.Errorf("region %s did not start within 30s", n.Region())
		}
	}
	if err := c.awaitConnected(ctx, 30*time.Second); err != nil {
		_ = c.stop() // the error that made us give up is the one to report
		return nil, err
	}
	return c, nil
}

// awaitConnected waits until every node streams from every peer.
func (c *cluster) awaitConnected(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		var missing []string
		for _, n := range c.nodes {
			for _, p := range n.Replicator().Status() {
				if !p.Connected {
					missing = append(missing, n.Region()+"←"+p.Region)
				}
			}
		}
		if len(missing) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("replication streams not up after %s: %s", timeout, strings.Join(missing, ", "))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// converged reports whether all nodes hold identical items and version
// vectors.
func (c *cluster) converged() bool {
	root := c.nodes[0].Store().Root()
	vv := c.nodes[0].Store().VV()
	for _, n := range c.nodes[1:] {
		if n.Store().Root() != root || !equalVV(n.Store().VV(), vv) {
			return false
		}
	}
	return true
}

func equalVV(a, b map[string]uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// stop cancels every node and waits for them to close their stores.
func (c *cluster) stop() error {
	c.cancel()
	var errs []error
	for range c.nodes {
		select {
		case err := <-c.done:
			errs = append(errs, err)
		case <-time.After(30 * time.Second):
			errs = append(errs, errors.New("a region node did not stop within 30s"))
		}
	}
	return errors.Join(errs...)
}
