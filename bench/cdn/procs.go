package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The process and CPU plumbing below follows bench/lb (cpu.go, main.go);
// it lives in package main there, so it is repeated here rather than
// shared.

// layout is where the processes run: the servers under test on server,
// the load generator and the origin on load. Both empty: nothing pinned.
type layout struct {
	server, load string
}

func (l layout) pinned() bool { return l.server != "" }

// workers is the servers' CPU budget: nginx's worker_processes and the
// cache's GOMAXPROCS.
func (l layout) workers() int {
	if !l.pinned() {
		return runtime.NumCPU()
	}
	return cpuCount(l.server)
}

// prefix is the taskset prefix for a command on cpus.
func (l layout) prefix(cpus string) []string {
	if cpus == "" {
		return nil
	}
	return []string{"taskset", "-c", cpus}
}

// cpuLayout decides which CPUs the servers and the load run on: with auto,
// the servers get the upper half of the machine (CPU 1 of 2) and the load
// generator the lower half, so neither server shares a core with the load
// and both get the same budget.
func cpuLayout(server, load string) (layout, error) {
	if server == "none" {
		return layout{}, nil
	}
	if _, err := exec.LookPath("taskset"); err != nil {
		fmt.Println("taskset not found (util-linux): servers and load are not pinned")
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
	if (server == "auto" || load == "auto") && n < 2 {
		fmt.Println("one CPU: servers and load are not pinned")
		return layout{}, nil
	}
	if server == "auto" {
		server = cpuList(cpus[n/2:])
	}
	if load == "auto" {
		load = cpuList(cpus[:n/2])
	}
	if cpuCount(server) == 0 || cpuCount(load) == 0 {
		return layout{}, fmt.Errorf("cpu lists %q and %q: want taskset -c lists like 1 or 2-3", server, load)
	}
	return layout{server: server, load: load}, nil
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

// clockTick is USER_HZ, the unit of /proc's CPU times (100 on every Linux
// architecture Go supports).
const clockTick = 10 * time.Millisecond

// cpuUse is CPU time spent in user space and in the kernel.
type cpuUse struct{ user, sys time.Duration }

func (c cpuUse) sub(d cpuUse) cpuUse  { return cpuUse{c.user - d.user, c.sys - d.sys} }
func (c cpuUse) total() time.Duration { return c.user + c.sys }

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

// cpusBusy is the busy time (everything but idle and iowait) of the given
// CPUs since boot, from /proc/stat's per-CPU lines; nil cpus means the
// whole machine.
func cpusBusy(cpus []int) time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	var busy int64
	for line := range strings.SplitSeq(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 9 || !strings.HasPrefix(f[0], "cpu") {
			continue
		}
		if cpus == nil {
			if f[0] != "cpu" {
				continue
			}
		} else {
			n, err := strconv.Atoi(f[0][3:])
			if err != nil || !slices.Contains(cpus, n) {
				continue
			}
		}
		for i, s := range f[1:9] { // guest time is already in user
			if i == 3 || i == 4 { // idle, iowait
				continue
			}
			v, _ := strconv.ParseInt(s, 10, 64)
			busy += v
		}
	}
	return time.Duration(busy) * clockTick
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// child is a process of this program in another role; it prints "ADDR x"
// lines when ready and exits when its stdin closes, which also happens when
// this process dies.
type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	addrs []string
}

// startChild runs this program with args, behind the pin prefix (taskset)
// when there is one, with env added to its environment, and waits for its
// want ADDR lines.
func startChild(ctx context.Context, want int, pin, env []string, args ...string) (*child, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	argv := append(append(slices.Clone(pin), self), args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %v: %w", args, err)
	}
	c := &child{cmd: cmd, stdin: stdin}
	sc := bufio.NewScanner(stdout)
	for len(c.addrs) < want && sc.Scan() {
		if a, ok := strings.CutPrefix(sc.Text(), "ADDR "); ok {
			c.addrs = append(c.addrs, a)
		}
	}
	if len(c.addrs) < want {
		c.stop()
		return nil, fmt.Errorf("child %v exited before it was ready", args)
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	return c, nil
}

func (c *child) stop() {
	_ = c.stdin.Close()
	done := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-done
	}
}

// untilStdinCloses returns a context cancelled when the parent goes away.
func untilStdinCloses(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); cancel() }()
	return ctx, cancel
}

// guardGroup is the -role guard child: when its stdin closes (the driver
// stopped or died, even by SIGKILL) it kills process group pgid, so that
// nginx's workers, which outlive a killed master, never outlive the
// benchmark.
func guardGroup(pgid int) error {
	_, _ = io.Copy(io.Discard, os.Stdin)
	if pgid > 1 {
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	}
	return nil
}
