package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/meridian-platform/meridian/bench/internal/nginx"
	"github.com/meridian-platform/meridian/bench/internal/procs"
)

// startNginx starts the baseline proxy in front of the backends (nil when
// nginx is not installed: the run measures the edge alone).
func startNginx(ctx context.Context, o options, backends []string, workers int, pin []string) (*nginx.Proc, error) {
	bin, err := nginx.Find(o.nginx)
	if err != nil {
		procs.Loud("NGINX IS NOT INSTALLED: measuring without it (apt-get install -y nginx)")
		return nil, nil
	}
	return nginx.StartProxy(ctx, bin, backends, workers, pin)
}

// nginxPids are nginx's master and its workers.
func nginxPids(n *nginx.Proc) []int {
	master := n.Cmd.Process.Pid
	return append([]int{master}, childrenOf(master)...)
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
		if _, ppid := procs.ProcCPU(p); ppid == pid {
			out = append(out, p)
		}
	}
	return out
}

// cpuOf is the CPU time the processes used so far (all their threads).
func cpuOf(pids []int) time.Duration {
	var sum time.Duration
	for _, pid := range pids {
		c, _ := procs.ProcCPU(pid)
		sum += c.Total()
	}
	return sum
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
