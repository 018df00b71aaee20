// Command writes benchmarks Meridian's replicated store: sustained
// acknowledged writes across three in-process regions joined by mutual TLS
// (no simulated WAN latency), their replication lag and convergence time,
// against a baseline measured in the same run (Pebble's own fsynced batch
// commit rate on the same disk), and the resident memory of an idle region
// node process.
//
//	go run ./bench/writes -out /tmp/writes.json
//
// See bench/README.md for what each figure means and the last results.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

// Targets from issue 2.
const (
	targetWritesPerSec = 10_000
	targetLagP99ms     = 250
	targetRatio        = 0.5
	targetIdleRSSMB    = 100
)

// baselineWarmup precedes the measured baseline: Pebble needs no more.
const baselineWarmup = time.Second

type options struct {
	writers        int
	rate           float64
	dur, warm      time.Duration
	baselineDur    time.Duration
	baselineDBs    int
	regions        []string
	antiEntropy    time.Duration
	hostPrefix     string
	idle           time.Duration
	dir            string
	keep           bool
	out            string
	cpuprofile     string
	skipBaseline   bool
	baselineRead   bool
	skipMeridian   bool
	skipIdle       bool
	verbose        bool
	trace          bool
	idleNode       string
	idleNodeConfig string
	procs          bool
	writeNode      string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/writes:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("writes", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.writers, "writers", 32, "concurrent writers per region (the baseline uses regions×writers)")
	fs.Float64Var(&o.rate, "rate", 0, "offered load in writes/s over all regions, spread evenly, each region's writes due on a fixed schedule (open loop); 0: every writer writes again as soon as it is acknowledged, as fast as the machine goes")
	fs.DurationVar(&o.dur, "duration", 20*time.Second, "measured time of the Meridian run")
	fs.DurationVar(&o.warm, "warmup", 3*time.Second, "unmeasured warm-up before each measured run")
	fs.DurationVar(&o.baselineDur, "baseline-duration", 5*time.Second, "measured time of the Pebble baseline")
	fs.IntVar(&o.baselineDBs, "baseline-dbs", 1, "Pebble databases the baseline writers are spread over (1: one WAL, as fsync-bound as it gets; 3: one per region, as Meridian runs)")
	regions := fs.String("regions", "us-east,eu-west,ap-south", "comma-separated regions, one in-process node each")
	fs.DurationVar(&o.antiEntropy, "anti-entropy", 0, "anti-entropy interval of the nodes (default: the topology default, 10s); a long one shows what anti-entropy costs during the run")
	fs.StringVar(&o.hostPrefix, "hosts", "127.0.77", "first three octets of the loopback addresses the nodes listen on (.1, .2, …)")
	fs.DurationVar(&o.idle, "idle", 10*time.Second, "how long the idle node processes idle before their RSS is read")
	fs.StringVar(&o.dir, "dir", "", "parent of the benchmark's scratch directory (default: the system temp dir; it must be on the disk to measure)")
	fs.BoolVar(&o.keep, "keep", false, "keep the scratch directory")
	fs.StringVar(&o.out, "out", "", "also write the results as JSON to this file")
	fs.StringVar(&o.cpuprofile, "cpuprofile", "", "write a CPU profile of the Meridian measurement window to this file")
	fs.BoolVar(&o.baselineRead, "baseline-read", false, "also run the baseline with a Get of each new key before writing it (as the store's commit loop does), without and with bloom filters")
	fs.BoolVar(&o.skipBaseline, "skip-baseline", false, "skip the Pebble baseline")
	fs.BoolVar(&o.skipMeridian, "skip-meridian", false, "skip the Meridian write run")
	fs.BoolVar(&o.skipIdle, "skip-idle", false, "skip the idle RSS measurement")
	fs.BoolVar(&o.trace, "trace", false, "log acknowledged writes and each region's replication backlog every second")
	fs.BoolVar(&o.verbose, "v", false, "log the nodes' info messages to stderr")
	fs.StringVar(&o.idleNode, "idle-node", "", "internal: run this node of -config in this process until SIGTERM (used for the idle RSS fallback)")
	fs.StringVar(&o.idleNodeConfig, "config", "", "internal: topology file for -idle-node and -write-node")
	fs.BoolVar(&o.procs, "procs", true, "run each region node with its writers in its own child process (default GOMAXPROCS each), as meridian up runs regions; false: all in this one (the default with -trace or -cpuprofile)")
	fs.StringVar(&o.writeNode, "write-node", "", "internal: run this node of -config and its writers in this process (a -procs child)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	procsSet := false
	fs.Visit(func(f *flag.Flag) { procsSet = procsSet || f.Name == "procs" })
	if !procsSet && (o.trace || o.cpuprofile != "") {
		o.procs = false // they look inside the nodes, so the nodes run here
	}
	for _, r := range strings.Split(*regions, ",") {
		if r = strings.TrimSpace(r); r != "" {
			o.regions = append(o.regions, r)
		}
	}
	switch {
	case o.writers < 1:
		return o, fmt.Errorf("-writers %d: need at least 1", o.writers)
	case o.rate < 0:
		return o, fmt.Errorf("-rate %g: must not be negative", o.rate)
	case o.dur <= 0 || o.baselineDur <= 0:
		return o, errors.New("-duration and -baseline-duration must be positive")
	case o.warm < 0 || o.idle < 0 || o.antiEntropy < 0:
		return o, errors.New("-warmup, -idle and -anti-entropy must not be negative")
	case o.baselineDBs < 1:
		return o, fmt.Errorf("-baseline-dbs %d: need at least 1", o.baselineDBs)
	case len(o.regions) < 2:
		return o, fmt.Errorf("-regions %q: need at least 2 to replicate", *regions)
	case (o.idleNode != "" || o.writeNode != "") && o.idleNodeConfig == "":
		return o, errors.New("-idle-node and -write-node need -config")
	case o.procs && (o.trace || o.cpuprofile != ""):
		return o, errors.New("-trace and -cpuprofile see the regions in this process: not with -procs")
	}
	return o, nil
}

// results is everything one run measured; it is also the JSON of -out.
type results struct {
	Date       string          `json:"date"`
	GoVersion  string          `json:"go_version"`
	CPUs       int             `json:"cpus"`
	GOMAXPROCS int             `json:"gomaxprocs"`
	Dir        string          `json:"dir"`
	Args       []string        `json:"args"`
	Baseline   *baselineResult `json:"baseline,omitempty"`
	// Ceiling is the "replicated" baseline: what the regions' databases
	// sharing this machine reach with Pebble alone.
	Ceiling *baselineResult `json:"replicated_baseline,omitempty"`
	// Experiments are the -baseline-read variants.
	Experiments []baselineResult `json:"baseline_experiments,omitempty"`
	Meridian    *meridianResult  `json:"meridian,omitempty"`
	Idle        *idleResult      `json:"idle,omitempty"`
	Targets     []targetCheck    `json:"targets"`
}

type targetCheck struct {
	What   string `json:"what"`
	Target string `json:"target"`
	Got    string `json:"got"`
	Met    bool   `json:"met"`
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	if o.idleNode != "" {
		return runIdleNode(ctx, o.idleNodeConfig, o.idleNode)
	}
	if o.writeNode != "" {
		return runWriteNode(ctx, o.idleNodeConfig, o.writeNode, o, os.Stdin, stdout)
	}
	logf := func(format string, a ...any) {
		fmt.Fprintf(stderr, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, a...))
	}
	level := slog.LevelWarn
	if o.verbose {
		level = slog.LevelInfo
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	work, err := os.MkdirTemp(o.dir, "meridian-bench-writes-")
	if err != nil {
		return fmt.Errorf("creating scratch directory: %w", err)
	}
	if o.keep {
		logf("scratch directory %s (kept)", work)
	} else {
		defer func() { _ = os.RemoveAll(work) }()
	}
	res := results{
		Date: time.Now().UTC().Format(time.RFC3339), GoVersion: runtime.Version(),
		CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), Dir: work, Args: args,
	}
	totalWriters := o.writers * len(o.regions)

	if !o.skipBaseline {
		logf("baseline: pebble, %d writers over %d db(s), fsynced 2-key batches, %s warm-up + %s", totalWriters, o.baselineDBs, baselineWarmup, o.baselineDur)
		b, err := runBaseline(ctx, filepath.Join(work, "baseline"), o.baselineDBs, totalWriters, baselineWarmup, o.baselineDur, variant{})
		if err != nil {
			return err
		}
		res.Baseline = &b
		logf("baseline: %.0f writes/s", b.WritesPerSec)
		if n := len(o.regions); n > 1 {
			logf("replicated baseline: %d writers over %d dbs, each write also applied to the other %d, %s warm-up + %s", totalWriters, n, n-1, baselineWarmup, o.baselineDur)
			c, err := runBaseline(ctx, filepath.Join(work, "replicated"), n, totalWriters, baselineWarmup, o.baselineDur, variant{replicated: true})
			if err != nil {
				return err
			}
			res.Ceiling = &c
			logf("replicated baseline: %.0f writes/s", c.WritesPerSec)
		}
	}
	if o.baselineRead {
		for i, v := range []variant{{read: true}, {read: true, bloom: true}} {
			logf("baseline experiment %q: %d writers, %s warm-up + %s", v, totalWriters, baselineWarmup, o.baselineDur)
			b, err := runBaseline(ctx, filepath.Join(work, fmt.Sprintf("experiment-%d", i)), o.baselineDBs, totalWriters, baselineWarmup, o.baselineDur, v)
			if err != nil {
				return err
			}
			res.Experiments = append(res.Experiments, b)
			logf("baseline experiment %q: %.0f writes/s", v, b.WritesPerSec)
		}
	}

	topo, err := benchTopology(filepath.Join(work, "cluster"), o.hostPrefix, o.regions, o.antiEntropy)
	if err != nil {
		return err
	}
	idleData := "empty data directories"
	if !o.skipMeridian {
		where := "in-process"
		if o.procs {
			where = "one child process each"
		}
		logf("meridian: starting %d regions (%s) on %s.x with mutual TLS, no WAN latency", len(o.regions), where, o.hostPrefix)
		offered := "as fast as acknowledged"
		if o.rate > 0 {
			offered = fmt.Sprintf("%.0f writes/s offered", o.rate)
		}
		var m meridianResult
		if o.procs {
			logf("meridian: %d writers per region (%s), %s warm-up + %s", o.writers, offered, o.warm, o.dur)
			if m, err = runMeridianProcs(ctx, topo, work, o); err != nil {
				return err
			}
		} else {
			c, err := startCluster(ctx, topo, logger.With("component", "bench-node"))
			if err != nil {
				return err
			}
			logf("meridian: %d writers per region (%s), %s warm-up + %s", o.writers, offered, o.warm, o.dur)
			mo := meridianOptions{writers: o.writers, rate: o.rate, warm: o.warm, dur: o.dur, cpuprofile: o.cpuprofile}
			if o.trace {
				mo.trace = logf
			}
			var runErr error
			m, runErr = runMeridian(ctx, c, mo)
			stopErr := c.stop()
			if err := errors.Join(runErr, stopErr); err != nil {
				return err
			}
		}
		if res.Baseline != nil && res.Baseline.WritesPerSec > 0 {
			m.RatioToBaseline = m.WritesPerSec / res.Baseline.WritesPerSec
		}
		if res.Ceiling != nil && res.Ceiling.WritesPerSec > 0 {
			m.RatioToCeiling = m.WritesPerSec / res.Ceiling.WritesPerSec
		}
		res.Meridian = &m
		logf("meridian: %.0f writes/s, lag p99 %.1f ms, converged %.2fs after the last write", m.WritesPerSec, float64(m.LagP99ms), m.ConvergeSeconds)
		idleData = "the data directories of the write run just above (restarted)"
	}

	if !o.skipIdle {
		logf("idle: %d region node processes, idle %s", len(o.regions), o.idle)
		i, err := runIdle(ctx, topo, work, o.idle, idleData, logf)
		if err != nil {
			return err
		}
		res.Idle = &i
	}

	res.Targets = checkTargets(&res)
	printTable(stdout, &res)
	if o.out != "" {
		raw, err := json.MarshalIndent(&res, "", "  ")
		if err != nil {
			return fmt.Errorf("encoding results: %w", err)
		}
		if err := os.WriteFile(o.out, append(raw, '\n'), 0o644); err != nil {
			return fmt.Errorf("writing results: %w", err)
		}
	}
	return nil
}

