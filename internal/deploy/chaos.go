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
	"sync"
	"syscall"

	"github.com/meridian-platform/meridian/internal/admintoken"
	"github.com/meridian-platform/meridian/internal/chaos"
	"github.com/meridian-platform/meridian/internal/topology"
)

// Inject changes the fault state of the deployment running from dir: it
// applies change to the saved state, saves it, and pushes it to every
// running node and edge. The state file is the truth: a process that
// cannot be reached (it is down) reads it when it starts; those are
// returned as warnings, not errors.
func Inject(ctx context.Context, dir string, change func(*chaos.State)) (chaos.State, []error, error) {
	t, err := topology.Load(filepath.Join(dir, TopologyFile))
	if err != nil {
		return chaos.State{}, nil, err
	}
	eps, err := ReadEndpoints(dir)
	if err != nil {
		return chaos.State{}, nil, err
	}
	st, err := chaos.Load(dir)
	if err != nil {
		return chaos.State{}, nil, err
	}
	change(&st)
	if err := st.Validate(t); err != nil {
		return chaos.State{}, nil, err
	}
	token, err := adminToken(t)
	if err != nil {
		return chaos.State{}, nil, err
	}
	if err := chaos.Save(dir, st); err != nil {
		return chaos.State{}, nil, err
	}
	body, err := json.Marshal(st)
	if err != nil {
		return chaos.State{}, nil, fmt.Errorf("encoding chaos state: %w", err)
	}
	var admins []string
	for _, n := range eps.Nodes {
		admins = append(admins, n.Admin)
	}
	for _, e := range eps.Edges {
		admins = append(admins, e.Admin)
	}
	var (
		mu       sync.Mutex
		warnings []error
		wg       sync.WaitGroup
	)
	for _, admin := range admins {
		wg.Go(func() {
			if err := push(ctx, admin, token, body); err != nil {
				mu.Lock()
				warnings = append(warnings, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return st, warnings, nil
}

func push(ctx context.Context, admin, token string, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, StatusTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, admin+"/admin/chaos", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("pushing chaos state to %s: %w", admin, err)
	}
	req.Header.Set("Content-Type", "application/json")
	admintoken.Set(req, token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("pushing chaos state to %s (it reads the state when it starts): %w", admin, err)
	}
	defer func() { _ = resp.Body.Close() }()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s refused the chaos state: %s %s", admin, resp.Status, bytes.TrimSpace(msg))
	}
	return nil
}

// Kill holds name (a node, an edge, or every node of a region) down and
// kills its processes with SIGKILL, as a crash would; `up` does not
// restart them until Restart.
func Kill(ctx context.Context, dir, name string) ([]string, error) {
	names, err := expand(dir, name)
	if err != nil {
		return nil, err
	}
	if _, _, err := Inject(ctx, dir, func(s *chaos.State) {
		for _, n := range names {
			s.Stop(n)
		}
	}); err != nil {
		return nil, err
	}
	return names, signal(dir, names, syscall.SIGKILL)
}

// Restart lets name's processes run again: ones held down by Kill start,
// and running ones are stopped with SIGTERM for `up` to start afresh.
func Restart(ctx context.Context, dir, name string) ([]string, error) {
	names, err := expand(dir, name)
	if err != nil {
		return nil, err
	}
	before, err := chaos.Load(dir)
	if err != nil {
		return nil, err
	}
	if _, _, err := Inject(ctx, dir, func(s *chaos.State) {
		for _, n := range names {
			s.Start(n)
		}
	}); err != nil {
		return nil, err
	}
	var running []string
	for _, n := range names {
		if !before.IsStopped(n) {
			running = append(running, n)
		}
	}
	return names, signal(dir, running, syscall.SIGTERM)
}

func expand(dir, name string) ([]string, error) {
	t, err := topology.Load(filepath.Join(dir, TopologyFile))
	if err != nil {
		return nil, err
	}
	names := chaos.Expand(t, name)
	if len(names) == 0 {
		return nil, fmt.Errorf("%q is not a node, edge or region of the deployment in %s (%v)", name, dir, chaos.Names(t))
	}
	return names, nil
}

// signal sends sig to the processes of names as endpoints.json lists them.
func signal(dir string, names []string, sig syscall.Signal) error {
	eps, err := ReadEndpoints(dir)
	if err != nil {
		return err
	}
	pids := map[string]int{}
	for _, n := range eps.Nodes {
		pids[n.Name] = n.PID
	}
	for _, e := range eps.Edges {
		pids[e.Name] = e.PID
	}
	var errs []error
	for _, n := range names {
		pid := pids[n]
		if pid <= 0 {
			continue // not running right now
		}
		if err := syscall.Kill(pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
			errs = append(errs, fmt.Errorf("signalling %s (pid %d): %w", n, pid, err))
		}
	}
	return errors.Join(errs...)
}
