// Command s3 benchmarks Meridian's S3 API: GET and PUT throughput of 64 KB
// and 8 MB objects through a region node against a plain net/http server
// that receives and serves the same bytes from the same disk (measured in
// the same run), replication lag of 1 MB objects between two regions, and
// the node's memory while a 1 GB object is uploaded and downloaded.
//
//	go run ./bench/s3                 # ~1-2 minutes
//	go run ./bench/s3 -skip-gb        # without the 1 GB step
//	go run ./bench/s3 -out /tmp/s3.json -only PUT-64KB,GET-64KB -hosts 127.0.79
//
// Every node and the baseline server run as child processes of this
// program, so their RSS is their own.
package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/meridian-platform/meridian/bench/internal/procs"
	"github.com/meridian-platform/meridian/internal/awsapi"
	"github.com/meridian-platform/meridian/internal/iam"
	"github.com/meridian-platform/meridian/internal/pki"
	"github.com/meridian-platform/meridian/internal/region"
	"github.com/meridian-platform/meridian/internal/topology"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "bench/s3:", err)
		os.Exit(1)
	}
}

type options struct {
	dir, hosts               string
	duration                 time.Duration
	concurrency, lagObjects  int
	gb                       int64
	skipGB                   bool
	childNode, childBaseline string
	config, baselineDir      string
	only, cpuprofile, out    string
}

func run(ctx context.Context, args []string) error {
	var o options
	fs := flag.NewFlagSet("s3", flag.ContinueOnError)
	fs.StringVar(&o.dir, "dir", "", "parent of the scratch directory (default: the system temp dir)")
	fs.StringVar(&o.hosts, "hosts", "127.0.78", "first three octets of the nodes' loopback addresses")
	fs.DurationVar(&o.duration, "duration", 3*time.Second, "how long each throughput step runs")
	fs.IntVar(&o.concurrency, "concurrency", 8, "concurrent clients in the throughput steps")
	fs.IntVar(&o.lagObjects, "lag-objects", 50, "1 MB objects written to measure replication lag")
	fs.Int64Var(&o.gb, "big", 1<<30, "size of the big object of the RSS step")
	fs.BoolVar(&o.skipGB, "skip-gb", false, "skip the big-object RSS step")
	fs.StringVar(&o.only, "only", "", "run only these throughput steps, e.g. \"PUT-64KB,GET-64KB\" (default: all)")
	fs.StringVar(&o.cpuprofile, "cpuprofile", "", "write each node's and the baseline's CPU profile (whole run) into this directory")
	fs.StringVar(&o.out, "out", "", "also write the results as JSON to this file")
	fs.StringVar(&o.childNode, "child-node", "", "internal: run this region node of -config")
	fs.StringVar(&o.config, "config", "", "internal: topology file of -child-node")
	fs.StringVar(&o.childBaseline, "child-baseline", "", "internal: run the baseline server on this address")
	fs.StringVar(&o.baselineDir, "baseline-dir", "", "internal: the baseline server's directory")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.cpuprofile != "" && (o.childNode != "" || o.childBaseline != "") {
		name := o.childNode
		if name == "" {
			name = "baseline"
		}
		f, err := os.Create(filepath.Join(o.cpuprofile, name+".cpu"))
		if err != nil {
			return err
		}
		defer func() { _ = f.Close() }()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if o.childNode != "" || o.childBaseline != "" {
		var cancel context.CancelFunc
		ctx, cancel = procs.UntilStdinCloses(ctx) // the parent's Child.Stop
		defer cancel()
	}
	switch {
	case o.childNode != "":
		return runNode(ctx, o.config, o.childNode)
	case o.childBaseline != "":
		return runBaseline(ctx, o.childBaseline, o.baselineDir)
	}
	return bench(ctx, o)
}

// runNode runs one region node with the AWS API port, until signalled.
func runNode(ctx context.Context, cfg, node string) error {
	topo, err := topology.Load(cfg)
	if err != nil {
		return err
	}
	n, err := region.New(region.Config{Topology: topo, Node: node, API: awsapi.New,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		return err
	}
	return n.Run(ctx)
}

// runBaseline is the baseline: PUT streams the body to a temporary file,
// fsyncs it, renames it into place and fsyncs the directory, so that, like
// the node, it answers a PUT only once the object survives a power loss
// (without the directory fsync the rename may be lost); GET streams the
// file back.
func runBaseline(ctx context.Context, addr, dir string) error {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		base := strings.ReplaceAll(strings.Trim(r.URL.Path, "/"), "/", "_")
		if base == "" || base == "." || base == ".." {
			http.Error(w, "bad object name", http.StatusBadRequest)
			return
		}
		name := filepath.Join(dir, base) // one name inside dir
		switch r.Method {
		case http.MethodPut:
			f, err := os.CreateTemp(dir, "tmp-*")
			if err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			_, err = io.CopyBuffer(f, r.Body, make([]byte, 256<<10))
			if err == nil {
				err = f.Sync()
			}
			_ = f.Close()
			if err == nil {
				err = os.Rename(f.Name(), name) //nolint:gosec // name is one checked component inside dir
			}
			if err == nil {
				err = syncDir(dir)
			}
			if err != nil {
				_ = os.Remove(f.Name())
				http.Error(w, err.Error(), 500)
				return
			}
		case http.MethodGet:
			f, err := os.Open(name) //nolint:gosec // name is one checked component inside dir
			if err != nil {
				http.Error(w, err.Error(), 404)
				return
			}
			defer func() { _ = f.Close() }()
			fi, _ := f.Stat()
			w.Header().Set("Content-Length", strconv.FormatInt(fi.Size(), 10))
			_, _ = io.CopyBuffer(w, f, make([]byte, 256<<10))
		}
	})
	srv := &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { <-ctx.Done(); _ = srv.Close() }()
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer func() { _ = d.Close() }()
	return d.Sync()
}