func checkTargets(r *results) []targetCheck {
	var out []targetCheck
	if m := r.Meridian; m != nil {
		out = append(out,
			targetCheck{"acknowledged writes/s, all regions", fmt.Sprintf("≥ %d", targetWritesPerSec), fmt.Sprintf("%.0f", m.WritesPerSec), m.WritesPerSec >= targetWritesPerSec},
			targetCheck{"replication lag p99", fmt.Sprintf("< %d ms", targetLagP99ms), fmtMS(m.LagP99ms), float64(m.LagP99ms) < targetLagP99ms},
		)
		if r.Baseline != nil {
			out = append(out, targetCheck{"writes vs Pebble baseline", fmt.Sprintf("≥ %.0f%%", 100*targetRatio), fmt.Sprintf("%.0f%%", 100*m.RatioToBaseline), m.RatioToBaseline >= targetRatio})
		}
	}
	if i := r.Idle; i != nil {
		out = append(out, targetCheck{"idle region node RSS", fmt.Sprintf("< %d MB", targetIdleRSSMB), fmt.Sprintf("%.1f MB", i.MaxRSSMB), i.MaxRSSMB < targetIdleRSSMB})
	}
	return out
}

func fmtMS(v number) string { return fmt.Sprintf("%.1f ms", float64(v)) }

