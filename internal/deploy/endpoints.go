package deploy

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/meridian-platform/meridian/internal/topology"
)

// Endpoints is the contents of DIR/endpoints.json: every node of a running
// deployment and where it listens. `up` rewrites it whenever a child is
// (re)started and removes it when it stops cleanly.
type Endpoints struct {
	// Nodes are the region nodes.
	Nodes []Endpoint `json:"nodes"`
	// Edges are the edge locations.
	Edges []EdgeEndpoint `json:"edges,omitempty"`
}

// EdgeEndpoint is one edge in endpoints.json.
type EdgeEndpoint struct {
	// Name of the edge, such as "edge-1".
	Name string `json:"name"`
	// Role is "edge".
	Role string `json:"role"`
	// Location is the client location the edge stands in, such as "na".
	Location string `json:"location"`
	// PID of the edge's process; 0 while it is being restarted.
	PID int `json:"pid"`
	// DNS is the host:port of the authoritative DNS server (UDP and TCP).
	DNS string `json:"dns"`
	// HTTP is the base URL of the accelerator and cache.
	HTTP string `json:"http"`
	// Admin is the base URL of the admin port.
	Admin string `json:"admin"`
}

// Endpoint is one node in endpoints.json.
type Endpoint struct {
	// Name of the node, such as "us-east-1".
	Name string `json:"name"`
	// Role is the subcommand the node runs: "region".
	Role string `json:"role"`
	// Region the node serves.
	Region string `json:"region"`
	// PID of the node's process; 0 while it is being restarted.
	PID int `json:"pid"`
	// API is the base URL of the AWS-compatible API.
	API string `json:"api"`
	// Admin is the base URL of the admin port (/healthz, /readyz,
	// /metrics, /admin/...).
	Admin string `json:"admin"`
	// Peer is the host:port of the mutual-TLS peer port.
	Peer string `json:"peer"`
	// LB is the base URL of the region's load balancer on this node; empty
	// when the region declares no instance groups.
	LB string `json:"lb,omitempty"`
}

// Roles of the processes `up` runs: the subcommand each runs.
const (
	RoleRegion = "region"
	RoleEdge   = "edge"
)

// endpointsFor lists t's nodes with no pids yet.
func endpointsFor(t *topology.Topology) Endpoints {
	var e Endpoints
	for _, ref := range t.Nodes() {
		ep := Endpoint{
			Name:   ref.Node.Name,
			Role:   RoleRegion,
			Region: ref.Region,
			API:    "http://" + ref.Node.APIAddr(),
			Admin:  "http://" + ref.Node.AdminAddr(),
			Peer:   ref.Node.PeerAddr(),
		}
		if r, _ := t.Region(ref.Region); len(r.Groups) > 0 {
			ep.LB = "http://" + ref.Node.LBAddr()
		}
		e.Nodes = append(e.Nodes, ep)
	}
	for _, edge := range t.Edges {
		e.Edges = append(e.Edges, EdgeEndpoint{
			Name: edge.Name, Role: RoleEdge, Location: edge.Location,
			DNS: edge.DNSAddr(), HTTP: "http://" + edge.HTTPAddr(), Admin: "http://" + edge.AdminAddr(),
		})
	}
	return e
}

// WriteEndpoints writes e to dir/endpoints.json atomically: readers see the
// old file or the new one, never a torn one.
func WriteEndpoints(dir string, e Endpoints) error {
	data, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding endpoints: %w", err)
	}
	return writeFileAtomic(filepath.Join(dir, EndpointsFile), append(data, '\n'), 0o644)
}

// ReadEndpoints reads dir/endpoints.json. A missing file is an error that
// says how to start the deployment.
func ReadEndpoints(dir string) (Endpoints, error) {
	path := filepath.Join(dir, EndpointsFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Endpoints{}, fmt.Errorf("%s does not exist: no deployment is running from %s (start one with `meridian up --data %s`)", path, dir, dir)
	}
	if err != nil {
		return Endpoints{}, fmt.Errorf("reading endpoints: %w", err)
	}
	var e Endpoints
	if err := json.Unmarshal(data, &e); err != nil {
		return Endpoints{}, fmt.Errorf("%s: %w", path, err)
	}
	if len(e.Nodes) == 0 {
		return Endpoints{}, fmt.Errorf("%s lists no nodes", path)
	}
	return e, nil
}

// writeFileAtomic writes data to a temporary file next to path, syncs it
// and renames it over path.
func writeFileAtomic(path string, data []byte, perm fs.FileMode) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Chmod(perm); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("replacing %s: %w", path, err)
	}
	return nil
}