// start runs this program as a child (bench/internal/procs): it stops when
// Stop closes its stdin, and dies with this process.
func start(ctx context.Context, args ...string) (*procs.Child, error) {
	return procs.StartChild(ctx, 0, nil, nil, args...)
}

// memory reads VmRSS and VmHWM (MB) of a process.
func memory(pid int) (rss, peak float64) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, _ := strings.Cut(sc.Text(), ":")
		fields := strings.Fields(rest)
		if len(fields) != 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(fields[0], 64)
		switch name {
		case "VmRSS":
			rss = kb / 1024
		case "VmHWM":
			peak = kb / 1024
		}
	}
	return rss, peak
}

func awaitHTTP(ctx context.Context, url string) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s did not answer within 60s", url)
}

func bench(ctx context.Context, o options) error {
	work, err := os.MkdirTemp(o.dir, "meridian-s3-bench-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(work) }()
	topo := &topology.Topology{Version: topology.Version, DataDir: filepath.Join(work, "data")}
	for i, name := range []string{"us-east", "eu-west"} {
		topo.Regions = append(topo.Regions, topology.Region{Name: name, Nodes: []topology.Node{{Name: name + "-1", Host: fmt.Sprintf("%s.%d", o.hosts, i+1)}}})
	}
	topo.SetDefaults()
	topo.Secrets.BootstrapCredentials = filepath.Join(work, "credentials")
	if err := topo.Validate(); err != nil {
		return err
	}
	var specs []pki.NodeSpec
	for _, ref := range topo.Nodes() {
		specs = append(specs, pki.NodeSpec{Name: ref.Node.Name, IPs: []net.IP{net.ParseIP(ref.Node.Host)}})
	}
	if err := pki.EnsureCluster(topo.TLS.Dir, specs); err != nil {
		return err
	}
	ak, err := iam.EnsureBootstrapCredentials(topo.Secrets.BootstrapCredentials, iam.Profile)
	if err != nil {
		return err
	}
	raw, err := topo.Marshal()
	if err != nil {
		return err
	}
	cfg := filepath.Join(work, "topology.yaml")
	if err := os.WriteFile(cfg, raw, 0o600); err != nil {
		return err
	}
	var prof []string
	if o.cpuprofile != "" {
		abs, err := filepath.Abs(o.cpuprofile)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(abs, 0o700); err != nil {
			return err
		}
		prof = []string{"-cpuprofile", abs}
	}
	nodes := map[string]*procs.Child{}
	defer func() {
		for _, p := range nodes {
			p.Stop()
		}
	}()
	for _, ref := range topo.Nodes() {
		p, err := start(ctx, append([]string{"-child-node", ref.Node.Name, "-config", cfg}, prof...)...)
		if err != nil {
			return err
		}
		nodes[ref.Region] = p
	}
	baseDir := filepath.Join(work, "baseline")
	if err := os.MkdirAll(baseDir, 0o700); err != nil {
		return err
	}
	baseAddr := o.hosts + ".9:4599"
	base, err := start(ctx, append([]string{"-child-baseline", baseAddr, "-baseline-dir", baseDir}, prof...)...)
	if err != nil {
		return err
	}
	defer base.Stop()
	urls := map[string]string{}
	for _, ref := range topo.Nodes() {
		urls[ref.Region] = "http://" + ref.Node.APIAddr()
		if err := awaitHTTP(ctx, urls[ref.Region]); err != nil {
			return fmt.Errorf("region %s: %w (see its messages above)", ref.Region, err)
		}
	}
	if err := awaitHTTP(ctx, "http://"+baseAddr); err != nil {
		return err
	}
	clients := map[string]*s3.Client{}
	for r, u := range urls {
		clients[r] = newClient(u, ak)
	}
	east := clients["us-east"]
	if err := retry(ctx, func() error {
		_, err := east.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("bench")})
		return err
	}); err != nil {
		return fmt.Errorf("creating the bucket: %w", err)
	}
	// Wait until eu-west knows the bucket.
	if err := retry(ctx, func() error {
		_, err := clients["eu-west"].HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("bench")})
		return err
	}); err != nil {
		return err
	}

	var rows []row
	plain := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	ps := s3.NewPresignClient(east)
	want := func(op string, size int) bool {
		return o.only == "" || slices.Contains(strings.Split(o.only, ","), op+"-"+strings.ReplaceAll(human(size), " ", ""))
	}
	basePids := []int{base.Cmd.Process.Pid}
	nodePids := []int{nodes["us-east"].Cmd.Process.Pid, nodes["eu-west"].Cmd.Process.Pid}
	for _, size := range []int{64 << 10, 8 << 20} {
		if !want("PUT", size) && !want("GET", size) {
			continue
		}
		data := payload(size)
		// Presigned URLs (unsigned payload) let a plain HTTP client talk S3,
		// which separates the server's cost from the SDK's.
		var putURLs, getURLs []string
		for i := range keysPerSize {
			key := fmt.Sprintf("obj-%d-%d", size, i)
			pu, err := ps.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bench"), Key: aws.String(key)})
			if err != nil {
				return err
			}
			gu, err := ps.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bench"), Key: aws.String(key)})
			if err != nil {
				return err
			}
			putURLs, getURLs = append(putURLs, pu.URL), append(getURLs, gu.URL)
			if err := s3Op(ctx, east, "PUT", i, data); err != nil {
				return err
			}
			if err := urlOp(ctx, plain, http.MethodPut, fmt.Sprintf("http://%s/obj-%d-%d", baseAddr, size, i), data); err != nil {
				return err
			}
		}
		for _, op := range []string{"PUT", "GET"} {
			if !want(op, size) {
				continue
			}
			method := map[string]string{"PUT": http.MethodPut, "GET": http.MethodGet}[op]
			urls := putURLs
			if op == "GET" {
				urls = getURLs
			}
			b := measure(ctx, o.duration, o.concurrency, basePids, func(i int) error {
				return urlOp(ctx, plain, method, fmt.Sprintf("http://%s/obj-%d-%d", baseAddr, size, i), data)
			})
			p := measure(ctx, o.duration, o.concurrency, nodePids, func(i int) error { return urlOp(ctx, plain, method, urls[i], data) })
			cpu0 := nodesCPU(nodePids)
			if p.drain, err = settle(ctx, east, size); err != nil {
				return err
			}
			p.drainCPU = nodesCPU(nodePids) - cpu0
			m := measure(ctx, o.duration, o.concurrency, nodePids, func(i int) error { return s3Op(ctx, east, op, i, data) })
			cpu0 = nodesCPU(nodePids)
			if m.drain, err = settle(ctx, east, size); err != nil {
				return err
			}
			m.drainCPU = nodesCPU(nodePids) - cpu0
			rows = append(rows, row{op: op, size: size, base: b, presigned: p, meridian: m})
		}
	}
	load := procs.Loadavg()
	lag, err := replicationLag(ctx, east, o.lagObjects)
	if err != nil {
		return fmt.Errorf("replication lag: %w", err)
	}
	var big *bigResult
	if !o.skipGB {
		big, err = bigObject(ctx, east, o.gb, nodes)
		if err != nil {
			return fmt.Errorf("big object: %w", err)
		}
	}
	printTable(rows, lag, big, o, load)
	if o.out != "" {
		return writeJSON(o.out, rows, lag, big, o, load)
	}
	return nil
}

