// Command dns benchmarks Meridian's authoritative DNS server (internal/dns)
// against Knot DNS serving the equivalent zone in the same run: queries per
// second and latency measured with dnsperf over UDP, the two servers
// alternated so that both see the same machine.
//
//	go run ./bench/dns -out /tmp/dns.json
//
// dnsperf and knotd are Debian packages (apt-get install -y dnsperf knot);
// the program says so when they are missing. Meridian's server runs in a
// child process of this program, Knot in its own; both are pinned to the
// same CPUs (taskset) and dnsperf to the others. -experiments adds the
// same handler served over UDP in other ways (experiment.go), measured
// alongside. See bench/README.md for the figures.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/meridian-platform/meridian/bench/internal/procs"
)

// The target: Meridian's queries per second at least half Knot's.
const targetRatio = 0.50

const installHint = "apt-get update && apt-get install -y dnsperf knot"

type options struct {
	dur, warm    time.Duration
	rounds       int
	hosts        int
	queries      int
	edns, ecs    float64
	clients      int
	inflight     int
	timeout      time.Duration
	latQPS       int
	latDur       time.Duration
	serverCPUs   string
	dnsperfCPUs  string
	ipPrefix     string
	source       string
	rrl          bool
	skipKnot     bool
	knotd        string
	dnsperf      string
	out          string
	cpuprofile   string
	seed         uint64
	keep         bool
	role, addr   string
	experiments  string
	experiment   string
	verifyLimit  int
	skipMeridian bool
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "dns bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	var o options
	fs := flag.NewFlagSet("dns", flag.ContinueOnError)
	fs.DurationVar(&o.dur, "duration", 12*time.Second, "measured dnsperf time per server and round")
	fs.DurationVar(&o.warm, "warmup", 2*time.Second, "unmeasured dnsperf load before each measured run")
	fs.IntVar(&o.rounds, "rounds", 2, "times each server is measured, alternating Knot and Meridian")
	fs.IntVar(&o.hosts, "zone-hosts", 200, "hosts in the zone (A records; a third with AAAA, a fifth with TXT; aliases and SRV records scale with it)")
	fs.IntVar(&o.queries, "queries", 100000, "queries in dnsperf's input (it cycles through them)")
	fs.Float64Var(&o.edns, "edns", 0.7, "share of queries with EDNS0 (1232 B)")
	fs.Float64Var(&o.ecs, "ecs", 0.4, "share of the EDNS0 queries that also carry EDNS Client Subnet")
	fs.IntVar(&o.clients, "c", 16, "dnsperf -c: client sockets")
	fs.IntVar(&o.inflight, "q", 200, "dnsperf -q: queries outstanding")
	fs.DurationVar(&o.timeout, "t", 2*time.Second, "dnsperf -t: a query unanswered this long counts as lost")
	fs.IntVar(&o.latQPS, "latency-qps", 0, "fixed rate (dnsperf -Q) of the latency phase; 0: half the slower server's throughput; -1: skip the phase")
	fs.DurationVar(&o.latDur, "latency-duration", 5*time.Second, "length of each server's latency phase")
	fs.StringVar(&o.serverCPUs, "server-cpus", "auto", "CPUs (taskset -c list) both servers are pinned to; auto: the upper half; none: no pinning")
	fs.StringVar(&o.dnsperfCPUs, "dnsperf-cpus", "auto", "CPUs dnsperf is pinned to; auto: the lower half")
	fs.StringVar(&o.ipPrefix, "hosts", "127.0.53", "loopback /24 for the servers: Meridian on .1, Knot on .2, Meridian with RRL on .3")
	fs.StringVar(&o.source, "source", "127.0.10.1", "dnsperf's source address (127.0.10.0/24 is North America in Meridian's default client networks)")
	fs.BoolVar(&o.rrl, "rrl", false, "also measure Meridian with its response rate limiting on (defaults: 100/s per /24)")
	fs.BoolVar(&o.skipKnot, "skip-knot", false, "measure Meridian only")
	fs.BoolVar(&o.skipMeridian, "skip-meridian", false, "measure Knot only")
	fs.StringVar(&o.knotd, "knotd", "", "knotd binary (default: from PATH or /usr/sbin/knotd)")
	fs.StringVar(&o.dnsperf, "dnsperf", "", "dnsperf binary (default: from PATH)")
	fs.StringVar(&o.out, "out", "", "also write the results as JSON to this file")
	fs.StringVar(&o.cpuprofile, "cpuprofile", "", "write a CPU profile of Meridian's server process (its whole life) to this file")
	fs.Uint64Var(&o.seed, "seed", 1, "seed of the query mix and of Meridian's weighted/multivalue choices")
	fs.BoolVar(&o.keep, "keep", false, "keep the scratch directory (zone file, Knot config, dnsperf input)")
	fs.IntVar(&o.verifyLimit, "verify", 2000, "distinct queries compared between the two servers before measuring; 0 skips")
	fs.StringVar(&o.experiments, "experiments", "", "also measure Meridian's handler served over UDP in other ways, comma-separated: plain (internal/dns's workers, one datagram per system call), pool (ServeDNS from this program's own goroutine pool: general path, no batching, no fast path)")
	fs.StringVar(&o.experiment, "experiment", "", "internal: the experiment for -role meridian")
	fs.StringVar(&o.role, "role", "", "internal: run as a child (meridian)")
	fs.StringVar(&o.addr, "addr", "", "internal: address for -role meridian")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch o.role {
	case "meridian":
		return serveMeridian(ctx, o)
	case "":
		return drive(ctx, o)
	}
	return fmt.Errorf("unknown role %q", o.role)
}

