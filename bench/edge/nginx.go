package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/meridian-platform/meridian/bench/internal/procs"
)

// nginxProc is nginx in the foreground with a config in a temp dir.
type nginxProc struct {
	cmd     *exec.Cmd
	dir     string
	addr    string
	version string
}

func findNginx(o options) (string, error) {
	if o.nginx != "" {
		return o.nginx, nil
	}
	if p, err := exec.LookPath("nginx"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
		return "/usr/sbin/nginx", nil
	}
	return "", errors.New("nginx not found")
}

func loud(format string, args ...any) {
	line := strings.Repeat("!", 78)
	fmt.Printf("%s\n!!! %s\n%s\n", line, fmt.Sprintf(format, args...), line)
}

// startNginx runs nginx in front of the backends with the config bench/lb
// uses (keep-alive both sides, the same forwarded headers the edge sets),
// workers worker processes (auto when 0), behind pin.
func startNginx(ctx context.Context, o options, backends []string, workers int, pin []string) (*nginxProc, error) {
	bin, err := findNginx(o)
	if err != nil {
		loud("NGINX IS NOT INSTALLED: measuring without it (apt-get install -y nginx)")
		return nil, nil
	}
	dir, err := os.MkdirTemp("", "edge-bench-nginx-")
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	var servers strings.Builder
	for _, b := range backends {
		fmt.Fprintf(&servers, "    server %s;\n", b)
	}
	wp := "auto"
	if workers > 0 {
		wp = strconv.Itoa(workers)
	}
	conf := fmt.Sprintf(`worker_processes %[4]s;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path %[1]s/body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;
  keepalive_requests 100000;
  upstream backends {
%[2]s    keepalive 256;
    keepalive_requests 100000;
  }
  server {
    listen %[3]s;
    location / {
      proxy_pass http://backends;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Host $host;
      proxy_next_upstream error timeout;
    }
  }
}
`, dir, servers.String(), addr, wp)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	argv := append(slices.Clone(pin), bin, "-c", path, "-p", dir, "-e", filepath.Join(dir, "error.log"), "-g", "daemon off;")
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting nginx: %w", err)
	}
	n := &nginxProc{cmd: cmd, dir: dir, addr: addr}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			n.stop()
			return nil, fmt.Errorf("nginx did not answer on %s (see %s/error.log): %v", addr, dir, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	out, _ := exec.Command(bin, "-v").CombinedOutput()
	n.version = strings.TrimSpace(string(out))
	fmt.Printf("nginx: %s (%s), worker_processes %s, keepalive 256 to the backends, on %s\n", n.version, bin, wp, addr)
	return n, nil
}

// pids are nginx's master and its workers.
func (n *nginxProc) pids() []int {
	master := n.cmd.Process.Pid
	return append([]int{master}, childrenOf(master)...)
}

func (n *nginxProc) stop() {
	_ = n.cmd.Process.Signal(syscall.SIGQUIT)
	done := make(chan struct{})
	go func() { _ = n.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = n.cmd.Process.Kill()
		<-done
	}
	_ = os.RemoveAll(n.dir)
}

// childrenOf lists the processes whose parent is pid.
func childrenOf(pid int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		f, err := statFields(p)
		if err != nil || len(f) < 2 {
			continue
		}
		if pp, _ := strconv.Atoi(f[1]); pp == pid {
			out = append(out, p)
		}
	}
	return out
}

// statFields are the fields of /proc/<pid>/stat after the command name
// (state first).
func statFields(pid int) ([]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	return strings.Fields(s[i+1:]), nil
}

// clockTicks is USER_HZ, 100 on every Linux this runs on.
const clockTicks = 100

// cpuOf is the CPU time the processes used so far (all their threads).
func cpuOf(pids []int) time.Duration {
	var sum int64
	for _, pid := range pids {
		f, err := statFields(pid)
		if err != nil || len(f) < 13 {
			continue
		}
		ut, _ := strconv.ParseInt(f[11], 10, 64) // field 14, utime
		st, _ := strconv.ParseInt(f[12], 10, 64) // field 15, stime
		sum += ut + st
	}
	return time.Duration(sum) * time.Second / clockTicks
}

// machineCPU is the busy and total CPU time of the whole machine, from
// /proc/stat.
func machineCPU() (busy, total time.Duration, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0, 0, errors.New("unexpected /proc/stat")
	}
	var sum, idle int64
	for i, s := range f[1:] {
		if i >= 8 { // guest time is already counted in user
			break
		}
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("unexpected /proc/stat: %w", err)
		}
		sum += v
		if i == 3 || i == 4 { // idle, iowait
			idle += v
		}
	}
	tick := func(v int64) time.Duration { return time.Duration(v) * time.Second / clockTicks }
	return tick(sum - idle), tick(sum), nil
}

// cpuLayout decides which CPUs the proxies and the load side (backends and
// load generator) run on; "" for both when nothing is pinned.
func cpuLayout(o options) (proxy, load string, err error) {
	if o.proxyCPUs == "none" {
		return "", "", nil
	}
	if _, err := exec.LookPath("taskset"); err != nil {
		fmt.Println("taskset not found (util-linux): nothing is pinned")
		return "", "", nil
	}
	cpus := procs.ParseCPUList(allCPUs())
	n := len(cpus)
	proxy, load = o.proxyCPUs, o.loadCPUs
	if proxy == "auto" || load == "auto" {
		if n < 2 {
			return "", "", nil
		}
	}
	if proxy == "auto" {
		proxy = procs.CPUList(cpus[n/2:])
	}
	if load == "auto" {
		load = procs.CPUList(cpus[:n/2])
	}
	if procs.CPUCount(proxy) == 0 || procs.CPUCount(load) == 0 {
		return "", "", fmt.Errorf("cpu lists %q and %q: want taskset -c lists like 1 or 2-3", proxy, load)
	}
	return proxy, load, nil
}

// allCPUs is this process's CPU affinity list from /proc/self/status, or
// 0..NumCPU-1.
func allCPUs() string {
	b, err := os.ReadFile("/proc/self/status")
	if err == nil {
		for l := range strings.SplitSeq(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "Cpus_allowed_list:"); ok {
				return strings.TrimSpace(v)
			}
		}
	}
	return fmt.Sprintf("0-%d", runtime.NumCPU()-1)
}
