// Command cdn benchmarks cache hits of Meridian's edge cache (internal/cdn)
// against nginx serving the same files from disk in the same run: requests
// and megabytes per second, latency percentiles and CPU per request with a
// fixed number of keep-alive clients, per file size, the servers alternated
// so that both see the same machine.
//
//	go run ./bench/cdn -out /tmp/cdn.json
//
// The cache runs in a child process of this program, nginx (the Debian
// package) in its own; both are pinned to the same CPUs (taskset) with the
// same budget (GOMAXPROCS, worker_processes), and the load generator and
// the cache's origin run in this process on the other CPUs. -experiments
// adds the same cache answering through wrapped ResponseWriters
// (cache.go), to measure changes proposed for internal/cdn without making
// them. See bench/README.md for the figures.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/meridian-platform/meridian/bench/internal/nginx"
	"github.com/meridian-platform/meridian/bench/internal/procs"
)

type options struct {
	sizes        string
	concurrency  int
	dur, warm    time.Duration
	rounds       int
	nginx        string
	variants     string
	skipNginx    bool
	serverCPUs   string
	loadCPUs     string
	hosts        string
	out          string
	cacheProfile string
	keep         bool
	experiments  string

	// internal, for the children
	role      string
	origin    string
	cacheHost string
	pgid      int
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "cdn bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	var o options
	fs := flag.NewFlagSet("cdn", flag.ContinueOnError)
	fs.StringVar(&o.sizes, "sizes", "1k,64k,1m", "file sizes to measure (k = KiB, m = MiB)")
	fs.IntVar(&o.concurrency, "c", 32, "concurrent keep-alive clients")
	fs.DurationVar(&o.dur, "duration", 5*time.Second, "measured time per server, size and round")
	fs.DurationVar(&o.warm, "warmup", time.Second, "unmeasured load before each measurement")
	fs.IntVar(&o.rounds, "rounds", 4, "times each server is measured per size, alternating which goes first")
	fs.StringVar(&o.nginx, "nginx", "", "nginx binary (default: from PATH or /usr/sbin/nginx)")
	fs.StringVar(&o.variants, "nginx-variants", "sendfile,nosendfile", "nginx configurations to measure: sendfile (Debian's default; the ratio's baseline), nosendfile, filecache")
	fs.BoolVar(&o.skipNginx, "skip-nginx", false, "measure the cache only")
	fs.StringVar(&o.serverCPUs, "server-cpus", "auto", "CPUs (taskset -c list) nginx and the cache are pinned to; auto: the upper half; none: no pinning")
	fs.StringVar(&o.loadCPUs, "load-cpus", "auto", "CPUs the load generator and the origin are pinned to; auto: the lower half")
	fs.StringVar(&o.hosts, "hosts", "127.0.86", "loopback /24 to listen on: nginx .1, the cache .2, its origin .3")
	fs.StringVar(&o.out, "out", "", "also write the results as JSON to this file")
	fs.StringVar(&o.cacheProfile, "cache-cpuprofile", "", "write a CPU profile of the cache's process (all of its life: run one size with -sizes)")
	fs.BoolVar(&o.keep, "keep", false, "keep the directory of test files")
	fs.StringVar(&o.experiments, "experiments", "", "also measure these, not the product: the same cache answering through a wrapped ResponseWriter (cache.go): onewrite, direct")
	fs.StringVar(&o.role, "role", "", "internal: run as a child (cache, guard)")
	fs.StringVar(&o.origin, "origin", "", "internal: origin URL for -role cache")
	fs.StringVar(&o.cacheHost, "cache-host", "", "internal: address for -role cache")
	fs.IntVar(&o.pgid, "pgid", 0, "internal: process group -role guard kills")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch o.role {
	case "cache":
		return serveCache(ctx, o)
	case "guard":
		return nginx.Guard(o.pgid)
	case "":
		return drive(ctx, o)
	}
	return fmt.Errorf("unknown role %q", o.role)
}

// file is one test file, served as /NAME.bin by both servers.
type file struct {
	label string // as given in -sizes: 1k
	size  int
	path  string // URL path
	body  []byte
}

func parseSizes(s string) ([]file, error) {
	var out []file
	for part := range strings.SplitSeq(s, ",") {
		label := strings.ToLower(strings.TrimSpace(part))
		num, mult := label, 1
		switch {
		case strings.HasSuffix(label, "k"):
			num, mult = label[:len(label)-1], 1<<10
		case strings.HasSuffix(label, "m"):
			num, mult = label[:len(label)-1], 1<<20
		}
		n, err := strconv.Atoi(num)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("size %q: want a number with an optional k or m suffix, like 64k", part)
		}
		out = append(out, file{label: label, size: n * mult, path: "/" + label + ".bin"})
	}
	return out, nil
}

