package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"runtime/pprof"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meridian-platform/meridian/bench/internal/backends"
	"github.com/meridian-platform/meridian/bench/internal/nginx"
	"github.com/meridian-platform/meridian/bench/internal/procs"
	"github.com/meridian-platform/meridian/bench/internal/rawload"
	"github.com/meridian-platform/meridian/internal/edgeproxy"
)

// regionIDs name the backends as the edge's regions.
var regionIDs = []string{"us-east", "eu-west", "ap-south", "us-west", "eu-central", "ap-east"}

// serveEdge runs the edge proxy in front of the backends, one region each,
// as an edge process builds it: a health source and measured RTTs read on
// every request (every region healthy, all within the 5 ms latency
// tolerance, so they share the traffic as nginx's round robin does),
// metrics on a registry, warnings logged.
func serveEdge(ctx context.Context, o options) error {
	ctx, cancel := procs.UntilStdinCloses(ctx)
	defer cancel()
	targets := strings.Split(o.targets, ",")
	if len(targets) > len(regionIDs) {
		return fmt.Errorf("at most %d backends", len(regionIDs))
	}
	rtt := map[string]time.Duration{}
	var regions []edgeproxy.Region
	for i, addr := range targets {
		id := regionIDs[i]
		regions = append(regions, edgeproxy.Region{ID: id, URL: "http://" + addr, HealthCheck: id})
		rtt[id] = time.Duration(i+1) * time.Millisecond
	}
	p, err := edgeproxy.New(edgeproxy.Config{
		Name:       "edge-bench",
		Regions:    regions,
		Health:     edgeproxy.HealthFunc(func(string) (bool, bool) { return true, true }),
		RTT:        edgeproxy.RTTFunc(func(r string) (time.Duration, bool) { d, ok := rtt[r]; return d, ok }),
		Logger:     slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Registerer: prometheus.NewRegistry(),
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	if o.edgeProfile != "" {
		f, err := os.Create(o.edgeProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer func() { pprof.StopCPUProfile(); _ = f.Close() }()
	}
	fmt.Println("ADDR", ln.Addr().String())
	return p.Serve(ctx, ln)
}

type proxyTarget struct {
	name  string
	addrs []string
	pids  func() []int // the processes whose CPU counts as the proxy's
}

// throughput measures direct, nginx and the edge proxy with the same
// load, alternating.
func throughput(ctx context.Context, o options) (*throughputReport, error) {
	proxyCPUs, loadCPUs, err := cpuLayout(o)
	if err != nil {
		return nil, err
	}
	ncpu := float64(max(procs.CPUCount(allCPUs()), 1)) // before pinning this process
	workers := 0
	var proxyPin, loadPin []string
	if proxyCPUs != "" {
		workers = procs.CPUCount(proxyCPUs)
		proxyPin = []string{"taskset", "-c", proxyCPUs}
		loadPin = []string{"taskset", "-c", loadCPUs}
		// This process is the load generator: all its threads on the
		// load CPUs.
		if out, err := exec.Command("taskset", "-a", "-p", "-c", loadCPUs, strconv.Itoa(os.Getpid())).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("pinning the load generator: %w: %s", err, out)
		}
	}
	rep := &throughputReport{Backends: o.backends, Clients: o.concurrency, BodyBytes: o.bodyBytes,
		Duration: o.dur.String(), ProxyCPUs: proxyCPUs, LoadCPUs: loadCPUs}
	if proxyCPUs != "" {
		fmt.Printf("\nthroughput: both proxies pinned to CPU %s (edge GOMAXPROCS %d, nginx worker_processes %d); backends and load generator to CPU %s\n",
			proxyCPUs, workers, workers, loadCPUs)
	} else {
		fmt.Println("\nthroughput: no pinning (edge GOMAXPROCS = all CPUs, nginx worker_processes auto)")
	}
	fmt.Printf("%d %s backends (%d B bodies), %d keep-alive clients, %v per run (+%v warm-up), %d rounds, Host: %s\n",
		o.backends, o.backend, o.bodyBytes, o.concurrency, o.dur, o.warm, o.tpRounds, shopHost)

	var backendAddrs []string
	var backendPids func() []int // load-side processes, for their CPU
	var nginxBin string
	if o.backend == "nginx" {
		if nginxBin, err = nginx.Find(o.nginx); err != nil {
			procs.Loud("NGINX IS NOT INSTALLED: go backends, the edge is not saturated (apt-get install -y nginx)")
			o.backend = "go"
		}
	}
	switch o.backend {
	case "go":
		backends, err := procs.StartChild(ctx, o.backends, loadPin, nil, "-role", "backends", "-backends", strconv.Itoa(o.backends),
			"-body", strconv.Itoa(o.bodyBytes))
		if err != nil {
			return rep, err
		}
		defer backends.Stop()
		backendAddrs = backends.Addrs
		backendPids = func() []int { return []int{backends.Cmd.Process.Pid} }
	case "nginx":
		ng, err := nginx.StartBackends(ctx, nginxBin, o.backends, o.bodyBytes, procs.CPUCount(loadCPUs), loadPin)
		if err != nil {
			return rep, err
		}
		defer ng.Stop()
		backendAddrs = ng.Addrs
		backendPids = func() []int { return nginxPids(ng) }
	default:
		return rep, fmt.Errorf("-backend %q: go or nginx", o.backend)
	}
	rep.Backend = o.backend
	eargs := []string{"-role", "edge", "-targets", strings.Join(backendAddrs, ",")}
	if workers > 0 {
		eargs = append(eargs, "-procs", strconv.Itoa(workers))
	}
	if o.edgeProfile != "" {
		eargs = append(eargs, "-edge-cpuprofile", o.edgeProfile)
	}
	edgeProc, err := procs.StartChild(ctx, 1, proxyPin, nil, eargs...)
	if err != nil {
		return rep, err
	}
	defer edgeProc.Stop()

	targets := []proxyTarget{
		{name: "direct", addrs: backendAddrs},
		{name: "edge", addrs: edgeProc.Addrs, pids: func() []int { return []int{edgeProc.Cmd.Process.Pid} }},
	}
	if !o.skipNginx {
		ng, err := startNginx(ctx, o, backendAddrs, workers, proxyPin)
		if err != nil {
			return rep, err
		}
		if ng != nil {
			defer ng.Stop()
			rep.Nginx = ng.Version
			targets = []proxyTarget{targets[0], {name: "nginx", addrs: []string{ng.Addr}, pids: func() []int { return nginxPids(ng) }}, targets[1]}
		}
	}
	self := os.Getpid()
	for round := 1; round <= o.tpRounds; round++ {
		order := targets
		if round%2 == 0 && len(targets) == 3 {
			// Alternate which proxy goes first, so that a drift in the
			// machine's load does not favour one of them.
			order = []proxyTarget{targets[0], targets[2], targets[1]}
		}
		for _, t := range order {
			if _, err := load(ctx, t.addrs, o.bodyBytes, o.concurrency, o.warm); err != nil {
				return rep, err
			}
			var pids []int
			if t.pids != nil {
				pids = t.pids()
			}
			cpu0 := cpuOf(pids)
			load0 := cpuOf(append(backendPids(), self))
			busy0, total0, _ := procs.MachineCPU()
			r, err := load(ctx, t.addrs, o.bodyBytes, o.concurrency, o.dur)
			if err != nil {
				return rep, err
			}
			el := r.elapsed.Seconds()
			busy1, total1, _ := procs.MachineCPU()
			r.ProxyCores = (cpuOf(pids) - cpu0).Seconds() / el
			r.LoadCores = (cpuOf(append(backendPids(), self)) - load0).Seconds() / el
			if total1 > total0 {
				r.OtherCores = max(0, (busy1-busy0).Seconds()/(total1-total0).Seconds()*ncpu-r.ProxyCores-r.LoadCores)
			}
			if r.ProxyCores > 0 {
				r.PerCore = r.RPS / r.ProxyCores
			}
			r.Target, r.Round = t.name, round
			rep.Runs = append(rep.Runs, r)
			fmt.Printf("  %-6s round %d: %8.0f req/s  p50 %6.2f ms  p99 %6.2f ms  errors %d  proxy %.2f cores (%.0f req/core-s)  load %.2f  others %.2f\n",
				t.name, round, r.RPS, ms(r.P50), ms(r.P99), r.Errors, r.ProxyCores, r.PerCore, r.LoadCores, r.OtherCores)
		}
	}
	rep.summarize()
	return rep, nil
}

type tpResult struct {
	Target     string        `json:"target"`
	Round      int           `json:"round"`
	Requests   int           `json:"requests"`
	Errors     int           `json:"errors"`
	RPS        float64       `json:"rps"`
	P50        time.Duration `json:"p50_ns"`
	P99        time.Duration `json:"p99_ns"`
	ProxyCores float64       `json:"proxy_cores"`
	PerCore    float64       `json:"rps_per_proxy_core"`
	LoadCores  float64       `json:"load_cores"`
	OtherCores float64       `json:"other_cores"`
	elapsed    time.Duration
}

// load runs the load generator (bench/internal/rawload) with the shop's
// Host, as clients of an edge send it.
func load(ctx context.Context, addrs []string, bodyBytes, c int, d time.Duration) (tpResult, error) {
	r, err := rawload.Run(ctx, rawload.Target{Addrs: addrs, Host: shopHost, Size: len(backends.Body(bodyBytes))}, c, d)
	if err != nil {
		return tpResult{}, err
	}
	return tpResult{Requests: r.Requests, Errors: r.Errors, RPS: r.RPS(), elapsed: r.Elapsed,
		P50: r.Latency.Quantile(0.50), P99: r.Latency.Quantile(0.99)}, nil
}

type tpSummary struct {
	Target     string  `json:"target"`
	RPS        float64 `json:"rps"`
	P50Ms      float64 `json:"p50_ms"`
	P99Ms      float64 `json:"p99_ms"`
	ProxyCores float64 `json:"proxy_cores"`
	PerCore    float64 `json:"rps_per_proxy_core"`
}

type throughputReport struct {
	Backends  int         `json:"backends"`
	Backend   string      `json:"backend"`
	Clients   int         `json:"clients"`
	BodyBytes int         `json:"body_bytes"`
	Duration  string      `json:"duration"`
	ProxyCPUs string      `json:"proxy_cpus"`
	LoadCPUs  string      `json:"load_cpus"`
	Nginx     string      `json:"nginx,omitempty"`
	Runs      []tpResult  `json:"runs"`
	Summary   []tpSummary `json:"summary"`
	// Ratio is edge req/s ÷ nginx req/s (means of the rounds); RoundRatios
	// per round; PerCoreRatio the same per core of proxy CPU.
	Ratio        float64   `json:"rps_ratio_to_nginx,omitempty"`
	RoundRatios  []float64 `json:"round_ratios,omitempty"`
	PerCoreRatio float64   `json:"per_core_ratio_to_nginx,omitempty"`
}

func (rep *throughputReport) summarize() {
	by := map[string]*tpSummary{}
	counts := map[string]int{}
	var order []string
	perRound := map[int]map[string]float64{}
	for _, r := range rep.Runs {
		s := by[r.Target]
		if s == nil {
			s = &tpSummary{Target: r.Target}
			by[r.Target] = s
			order = append(order, r.Target)
		}
		s.RPS += r.RPS
		s.P50Ms += ms(r.P50)
		s.P99Ms += ms(r.P99)
		s.ProxyCores += r.ProxyCores
		counts[r.Target]++
		if perRound[r.Round] == nil {
			perRound[r.Round] = map[string]float64{}
		}
		perRound[r.Round][r.Target] = r.RPS
	}
	for _, name := range order {
		s := by[name]
		n := float64(counts[name])
		s.RPS, s.P50Ms, s.P99Ms, s.ProxyCores = s.RPS/n, s.P50Ms/n, s.P99Ms/n, s.ProxyCores/n
		if s.ProxyCores > 0 {
			s.PerCore = s.RPS / s.ProxyCores
		}
		rep.Summary = append(rep.Summary, *s)
	}
	e, ng := by["edge"], by["nginx"]
	if e == nil || ng == nil {
		return
	}
	rep.Ratio = e.RPS / ng.RPS
	if ng.PerCore > 0 {
		rep.PerCoreRatio = e.PerCore / ng.PerCore
	}
	for round := 1; perRound[round] != nil; round++ {
		if ng := perRound[round]["nginx"]; ng > 0 {
			rep.RoundRatios = append(rep.RoundRatios, perRound[round]["edge"]/ng)
		}
	}
}

func (rep *throughputReport) print(w io.Writer) {
	fmt.Fprintln(w, "\nthroughput, mean of the rounds:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\treq/s\tp50 ms\tp99 ms\tproxy cores\treq/s per proxy core\t")
	for _, s := range rep.Summary {
		fmt.Fprintf(tw, "%s\t%.0f\t%.2f\t%.2f\t%.2f\t%.0f\t\n", s.Target, s.RPS, s.P50Ms, s.P99Ms, s.ProxyCores, s.PerCore)
	}
	_ = tw.Flush()
	if rep.Ratio == 0 {
		fmt.Fprintln(w, "no nginx figures: target not evaluated")
		return
	}
	judged := fmt.Sprintf("target >= %.2f: %s", targetRatio, verdict(rep.Ratio >= targetRatio))
	if rep.Backend != "nginx" {
		judged = "the load generator's core is the limit: the target is judged with -backend nginx"
	}
	fmt.Fprintf(w, "edge req/s / nginx req/s: %.2f (rounds %s; %s); per proxy core: %.2f\n",
		rep.Ratio, fmtRatios(rep.RoundRatios), judged, rep.PerCoreRatio)
}

func fmtRatios(rs []float64) string {
	var parts []string
	for _, r := range rs {
		parts = append(parts, fmt.Sprintf("%.2f", r))
	}
	return strings.Join(parts, ", ")
}
