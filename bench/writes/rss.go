package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/meridian-platform/meridian/internal/region"
	"github.com/meridian-platform/meridian/internal/topology"
)

// idleResult is the resident memory of idle region node processes.
type idleResult struct {
	// Mode is "binary" (the real `meridian region` built from cmd/meridian)
	// or "in-process child" (this program re-executed with -idle-node,
	// because the binary could not run a region node).
	Mode    string `json:"mode"`
	Command string `json:"command"`
	// Why the binary was not used, in child mode.
	Fallback string  `json:"fallback_reason,omitempty"`
	Seconds  float64 `json:"idle_seconds"`
	Data     string  `json:"data"`
	// Per node: VmRSS after idling, and VmHWM (peak RSS since start).
	RSSMB    map[string]float64 `json:"rss_mb"`
	PeakMB   map[string]float64 `json:"peak_rss_mb"`
	MaxRSSMB float64            `json:"max_rss_mb"`
}

// runIdle starts every node of topo as its own process, waits until all
// are ready, lets them idle and reads their VmRSS.
func runIdle(ctx context.Context, topo *topology.Topology, workDir string, idle time.Duration, data string, logf func(string, ...any)) (idleResult, error) {
	res := idleResult{Seconds: idle.Seconds(), Data: data, RSSMB: map[string]float64{}, PeakMB: map[string]float64{}}
	cfgPath, err := writeTopology(topo, workDir)
	if err != nil {
		return res, err
	}

	bin, reason := buildMeridian(ctx, workDir)
	if bin != "" {
		logf("idle: trying the real binary (%s region --config … --node …)", bin)
		procs, err := startIdle(ctx, topo, func(node string) *exec.Cmd {
			return exec.CommandContext(ctx, bin, "region", "--config", cfgPath, "--node", node)
		})
		if err == nil {
			res.Mode, res.Command = "binary", bin+" region --config "+cfgPath+" --node NAME"
			return measureIdle(ctx, res, procs, idle)
		}
		reason = err.Error()
	}
	logf("idle: falling back to an in-process node in a child process: %s", reason)
	self, err := os.Executable()
	if err != nil {
		return res, fmt.Errorf("finding this program: %w", err)
	}
	procs, err := startIdle(ctx, topo, func(node string) *exec.Cmd {
		return exec.CommandContext(ctx, self, "-idle-node", "-config", cfgPath, "-node", node)
	})
	if err != nil {
		return res, err
	}
	res.Mode, res.Command, res.Fallback = "in-process child", self+" -idle-node -config "+cfgPath+" -node NAME", reason
	return measureIdle(ctx, res, procs, idle)
}

// buildMeridian builds cmd/meridian into dir and checks that it has a
// `region` subcommand. It returns the binary, or why it cannot be used.
func buildMeridian(ctx context.Context, dir string) (string, string) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Sprintf("go env GOMOD: %v", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	bin := filepath.Join(dir, "meridian")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/meridian")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Sprintf("go build ./cmd/meridian: %v: %s", err, firstLine(out))
	}
	help, err := exec.CommandContext(ctx, bin, "region", "--help").CombinedOutput()
	if err != nil || !bytes.Contains(help, []byte("--config")) || !bytes.Contains(help, []byte("--node")) {
		return "", fmt.Sprintf("`meridian region --help` does not offer --config and --node (%v): %s", err, firstLine(help))
	}
	return bin, ""
}

func firstLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + " …"
	}
	return s
}

type idleProc struct {
	node   string
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	exited chan error
}

// startIdle starts one process per node and waits until each answers
// /readyz; on failure it stops those it started.
func startIdle(ctx context.Context, topo *topology.Topology, command func(node string) *exec.Cmd) ([]*idleProc, error) {
	var procs []*idleProc
	fail := func(err error) ([]*idleProc, error) {
		stopIdle(procs)
		return nil, err
	}
	for _, ref := range topo.Nodes() {
		p := &idleProc{node: ref.Node.Name, cmd: command(ref.Node.Name), stderr: &bytes.Buffer{}, exited: make(chan error, 1)}
		p.cmd.Stdout, p.cmd.Stderr = p.stderr, p.stderr
		p.cmd.Cancel = func() error { return p.cmd.Process.Signal(syscall.SIGTERM) }
		p.cmd.WaitDelay = 5 * time.Second
		if err := p.cmd.Start(); err != nil {
			return fail(fmt.Errorf("starting idle node %s: %w", p.node, err))
		}
		go func() { p.exited <- p.cmd.Wait() }()
		procs = append(procs, p)
	}
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for i, ref := range topo.Nodes() {
		p := procs[i]
		for !ready(ctx, client, ref.Node.AdminAddr()) {
			select {
			case err := <-p.exited:
				p.exited <- err
				return fail(fmt.Errorf("idle node %s exited (%v): %s", p.node, err, firstLine(p.stderr.Bytes()))) //nolint:errorlint // a clean exit has a nil error; %v prints it as <nil>
			case <-ctx.Done():
				return fail(ctx.Err())
			case <-time.After(100 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				return fail(fmt.Errorf("idle node %s not ready within 30s: %s", p.node, firstLine(p.stderr.Bytes())))
			}
		}
	}
	return procs, nil
}

func ready(ctx context.Context, client *http.Client, addr string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/readyz", nil)
	if err != nil {
		return false
	}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	_ = resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func measureIdle(ctx context.Context, res idleResult, procs []*idleProc, idle time.Duration) (idleResult, error) {
	defer stopIdle(procs)
	if !sleepUntil(ctx, time.Now().Add(idle)) {
		return res, ctx.Err()
	}
	for _, p := range procs {
		select {
		case err := <-p.exited:
			p.exited <- err
			return res, fmt.Errorf("idle node %s exited while idle (%v): %s", p.node, err, firstLine(p.stderr.Bytes())) //nolint:errorlint // a clean exit has a nil error; %v prints it as <nil>
		default:
		}
		st, err := procStatus(p.cmd.Process.Pid)
		if err != nil {
			return res, err
		}
		res.RSSMB[p.node] = st["VmRSS"]
		res.PeakMB[p.node] = st["VmHWM"]
		res.MaxRSSMB = max(res.MaxRSSMB, st["VmRSS"])
	}
	return res, nil
}

// procStatus reads the memory figures (in MB) of /proc/<pid>/status.
func procStatus(pid int) (map[string]float64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, fmt.Errorf("reading process status: %w", err)
	}
	defer func() { _ = f.Close() }()
	out := map[string]float64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		fields := strings.Fields(rest)
		if !ok || len(fields) != 2 || fields[1] != "kB" {
			continue
		}
		kb, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			continue
		}
		out[name] = kb / 1024
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading process status: %w", err)
	}
	if _, ok := out["VmRSS"]; !ok {
		return nil, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
	}
	return out, nil
}

// stopIdle asks each process to stop (SIGTERM) and waits for it, killing
// it after 10s.
func stopIdle(procs []*idleProc) {
	for _, p := range procs {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, p := range procs {
		select {
		case err := <-p.exited:
			p.exited <- err
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.exited //nolint:errcheck // killed: the exit status says only that
		}
	}
}

// runIdleNode is the -idle-node mode: one region node of the topology in
// cfgPath, in this process, until SIGINT or SIGTERM.
func runIdleNode(ctx context.Context, cfgPath, node string) error {
	topo, err := topology.Load(cfgPath)
	if err != nil {
		return err
	}
	n, err := region.New(region.Config{
		Topology: topo,
		Node:     node,
		Logger:   slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		return err
	}
	if err := n.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("idle node %s: %w", node, err)
	}
	return nil
}
