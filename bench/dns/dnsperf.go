package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/meridian-platform/meridian/bench/internal/latency"
	"github.com/meridian-platform/meridian/bench/internal/procs"
)

// perf is what one dnsperf run reports.
type perf struct {
	Sent      int64   `json:"sent"`
	Completed int64   `json:"completed"`
	Lost      int64   `json:"lost"`
	QPS       float64 `json:"qps"`
	// Latencies as dnsperf reports them (over every answer of the run).
	AvgLatency time.Duration `json:"avg_latency_ns"`
	MinLatency time.Duration `json:"min_latency_ns"`
	MaxLatency time.Duration `json:"max_latency_ns"`
	StdDev     time.Duration `json:"latency_stddev_ns"`
	ReqBytes   int           `json:"request_bytes"`
	RespBytes  int           `json:"response_bytes"`
	Rcodes     string        `json:"rcodes"`
	RunTime    time.Duration `json:"run_time_ns"`
	// P50, P99 and P999 come from -v (one line per answer), only when asked.
	P50  time.Duration `json:"p50_ns,omitempty"`
	P99  time.Duration `json:"p99_ns,omitempty"`
	P999 time.Duration `json:"p999_ns,omitempty"`
	// CPU is the CPU time dnsperf used.
	CPU time.Duration `json:"dnsperf_cpu_ns"`
}

// dnsperfRun is one invocation of dnsperf.
type dnsperfRun struct {
	bin      string
	pin      []string // taskset prefix, or nil
	input    string
	server   string // host:port
	source   string // -a
	dur      time.Duration
	clients  int
	threads  int
	inflight int
	timeout  time.Duration
	qps      int  // -Q, 0 for as fast as the server answers
	verbose  bool // -v: every answer's latency, for percentiles
}

func (r dnsperfRun) args() []string {
	host, port, _ := splitAddr(r.server)
	a := append(append([]string(nil), r.pin...), r.bin,
		"-B", "-d", r.input, "-s", host, "-p", port, "-a", r.source,
		"-l", strconv.FormatFloat(r.dur.Seconds(), 'f', -1, 64),
		"-c", strconv.Itoa(r.clients), "-T", strconv.Itoa(r.threads),
		"-q", strconv.Itoa(r.inflight),
		"-t", strconv.FormatFloat(r.timeout.Seconds(), 'f', -1, 64))
	if r.qps > 0 {
		a = append(a, "-Q", strconv.Itoa(r.qps))
	}
	if r.verbose {
		a = append(a, "-v")
	}
	return a
}

func (r dnsperfRun) run(ctx context.Context) (perf, error) {
	args := r.args()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return perf{}, err
	}
	if err := cmd.Start(); err != nil {
		return perf{}, fmt.Errorf("starting dnsperf: %w", err)
	}
	var h latency.Histogram
	var text strings.Builder
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "> ") {
			// "> NOERROR name type 0.000273", "> T ..." for a timeout.
			f := strings.Fields(line)
			if s, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil && f[1] != "T" {
				h.Record(time.Duration(s * float64(time.Second)))
			}
			continue
		}
		text.WriteString(line)
		text.WriteByte('\n')
	}
	if err := cmd.Wait(); err != nil {
		return perf{}, fmt.Errorf("dnsperf %s: %w\n%s%s", strings.Join(args, " "), err, text.String(), stderr.String())
	}
	p, err := parsePerf(text.String())
	if err != nil {
		return perf{}, fmt.Errorf("dnsperf %s: %w\n%s%s", strings.Join(args, " "), err, text.String(), stderr.String())
	}
	p.CPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	if h.Count() > 0 {
		p.P50, p.P99, p.P999 = h.Quantile(0.50), h.Quantile(0.99), h.Quantile(0.999)
	}
	return p, nil
}

var (
	reSent      = regexp.MustCompile(`Queries sent:\s+(\d+)`)
	reCompleted = regexp.MustCompile(`Queries completed:\s+(\d+)`)
	reLost      = regexp.MustCompile(`Queries lost:\s+(\d+)`)
	reQPS       = regexp.MustCompile(`Queries per second:\s+([\d.]+)`)
	reRunTime   = regexp.MustCompile(`Run time \(s\):\s+([\d.]+)`)
	reLatency   = regexp.MustCompile(`Average Latency \(s\):\s+([\d.]+) \(min ([\d.]+), max ([\d.]+)\)`)
	reStdDev    = regexp.MustCompile(`Latency StdDev \(s\):\s+([\d.]+)`)
	reSize      = regexp.MustCompile(`Average packet size:\s+request (\d+), response (\d+)`)
	reRcodes    = regexp.MustCompile(`Response codes:\s+(.*)`)
)

// parsePerf reads dnsperf's closing statistics.
func parsePerf(out string) (perf, error) {
	var p perf
	num := func(re *regexp.Regexp, i int) (float64, bool) {
		m := re.FindStringSubmatch(out)
		if m == nil {
			return 0, false
		}
		v, err := strconv.ParseFloat(m[i], 64)
		return v, err == nil
	}
	sec := func(v float64) time.Duration { return time.Duration(v * float64(time.Second)) }
	v, ok := num(reSent, 1)
	if !ok {
		return p, fmt.Errorf("no statistics in dnsperf's output")
	}
	p.Sent = int64(v)
	v, _ = num(reCompleted, 1)
	p.Completed = int64(v)
	v, _ = num(reLost, 1)
	p.Lost = int64(v)
	p.QPS, _ = num(reQPS, 1)
	v, _ = num(reRunTime, 1)
	p.RunTime = sec(v)
	if v, ok := num(reLatency, 1); ok {
		p.AvgLatency = sec(v)
		v, _ = num(reLatency, 2)
		p.MinLatency = sec(v)
		v, _ = num(reLatency, 3)
		p.MaxLatency = sec(v)
	}
	v, _ = num(reStdDev, 1)
	p.StdDev = sec(v)
	v, _ = num(reSize, 1)
	p.ReqBytes = int(v)
	v, _ = num(reSize, 2)
	p.RespBytes = int(v)
	if m := reRcodes.FindStringSubmatch(out); m != nil {
		p.Rcodes = strings.TrimSpace(m[1])
	}
	return p, nil
}

// procCPU is a process's CPU time so far (all its threads), from
// /proc/<pid>/stat.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces; count fields after ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64) // field 14, utime
	st, err2 := strconv.ParseInt(f[12], 10, 64) // field 15, stime
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	return time.Duration(ut+st) * procs.ClockTick, nil
}
