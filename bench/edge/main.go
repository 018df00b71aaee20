// Command edge benchmarks Meridian's edge: how fast it fails over when a
// region dies, through the edge proxy and through DNS, and how many requests
// per second its proxy carries next to nginx proxying to the same backends
// in the same run.
//
//	go run ./bench/edge -out /tmp/edge.json                  # both
//	go run ./bench/edge -mode failover -rounds 3
//	go run ./bench/edge -mode throughput -edge-cpuprofile /tmp/edge.cpu
//
// Failover runs a real deployment (`meridian up`, built from ./cmd/meridian)
// and injects faults with internal/deploy, as `meridian chaos` does.
// Throughput runs the backends, the edge proxy (internal/edgeproxy) and
// nginx each in a process of their own, and the load generator in this one.
// See bench/README.md for the figures.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/meridian-platform/meridian/bench/internal/backends"
	"github.com/meridian-platform/meridian/bench/internal/nginx"
)

// The targets.
const (
	targetEdgeFailover = time.Second
	targetDNSFailover  = 4 * time.Second
	targetRatio        = 0.80
)

type options struct {
	mode string
	out  string

	// failover
	meridian      string
	subnet        string
	kinds         string
	rounds        int
	rate          int
	pre           time.Duration
	observe       time.Duration
	clientTimeout time.Duration
	dnsEvery      time.Duration
	keep          bool
	path          string
	verbose       bool

	// throughput
	backends    int
	concurrency int
	dur, warm   time.Duration
	tpRounds    int
	bodyBytes   int
	proxyCPUs   string
	loadCPUs    string
	nginx       string
	skipNginx   bool
	backend     string
	edgeProfile string

	// children
	role    string
	pgid    int
	targets string
	procs   int
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "edge bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	var o options
	fs := flag.NewFlagSet("edge", flag.ContinueOnError)
	fs.StringVar(&o.mode, "mode", "all", "what to measure: failover, throughput or all")
	fs.StringVar(&o.out, "out", "", "also write the results as JSON to this file")

	fs.StringVar(&o.meridian, "meridian", "", "meridian binary for failover (default: go build ./cmd/meridian into a temp dir)")
	fs.StringVar(&o.subnet, "subnet", "127.0.61", "`meridian up --subnet` for failover (the edges land on the next subnet)")
	fs.StringVar(&o.kinds, "kinds", "kill,blackhole", "failure kinds, in order: kill (SIGKILL of us-east) and blackhole (us-east partitioned from everything)")
	fs.IntVar(&o.rounds, "rounds", 3, "failover rounds per kind")
	fs.StringVar(&o.path, "path", "/healthz", "failover: the path requested: the shop instance's own /healthz, cheap and no-store, so the edge cache (which keeps /static/) cannot answer it and the latencies are the failover's, not the catalog page's rendering")
	fs.BoolVar(&o.verbose, "v", false, "failover: print each round's timeline (requests by 500 ms of sending)")
	fs.IntVar(&o.rate, "rate", 100, "failover: GET requests per second through edge-1 (open loop: a stalled request does not hold the next)")
	fs.DurationVar(&o.pre, "pre", 2*time.Second, "failover: traffic before the fault")
	fs.DurationVar(&o.observe, "observe", 12*time.Second, "failover: traffic and DNS polling after the fault")
	fs.DurationVar(&o.clientTimeout, "client-timeout", 90*time.Second, "failover: the HTTP client's timeout (above the edge's 60 s upstream timeout)")
	fs.DurationVar(&o.dnsEvery, "dns-every", 20*time.Millisecond, "failover: DNS and edge status polling interval")
	fs.BoolVar(&o.keep, "keep", false, "failover: keep the deployment's data directory")

	fs.IntVar(&o.backends, "backends", 3, "throughput: backend servers (one per region the edge knows)")
	fs.IntVar(&o.concurrency, "c", 64, "throughput: concurrent keep-alive clients")
	fs.DurationVar(&o.dur, "duration", 10*time.Second, "throughput: measured time per run")
	fs.DurationVar(&o.warm, "warmup", time.Second, "throughput: unmeasured load before each run")
	fs.IntVar(&o.tpRounds, "tp-rounds", 4, "throughput: times each of direct, nginx and edge is measured, alternating")
	fs.IntVar(&o.bodyBytes, "body", 1024, "throughput: response body size")
	fs.StringVar(&o.proxyCPUs, "proxy-cpus", "auto", "throughput: CPUs (taskset -c list) both proxies are pinned to; auto: the upper half; none: no pinning")
	fs.StringVar(&o.loadCPUs, "load-cpus", "auto", "throughput: CPUs the backends and this load generator are pinned to; auto: the lower half")
	fs.StringVar(&o.nginx, "nginx", "", "nginx binary (default: from PATH or /usr/sbin/nginx)")
	fs.BoolVar(&o.skipNginx, "skip-nginx", false, "throughput: measure without nginx")
	fs.StringVar(&o.backend, "backend", "nginx", "throughput: what serves behind the proxies: nginx (return 200, a fraction of the CPU per request, so that the proxies are saturated) or go (bench/internal/backends, net/http; the load generator's core is then the limit)")
	fs.StringVar(&o.edgeProfile, "edge-cpuprofile", "", "throughput: write a CPU profile of the edge proxy process (all its runs)")

	fs.StringVar(&o.role, "role", "", "internal: run as a child (backends, edge, guard)")
	fs.IntVar(&o.pgid, "pgid", 0, "internal: process group -role guard kills")
	fs.StringVar(&o.targets, "targets", "", "internal: backend addresses for -role edge")
	fs.IntVar(&o.procs, "procs", 0, "internal: GOMAXPROCS of a child")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.procs > 0 {
		runtime.GOMAXPROCS(o.procs)
	}
	switch o.role {
	case "backends":
		return backends.Serve(ctx, o.backends, o.bodyBytes)
	case "edge":
		return serveEdge(ctx, o)
	case "guard":
		return nginx.Guard(o.pgid)
	case "":
	default:
		return fmt.Errorf("unknown role %q", o.role)
	}
	var rep report
	rep.Started = time.Now().UTC().Format(time.RFC3339)
	rep.LoadAvg = loadavg()
	fmt.Printf("edge bench: %d CPUs, GOMAXPROCS %d, load average %s\n", runtime.NumCPU(), runtime.GOMAXPROCS(0), rep.LoadAvg)
	write := func() error {
		if o.out == "" {
			return nil
		}
		b, _ := json.MarshalIndent(rep, "", "  ")
		return os.WriteFile(o.out, b, 0o644)
	}
	if o.mode == "failover" || o.mode == "all" {
		f, err := failover(ctx, o)
		rep.Failover = f
		if f != nil {
			f.print(os.Stdout)
		}
		if err != nil {
			_ = write()
			return err
		}
	}
	if o.mode == "throughput" || o.mode == "all" {
		t, err := throughput(ctx, o)
		rep.Throughput = t
		if t != nil {
			t.print(os.Stdout)
		}
		if err != nil {
			_ = write()
			return err
		}
	}
	if o.mode != "failover" && o.mode != "throughput" && o.mode != "all" {
		return fmt.Errorf("-mode %q: want failover, throughput or all", o.mode)
	}
	return write()
}

type report struct {
	Started    string            `json:"started"`
	LoadAvg    string            `json:"load_average"`
	Failover   *failoverReport   `json:"failover,omitempty"`
	Throughput *throughputReport `json:"throughput,omitempty"`
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil || len(b) < 14 {
		return "?"
	}
	f := string(b)
	// "1.23 4.56 7.89 ..." : the three averages.
	n, sp := 0, 0
	for i, c := range f {
		if c == ' ' {
			sp++
			if sp == 3 {
				n = i
				break
			}
		}
	}
	if n == 0 {
		return "?"
	}
	return f[:n]
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

func verdict(ok bool) string {
	if ok {
		return "MET"
	}
	return "MISSED"
}
