// Command lb benchmarks Meridian's regional load balancer against nginx
// proxying to the same backends in the same run: requests per second and
// latency percentiles with a fixed number of keep-alive clients, straight to
// the backends (the baseline for added latency), through nginx and through
// Meridian, alternated so that both proxies see the same machine. Two
// phases: in front of net/http backends (the proxies are not saturated: the
// added-latency target) and of nginx backends (the proxies are: the
// throughput target).
//
//	go run ./bench/lb -out /tmp/lb.json
//
// Backends, the balancer and nginx each run in a process of their own; the
// load generator runs in this one. See bench/README.md for the figures.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/meridian-platform/meridian/bench/internal/backends"
	"github.com/meridian-platform/meridian/bench/internal/nginx"
	"github.com/meridian-platform/meridian/bench/internal/procs"
	"github.com/meridian-platform/meridian/bench/internal/rawload"
)

// Issue 4's targets.
const (
	targetRatio    = 0.80
	targetAddedP99 = time.Millisecond
)

type options struct {
	backends    int
	concurrency int
	dur, warm   time.Duration
	rounds      int
	bodyBytes   int
	out         string
	nginx       string
	noInstall   bool
	skipNginx   bool
	backend     string
	lbProfile   string
	proxyCPUs   string
	loadCPUs    string
	role        string
	pgid        int
	targets     string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "lb bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	var o options
	fs := flag.NewFlagSet("lb", flag.ContinueOnError)
	fs.IntVar(&o.backends, "backends", 4, "backend processes' servers (one process, N listeners)")
	fs.IntVar(&o.concurrency, "c", 64, "concurrent keep-alive clients")
	fs.DurationVar(&o.dur, "duration", 10*time.Second, "measured time per run")
	fs.DurationVar(&o.warm, "warmup", time.Second, "unmeasured load before each run")
	fs.IntVar(&o.rounds, "rounds", 4, "times each of direct, nginx and Meridian is measured per phase, alternating")
	fs.IntVar(&o.bodyBytes, "body", 128, "response body size")
	fs.StringVar(&o.out, "out", "", "also write the results as JSON to this file")
	fs.StringVar(&o.nginx, "nginx", "", "nginx binary (default: from PATH or /usr/sbin/nginx)")
	fs.BoolVar(&o.noInstall, "no-install", false, "do not apt-get install nginx when it is missing")
	fs.BoolVar(&o.skipNginx, "skip-nginx", false, "measure without nginx")
	fs.StringVar(&o.backend, "backend", "go,nginx", "phases, by what serves behind the proxies: go (bench/internal/backends, net/http; the proxies are not saturated: added latency is judged) and nginx (return 200, a fraction of the CPU per request; the proxies are saturated: throughput is judged)")
	fs.StringVar(&o.lbProfile, "lb-cpuprofile", "", "write a CPU profile of the Meridian balancer process")
	fs.StringVar(&o.proxyCPUs, "proxy-cpus", "auto", "CPUs (taskset -c list) both proxies are pinned to; auto: the upper half; none: no pinning")
	fs.StringVar(&o.loadCPUs, "load-cpus", "auto", "CPUs the load generator and the backends are pinned to; auto: the lower half")
	fs.StringVar(&o.role, "role", "", "internal: run as a child (backends, meridian, guard)")
	fs.IntVar(&o.pgid, "pgid", 0, "internal: process group -role guard kills")
	fs.StringVar(&o.targets, "targets", "", "internal: backend addresses for -role meridian")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch o.role {
	case "backends":
		return backends.Serve(ctx, o.backends, o.bodyBytes)
	case "meridian":
		return serveMeridian(ctx, o)
	case "guard":
		return nginx.Guard(o.pgid)
	case "":
		return drive(ctx, o)
	}
	return fmt.Errorf("unknown role %q", o.role)
}

