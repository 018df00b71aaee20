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
	// Edges are the edge locations and how each sees the regions.
	Edges []EdgeStatus `json:"edges,omitempty"`
}

// EdgeStatus is one edge's view of the regions.
type EdgeStatus struct {
	Name     string `json:"name"`
	Location string `json:"location"`
	Admin    string `json:"admin"`
	PID      int    `json:"pid"`
	// Healthy is whether the edge answered its status.
	Healthy bool   `json:"healthy"`
	Error   string `json:"error,omitempty"`
	// Regions are the regions' health as the edge's checker votes and as
	// the majority of checkers decided, and the edge's measured round trip.
	Regions []EdgeRegion `json:"regions"`
}

// EdgeRegion is one region as an edge sees it.
type EdgeRegion struct {
	Region string `json:"region"`
	// Healthy is the global verdict (a majority of checkers).
	Healthy bool `json:"healthy"`
	// Local is this edge's own verdict of the region's first node.
	Local string `json:"local"`
	// RTTMillis is the edge's measured round trip to the region.
	RTTMillis float64 `json:"rtt_ms"`
}

// Healthy reports whether every node and edge in r is healthy.
func (r Report) Healthy() bool {
	for _, s := range r.Regions {
		if !s.Healthy {
			return false
		}
	}
	for _, e := range r.Edges {
		if !e.Healthy {
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
	r.Edges = make([]EdgeStatus, len(e.Edges))
	for i, ep := range e.Edges {
		wg.Go(func() {
			es := EdgeStatus{Name: ep.Name, Location: ep.Location, Admin: ep.Admin, PID: ep.PID, Regions: []EdgeRegion{}}
			var st edgeStatus
			if err := fetchJSON(ctx, client, ep.Admin, &st); err != nil {
				es.Error = err.Error()
			} else {
				es.Healthy = true
				es.Regions = st.regions(e.Nodes)
			}
			r.Edges[i] = es
		})
	}
	wg.Wait()
	return r
}

// edgeStatus is the part of an edge's GET /admin/status this package reads.
type edgeStatus struct {
	Health struct {
		Checks []struct {
			ID     string  `json:"id"`
			Local  string  `json:"local"`
			Global string  `json:"global"`
			RTT    float64 `json:"rtt_ms"`
		} `json:"checks"`
	} `json:"health"`
}

// regions summarizes the checks of the regions of nodes, in their order.
func (s edgeStatus) regions(nodes []Endpoint) []EdgeRegion {
	byID := map[string]int{}
	for i, c := range s.Health.Checks {
		byID[c.ID] = i
	}
	var out []EdgeRegion
	seen := map[string]bool{}
	for _, n := range nodes {
		if seen[n.Region] {
			continue
		}
		seen[n.Region] = true
		er := EdgeRegion{Region: n.Region, Local: "unknown"}
		if i, ok := byID[n.Region]; ok {
			er.Healthy = s.Health.Checks[i].Global != "unhealthy"
		}
		if i, ok := byID[n.Name]; ok {
			er.Local, er.RTTMillis = s.Health.Checks[i].Local, s.Health.Checks[i].RTT
		}
		out = append(out, er)
	}
	return out
}

func fetchStatus(ctx context.Context, client *http.Client, admin string) (nodeStatus, error) {
	var ns nodeStatus
	err := fetchJSON(ctx, client, admin, &ns)
	return ns, err
}

// fetchJSON decodes admin's /admin/status into v.
func fetchJSON(ctx context.Context, client *http.Client, admin string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, StatusTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, admin+"/admin/status", nil)
	if err != nil {
		return fmt.Errorf("asking %s for status: %w", admin, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("asking %s for status: %w", admin, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("reading status from %s: %w", admin, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s/admin/status answered %s", admin, resp.Status)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("decoding status from %s: %w", admin, err)
	}
	return nil
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
	if err := r.writeEdges(w); err != nil {
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

// writeEdges prints one row per edge and region, if there are edges.
func (r Report) writeEdges(w io.Writer) error {
	if len(r.Edges) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	_, _ = fmt.Fprintln(tw, "\nEDGE\tLOCATION\tREGION\tHEALTHY (MAJORITY)\tOWN PROBES\tRTT MS")
	for _, e := range r.Edges {
		if e.Error != "" {
			_, _ = fmt.Fprintf(tw, "%s\t%s\t-\t-\t-\t-\n", e.Name, e.Location)
		}
		for i, reg := range e.Regions {
			name, loc := e.Name, e.Location
			if i > 0 {
				name, loc = "", ""
			}
			_, _ = fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%.1f\n", name, loc, reg.Region, yesNo(reg.Healthy), reg.Local, reg.RTTMillis)
		}
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("writing status table: %w", err)
	}
	for _, e := range r.Edges {
		if e.Error != "" {
			if _, err := fmt.Fprintf(w, "%s: %s\n", e.Name, e.Error); err != nil {
				return fmt.Errorf("writing status table: %w", err)
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
