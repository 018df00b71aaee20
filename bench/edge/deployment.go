package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/meridian-platform/meridian/internal/deploy"
	"github.com/meridian-platform/meridian/internal/edge"
	"github.com/meridian-platform/meridian/internal/health"
)

// buildMeridian builds ./cmd/meridian of this module into dir.
func buildMeridian(ctx context.Context, dir string) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "meridian")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/meridian")
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/meridian in %s: %w", root, err)
	}
	return bin, nil
}

// moduleRoot finds the directory of Meridian's go.mod above the working
// directory.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(b, []byte("module github.com/meridian-platform/meridian\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run from inside the meridian repository (no go.mod of github.com/meridian-platform/meridian above the working directory)")
		}
		dir = parent
	}
}

// upProc is a running `meridian up` in a process group of its own.
type upProc struct {
	cmd  *exec.Cmd
	dir  string
	log  *os.File
	done chan struct{}

	mu    sync.Mutex
	ready bool
}

// startUp runs `meridian up --data dir --subnet subnet` and waits until it
// says every node is ready. Its output goes to logPath.
func startUp(ctx context.Context, bin, dir, subnet, logPath string) (*upProc, error) {
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "up", "--data", dir, "--subnet", subnet, "--ready-timeout", "60s")
	// Its own process group, killed as a whole if it will not stop; its
	// children die with it (up starts them with Pdeathsig).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Stderr = lf
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		_ = lf.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		_ = lf.Close()
		return nil, fmt.Errorf("starting meridian up: %w", err)
	}
	u := &upProc{cmd: cmd, dir: dir, log: lf, done: make(chan struct{})}
	readyc := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			_, _ = fmt.Fprintln(lf, sc.Text())
			if strings.Contains(sc.Text(), "ready in") {
				u.mu.Lock()
				if !u.ready {
					u.ready = true
					close(readyc)
				}
				u.mu.Unlock()
			}
		}
	}()
	go func() { _ = cmd.Wait(); close(u.done) }()
	select {
	case <-readyc:
		return u, nil
	case <-u.done:
		u.stop()
		return nil, fmt.Errorf("meridian up exited before it was ready (%v); see %s", cmd.ProcessState, logPath)
	case <-time.After(90 * time.Second):
		u.stop()
		return nil, fmt.Errorf("meridian up not ready in 90s; see %s", logPath)
	case <-ctx.Done():
		u.stop()
		return nil, ctx.Err()
	}
}

// stop asks up to stop its nodes (SIGTERM) and kills its process group if
// it has not exited after 20 s.
func (u *upProc) stop() {
	_ = u.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-u.done:
	case <-time.After(20 * time.Second):
		_ = syscall.Kill(-u.cmd.Process.Pid, syscall.SIGKILL)
		<-u.done
	}
	_ = u.log.Close()
}

// edgeStatus asks an edge for its /admin/status.
func edgeStatus(ctx context.Context, client *http.Client, admin string) (edge.Status, error) {
	var s edge.Status
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, admin+"/admin/status", nil)
	if err != nil {
		return s, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return s, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return s, fmt.Errorf("%s/admin/status: %s", admin, resp.Status)
	}
	return s, json.NewDecoder(resp.Body).Decode(&s)
}

func checkOf(s edge.Status, id string) health.CheckStatus {
	for _, c := range s.Health.Checks {
		if c.ID == id {
			return c
		}
	}
	return health.CheckStatus{}
}

// until calls fn every 100 ms until it returns nil or timeout passes.
func until(ctx context.Context, timeout time.Duration, what string, fn func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := fn()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not after %s: %w", what, timeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// allHealthy says why not every edge sees every region node healthy, by its
// own probes and by the global verdict (as cmd/meridian's edge test waits).
func allHealthy(ctx context.Context, client *http.Client, eps deploy.Endpoints) error {
	for _, e := range eps.Edges {
		s, err := edgeStatus(ctx, client, e.Admin)
		if err != nil {
			return err
		}
		for _, n := range eps.Nodes {
			if got := checkOf(s, n.Name); got.Local != health.Healthy || got.Global != health.Healthy {
				return fmt.Errorf("%s sees %s %s (own probes %s)", e.Name, n.Name, got.Global, got.Local)
			}
		}
	}
	return nil
}

// dnsA asks server for name's A records from the client address from.
func dnsA(server, from, name string, timeout time.Duration) ([]string, error) {
	m := new(mdns.Msg)
	m.SetQuestion(mdns.Fqdn(name), mdns.TypeA)
	m.SetEdns0(1232, false)
	c := &mdns.Client{Net: "udp", Timeout: timeout,
		Dialer: &net.Dialer{LocalAddr: &net.UDPAddr{IP: net.ParseIP(from)}, Timeout: timeout}}
	r, _, err := c.Exchange(m, server)
	if err != nil {
		return nil, err
	}
	if r.Rcode != mdns.RcodeSuccess {
		return nil, fmt.Errorf("rcode %s", mdns.RcodeToString[r.Rcode])
	}
	var out []string
	for _, rr := range r.Answer {
		if a, ok := rr.(*mdns.A); ok {
			out = append(out, a.A.String())
		}
	}
	slices.Sort(out)
	return out, nil
}

// edgeCounters reads the edge proxy's counters for one region from an
// edge's /metrics: retries and upstream failures by kind.
func edgeCounters(ctx context.Context, client *http.Client, admin, region string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, admin+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	return parseCounters(string(body), region), nil
}

// parseCounters picks the edge proxy's retries, upstream failures (by kind,
// as "fail_<kind>") and ejections of region out of a Prometheus text
// exposition.
func parseCounters(body, region string) map[string]float64 {
	out := map[string]float64{}
	want := `region="` + region + `"`
	for line := range strings.SplitSeq(body, "\n") {
		if !strings.Contains(line, want) {
			continue
		}
		name, rest, ok := strings.Cut(line, "{")
		if !ok {
			continue
		}
		labels, val, ok := strings.Cut(rest, "} ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err != nil {
			continue
		}
		switch name {
		case "meridian_edge_retries_total":
			out["retries"] += v
		case "meridian_edge_upstream_failures_total":
			if _, kind, ok := strings.Cut(labels, `kind="`); ok {
				kind, _, _ = strings.Cut(kind, `"`)
				out["fail_"+kind] += v
			}
		case "meridian_edge_ejections_total":
			out["ejections"] += v
		}
	}
	return out
}