// The JSON of -out: what printTable prints.
type (
	jsonSide struct {
		OpsPerSec float64 `json:"ops_per_sec"`
		Ratio     float64 `json:"ratio_to_baseline,omitempty"`
		CPUms     float64 `json:"server_cpu_ms_per_op"`
		CPUmsAll  float64 `json:"server_cpu_ms_per_op_with_catch_up,omitempty"`
		Errors    int     `json:"errors"`
	}
	jsonStep struct {
		Op        string   `json:"op"`
		Bytes     int      `json:"bytes"`
		Baseline  jsonSide `json:"baseline"`
		Presigned jsonSide `json:"presigned"`
		SDK       jsonSide `json:"sdk"`
	}
	jsonBig struct {
		Bytes      int64   `json:"bytes"`
		PutSecs    float64 `json:"put_seconds"`
		GetSecs    float64 `json:"get_seconds"`
		PeakRSSMB  float64 `json:"origin_peak_rss_mb"`
		ChecksumOK bool    `json:"checksum_ok"`
	}
	jsonResults struct {
		Clients  int        `json:"clients"`
		StepSecs float64    `json:"step_seconds"`
		Loadavg  string     `json:"loadavg"`
		Steps    []jsonStep `json:"steps"`
		LagN     int        `json:"replication_lag_1mb_n"`
		LagP50ms float64    `json:"replication_lag_1mb_p50_ms"`
		LagP99ms float64    `json:"replication_lag_1mb_p99_ms"`
		Big      *jsonBig   `json:"big_object,omitempty"`
	}
)

