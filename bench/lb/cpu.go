package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// layout is where the processes run: the proxies on proxy, the load
// generator and the backends on load. Both empty: nothing pinned.
type layout struct {
	proxy, load string
}

func (l layout) pinned() bool { return l.proxy != "" }

// workers is the proxies' CPU budget: nginx's worker_processes and the
// balancer's GOMAXPROCS.
func (l layout) workers() int {
	if !l.pinned() {
		return runtime.NumCPU()
	}
	return cpuCount(l.proxy)
}

// prefix is the taskset prefix for a command on cpus.
func (l layout) prefix(cpus string) []string {
	if cpus == "" {
		return nil
	}
	return []string{"taskset", "-c", cpus}
}

// cpuLayout decides which CPUs the proxies and the load run on: with auto,
// the proxies get the upper half of the machine (CPU 1 of 2) and the load
// generator and backends the lower half, so neither proxy shares a core with
// the load and both get the same budget.
func cpuLayout(proxy, load string) (layout, error) {
	if proxy == "none" {
		return layout{}, nil
	}
	if _, err := exec.LookPath("taskset"); err != nil {
		fmt.Println("taskset not found (util-linux): proxies and load are not pinned")
		return layout{}, nil
	}
	cpus, err := allowedCPUs()
	if err != nil || len(cpus) == 0 {
		cpus = nil
		for i := range runtime.NumCPU() {
			cpus = append(cpus, i)
		}
	}
	n := len(cpus)
	if (proxy == "auto" || load == "auto") && n < 2 {
		fmt.Println("one CPU: proxies and load are not pinned")
		return layout{}, nil
	}
	if proxy == "auto" {
		proxy = cpuList(cpus[n/2:])
	}
	if load == "auto" {
		load = cpuList(cpus[:n/2])
	}
	if cpuCount(proxy) == 0 || cpuCount(load) == 0 {
		return layout{}, fmt.Errorf("cpu lists %q and %q: want taskset -c lists like 1 or 2-3", proxy, load)
	}
	return layout{proxy: proxy, load: load}, nil
}

// pinSelf moves every thread of this process to cpus (threads the runtime
// starts later inherit it) and sizes GOMAXPROCS to match.
func pinSelf(cpus string) error {
	if cpus == "" {
		return nil
	}
	out, err := exec.Command("taskset", "-a", "-p", "-c", cpus, strconv.Itoa(os.Getpid())).CombinedOutput()
	if err != nil {
		return fmt.Errorf("taskset -a -p -c %s: %v: %s", cpus, err, out)
	}
	runtime.GOMAXPROCS(cpuCount(cpus))
	return nil
}

// allowedCPUs is this process's CPU affinity, from /proc/self/status.
func allowedCPUs() ([]int, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return nil, err
	}
	for l := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "Cpus_allowed_list:"); ok {
			return parseCPUList(strings.TrimSpace(v)), nil
		}
	}
	return nil, errors.New("no Cpus_allowed_list")
}

func parseCPUList(s string) []int {
	var out []int
	for part := range strings.SplitSeq(s, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			return nil
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return nil
			}
		}
		for i := a; i <= b; i++ {
			out = append(out, i)
		}
	}
	return out
}

func cpuCount(s string) int { return len(parseCPUList(s)) }

func cpuList(cpus []int) string {
	parts := make([]string, 0, len(cpus))
	for _, c := range cpus {
		parts = append(parts, strconv.Itoa(c))
	}
	return strings.Join(parts, ",")
}

// clockTick is USER_HZ, the unit of /proc/PID/stat's CPU times (100 on
// every Linux architecture Go supports).
const clockTick = 10 * time.Millisecond

// cpuUse is CPU time spent in user space and in the kernel.
type cpuUse struct{ user, sys time.Duration }

func (c cpuUse) sub(d cpuUse) cpuUse { return cpuUse{c.user - d.user, c.sys - d.sys} }

// cpuTime is the CPU time used so far by pid and, with children, by the
// processes whose parent it is (nginx's workers).
func cpuTime(pid int, children bool) cpuUse {
	total, _ := procCPU(pid)
	if !children {
		return total
	}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil || p == pid {
			continue
		}
		if t, ppid := procCPU(p); ppid == pid {
			total.user += t.user
			total.sys += t.sys
		}
	}
	return total
}

// procCPU reads utime, stime and the parent pid from /proc/PID/stat.
func procCPU(pid int) (cpuUse, int) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return cpuUse{}, 0
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return cpuUse{}, 0
	}
	f := strings.Fields(string(b[i+1:])) // f[0] is field 3 (state)
	if len(f) < 13 {
		return cpuUse{}, 0
	}
	ppid, _ := strconv.Atoi(f[1])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return cpuUse{time.Duration(ut) * clockTick, time.Duration(st) * clockTick}, ppid
}