func printTable(w io.Writer, r *results) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(cells ...string) { fmt.Fprintln(tw, strings.Join(cells, "\t")) }
	row("benchmark", "figure", "value")
	if b := r.Baseline; b != nil {
		row("pebble baseline", fmt.Sprintf("fsynced batches/s (%d writers, %d db)", b.Writers, b.DBs), fmt.Sprintf("%.0f", b.WritesPerSec))
		row("", "commit latency p50 / p99", fmt.Sprintf("%.2f / %.2f ms", b.LatencyP50ms, b.LatencyP99ms))
	}
	if c := r.Ceiling; c != nil {
		row("pebble, replicated", fmt.Sprintf("fsynced batches/s, each applied to all %d dbs", c.DBs), fmt.Sprintf("%.0f", c.WritesPerSec))
		if r.Baseline != nil && r.Baseline.WritesPerSec > 0 {
			row("", "ratio to pebble baseline", fmt.Sprintf("%.2f", c.WritesPerSec/r.Baseline.WritesPerSec))
		}
	}
	for _, b := range r.Experiments {
		row("pebble experiment", fmt.Sprintf("%s: batches/s, p50 / p99", b.Variant), fmt.Sprintf("%.0f, %.2f / %.2f ms", b.WritesPerSec, b.LatencyP50ms, b.LatencyP99ms))
	}
	if m := r.Meridian; m != nil {
		offered := ""
		if m.Rate > 0 {
			offered = fmt.Sprintf(", %.0f/s offered", m.Rate)
		}
		where, cpuOf := "one process", "whole process"
		if m.Procs {
			where, cpuOf = "a process each", "sum of the region processes"
		}
		row("meridian writes", fmt.Sprintf("acked writes/s (%d regions in %s × %d writers%s)", m.Regions, where, m.WritersPerRegion, offered), fmt.Sprintf("%.0f", m.WritesPerSec))
		regions := make([]string, 0, len(m.PerRegion))
		for r, v := range m.PerRegion {
			regions = append(regions, fmt.Sprintf("%s %.0f", r, v))
		}
		sort.Strings(regions)
		row("", "acked writes/s by region", strings.Join(regions, ", "))
		if r.Baseline != nil {
			row("", "ratio to pebble baseline", fmt.Sprintf("%.2f", m.RatioToBaseline))
		}
		if r.Ceiling != nil {
			row("", "ratio to pebble, replicated", fmt.Sprintf("%.2f", m.RatioToCeiling))
		}
		row("", "CPU per acked write ("+cpuOf+")", fmt.Sprintf("%.0f µs (%.1f CPU-s over %.0f s)", m.CPUPerWriteus, m.CPUSeconds, m.Seconds))
		row("", "write latency p50 / p99", fmt.Sprintf("%.2f / %.2f ms", m.LatencyP50ms, m.LatencyP99ms))
		row("", "replication lag p50 / p99", fmt.Sprintf("%s / %s (buckets ≤ %s / ≤ %s; %d samples)",
			fmtMS(m.LagP50ms), fmtMS(m.LagP99ms), fmtMS(m.LagP50Boundm), fmtMS(m.LagP99Boundm), m.LagSamples))
		row("", "convergence after last write", fmt.Sprintf("%.2f s (all acks everywhere: %v)", m.ConvergeSeconds, m.AllAcksEverywhere))
		row("", "group commits: mean size / mean time", fmt.Sprintf("%.1f / %s", float64(m.GroupMean), fmtMS(m.CommitMeanms)))
		row("", "group commits over 102 ms (all nodes)", fmt.Sprintf("%.0f of %.0f", m.SlowCommits, m.Commits))
		row("", "pebble write stalls (all nodes)", fmt.Sprintf("%.0f, %.2f s in all", m.WriteStalls, m.WriteStallSecs))
		if m.Errors > 0 {
			row("", "write errors", fmt.Sprintf("%d (first: %s)", m.Errors, m.FirstError))
		}
	}
	if i := r.Idle; i != nil {
		row("idle region node", fmt.Sprintf("max VmRSS after %.0fs (%s)", i.Seconds, i.Mode), fmt.Sprintf("%.1f MB", i.MaxRSSMB))
	}
	for _, t := range r.Targets {
		verdict := "MET"
		if !t.Met {
			verdict = "MISSED"
		}
		row("target", t.What+" "+t.Target, t.Got+"  "+verdict)
	}
	_ = tw.Flush()
}
