package main

import (
	"context"
	"errors"
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
		nginx.Loud("NGINX IS NOT INSTALLED: measuring without it (apt-get install -y nginx)")
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