// server is one server under test.
type server struct {
	name string
	addr string
	pid  func() int
	stop func()
}

func drive(ctx context.Context, o options) error {
	dnsperfBin := o.dnsperf
	if dnsperfBin == "" {
		p, err := exec.LookPath("dnsperf")
		if err != nil {
			procs.Loud("DNSPERF IS NOT INSTALLED: %s", installHint)
			return errors.New("dnsperf not found: install it with: " + installHint)
		}
		dnsperfBin = p
	}
	var knotBin string
	if !o.skipKnot {
		p, err := findKnot(o)
		if err != nil {
			procs.Loud("KNOT IS NOT INSTALLED: %s (or -skip-knot to measure without it)", installHint)
			return errors.New("knotd not found: install it with: " + installHint)
		}
		knotBin = p
	}
	srvCPUs, perfCPUs, err := cpuLayout(o)
	if err != nil {
		return err
	}
	workers := runtime.NumCPU()
	var srvPin, perfPin []string
	if srvCPUs != "" {
		workers = procs.CPUCount(srvCPUs)
		srvPin = []string{"taskset", "-c", srvCPUs}
		perfPin = []string{"taskset", "-c", perfCPUs}
	}
	perfThreads := runtime.NumCPU()
	if perfCPUs != "" {
		perfThreads = procs.CPUCount(perfCPUs)
	}

	dir, err := os.MkdirTemp("", "dns-bench-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Println("scratch directory:", dir)
	} else {
		defer func() { _ = os.RemoveAll(dir) }()
	}
	z := buildZone(o.hosts)
	qs := makeQueries(o.queries, o.hosts, o.edns, o.ecs, o.seed)
	input, err := dnsperfInput(qs)
	if err != nil {
		return err
	}
	inputPath := filepath.Join(dir, "queries.bin")
	if err := os.WriteFile(inputPath, input, 0o644); err != nil {
		return err
	}
	if o.keep {
		_ = os.WriteFile(filepath.Join(dir, "meridian.test.zone"), []byte(z.zoneFile()), 0o644)
	}
	sets, rrs := z.records()
	perfVersion := ""
	if b, err := exec.Command(dnsperfBin, "-h").CombinedOutput(); err == nil || len(b) > 0 {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "Version") {
				perfVersion = strings.TrimSpace(l)
			}
		}
	}

	fmt.Printf("dns bench: zone meridian.test, %d record sets, %d records (Knot: the static equivalent); %d queries in the mix, %.0f%% EDNS0, %.0f%% with ECS\n",
		sets, rrs, len(qs), 100*o.edns, 100*o.edns*o.ecs)
	fmt.Printf("dnsperf %s: -c %d -q %d -T %d -t %v, %v per run (+%v warm-up), %d rounds, from %s; %d CPUs, load average %s\n",
		perfVersion, o.clients, o.inflight, perfThreads, o.timeout, o.dur, o.warm, o.rounds, o.source, runtime.NumCPU(), procs.Loadavg())
	if srvCPUs != "" {
		fmt.Printf("pinning: both servers to CPU %s (Knot udp-workers %d, Meridian GOMAXPROCS %d), dnsperf to CPU %s\n",
			srvCPUs, workers, workers, perfCPUs)
	} else {
		fmt.Printf("no pinning: servers and dnsperf share all %d CPUs (Knot udp-workers %d, Meridian GOMAXPROCS %d)\n",
			runtime.NumCPU(), workers, workers)
	}
	fmt.Println("Meridian: response rate limiting OFF (RateLimit.Disabled; one source would be throttled at 100/s), policies evaluated per query, health checks read per query")
	fmt.Println("Knot: static records (the closest equivalent of each policy set), no RRL module")
	mix(os.Stdout, qs)

	var servers []server
	startM := func(name, addr string, rrl bool, prof, exp string) error {
		args := []string{"-role", "meridian", "-addr", addr,
			"-zone-hosts", strconv.Itoa(o.hosts), "-seed", strconv.FormatUint(o.seed, 10)}
		if exp != "" {
			args = append(args, "-experiment", exp)
		}
		if rrl {
			args = append(args, "-rrl")
		}
		if prof != "" {
			args = append(args, "-cpuprofile", prof)
		}
		c, err := procs.StartChild(ctx, 1, srvPin, []string{"GOMAXPROCS=" + strconv.Itoa(workers)}, args...)
		if err != nil {
			return err
		}
		servers = append(servers, server{name: name, addr: c.Addrs[0], pid: func() int { return c.Cmd.Process.Pid }, stop: c.Stop})
		return nil
	}
	defer func() {
		for _, s := range servers {
			s.stop()
		}
	}()
	if !o.skipKnot {
		addr, err := freeAddr(o.ipPrefix + ".2")
		if err != nil {
			return err
		}
		k, err := startKnot(ctx, knotBin, addr, workers, z, srvPin)
		if err != nil {
			return err
		}
		servers = append(servers, server{name: "knot", addr: k.addr, pid: k.pid, stop: k.stop})
		fmt.Printf("knot: %s (%s) on %s\n", k.version, knotBin, k.addr)
	}
	if !o.skipMeridian {
		addr, err := freeAddr(o.ipPrefix + ".1")
		if err != nil {
			return err
		}
		if err := startM("meridian", addr, false, o.cpuprofile, ""); err != nil {
			return err
		}
		fmt.Printf("meridian: internal/dns in a child process on %s\n", addr)
	}
	if o.rrl && !o.skipMeridian {
		addr, err := freeAddr(o.ipPrefix + ".3")
		if err != nil {
			return err
		}
		if err := startM("meridian+rrl", addr, true, "", ""); err != nil {
			return err
		}
		fmt.Printf("meridian+rrl: the same with rate limiting at its defaults on %s\n", addr)
	}
	var expNames []string
	for i, exp := range strings.FieldsFunc(o.experiments, func(r rune) bool { return r == ',' }) {
		if !slices.Contains(experiments, exp) {
			return fmt.Errorf("unknown experiment %q (want some of %v)", exp, experiments)
		}
		addr, err := freeAddr(fmt.Sprintf("%s.%d", o.ipPrefix, 4+i))
		if err != nil {
			return err
		}
		name := "meridian-" + exp
		if err := startM(name, addr, false, "", exp); err != nil {
			return err
		}
		expNames = append(expNames, name)
		fmt.Printf("%s: EXPERIMENT, not the product: Meridian's handler with UDP served the %q way on %s\n", name, exp, addr)
	}
	byName := map[string]server{}
	for _, s := range servers {
		byName[s.name] = s
	}

	rep := report{Load: procs.Loadavg(), CPUs: runtime.NumCPU(), ServerCPUs: srvCPUs, DnsperfCPUs: perfCPUs,
		Workers: workers, Queries: len(qs), RecordSets: sets, Records: rrs}
	if k, m := byName["knot"], byName["meridian"]; o.verifyLimit > 0 && k.addr != "" && m.addr != "" {
		v, err := verify(ctx, o, z, qs, k.addr, m.addr)
		if err != nil {
			return err
		}
		rep.Verify = v
		v.print(os.Stdout)
	}

	base := dnsperfRun{bin: dnsperfBin, pin: perfPin, input: inputPath, source: o.source,
		clients: o.clients, threads: perfThreads, inflight: o.inflight, timeout: o.timeout}
	measure := func(s server, dur time.Duration, qps int, verbose bool) (measurement, error) {
		r := base
		r.server, r.dur, r.qps, r.verbose = s.addr, dur, qps, verbose
		cpu0, err := procCPU(s.pid())
		if err != nil {
			return measurement{}, err
		}
		busy0, total0, err := procs.MachineCPU()
		if err != nil {
			return measurement{}, err
		}
		p, err := r.run(ctx)
		if err != nil {
			return measurement{}, err
		}
		cpu1, err := procCPU(s.pid())
		if err != nil {
			return measurement{}, fmt.Errorf("%s exited during the run: %w", s.name, err)
		}
		busy1, total1, _ := procs.MachineCPU()
		wall := p.RunTime.Seconds()
		if wall <= 0 {
			wall = dur.Seconds()
		}
		m := measurement{Server: s.name, perf: p,
			ServerCores:  (cpu1 - cpu0).Seconds() / wall,
			DnsperfCores: p.CPU.Seconds() / wall}
		machine := (busy1 - busy0).Seconds() / (total1 - total0).Seconds() * float64(runtime.NumCPU())
		m.OtherCores = max(0, machine-m.ServerCores-m.DnsperfCores)
		if m.ServerCores > 0 {
			m.QPSPerCore = p.QPS / m.ServerCores
		}
		return m, nil
	}

	var order []server
	for _, n := range append([]string{"knot", "meridian"}, expNames...) {
		if s, ok := byName[n]; ok {
			order = append(order, s)
		}
	}
	fmt.Println("\nthroughput (dnsperf as fast as each server answers):")
	for round := 1; round <= o.rounds; round++ {
		for _, s := range order {
			if o.warm > 0 {
				if _, err := measure(s, o.warm, 0, false); err != nil {
					return err
				}
			}
			m, err := measure(s, o.dur, 0, false)
			if err != nil {
				return err
			}
			m.Round, m.Phase = round, "throughput"
			rep.Runs = append(rep.Runs, m)
			m.printLine(os.Stdout)
		}
	}
	rep.summarize()

	if o.latQPS >= 0 && len(order) > 0 {
		rate := o.latQPS
		if rate == 0 {
			slowest := 0.0
			for _, s := range rep.Summary {
				if slowest == 0 || s.QPS < slowest {
					slowest = s.QPS
				}
			}
			rate = int(slowest/2/1000) * 1000
			rate = max(rate, 1000)
		}
		rep.LatencyQPS = rate
		fmt.Printf("\nlatency at a fixed %d queries/s (dnsperf -Q, every answer's latency from -v):\n", rate)
		for _, s := range order {
			m, err := measure(s, o.latDur, rate, true)
			if err != nil {
				return err
			}
			m.Phase = "latency"
			rep.Runs = append(rep.Runs, m)
			m.printLine(os.Stdout)
		}
	}
	if s, ok := byName["meridian+rrl"]; ok {
		fmt.Println("\nMeridian with response rate limiting on (every query from one /24):")
		m, err := measure(s, o.dur, 0, false)
		if err != nil {
			return err
		}
		m.Round, m.Phase = 1, "rrl"
		rep.Runs = append(rep.Runs, m)
		m.printLine(os.Stdout)
		fmt.Printf("  response codes: %s\n", m.Rcodes)
		fmt.Println("  every query comes from one /24: Meridian answers it 100/s (burst 200), over that replies with an empty TC=1\n" +
			"  answer to every 2nd query (dnsperf counts those as completed) and drops the rest (lost, each holding one of\n" +
			"  dnsperf's outstanding slots until -t): what one flooding source gets, not a throughput figure")
	}
	rep.summarize()
	rep.print(os.Stdout)
	if o.out != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(o.out, b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// cpuLayout decides which CPUs the servers and dnsperf run on; "" for both
// when nothing is pinned.
func cpuLayout(o options) (servers, dnsperf string, err error) {
	if o.serverCPUs == "none" {
		return "", "", nil
	}
	if _, err := exec.LookPath("taskset"); err != nil {
		fmt.Println("taskset not found (util-linux): servers and dnsperf are not pinned")
		return "", "", nil
	}
	n := runtime.NumCPU()
	cpus, err := procs.AllowedCPUs()
	if err != nil || len(cpus) != n {
		cpus = nil
		for i := range n {
			cpus = append(cpus, i)
		}
	}
	servers, dnsperf = o.serverCPUs, o.dnsperfCPUs
	if servers == "auto" {
		if n < 2 {
			return "", "", nil
		}
		servers = procs.CPUList(cpus[n/2:])
	}
	if dnsperf == "auto" {
		if n < 2 {
			return "", "", nil
		}
		dnsperf = procs.CPUList(cpus[:n/2])
	}
	if procs.CPUCount(servers) == 0 || procs.CPUCount(dnsperf) == 0 {
		return "", "", fmt.Errorf("cpu lists %q and %q: want taskset -c lists like 1 or 2-3", servers, dnsperf)
	}
	return servers, dnsperf, nil
}

// freeAddr finds a port free for both UDP and TCP on host.
func freeAddr(host string) (string, error) {
	for range 20 {
		pc, err := net.ListenPacket("udp", host+":0")
		if err != nil {
			return "", fmt.Errorf("binding %s: %w", host, err)
		}
		addr := pc.LocalAddr().String()
		ln, err := net.Listen("tcp", addr)
		_ = pc.Close()
		if err == nil {
			_ = ln.Close()
			return addr, nil
		}
	}
	return "", fmt.Errorf("no port free for both UDP and TCP on %s", host)
}

func splitAddr(addr string) (host, port string, err error) {
	return net.SplitHostPort(addr)
}

// mix prints the query mix's composition.
func mix(w io.Writer, qs []query) {
	count := map[string]int{}
	for _, q := range qs {
		count[q.kind]++
	}
	var parts []string
	for _, m := range queryMix(1) {
		parts = append(parts, fmt.Sprintf("%s %.0f%%", m.kind, 100*float64(count[m.kind])/float64(len(qs))))
	}
	fmt.Fprintf(w, "query mix: %s\n", strings.Join(parts, ", "))
}

// measurement is one dnsperf run against one server.
type measurement struct {
	Server string `json:"server"`
	Phase  string `json:"phase"`
	Round  int    `json:"round,omitempty"`
	perf
	// ServerCores is the server process's CPU over the run, in cores.
	ServerCores float64 `json:"server_cores"`
	// DnsperfCores is dnsperf's CPU over the run.
	DnsperfCores float64 `json:"dnsperf_cores"`
	// OtherCores is the rest of the machine's busy CPU over the run: other
	// processes, and kernel work not charged to these two.
	OtherCores float64 `json:"other_cores"`
	// QPSPerCore is QPS per core the server used.
	QPSPerCore float64 `json:"qps_per_server_core"`
}

func msf(d time.Duration) float64 { return float64(d) / 1e6 }

func (m measurement) printLine(w io.Writer) {
	pct := ""
	if m.P50 > 0 {
		pct = fmt.Sprintf("  p50 %.3f p99 %.3f p99.9 %.3f ms", msf(m.P50), msf(m.P99), msf(m.P999))
	}
	round := ""
	if m.Round > 0 {
		round = fmt.Sprintf(" round %d", m.Round)
	}
	fmt.Fprintf(w, "  %-12s%-8s %9.0f q/s  lost %d/%d  avg %.3f ms  max %.1f ms%s  resp %d B  cpu: server %.2f dnsperf %.2f others %.2f  (%s)\n",
		m.Server, round, m.QPS, m.Lost, m.Sent, msf(m.AvgLatency), msf(m.MaxLatency), pct, m.RespBytes,
		m.ServerCores, m.DnsperfCores, m.OtherCores, procs.Loadavg())
}
