// Package procs is the process and CPU plumbing the benchmarks share:
// pinning the server under test and the load generator to separate CPUs
// with taskset, reading CPU time from /proc, and running this program again
// as a child in another role.
//
// Imported by the programs under bench/ only.
package procs

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

// Layout is where the processes run: the servers under test on Server,
// the load generator and its helpers on Load. Both empty: nothing pinned.
type Layout struct {
	Server, Load string
}

// Pinned reports whether the layout pins anything.
func (l Layout) Pinned() bool { return l.Server != "" }

// Workers is the servers' CPU budget: nginx's worker_processes and a Go
// server's GOMAXPROCS.
func (l Layout) Workers() int {
	if !l.Pinned() {
		return runtime.NumCPU()
	}
	return CPUCount(l.Server)
}

// Prefix is the taskset prefix for a command on cpus.
func (l Layout) Prefix(cpus string) []string {
	if cpus == "" {
		return nil
	}
	return []string{"taskset", "-c", cpus}
}

// NewLayout decides which CPUs the servers and the load run on: with auto,
// the servers get the upper half of the machine (CPU 1 of 2) and the load
// the lower half, so neither server shares a core with the load and every
// server gets the same budget. server "none" pins nothing.
func NewLayout(server, load string) (Layout, error) {
	if server == "none" {
		return Layout{}, nil
	}
	if _, err := exec.LookPath("taskset"); err != nil {
		fmt.Println("taskset not found (util-linux): servers and load are not pinned")
		return Layout{}, nil
	}
	cpus, err := AllowedCPUs()
	if err != nil || len(cpus) == 0 {
		cpus = nil
		for i := range runtime.NumCPU() {
			cpus = append(cpus, i)
		}
	}
	n := len(cpus)
	if (server == "auto" || load == "auto") && n < 2 {
		fmt.Println("one CPU: servers and load are not pinned")
		return Layout{}, nil
	}
	if server == "auto" {
		server = CPUList(cpus[n/2:])
	}
	if load == "auto" {
		load = CPUList(cpus[:n/2])
	}
	if CPUCount(server) == 0 || CPUCount(load) == 0 {
		return Layout{}, fmt.Errorf("cpu lists %q and %q: want taskset -c lists like 1 or 2-3", server, load)
	}
	return Layout{Server: server, Load: load}, nil
}

// PinSelf moves every thread of this process to cpus (threads the runtime
// starts later inherit it) and sizes GOMAXPROCS to match.
func PinSelf(cpus string) error {
	if cpus == "" {
		return nil
	}
	out, err := exec.Command("taskset", "-a", "-p", "-c", cpus, strconv.Itoa(os.Getpid())).CombinedOutput()
	if err != nil {
		return fmt.Errorf("taskset -a -p -c %s: %w: %s", cpus, err, out)
	}
	runtime.GOMAXPROCS(CPUCount(cpus))
	return nil
}

// AllowedCPUs is this process's CPU affinity, from /proc/self/status.
func AllowedCPUs() ([]int, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return nil, err
	}
	for l := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "Cpus_allowed_list:"); ok {
			return ParseCPUList(strings.TrimSpace(v)), nil
		}
	}
	return nil, errors.New("no Cpus_allowed_list")
}

// ParseCPUList reads a taskset -c list such as "0,2-3"; nil when malformed.
func ParseCPUList(s string) []int {
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

// CPUCount is how many CPUs a taskset -c list names.
func CPUCount(s string) int { return len(ParseCPUList(s)) }

// CPUList writes cpus as a taskset -c list.
func CPUList(cpus []int) string {
	parts := make([]string, 0, len(cpus))
	for _, c := range cpus {
		parts = append(parts, strconv.Itoa(c))
	}
	return strings.Join(parts, ",")
}

// ClockTick is USER_HZ, the unit of /proc's CPU times (100 on every Linux
// architecture Go supports).
const ClockTick = 10 * time.Millisecond

// CPUUse is CPU time spent in user space and in the kernel.
type CPUUse struct{ User, Sys time.Duration }

// Sub is the CPU time used between d and c, d being the earlier reading.
func (c CPUUse) Sub(d CPUUse) CPUUse { return CPUUse{c.User - d.User, c.Sys - d.Sys} }

// Total is user plus system time.
func (c CPUUse) Total() time.Duration { return c.User + c.Sys }

// CPUTime is the CPU time used so far by pid and, with children, by the
// processes whose parent it is (nginx's workers).
func CPUTime(pid int, children bool) CPUUse {
	total, _ := ProcCPU(pid)
	if !children {
		return total
	}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil || p == pid {
			continue
		}
		if t, ppid := ProcCPU(p); ppid == pid {
			total.User += t.User
			total.Sys += t.Sys
		}
	}
	return total
}

