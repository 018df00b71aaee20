package main

import (
	"context"
	"github.com/meridian-platform/meridian/bench/internal/latency"
	"math/rand/v2"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// phase is one closed-loop load: clients goroutines, each doing one request
// at a time, for warm+dur; only requests that complete inside the last dur
// count.
type phase struct {
	name    string // "baseline", "meridian", …
	op      string // "PutItem" or "GetItem"
	clients int
	warm    time.Duration
	dur     time.Duration
	seed    uint64
	// onWindow, if set, runs when the measured window opens and closes
	// (start true, then false), e.g. to profile exactly the window.
	onWindow func(start bool)
}

// opFunc performs one request; it returns the request and response body
// sizes. It belongs to one client goroutine.
type opFunc func(ctx context.Context, rng *rand.Rand) (sent, recv int, err error)

// phaseResult is what one phase measured; it is also part of -out's JSON.
type phaseResult struct {
	Name      string  `json:"name"`
	Op        string  `json:"op"`
	Clients   int     `json:"clients"`
	Seconds   float64 `json:"seconds"`
	Ops       uint64  `json:"ops"`
	OpsPerSec float64 `json:"ops_per_sec"`
	P50ms     float64 `json:"latency_p50_ms"`
	P99ms     float64 `json:"latency_p99_ms"`
	Meanms    float64 `json:"latency_mean_ms"`
	Maxms     float64 `json:"latency_max_ms"`
	ReqBytes  float64 `json:"request_body_bytes_mean"`
	RespBytes float64 `json:"response_body_bytes_mean"`
	CPUCores  float64 `json:"process_cpu_cores"` // user+system CPU of the whole process over the window, in cores
	// OtherCPUCores is the CPU that the rest of the machine (other
	// processes) used over the window, in cores, from /proc/stat: on a
	// shared machine, the figure that says how noisy this phase was.
	OtherCPUCores float64 `json:"other_cpu_cores"`
	Errors        uint64  `json:"errors"`
	FirstError    string  `json:"first_error,omitempty"`
	// OpsPerCPUSecond is OpsPerSec over CPUCores: requests per second of
	// this process's CPU (clients and server together). Less sensitive to
	// other load on the machine than OpsPerSec.
	OpsPerCPUSecond float64 `json:"ops_per_cpu_second"`
	// CPURatioToBaseline is OpsPerCPUSecond over the bare baseline's, for
	// the same operation (Meridian phases only).
	CPURatioToBaseline float64 `json:"cpu_ratio_to_baseline,omitempty"`
	// RatioToBaseline is OpsPerSec over the bare baseline's requests/s for
	// the same operation (Meridian phases only).
	RatioToBaseline float64 `json:"ratio_to_baseline,omitempty"`
	// RatioToSDKBaseline is OpsPerSec over the SDK clients' requests/s
	// against the bare handler: the share of the SDK-bound ceiling that the
	// server's own work leaves (Meridian phases only).
	RatioToSDKBaseline float64 `json:"ratio_to_sdk_baseline,omitempty"`
}

// clientStats is one client goroutine's tally; merged after the phase.
type clientStats struct {
	lat      latency.Histogram
	sent     int64
	recv     int64
	errors   uint64
	firstErr error
}

// drive runs p with newClient(i) building the operation of client i. It
// returns early with ctx's error if ctx is cancelled.
func drive(ctx context.Context, p phase, newClient func(i int) opFunc) (phaseResult, error) {
	res := phaseResult{Name: p.name, Op: p.op, Clients: p.clients, Seconds: p.dur.Seconds()}
	begin := time.Now()
	windowStart := begin.Add(p.warm)
	end := windowStart.Add(p.dur)
	stats := make([]clientStats, p.clients)
	var wg sync.WaitGroup
	for i := range p.clients {
		op := newClient(i)
		st := &stats[i]
		rng := rand.New(rand.NewPCG(p.seed, uint64(i))) //nolint:gosec // G404: a seeded source, so runs repeat (STYLE.md)
		// Labelled so that a CPU profile tells the clients' share (and that
		// of the connection goroutines they start) from the server's:
		// go tool pprof -tagfocus side=client.
		labels := pprof.Labels("side", "client", "phase", p.name+" "+p.op)
		wg.Go(func() {
			pprof.Do(ctx, labels, func(ctx context.Context) { loop(ctx, op, rng, st, windowStart, end) })
		})
	}

	// Measure the process's CPU over exactly the window.
	var cpu0, cpu1, m0, m1 time.Duration
	var w0, w1 time.Time
	if sleepUntil(ctx, windowStart) {
		w0, cpu0, m0 = time.Now(), processCPU(), machineCPU()
		if p.onWindow != nil {
			p.onWindow(true)
		}
		if sleepUntil(ctx, end) {
			w1, cpu1, m1 = time.Now(), processCPU(), machineCPU()
		}
		if p.onWindow != nil {
			p.onWindow(false)
		}
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return res, err
	}
	if wall := w1.Sub(w0); wall > 0 {
		res.CPUCores = float64(cpu1-cpu0) / float64(wall)
		if m0 > 0 && m1 > 0 {
			res.OtherCPUCores = max(float64(m1-m0-(cpu1-cpu0))/float64(wall), 0)
		}
	}

	var all latency.Histogram
	var sent, recv int64
	for i := range stats {
		st := &stats[i]
		all.Merge(&st.lat)
		sent += st.sent
		recv += st.recv
		res.Errors += st.errors
		if st.firstErr != nil && res.FirstError == "" {
			res.FirstError = st.firstErr.Error()
		}
	}
	res.Ops = all.Count()
	res.OpsPerSec = float64(all.Count()) / p.dur.Seconds()
	res.P50ms = ms(all.Quantile(0.50))
	res.P99ms = ms(all.Quantile(0.99))
	res.Meanms = ms(all.Mean())
	res.Maxms = ms(all.Max())
	if res.CPUCores > 0 {
		res.OpsPerCPUSecond = res.OpsPerSec / res.CPUCores
	}
	if all.Count() > 0 {
		res.ReqBytes = float64(sent) / float64(all.Count())
		res.RespBytes = float64(recv) / float64(all.Count())
	}
	return res, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// sleepUntil sleeps until t and reports whether ctx is still live.
func sleepUntil(ctx context.Context, t time.Time) bool {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

// machineCPU is the busy CPU time of the whole machine (all but idle and
// iowait in /proc/stat's first line), or 0 where it cannot be read.
func machineCPU() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0
	}
	var busy int64
	for i, v := range f[1:] {
		if i == 3 || i == 4 || i >= 8 { // idle, iowait; guest time is already in user
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0
		}
		busy += n
	}
	return time.Duration(busy) * time.Second / userHZ
}

// userHZ is the unit of /proc/stat: 100 ticks a second on every Linux
// architecture Go supports.
const userHZ = 100

// processCPU is the user plus system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loop is one client: one request at a time until end, tallying into st the
// requests that complete inside [windowStart, end].
func loop(ctx context.Context, op opFunc, rng *rand.Rand, st *clientStats, windowStart, end time.Time) {
	for ctx.Err() == nil {
		t0 := time.Now()
		if !t0.Before(end) {
			return
		}
		sent, recv, err := op(ctx, rng)
		t1 := time.Now()
		if err != nil {
			st.errors++
			if st.firstErr == nil {
				st.firstErr = err
			}
			continue
		}
		if t1.Before(windowStart) || t1.After(end) {
			continue
		}
		st.lat.Record(t1.Sub(t0))
		st.sent += int64(sent)
		st.recv += int64(recv)
	}
}