// writeJSON writes the results to path, for -out.
func writeJSON(path string, rows []row, lag []time.Duration, big *bigResult, o options, load string) error {
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	out := jsonResults{Clients: o.concurrency, StepSecs: o.duration.Seconds(), Loadavg: load,
		LagN: len(lag), LagP50ms: ms(quantile(lag, 0.5)), LagP99ms: ms(quantile(lag, 0.99))}
	for _, r := range rows {
		side := func(x result, ratio bool) jsonSide {
			sd := jsonSide{OpsPerSec: x.opsPerSec(), CPUms: x.cpuPerOp(), Errors: x.errs}
			if ratio {
				sd.Ratio = x.opsPerSec() / r.base.opsPerSec()
				sd.CPUmsAll = x.cpuPerOpDrained()
			}
			return sd
		}
		out.Steps = append(out.Steps, jsonStep{Op: r.op, Bytes: r.size, Baseline: side(r.base, false),
			Presigned: side(r.presigned, true), SDK: side(r.meridian, true)})
	}
	if big != nil {
		out.Big = &jsonBig{big.size, big.putSecs, big.getSecs, big.eastPeak, big.sumOK}
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o600)
}

func newClient(url string, ak iam.AccessKey) *s3.Client {
	return s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(url), UsePathStyle: true,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: ak.ID, SecretAccessKey: ak.Secret}, nil
		}),
		HTTPClient: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}})
}

