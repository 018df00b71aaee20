package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// StatusTimeout bounds each node's /admin/status request in Collect.
const StatusTimeout = 2 * time.Second

// Report is the status of a whole deployment, as `meridian status --json`
// prints it.
type Report struct {
	Regions []RegionStatus `json:"regions"`
}

// Healthy reports whether every node in r is healthy.
func (r Report) Healthy() bool {
	for _, s := range r.Regions {
		if !s.Healthy {
			return false
		}
	}
	return len(r.Regions) > 0
}

// RegionStatus is one region node's view of itself and its peers.
type RegionStatus struct {
	Name    string `json:"name"`
	Node    string `json:"node"`
	Admin   string `json:"admin"`
	PID     int    `json:"pid"`
	Healthy bool   `json:"healthy"`
	// Error says why the node is unhealthy or could not be asked.
	Error string `json:"error,omitempty"`
	// Digest is the node's Merkle root; converged regions report equal ones.
	Digest string       `json:"digest,omitempty"`
	Peers  []PeerStatus `json:"peers"`
	// Groups are the node's instance groups and their instances.
	Groups []GroupStatus `json:"groups"`
}

// GroupStatus is one instance group as a node reports it.
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

// InstanceStatus is one process of an instance group.
type InstanceStatus struct {
	ID      string `json:"id"`
	PID     int    `json:"pid"`
	Addr    string `json:"addr"`
	Healthy bool   `json:"healthy"`
	// State is starting, healthy or draining.
	State string `json:"state,omitempty"`
}

// PeerStatus is replication from one peer region as a node sees it.
type PeerStatus struct {
	Region     string  `json:"region"`
	Connected  bool    `json:"connected"`
	LagSeconds float64 `json:"lag_seconds"`
	LagRecords uint64  `json:"lag_records"`
	LastError  string  `json:"last_error,omitempty"`
}

// nodeStatus is the part of a node's GET /admin/status this package reads.
type nodeStatus struct {
	Region  string        `json:"region"`
	Node    string        `json:"node"`
	Healthy bool          `json:"healthy"`
	Error   string        `json:"error"`
	Digest  string        `json:"digest"`
	Peers   []PeerStatus  `json:"peers"`
	Groups  []GroupStatus `json:"groups"`
}

// Collect asks every node in e for its status, concurrently, each with
// StatusTimeout. A node that cannot be asked is reported unhealthy with the
// error. client nil means http.DefaultClient.
func Collect(ctx context.Context, e Endpoints, client *http.Client) Report {
	if client == nil {
		client = http.DefaultClient
	}
	r := Report{Regions: make([]RegionStatus, len(e.Nodes))}
	var wg sync.WaitGroup
	for i, ep := range e.Nodes {
		wg.Go(func() {
			s := RegionStatus{Name: ep.Region, Node: ep.Name, Admin: ep.Admin, PID: ep.PID, Peers: []PeerStatus{}, Groups: []GroupStatus{}}
			ns, err := fetchStatus(ctx, client, ep.Admin)
			switch {
			case err != nil:
				s.Error = err.Error()
			default:
				s.Healthy, s.Error, s.Digest = ns.Healthy, ns.Error, ns.Digest
				if ns.Peers != nil {
					s.Peers = ns.Peers
				}
				for _, g := range ns.Groups {
					if g.Instances == nil {
						g.Instances = []InstanceStatus{}
					}
					s.Groups = append(s.Groups, g)
				}
			}
			r.Regions[i] = s
		})
	}
	wg.Wait()
	return r
}

func fetchStatus(ctx context.Context, client *http.Client, admin string) (nodeStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, StatusTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, admin+"/admin/status", nil)
	if err != nil {
		return nodeStatus{}, fmt.Errorf("asking %s for status: %w", admin, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nodeStatus{}, fmt.Errorf("asking %s for status: %w", admin, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nodeStatus{}, fmt.Errorf("reading status from %s: %w", admin, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nodeStatus{}, fmt.Errorf("%s/admin/status answered %s", admin, resp.Status)
	}
	var ns nodeStatus
	if err := json.Unmarshal(body, &ns); err != nil {
		return nodeStatus{}, fmt.Errorf("decoding status from %s: %w", admin, err)
	}
	return ns, nil
}

// WriteTable prints r as a table: one row per node and peer.
func (r Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	_, _ = fmt.Fprintln(tw, "REGION\tNODE\tHEALTHY\tPEER\tCONNECTED\tLAG SECONDS\tLAG RECORDS")
	for _, s := range r.Regions {
		healthy := yesNo(s.Healthy)
		if len(s.Peers) == 0 {
			_, _ = fmt.Fprintf(tw, "%s\t%s\t%s\t-\t-\t-\t-\n", s.Name, s.Node, healthy)
		}
		for i, p := range s.Peers {
			region, node := s.Name, s.Node
			if i > 0 {
				region, node, healthy = "", "", ""
			}
			_, _ = fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\n", region, node, healthy,
				p.Region, yesNo(p.Connected), strconv.FormatFloat(p.LagSeconds, 'f', 3, 64), p.LagRecords)
		}
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("writing status table: %w", err)
	}
	if err := r.writeGroups(w); err != nil {
		return err
	}
	for _, s := range r.Regions {
		if s.Error != "" {
			if _, err := fmt.Fprintf(w, "%s (%s): %s\n", s.Node, s.Name, s.Error); err != nil {
				return fmt.Errorf("writing status table: %w", err)
			}
		}
	}
	return nil
}

// writeGroups prints one row per instance group, if any region has one.
func (r Report) writeGroups(w io.Writer) error {
	have := false
	for _, s := range r.Regions {
		have = have || len(s.Groups) > 0
	}
	if !have {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	_, _ = fmt.Fprintln(tw, "\nREGION\tGROUP\tHEALTHY\tDESIRED\tMIN\tMAX\tINSTANCES")
	for _, s := range r.Regions {
		for _, g := range s.Groups {
			healthy, ids := 0, make([]string, 0, len(g.Instances))
			for _, i := range g.Instances {
				if i.Healthy {
					healthy++
				}
				ids = append(ids, fmt.Sprintf("%s(pid %d, %s)", i.ID, i.PID, i.Addr))
			}
			_, _ = fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%s\n", s.Name, g.Name, healthy, g.Desired, g.Min, g.Max, strings.Join(ids, " "))
		}
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("writing status table: %w", err)
	}
	for _, s := range r.Regions {
		for _, g := range s.Groups {
			if g.Error != "" {
				if _, err := fmt.Fprintf(w, "%s group %s: %s\n", s.Name, g.Name, g.Error); err != nil {
					return fmt.Errorf("writing status table: %w", err)
				}
			}
		}
	}
	return nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
