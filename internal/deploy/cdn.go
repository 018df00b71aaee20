package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"sync"

	"github.com/meridian-platform/meridian/internal/admintoken"
	"github.com/meridian-platform/meridian/internal/cdn"
	"github.com/meridian-platform/meridian/internal/topology"
)

// EdgeInvalidation is one edge's answer to an invalidation.
type EdgeInvalidation struct {
	Edge   string                 `json:"edge"`
	Result cdn.InvalidationResult `json:"result"`
	Error  string                 `json:"error,omitempty"`
}

// Invalidate removes the objects matching paths (CloudFront patterns such
// as "/images/*") of the named distribution from every edge's cache of the
// deployment running from dir. An edge that cannot be reached is reported
// in its entry; its cache is in memory, so it holds nothing stale when it
// comes back.
func Invalidate(ctx context.Context, dir, distribution string, paths []string) ([]EdgeInvalidation, error) {
	t, err := topology.Load(filepath.Join(dir, TopologyFile))
	if err != nil {
		return nil, err
	}
	var host string
	var names []string
	for _, d := range t.CDN.Distributions {
		names = append(names, d.Name)
		if d.Name != distribution {
			continue
		}
		host = d.InvalidationHost()
	}
	if host == "" {
		return nil, fmt.Errorf("%q is not a distribution of the deployment in %s (distributions: %v)", distribution, dir, names)
	}
	token, err := adminToken(t)
	if err != nil {
		return nil, err
	}
	eps, err := ReadEndpoints(dir)
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(cdn.InvalidationRequest{Host: host, Paths: paths})
	if err != nil {
		return nil, fmt.Errorf("encoding the invalidation: %w", err)
	}
	out := make([]EdgeInvalidation, len(eps.Edges))
	var wg sync.WaitGroup
	for i, e := range eps.Edges {
		wg.Go(func() {
			out[i] = EdgeInvalidation{Edge: e.Name}
			if err := postInvalidation(ctx, e.Admin, token, body, &out[i].Result); err != nil {
				out[i].Error = err.Error()
			}
		})
	}
	wg.Wait()
	return out, nil
}

func postInvalidation(ctx context.Context, admin, token string, body []byte, res *cdn.InvalidationResult) error {
	ctx, cancel := context.WithTimeout(ctx, StatusTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, admin+"/cdn/invalidations", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	admintoken.Set(req, token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			return fmt.Errorf("%s refused the invalidation: %s", admin, e.Error)
		}
		return fmt.Errorf("%s refused the invalidation: %s", admin, resp.Status)
	}
	return json.Unmarshal(data, res)
}