func retry(ctx context.Context, f func() error) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func payload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*31 + i>>8)
	}
	return b
}

type result struct {
	ops  int
	secs float64
	errs int
	err  error
	// cpu is the CPU time of the servers measured (the baseline, or both
	// region nodes) during the step; busy the whole machine's.
	cpu, busy time.Duration
	// drain is how long replication to eu-west took to catch up after the
	// step, before the next one started, and drainCPU the nodes' CPU
	// meanwhile (replication of the step's writes that the step's window
	// did not see, plus the HEAD requests that wait for it).
	drain, drainCPU time.Duration
}

// nodesCPU is the CPU time used so far by the processes.
func nodesCPU(pids []int) (t time.Duration) {
	for _, p := range pids {
		t += procs.CPUTime(p, false).Total()
	}
	return t
}

// cpuPerOpDrained is cpuPerOp counting the catch-up after the step too.
func (r result) cpuPerOpDrained() float64 {
	return float64((r.cpu + r.drainCPU).Microseconds()) / 1000 / float64(max(r.ops, 1))
}

// cpuPerOp is the servers' CPU time per operation, in ms.
func (r result) cpuPerOp() float64 {
	return float64(r.cpu.Microseconds()) / 1000 / float64(max(r.ops, 1))
}

func (r result) opsPerSec() float64 { return float64(r.ops) / r.secs }

// measure runs op from n goroutines for d and counts completions.
func measure(ctx context.Context, d time.Duration, n int, pids []int, op func(i int) error) result {
	cpu := func() time.Duration { return nodesCPU(pids) }
	cpu0, busy0 := cpu(), procs.CPUsBusy(nil)
	var ops, errs atomic.Int64
	var first atomic.Value
	var seq atomic.Int64
	stop := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for time.Now().Before(stop) && ctx.Err() == nil {
				if err := op(int(seq.Add(1) % keysPerSize)); err != nil {
					errs.Add(1)
					first.CompareAndSwap(nil, err)
					continue
				}
				ops.Add(1)
			}
		})
	}
	wg.Wait()
	r := result{ops: int(ops.Load()), errs: int(errs.Load()), secs: time.Since(start).Seconds(), cpu: cpu() - cpu0, busy: procs.CPUsBusy(nil) - busy0}
	if e, ok := first.Load().(error); ok {
		r.err = e
	}
	return r
}

const keysPerSize = 64