func drive(ctx context.Context, o options) error {
	lay, err := procs.NewLayout(o.proxyCPUs, o.loadCPUs)
	if err != nil {
		return err
	}
	if err := procs.PinSelf(lay.Load); err != nil {
		return err
	}
	fmt.Printf("lb bench: %d backends, %d clients, %v per run (+%v warm-up), %d rounds, %d B bodies, %d CPUs\n",
		o.backends, o.concurrency, o.dur, o.warm, o.rounds, o.bodyBytes, runtime.NumCPU())
	if lay.Pinned() {
		fmt.Printf("pinned: nginx (worker_processes %d) and Meridian (GOMAXPROCS %d) on CPU %s; load generator and backends on CPU %s\n",
			lay.Workers(), lay.Workers(), lay.Server, lay.Load)
	} else {
		fmt.Printf("not pinned: nginx worker_processes %d, Meridian GOMAXPROCS %d, all sharing every CPU\n",
			lay.Workers(), lay.Workers())
	}
	var reps []report
	for kind := range strings.SplitSeq(o.backend, ",") {
		if kind == "nginx" {
			if bin, err := nginxBin(ctx, o); bin == "" || err != nil {
				procs.Loud("no nginx: the nginx phase (the throughput target) is skipped")
				continue
			}
		}
		rep, err := phase(ctx, o, lay, kind)
		if err != nil {
			return err
		}
		reps = append(reps, rep)
	}
	if o.out != "" {
		b, _ := json.MarshalIndent(struct {
			Phases []report `json:"phases"`
		}{reps}, "", "  ")
		if err := os.WriteFile(o.out, b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// phase measures direct, nginx and Meridian in front of one kind of
// backends: "go" (the load generator's core is the limit, the proxies are
// not saturated: the added-latency target is judged here) or "nginx" (the
// proxies' core is the limit: the throughput target is judged here).
func phase(ctx context.Context, o options, lay procs.Layout, kind string) (report, error) {
	fmt.Printf("\n== backends: %s\n", kind)
	var loadEnv []string
	if lay.Pinned() {
		loadEnv = []string{fmt.Sprintf("GOMAXPROCS=%d", procs.CPUCount(lay.Load))}
	}
	var backendAddrs []string
	switch kind {
	case "go":
		backends, err := procs.StartChild(ctx, o.backends, lay.Prefix(lay.Load), loadEnv,
			"-role", "backends", "-backends", fmt.Sprint(o.backends), "-body", fmt.Sprint(o.bodyBytes))
		if err != nil {
			return report{}, err
		}
		defer backends.Stop()
		backendAddrs = backends.Addrs
	case "nginx":
		bin, err := nginxBin(ctx, o) // found by drive
		if err != nil {
			return report{}, err
		}
		ng, err := nginx.StartBackends(ctx, bin, o.backends, o.bodyBytes, procs.CPUCount(lay.Load), lay.Prefix(lay.Load))
		if err != nil {
			return report{}, err
		}
		defer ng.Stop()
		backendAddrs = ng.Addrs
	default:
		return report{}, fmt.Errorf("-backend %q: go or nginx", kind)
	}

	margs := []string{"-role", "meridian", "-targets", strings.Join(backendAddrs, ",")}
	if o.lbProfile != "" {
		margs = append(margs, "-lb-cpuprofile", o.lbProfile+"."+kind)
	}
	meridian, err := procs.StartChild(ctx, 1, lay.Prefix(lay.Server), []string{fmt.Sprintf("GOMAXPROCS=%d", lay.Workers())}, margs...)
	if err != nil {
		return report{}, err
	}
	defer meridian.Stop()

	targets := []target{
		{name: "direct", addrs: backendAddrs},
		{name: "meridian", addrs: meridian.Addrs, pid: meridian.Cmd.Process.Pid},
	}
	if !o.skipNginx {
		ng, err := startNginx(ctx, o, lay, backendAddrs)
		if err != nil {
			return report{}, err
		}
		if ng != nil {
			defer ng.Stop()
			targets = []target{targets[0], {name: "nginx", addrs: []string{ng.Addr}, pid: ng.Cmd.Process.Pid, children: true}, targets[1]}
		}
	}

	var results []result
	for round := 1; round <= o.rounds; round++ {
		order := targets
		if round%2 == 0 && len(targets) == 3 {
			// Alternate which proxy goes first, so that a drift in the
			// machine's load does not favour one of them.
			order = []target{targets[0], targets[2], targets[1]}
		}
		for _, t := range order {
			lt := rawload.Target{Addrs: t.addrs, Size: len(backends.Body(o.bodyBytes))}
			if _, err := rawload.Run(ctx, lt, o.concurrency, o.warm); err != nil {
				return report{}, err
			}
			var cpu0 procs.CPUUse
			if t.pid != 0 {
				cpu0 = procs.CPUTime(t.pid, t.children)
			}
			lr, err := rawload.Run(ctx, lt, o.concurrency, o.dur)
			if err != nil {
				return report{}, err
			}
			r := result{Requests: lr.Requests, Errors: lr.Errors, RPS: lr.RPS(), Elapsed: lr.Elapsed,
				P50: lr.Latency.Quantile(0.50), P99: lr.Latency.Quantile(0.99)}
			if t.pid != 0 && r.Requests > 0 {
				cpu := procs.CPUTime(t.pid, t.children).Sub(cpu0)
				perReq := func(d time.Duration) float64 { return float64(d) / 1e3 / float64(r.Requests) }
				r.CPUPerReqUs = perReq(cpu.User + cpu.Sys)
				r.SysPerReqUs = perReq(cpu.Sys)
				r.CPUCores = (cpu.User + cpu.Sys).Seconds() / r.Elapsed.Seconds()
			}
			r.Target, r.Round = t.name, round
			results = append(results, r)
			fmt.Printf("  %-8s round %d: %8.0f req/s  p50 %7.3f ms  p99 %7.3f ms  errors %d",
				t.name, round, r.RPS, ms(r.P50), ms(r.P99), r.Errors)
			if t.pid != 0 {
				fmt.Printf("  proxy CPU %5.1f us/req (kernel %4.1f) %.2f cores", r.CPUPerReqUs, r.SysPerReqUs, r.CPUCores)
			}
			fmt.Println()
		}
	}
	rep := summarize(results)
	rep.Backend = kind
	rep.print(os.Stdout)
	return rep, nil
}

type target struct {
	name     string
	addrs    []string
	pid      int  // the proxy's process, for its CPU time; 0 for direct
	children bool // count the CPU time of pid's children too (nginx workers)
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// startNginx starts the baseline proxy (nil when nginx is missing).
func startNginx(ctx context.Context, o options, lay procs.Layout, backends []string) (*nginx.Proc, error) {
	bin, err := nginxBin(ctx, o)
	if bin == "" || err != nil {
		return nil, err
	}
	return nginx.StartProxy(ctx, bin, backends, lay.Workers(), lay.Prefix(lay.Server))
}

// nginxBin finds nginx, installing the Debian package first when it is
// missing and this runs as root (unless -no-install); "" when there is none.
func nginxBin(ctx context.Context, o options) (string, error) {
	bin, err := nginx.Find(o.nginx)
	if err == nil {
		return bin, nil
	}
	if o.noInstall || os.Geteuid() != 0 {
		procs.Loud("NGINX IS NOT INSTALLED: measuring without it (apt-get install -y nginx)")
		return "", nil
	}
	procs.Loud("NGINX IS NOT INSTALLED: running apt-get install -y nginx")
	cmd := exec.CommandContext(ctx, "apt-get", "install", "-y", "nginx")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		procs.Loud("apt-get install nginx failed (%v): measuring without it", err)
		return "", nil
	}
	return nginx.Find(o.nginx)
}

type result struct {
	Target   string        `json:"target"`
	Round    int           `json:"round"`
	Requests int           `json:"requests"`
	Errors   int           `json:"errors"`
	RPS      float64       `json:"rps"`
	P50      time.Duration `json:"p50_ns"`
	P99      time.Duration `json:"p99_ns"`
	Elapsed  time.Duration `json:"elapsed_ns"`
	// CPUPerReqUs is the proxy's CPU time (user+system, all its processes)
	// per request, in microseconds; CPUCores that time over the run's.
	CPUPerReqUs float64 `json:"proxy_cpu_us_per_request,omitempty"`
	SysPerReqUs float64 `json:"proxy_kernel_cpu_us_per_request,omitempty"`
	CPUCores    float64 `json:"proxy_cpu_cores,omitempty"`
}

type summary struct {
	Target string  `json:"target"`
	RPS    float64 `json:"rps"`
	P50Ms  float64 `json:"p50_ms"`
	P99Ms  float64 `json:"p99_ms"`
	// AddedP99Ms is p99 minus the direct p99.
	AddedP99Ms  float64 `json:"added_p99_ms"`
	CPUPerReqUs float64 `json:"proxy_cpu_us_per_request,omitempty"`
}

type report struct {
	// Backend is the phase: "go" or "nginx" (see phase).
	Backend  string    `json:"backend"`
	Runs     []result  `json:"runs"`
	Summary  []summary `json:"summary"`
	Ratio    float64   `json:"rps_ratio_to_nginx,omitempty"`
	ExtraP99 float64   `json:"added_p99_vs_nginx_ms,omitempty"`
	// RoundRatios are Meridian's req/s over nginx's within each round,
	// ExtraP99s Meridian's p99 minus nginx's (the direct p99 cancels out).
	RoundRatios []float64 `json:"round_rps_ratios,omitempty"`
	ExtraP99s   []float64 `json:"round_added_p99_vs_nginx_ms,omitempty"`
	// CPURatio is nginx's CPU time per request over Meridian's.
	CPURatio float64 `json:"cpu_per_request_nginx_over_meridian,omitempty"`
}

func summarize(rs []result) report {
	rep := report{Runs: rs}
	by := map[string]*summary{}
	var order []string
	counts := map[string]int{}
	rounds := map[int]map[string]result{}
	for _, r := range rs {
		s := by[r.Target]
		if s == nil {
			s = &summary{Target: r.Target}
			by[r.Target] = s
			order = append(order, r.Target)
		}
		s.RPS += r.RPS
		s.P50Ms += ms(r.P50)
		s.P99Ms += ms(r.P99)
		s.CPUPerReqUs += r.CPUPerReqUs
		counts[r.Target]++
		if rounds[r.Round] == nil {
			rounds[r.Round] = map[string]result{}
		}
		rounds[r.Round][r.Target] = r
	}
	for _, name := range order {
		s := by[name]
		n := float64(counts[name])
		s.RPS, s.P50Ms, s.P99Ms, s.CPUPerReqUs = s.RPS/n, s.P50Ms/n, s.P99Ms/n, s.CPUPerReqUs/n
		if d := by["direct"]; d != nil && name != "direct" {
			s.AddedP99Ms = s.P99Ms - d.P99Ms
		}
		rep.Summary = append(rep.Summary, *s)
	}
	if m, ng := by["meridian"], by["nginx"]; m != nil && ng != nil {
		rep.Ratio = m.RPS / ng.RPS
		rep.ExtraP99 = m.AddedP99Ms - ng.AddedP99Ms
		if m.CPUPerReqUs > 0 {
			rep.CPURatio = ng.CPUPerReqUs / m.CPUPerReqUs
		}
		for i := 1; i <= len(rounds); i++ {
			m, okm := rounds[i]["meridian"]
			ng, okn := rounds[i]["nginx"]
			if okm && okn {
				rep.RoundRatios = append(rep.RoundRatios, m.RPS/ng.RPS)
				rep.ExtraP99s = append(rep.ExtraP99s, ms(m.P99)-ms(ng.P99))
			}
		}
	}
	return rep
}

func (rep report) print(w io.Writer) {
	fmt.Fprintln(w, "\nmean of the rounds:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\treq/s\tp50 ms\tp99 ms\tadded p99 ms\tproxy CPU us/req\t")
	for _, s := range rep.Summary {
		added, cpu := "-", "-"
		if s.Target != "direct" {
			added = fmt.Sprintf("%.3f", s.AddedP99Ms)
			cpu = fmt.Sprintf("%.1f", s.CPUPerReqUs)
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%.3f\t%.3f\t%s\t%s\t\n", s.Target, s.RPS, s.P50Ms, s.P99Ms, added, cpu)
	}
	_ = tw.Flush()
	if rep.Ratio == 0 {
		fmt.Fprintln(w, "no nginx figures: targets not evaluated")
		return
	}
	verdict := func(ok bool) string {
		if ok {
			return "MET"
		}
		return "MISSED"
	}
	list := func(xs []float64, format string) string {
		parts := make([]string, len(xs))
		for i, x := range xs {
			parts[i] = fmt.Sprintf(format, x)
		}
		return strings.Join(parts, " ")
	}
	rps := fmt.Sprintf("Meridian req/s / nginx req/s: %.2f (per round: %s)", rep.Ratio, list(rep.RoundRatios, "%.2f"))
	p99 := fmt.Sprintf("Meridian added p99 - nginx added p99: %+.3f ms (per round: %s)", rep.ExtraP99, list(rep.ExtraP99s, "%+.3f"))
	if rep.Backend == "nginx" {
		fmt.Fprintf(w, "%s (target >= %.2f: %s)\n", rps, targetRatio, verdict(rep.Ratio >= targetRatio))
		fmt.Fprintf(w, "%s (both proxies saturated: queueing, not the latency verdict; that is the go phase's)\n", p99)
	} else {
		fmt.Fprintf(w, "%s (target <= %.1f ms: %s)\n", p99, ms(targetAddedP99), verdict(rep.ExtraP99 <= ms(targetAddedP99)))
		fmt.Fprintf(w, "%s (the load generator's core is the limit: not the throughput verdict; that is the nginx phase's)\n", rps)
	}
	if rep.CPURatio > 0 {
		fmt.Fprintf(w, "CPU per request, nginx / Meridian: %.2f\n", rep.CPURatio)
	}
}
