package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/meridian-platform/meridian/internal/admintoken"
	"github.com/meridian-platform/meridian/internal/topology"
)

// ApplyResult is one region node's answer to an applied group spec.
type ApplyResult struct {
	Region string `json:"region"`
	Node   string `json:"node"`
	Group  string `json:"group"`
	// Changes lists what differs from the group's previous spec, one
	// "field: old -> new" each.
	Changes []string `json:"changes"`
	// Rolling is true when instances are replaced one at a time.
	Rolling bool `json:"rolling"`
	// Converged is true when the group ran the new spec on every instance,
	// healthy, within the wait.
	Converged bool   `json:"converged"`
	Progress  string `json:"progress,omitempty"`
	// Error says why the node could not be asked or refused the spec.
	Error string `json:"error,omitempty"`
}

// Apply changes an instance group in every region of the deployment in
// dir: spec (YAML or JSON, as topology.ParseGroup reads it) must name a
// group the regions declare. The group is replaced in dir's topology file,
// so that restarted nodes and later `up` runs keep it, and then POSTed to
// every node's /admin/groups/{name}, which applies it at once (a rolling
// update when the instances' command, arguments, environment or health
// check change). wait bounds how long each node waits for its group to
// converge before answering. client nil means a client without timeout
// beyond wait. Apply returns one result per node; its error covers only
// what stopped it from asking the nodes.
func Apply(ctx context.Context, dir string, spec []byte, wait time.Duration, client *http.Client) ([]ApplyResult, error) {
	g, err := topology.ParseGroup(spec)
	if err != nil {
		return nil, err
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("resolving data directory: %w", err)
	}
	eps, err := ReadEndpoints(dir)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, TopologyFile)
	topo, err := topology.Load(path)
	if err != nil {
		return nil, err
	}
	var missing []string
	for i := range topo.Regions {
		r := &topo.Regions[i]
		found := false
		for j := range r.Groups {
			if r.Groups[j].Name == g.Name {
				r.Groups[j], found = g, true
			}
		}
		if !found {
			missing = append(missing, r.Name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("regions %s declare no group %q; new groups are added to %s (with a load balancer rule) and take effect when the nodes restart", strings.Join(missing, ", "), g.Name, path)
	}
	if err := topo.Validate(); err != nil {
		return nil, fmt.Errorf("%s with the new spec: %w", path, err)
	}
	token, err := adminToken(topo)
	if err != nil {
		return nil, err
	}
	data, err := topo.Marshal()
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(path, data, 0o644); err != nil {
		return nil, err
	}

	if client == nil {
		client = &http.Client{Timeout: wait + 30*time.Second}
	}
	results := make([]ApplyResult, len(eps.Nodes))
	var wg sync.WaitGroup
	for i, ep := range eps.Nodes {
		wg.Go(func() {
			r, err := postGroup(ctx, client, ep.Admin, token, g.Name, spec, wait)
			r.Region, r.Node, r.Group = ep.Region, ep.Name, g.Name
			if err != nil {
				r.Error = err.Error()
			}
			if r.Changes == nil {
				r.Changes = []string{}
			}
			results[i] = r
		})
	}
	wg.Wait()
	return results, nil
}

func postGroup(ctx context.Context, client *http.Client, admin, token, name string, spec []byte, wait time.Duration) (ApplyResult, error) {
	url := fmt.Sprintf("%s/admin/groups/%s?wait=%s", admin, name, wait)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(spec))
	if err != nil {
		return ApplyResult{}, fmt.Errorf("applying to %s: %w", admin, err)
	}
	req.Header.Set("Content-Type", "application/yaml")
	admintoken.Set(req, token)
	resp, err := client.Do(req)
	if err != nil {
		return ApplyResult{}, fmt.Errorf("applying to %s: %w", admin, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return ApplyResult{}, fmt.Errorf("reading the answer of %s: %w", admin, err)
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusAccepted {
		var e struct{ Error string }
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			return ApplyResult{}, errors.New(e.Error)
		}
		return ApplyResult{}, fmt.Errorf("%s answered %s: %s", url, resp.Status, bytes.TrimSpace(body))
	}
	var r ApplyResult
	if err := json.Unmarshal(body, &r); err != nil {
		return ApplyResult{}, fmt.Errorf("decoding the answer of %s: %w", admin, err)
	}
	return r, nil
}

// WriteApplyResults prints one line per node: what changed and whether
// the group converged.
func WriteApplyResults(w io.Writer, results []ApplyResult) error {
	var b strings.Builder
	for _, r := range results {
		fmt.Fprintf(&b, "%s (%s) group %s: ", r.Region, r.Node, r.Group)
		switch {
		case r.Error != "":
			fmt.Fprintf(&b, "FAILED: %s\n", r.Error)
			continue
		case len(r.Changes) == 0:
			b.WriteString("unchanged")
		default:
			b.WriteString(strings.Join(r.Changes, "; "))
			if r.Rolling {
				b.WriteString(" (rolling update)")
			}
		}
		if r.Converged {
			b.WriteString(", converged\n")
		} else {
			fmt.Fprintf(&b, ", still converging: %s\n", r.Progress)
		}
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("writing apply results: %w", err)
	}
	return nil
}