// settle waits until every object of a size written in us-east has
// replicated (each key's current version is COMPLETED), so a step's
// replication backlog does not run during the next step, and returns how
// long that took.
func settle(ctx context.Context, east *s3.Client, size int) (time.Duration, error) {
	start := time.Now()
	for i := range keysPerSize {
		key := fmt.Sprintf("obj-%d-%d", size, i)
		for {
			h, err := east.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("bench"), Key: aws.String(key)})
			if err != nil {
				return 0, err
			}
			if h.ReplicationStatus == "COMPLETED" {
				break
			}
			if time.Since(start) > 2*time.Minute {
				return 0, fmt.Errorf("%s not replicated within 2 minutes (status %s)", key, h.ReplicationStatus)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	return time.Since(start), nil
}

// urlOp PUTs data to, or GETs and checks the length of, a URL.
func urlOp(ctx context.Context, c *http.Client, method, url string, data []byte) error {
	var body io.Reader
	if method == http.MethodPut {
		body = strings.NewReader(string(data))
	}
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	n, _ := io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != 200 {
		return fmt.Errorf("%s: %s", method, resp.Status)
	}
	if method == http.MethodGet && n != int64(len(data)) {
		return fmt.Errorf("GET read %d bytes", n)
	}
	return nil
}

func s3Op(ctx context.Context, c *s3.Client, op string, i int, data []byte) error {
	key := fmt.Sprintf("obj-%d-%d", len(data), i)
	if op == "PUT" {
		_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bench"), Key: aws.String(key), Body: strings.NewReader(string(data))})
		return err
	}
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bench"), Key: aws.String(key)})
	if err != nil {
		return err
	}
	defer func() { _ = out.Body.Close() }()
	n, err := io.Copy(io.Discard, out.Body)
	if err == nil && n != int64(len(data)) {
		err = fmt.Errorf("GET read %d bytes", n)
	}
	return err
}

type row struct {
	op                        string
	size                      int
	base, presigned, meridian result
}

// replicationLag writes 1 MB objects in us-east and times each from its
// acknowledgement until us-east reports it COMPLETED (eu-west fetched the
// bytes, verified them and recorded the replica, which replicated back).
func replicationLag(ctx context.Context, east *s3.Client, n int) ([]time.Duration, error) {
	data := payload(1 << 20)
	var lags []time.Duration
	for i := range n {
		key := fmt.Sprintf("lag-%d", i)
		data[0] = byte(i)
		if _, err := east.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bench"), Key: aws.String(key), Body: strings.NewReader(string(data))}); err != nil {
			return nil, err
		}
		acked := time.Now()
		for {
			h, err := east.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("bench"), Key: aws.String(key)})
			if err != nil {
				return nil, err
			}
			if h.ReplicationStatus == "COMPLETED" {
				lags = append(lags, time.Since(acked))
				break
			}
			if time.Since(acked) > 60*time.Second {
				return nil, fmt.Errorf("%s not replicated within 60s (status %s)", key, h.ReplicationStatus)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	slices.Sort(lags)
	return lags, nil
}

// gen is a deterministic stream of n bytes.
type gen struct{ off, n int64 }

func (g *gen) Read(p []byte) (int, error) {
	if g.off >= g.n {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), g.n-g.off)]
	for i := range p {
		x := g.off + int64(i)
		p[i] = byte(x*2654435761>>13) ^ byte(x) //nolint:gosec // truncation is the point: a byte pattern
	}
	g.off += int64(len(p))
	return len(p), nil
}

type bigResult struct {
	size                 int64
	putSecs, getSecs     float64
	eastBefore, eastPeak float64
	westPeak             float64
	replicated           float64
	sumOK                bool
}

// bigObject uploads and downloads one big object through presigned URLs
// (streamed, unsigned payload) and reads the nodes' peak RSS.
func bigObject(ctx context.Context, east *s3.Client, size int64, nodes map[string]*procs.Child) (*bigResult, error) {
	res := &bigResult{size: size}
	res.eastBefore, _ = memory(nodes["us-east"].Cmd.Process.Pid)
	ps := s3.NewPresignClient(east)
	put, err := ps.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bench"), Key: aws.String("big")})
	if err != nil {
		return nil, err
	}
	want := sha256.New()
	body := io.TeeReader(&gen{n: size}, want)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPut, put.URL, body)
	req.ContentLength = size
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("PUT: %s", resp.Status)
	}
	res.putSecs = time.Since(start).Seconds()
	get, err := ps.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bench"), Key: aws.String("big")})
	if err != nil {
		return nil, err
	}
	start = time.Now()
	resp, err = http.Get(get.URL)
	if err != nil {
		return nil, err
	}
	got := sha256.New()
	_, err = io.Copy(got, resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, err
	}
	res.getSecs = time.Since(start).Seconds()
	res.sumOK = hex.EncodeToString(got.Sum(nil)) == hex.EncodeToString(want.Sum(nil))
	start = time.Now()
	for {
		h, err := east.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("bench"), Key: aws.String("big")})
		if err != nil {
			return nil, err
		}
		if h.ReplicationStatus == "COMPLETED" {
			break
		}
		if time.Since(start) > 5*time.Minute {
			return nil, errors.New("the big object did not replicate within 5 minutes")
		}
		time.Sleep(50 * time.Millisecond)
	}
	res.replicated = time.Since(start).Seconds()
	_, res.eastPeak = memory(nodes["us-east"].Cmd.Process.Pid)
	_, res.westPeak = memory(nodes["eu-west"].Cmd.Process.Pid)
	return res, nil
}

func quantile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	return d[min(len(d)-1, int(q*float64(len(d))))]
}