// ProcCPU reads utime, stime and the parent pid from /proc/PID/stat.
func ProcCPU(pid int) (CPUUse, int) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return CPUUse{}, 0
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return CPUUse{}, 0
	}
	f := strings.Fields(string(b[i+1:])) // f[0] is field 3 (state)
	if len(f) < 13 {
		return CPUUse{}, 0
	}
	ppid, _ := strconv.Atoi(f[1])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return CPUUse{time.Duration(ut) * ClockTick, time.Duration(st) * ClockTick}, ppid
}

// CPUsBusy is the busy time (everything but idle and iowait) of the given
// CPUs since boot, from /proc/stat's per-CPU lines; nil cpus means the
// whole machine.
func CPUsBusy(cpus []int) time.Duration {
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
	return time.Duration(busy) * ClockTick
}

// Loadavg is /proc/loadavg's three averages.
func Loadavg() string {
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

// Child is a process of this program in another role. It speaks in lines:
// Send writes one to its stdin, Next reads the next one it printed. It
// exits when its stdin closes (Stop), which also happens when this process
// dies, and the kernel kills it if this process dies first (Pdeathsig).
type Child struct {
	Cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string // its stdout, closed at EOF
	// Addrs are the addresses a child started with StartChild printed.
	Addrs []string
}

// Spawn runs this program with args, behind the pin prefix (taskset) when
// there is one, with env added to its environment, and returns at once.
func Spawn(ctx context.Context, pin, env []string, args ...string) (*Child, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding this program: %w", err)
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
	c := &Child{Cmd: cmd, stdin: stdin, lines: make(chan string, 4)}
	go func() {
		defer close(c.lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 16<<20)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
	}()
	return c, nil
}

// StartChild is Spawn, then waits for the child's want "ADDR x" lines;
// every other line it prints, then or later, is ignored.
func StartChild(ctx context.Context, want int, pin, env []string, args ...string) (*Child, error) {
	c, err := Spawn(ctx, pin, env, args...)
	if err != nil {
		return nil, err
	}
	for len(c.Addrs) < want {
		line, err := c.Next(ctx, 0)
		if err != nil {
			c.Stop()
			return nil, fmt.Errorf("child %v: %w", args, err)
		}
		if a, ok := strings.CutPrefix(line, "ADDR "); ok {
			c.Addrs = append(c.Addrs, a)
		}
	}
	go func() {
		for range c.lines { // nothing more is read: keep its stdout flowing
		}
	}()
	return c, nil
}

// Next is the child's next line; timeout 0 waits as long as ctx lets it.
func (c *Child) Next(ctx context.Context, timeout time.Duration) (string, error) {
	var expire <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		expire = t.C
	}
	select {
	case line, ok := <-c.lines:
		if !ok {
			return "", errors.New("exited early (see its messages above)")
		}
		return line, nil
	case <-ctx.Done():
		return "", ctx.Err()
	case <-expire:
		return "", fmt.Errorf("no word within %s", timeout)
	}
}

// Send writes line to the child's stdin.
func (c *Child) Send(line string) error {
	_, err := io.WriteString(c.stdin, line+"\n")
	return err
}

// Stop closes the child's stdin and waits for it to exit (killing it
// after 10 s); Cmd.ProcessState then says how it exited.
func (c *Child) Stop() {
	_ = c.stdin.Close()
	done := make(chan struct{})
	go func() {
		for range c.lines { // drain, so Wait can finish
		}
		_ = c.Cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = c.Cmd.Process.Kill()
		<-done
	}
}

// UntilStdinCloses returns a context cancelled when the parent goes away.
func UntilStdinCloses(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); cancel() }()
	return ctx, cancel
}

// Loud prints a banner a reader cannot miss (a baseline missing, and so on).
func Loud(format string, args ...any) {
	line := strings.Repeat("!", 78)
	fmt.Printf("%s\n!!! %s\n%s\n", line, fmt.Sprintf(format, args...), line)
}

// MachineCPU is the busy (all but idle and iowait) and total CPU time of
// the whole machine since boot, from /proc/stat.
func MachineCPU() (busy, total time.Duration, err error) {
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
	return time.Duration(sum-idle) * ClockTick, time.Duration(sum) * ClockTick, nil
}