// target is one server under test.
type target struct {
	name     string
	addr     string
	pid      int
	children bool // count the CPU of pid's children (nginx's workers)
	cache    bool // check X-Cache: Hit
}

func drive(ctx context.Context, o options) error {
	files, err := parseSizes(o.sizes)
	if err != nil {
		return err
	}
	lay, err := procs.NewLayout(o.serverCPUs, o.loadCPUs)
	if err != nil {
		return err
	}
	if err := procs.PinSelf(lay.Load); err != nil {
		return err
	}
	host := func(n int) string { return fmt.Sprintf("%s.%d", o.hosts, n) }

	dir, err := os.MkdirTemp("", "cdn-bench-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Println("test files in", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	// nginx's workers run as nobody: the files must be readable by anyone.
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	www := filepath.Join(dir, "www")
	if err := os.Mkdir(www, 0o755); err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(1, 2)) //nolint:gosec // G404: a seeded source, so runs repeat (STYLE.md)
	for i := range files {
		f := &files[i]
		f.body = make([]byte, f.size)
		for j := range f.body {
			f.body[j] = byte(rng.Uint32()) //nolint:gosec // G115: keeping the low byte is the point
		}
		if err := os.WriteFile(filepath.Join(www, strings.TrimPrefix(f.path, "/")), f.body, 0o644); err != nil {
			return err
		}
	}

	rep := report{
		Started:     time.Now().UTC().Format(time.RFC3339),
		CPUs:        runtime.NumCPU(),
		GoVersion:   runtime.Version(),
		Concurrency: o.concurrency,
		DurationS:   o.dur.Seconds(),
		WarmupS:     o.warm.Seconds(),
		Rounds:      o.rounds,
		LoadAvg:     procs.Loadavg(),
	}
	fmt.Printf("cdn bench: %s, %d clients, %v per server, size and round (+%v warm-up), %d rounds, %d CPUs, load average %s\n",
		o.sizes, o.concurrency, o.dur, o.warm, o.rounds, runtime.NumCPU(), rep.LoadAvg)
	if lay.Pinned() {
		rep.Pinning = fmt.Sprintf("nginx (worker_processes %d) and the cache (GOMAXPROCS %d) on CPU %s; load generator and origin (GOMAXPROCS %d) on CPU %s",
			lay.Workers(), lay.Workers(), lay.Server, procs.CPUCount(lay.Load), lay.Load)
	} else {
		rep.Pinning = fmt.Sprintf("not pinned: nginx worker_processes %d, cache GOMAXPROCS %d, all sharing every CPU", lay.Workers(), lay.Workers())
	}
	fmt.Println("pinned:", rep.Pinning)

	orig, err := startOrigin(host(3), www)
	if err != nil {
		return err
	}
	defer orig.stop()

	cargs := []string{"-role", "cache", "-origin", "http://" + orig.addr, "-cache-host", host(2)}
	if o.cacheProfile != "" {
		cargs = append(cargs, "-cache-cpuprofile", o.cacheProfile)
	}
	exps := experimentList(o.experiments)
	for _, name := range exps {
		if _, ok := experiments[name]; !ok {
			return fmt.Errorf("unknown experiment %q (onewrite, direct)", name)
		}
	}
	if len(exps) > 0 {
		cargs = append(cargs, "-experiments", strings.Join(exps, ","))
	}
	want := 1 + len(exps)
	cache, err := procs.StartChild(ctx, want, lay.Prefix(lay.Server), []string{fmt.Sprintf("GOMAXPROCS=%d", lay.Workers())}, cargs...)
	if err != nil {
		return err
	}
	defer cache.Stop()
	targets := []target{{name: "cache", addr: cache.Addrs[0], pid: cache.Cmd.Process.Pid, cache: true}}
	for i, name := range exps {
		t := target{name: "cache-" + name, addr: cache.Addrs[1+i], pid: cache.Cmd.Process.Pid, cache: true}
		targets = append(targets, t)
		fmt.Printf("%s: %s, on %s (an experiment, not the product)\n", t.name, experiments[name].about, t.addr)
	}
	fmt.Printf("cache: internal/cdn, one distribution (%s, origin net/http FileServer on %s, default TTLs), net/http server on %s\n",
		distHost, orig.addr, cache.Addrs[0])

	if !o.skipNginx {
		bin, err := nginx.Find(o.nginx)
		if err != nil {
			procs.Loud("NGINX IS NOT INSTALLED: measuring the cache alone (apt-get install -y nginx)")
		} else {
			rep.Nginx = nginx.Version(bin)
			var ngs []target
			for name := range strings.SplitSeq(o.variants, ",") {
				v, ok := variantByName(strings.TrimSpace(name))
				if !ok {
					return fmt.Errorf("unknown nginx variant %q (sendfile, nosendfile, filecache)", name)
				}
				ng, err := startNginx(ctx, bin, v, www, host(1), lay.Workers(), lay.Prefix(lay.Server))
				if err != nil {
					return err
				}
				defer ng.Stop()
				t := target{name: "nginx-" + v.name, addr: ng.Addr, pid: ng.Cmd.Process.Pid, children: true}
				ngs = append(ngs, t)
				fmt.Printf("%s: %s (%s), worker_processes %d, access_log off, keepalive_requests 100000, %s, on %s\n",
					t.name, rep.Nginx, bin, lay.Workers(), v.about, ng.Addr)
				rep.NginxVariants = append(rep.NginxVariants, t.name+": "+v.about)
			}
			targets = append(ngs, targets...)
		}
	}

	serverCPUs := procs.ParseCPUList(lay.Server)
	self := os.Getpid()
	for _, f := range files {
		if err := verify(ctx, targets, f, &rep); err != nil {
			return err
		}
		originBefore := orig.hits.Load()
		for round := 1; round <= o.rounds; round++ {
			order := targets
			if round%2 == 0 {
				// Alternate which server goes first, so that a drift in
				// the machine's load does not favour one of them.
				order = make([]target, len(targets))
				for i, t := range targets {
					order[len(targets)-1-i] = t
				}
			}
			for _, t := range order {
				if _, err := load(ctx, t.addr, f.path, f.size, o.concurrency, o.warm, false); err != nil {
					return fmt.Errorf("%s, %s warm-up: %w", t.name, f.label, err)
				}
				srv0, gen0 := procs.CPUTime(t.pid, t.children), procs.CPUTime(self, false)
				busy0, all0 := procs.CPUsBusy(serverCPUs), procs.CPUsBusy(nil)
				st, err := load(ctx, t.addr, f.path, f.size, o.concurrency, o.dur, t.cache)
				if err != nil {
					return fmt.Errorf("%s, %s: %w", t.name, f.label, err)
				}
				srv, gen := procs.CPUTime(t.pid, t.children).Sub(srv0), procs.CPUTime(self, false).Sub(gen0)
				busy, all := procs.CPUsBusy(serverCPUs)-busy0, procs.CPUsBusy(nil)-all0
				r := newResult(t, f, round, st, srv, gen, busy, all, lay.Pinned())
				rep.Runs = append(rep.Runs, r)
				r.print(os.Stdout)
			}
		}
		if n := orig.hits.Load() - originBefore; n != 0 {
			fmt.Printf("  !!! the origin answered %d requests during the %s measurements (want 0)\n", n, f.label)
			rep.OriginRequests += n
		}
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

// verify checks that every server answers f's path with its exact bytes,
// and that the cache's first answer is a Miss (fetched from the origin) and
// the next a Hit.
func verify(ctx context.Context, targets []target, f file, rep *report) error {
	get := func(addr string) (*http.Response, []byte, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+f.path, nil)
		if err != nil {
			return nil, nil, err
		}
		req.Host = distHost
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, nil, err
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		return res, b, err
	}
	var notes []string
	for _, t := range targets {
		tries, wants := 1, []string{"Hit"}
		if t.name == "cache" { // the first of the cache's ports asked
			tries, wants = 2, []string{"Miss", "Hit"}
		}
		for i := range tries {
			res, b, err := get(t.addr) //nolint:bodyclose // get closes the body before returning
			if err != nil {
				return fmt.Errorf("%s %s: %w", t.name, f.path, err)
			}
			if res.StatusCode != http.StatusOK || !bytes.Equal(b, f.body) {
				return fmt.Errorf("%s %s: status %d, %d bytes, want 200 and the file's %d bytes", t.name, f.path, res.StatusCode, len(b), f.size)
			}
			if t.cache {
				want := wants[i]
				got := res.Header.Get("X-Cache")
				if got != want {
					return fmt.Errorf("cache %s: request %d answered X-Cache %q, want %q", f.path, i+1, got, want)
				}
				notes = append(notes, t.name+" "+got)
			}
		}
	}
	fmt.Printf("%s (%d bytes): identical bytes from every server; %s\n", f.label, f.size, strings.Join(notes, ", then "))
	rep.Verified = append(rep.Verified, f.label)
	return nil
}