func human(n int) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%d MB", n>>20)
	}
	return fmt.Sprintf("%d KB", n>>10)
}

func printTable(rows []row, lag []time.Duration, big *bigResult, o options, load string) {
	fmt.Printf("S3 throughput, %d clients, %s per step (baseline: plain net/http, temp file + fsync + rename + directory fsync, same disk); load average after: %s\n", o.concurrency, o.duration, load)
	fmt.Printf("%-4s %-6s %11s %11s %11s %11s %11s %11s\n", "op", "size", "base ops/s", "base MB/s", "url ops/s", "url/base", "sdk ops/s", "sdk/base")
	for _, r := range rows {
		fmt.Printf("%-4s %-6s %11.0f %11.1f %11.0f %11.2f %11.0f %11.2f", r.op, human(r.size), r.base.opsPerSec(), float64(r.base.ops*r.size)/r.base.secs/(1<<20),
			r.presigned.opsPerSec(), r.presigned.opsPerSec()/r.base.opsPerSec(), r.meridian.opsPerSec(), r.meridian.opsPerSec()/r.base.opsPerSec())
		for name, x := range map[string]result{"base": r.base, "url": r.presigned, "sdk": r.meridian} {
			if x.errs > 0 {
				fmt.Printf("  %s errors: %d (%v)", name, x.errs, x.err)
			}
		}
		fmt.Println()
	}
	fmt.Println("url: S3 through presigned URLs and a plain HTTP client (server cost); sdk: aws-sdk-go-v2 with its default checksums and payload signing")
	fmt.Println("each S3 PUT is also copied to eu-west, on the same disk and CPUs, during the PUT steps; the baseline keeps one copy")
	ncpu := float64(runtime.NumCPU())
	fmt.Printf("\nserver CPU ms per op (baseline process; both region nodes), machine CPU busy %% (of %.0f CPUs), replication catch-up after the step,\n", ncpu)
	fmt.Println("and the nodes' CPU ms per op counting that catch-up (the copies the step's window did not see, and the HEAD polls that wait for them)")
	fmt.Printf("%-4s %-6s %9s %9s %9s %7s %7s %7s %9s %9s %9s %9s\n", "op", "size", "base cpu", "url cpu", "sdk cpu", "base %", "url %", "sdk %", "url drain", "sdk drain", "url+drain", "sdk+drain")
	busy := func(r result) float64 { return 100 * r.busy.Seconds() / r.secs / ncpu }
	for _, r := range rows {
		fmt.Printf("%-4s %-6s %9.2f %9.2f %9.2f %7.0f %7.0f %7.0f %9s %9s %9.2f %9.2f\n", r.op, human(r.size), r.base.cpuPerOp(), r.presigned.cpuPerOp(), r.meridian.cpuPerOp(),
			busy(r.base), busy(r.presigned), busy(r.meridian), r.presigned.drain.Round(time.Millisecond), r.meridian.drain.Round(time.Millisecond),
			r.presigned.cpuPerOpDrained(), r.meridian.cpuPerOpDrained())
	}
	if len(lag) > 0 {
		fmt.Printf("\nreplication lag, 1 MB objects us-east→eu-west, ack → COMPLETED at the source (n=%d): p50 %s  p99 %s  max %s\n",
			len(lag), quantile(lag, 0.5).Round(time.Millisecond), quantile(lag, 0.99).Round(time.Millisecond), quantile(lag, 1).Round(time.Millisecond))
	}
	if big != nil {
		fmt.Printf("big object %d MB: PUT %.1f s (%.0f MB/s), GET %.1f s (%.0f MB/s), checksum ok %v, replicated in %.1f s more\n",
			big.size>>20, big.putSecs, float64(big.size)/big.putSecs/(1<<20), big.getSecs, float64(big.size)/big.getSecs/(1<<20), big.sumOK, big.replicated)
		fmt.Printf("node RSS: us-east %.0f MB before, peak %.0f MB (VmHWM since start); eu-west (fetched it) peak %.0f MB\n", big.eastBefore, big.eastPeak, big.westPeak)
	}
}
