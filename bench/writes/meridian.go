package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"os"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/meridian-platform/meridian/bench/internal/latency"
	"github.com/meridian-platform/meridian/bench/internal/procs"

	"github.com/meridian-platform/meridian/internal/store"
)

// meridianResult is the sustained write benchmark across all regions.
type meridianResult struct {
	Regions          int `json:"regions"`
	WritersPerRegion int `json:"writers_per_region"`
	// Rate is the offered load in writes/s over all regions (-rate), 0
	// when every writer writes again as soon as it is acknowledged.
	Rate float64 `json:"rate,omitempty"`
	// Procs: every region ran with its writers in its own process (-procs),
	// each with the default GOMAXPROCS; otherwise all in this one.
	Procs           bool               `json:"procs,omitempty"`
	Seconds         float64            `json:"seconds"`
	Writes          uint64             `json:"writes"`
	WritesPerSec    float64            `json:"writes_per_sec"`
	PerRegion       map[string]float64 `json:"writes_per_sec_by_region"`
	Errors          uint64             `json:"errors"`
	FirstError      string             `json:"first_error,omitempty"`
	RatioToBaseline float64            `json:"ratio_to_baseline,omitempty"`
	RatioToCeiling  float64            `json:"ratio_to_replicated_baseline,omitempty"`

	// CPUPerWriteus is this process's CPU time (user + system, all three
	// nodes and the writers; with -procs the sum of the children's) over
	// the window, per acknowledged write: the
	// figure to compare between runs on a shared machine, where throughput
	// and lag move with the other load.
	CPUSeconds    float64 `json:"cpu_seconds"`
	CPUPerWriteus float64 `json:"cpu_per_write_us"`

	LatencyP50ms  float64 `json:"latency_p50_ms"`
	LatencyP99ms  float64 `json:"latency_p99_ms"`
	LatencyMeanms float64 `json:"latency_mean_ms"`
	LatencyMaxms  float64 `json:"latency_max_ms"`

	// Replication lag: meridian_replication_apply_delay_seconds of every
	// node, observed during the measurement window. P50/P99 interpolate
	// inside the histogram's buckets (bounds 0.5ms·2^k); the Bound figures
	// are the upper bounds of the buckets that hold them.
	LagSamples   uint64 `json:"lag_samples"`
	LagP50ms     number `json:"lag_p50_ms"`
	LagP99ms     number `json:"lag_p99_ms"`
	LagP50Boundm number `json:"lag_p50_bucket_bound_ms"`
	LagP99Boundm number `json:"lag_p99_bucket_bound_ms"`
	LagMeanms    number `json:"lag_mean_ms"`

	// ConvergeSeconds is the time from the last acknowledged write until
	// every region holds identical digests and version vectors.
	ConvergeSeconds float64 `json:"converge_seconds"`
	// AllAcksEverywhere: after convergence every region's version vector
	// holds every acknowledged write of every region.
	AllAcksEverywhere bool `json:"all_acks_everywhere"`

	// From the stores' own metrics, over the window, all nodes together.
	Commits      float64 `json:"commits"`
	CommitMeanms number  `json:"commit_mean_ms"`
	CommitP99ms  number  `json:"commit_p99_ms_bucket_bound"`
	// SlowCommits counts group commits that took over 102.4 ms (a bucket
	// bound): rare enough to hide from the p99, long enough to hold every
	// writer of a region and show in the lag.
	SlowCommits      float64 `json:"commits_over_102ms"`
	GroupMean        number  `json:"group_mean_requests"`
	RemoteApplied    float64 `json:"remote_records_applied"`
	WriteStalls      float64 `json:"write_stalls"`
	WriteStallSecs   float64 `json:"write_stall_seconds"`
	AntiEntropyRuns  float64 `json:"anti_entropy_runs"`
	AntiEntropyItems float64 `json:"anti_entropy_repaired_items"`
}

// meridianOptions configures runMeridian.
type meridianOptions struct {
	writers    int
	rate       float64 // writes/s over all regions; 0: closed loop
	warm, dur  time.Duration
	cpuprofile string
	// trace logs, every second, the acknowledged writes of that second and
	// each region's backlog of records not yet applied from the others.
	trace func(format string, args ...any)
}

// runMeridian drives W writers per region against the in-process cluster
// for warm+dur, measuring only the last dur, then waits for convergence.
func runMeridian(ctx context.Context, c *cluster, o meridianOptions) (meridianResult, error) {
	res := meridianResult{Regions: len(c.nodes), WritersPerRegion: o.writers, Rate: o.rate, Seconds: o.dur.Seconds(), PerRegion: map[string]float64{}}
	client := &http.Client{Timeout: 10 * time.Second}

	start := time.Now()
	from, until := start.Add(o.warm), start.Add(o.warm+o.dur)

	scraped := scrapeWindow(ctx, client, c.admin, from, until, func() procs.CPUUse { return procs.CPUTime(os.Getpid(), false) }, o.cpuprofile)

	var acked atomic.Uint64
	stopTrace := make(chan struct{})
	traceDone := make(chan struct{})
	go func() {
		defer close(traceDone)
		if o.trace != nil {
			traceBacklog(c, &acked, start, stopTrace, o.trace)
		}
	}()
	loads := make([]regionLoad, len(c.nodes))
	var wg sync.WaitGroup
	for ri, n := range c.nodes {
		wg.Go(func() {
			loads[ri] = driveRegion(ctx, n.Store(), ri, writeSchedule{
				writers: o.writers, interval: slotInterval(o.rate, len(c.nodes)), start: start, from: from, until: until,
			}, &acked)
		})
	}
	wg.Wait()
	lastAck := time.Now()
	close(stopTrace)
	<-traceDone
	snaps := <-scraped
	if err := ctx.Err(); err != nil {
		return res, err
	}
	if snaps.err != nil {
		return res, snaps.err
	}

	// Convergence: every region equal, and every acknowledged write of
	// every region applied everywhere.
	if err := awaitConverged(ctx, lastAck, func() (bool, error) { return c.converged(), nil }); err != nil {
		return res, err
	}
	res.ConvergeSeconds = time.Since(lastAck).Seconds()
	res.AllAcksEverywhere = true
	for ri, n := range c.nodes {
		origin := n.Store().Origin()
		for _, m := range c.nodes {
			if m.Store().VV()[origin] < loads[ri].All {
				res.AllAcksEverywhere = false
			}
		}
		loads[ri].Region = n.Region()
	}
	res.addLoads(loads, snaps.cpu)
	res.addScrapes(snaps.before, snaps.after)
	return res, nil
}

// window is what scrapeWindow saw of the measured window: every node's
// metrics at both ends, and the CPU used in between.
type window struct {
	before, after []map[string]*dto.MetricFamily
	cpu           procs.CPUUse
	err           error
}

// scrapeWindow snapshots the metrics of the nodes at admin when the window
// opens (from) and closes (until), reads cpu at both ends, and with a
// profile file name profiles this process over the window. The result
// arrives on the channel once the window has closed.
func scrapeWindow(ctx context.Context, client *http.Client, admin []string, from, until time.Time, cpu func() procs.CPUUse, profile string) <-chan window {
	out := make(chan window, 1)
	go func() {
		var w window
		defer func() { out <- w }()
		sleepUntil(ctx, from)
		if w.before, w.err = scrapeAll(ctx, client, admin); w.err != nil {
			return
		}
		cpu0 := cpu()
		if profile != "" {
			f, err := os.Create(profile)
			if err != nil {
				w.err = fmt.Errorf("creating cpu profile: %w", err)
				return
			}
			defer func() { _ = f.Close() }()
			if err := pprof.StartCPUProfile(f); err != nil {
				w.err = fmt.Errorf("starting cpu profile: %w", err)
				return
			}
			sleepUntil(ctx, until)
			pprof.StopCPUProfile()
		}
		sleepUntil(ctx, until)
		w.cpu = cpu().Sub(cpu0)
		w.after, w.err = scrapeAll(ctx, client, admin)
	}()
	return out
}

// convergeTimeout bounds the wait for convergence after the last write.
const convergeTimeout = 120 * time.Second

// awaitConverged polls converged every 5 ms until it holds, or fails
// convergeTimeout after lastAck.
func awaitConverged(ctx context.Context, lastAck time.Time, converged func() (bool, error)) error {
	for {
		ok, err := converged()
		if err != nil || ok {
			return err
		}
		if time.Since(lastAck) > convergeTimeout {
			return fmt.Errorf("regions did not converge within %s of the last write", convergeTimeout)
		}
		if !sleepUntil(ctx, time.Now().Add(5*time.Millisecond)) {
			return ctx.Err()
		}
	}
}

// writeSchedule is when and how hard one region's writers write.
type writeSchedule struct {
	writers int
	// interval is the time between two of the region's write slots with
	// -rate (open loop), 0 without.
	interval time.Duration
	// start is when the writers start (and slot 0 is due), from and until
	// bound the measured window.
	start, from, until time.Time
}

// slotInterval is one region's time between writes when rate writes/s are
// spread evenly over regions; 0 without a rate.
func slotInterval(rate float64, regions int) time.Duration {
	if rate <= 0 {
		return 0
	}
	return time.Duration(float64(time.Second) * float64(regions) / rate)
}

// regionLoad is what one region's writers did; it is also the JSON a -procs
// child reports.
type regionLoad struct {
	Region string `json:"region"`
	// Window counts the writes acknowledged inside the window, All every
	// acknowledged write.
	Window     uint64            `json:"window_writes"`
	All        uint64            `json:"all_writes"`
	Errors     uint64            `json:"errors"`
	FirstError string            `json:"first_error,omitempty"`
	Latency    latency.Histogram `json:"latency"`
	// LastAck is when the last write was acknowledged (Unix ns).
	LastAck int64 `json:"last_ack_unix_ns"`
}

// driveRegion runs s.writers writers against st from s.start until
// s.until and returns what they did; the writers' keys carry ri so that the
// regions never write the same key. acked counts every acknowledged write
// as it happens.
func driveRegion(ctx context.Context, st *store.Store, ri int, s writeSchedule, acked *atomic.Uint64) regionLoad {
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		out      regionLoad
		errCount atomic.Uint64
		firstErr atomic.Value
		// With a rate, the region's writes are due on a fixed schedule
		// (open loop): a writer takes the next slot, waits for it if it
		// is ahead, and a write's latency counts from its slot, so time
		// spent behind schedule shows (no coordinated omission).
		slots atomic.Int64
	)
	sleepUntil(ctx, s.start)
	base := filler(docBytes)
	for w := range s.writers {
		wg.Go(func() {
			var my latency.Histogram
			var inWindow, all uint64
			var lastAck int64
			defer func() {
				mu.Lock()
				out.LastAck = max(out.LastAck, lastAck)
				out.Window += inWindow
				out.All += all
				out.Latency.Merge(&my)
				mu.Unlock()
			}()
			for seq := 0; ctx.Err() == nil; seq++ {
				t0 := time.Now()
				if s.interval > 0 {
					due := s.start.Add(time.Duration(slots.Add(1)-1) * s.interval)
					if due.After(t0) && !sleepUntil(ctx, due) {
						return
					}
					t0 = due
				}
				if !t0.Before(s.until) {
					return
				}
				doc := append([]byte(nil), base...)
				copy(doc, fmt.Appendf(nil, "%d.%d.%d:", ri, w, seq))
				key := store.Key{Space: "bench", Hash: fmt.Appendf(nil, "r%d-w%03d-%010d", ri, w, seq)}
				_, err := st.Apply(ctx, store.Mutation{Key: key, Put: doc})
				if err != nil {
					errCount.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					if ctx.Err() != nil || errors.Is(err, store.ErrClosed) {
						return
					}
					continue
				}
				all++
				acked.Add(1)
				t1 := time.Now()
				lastAck = t1.UnixNano()
				if !t1.Before(s.from) && t1.Before(s.until) {
					inWindow++
					my.Record(t1.Sub(t0))
				}
			}
		})
	}
	wg.Wait()
	out.Errors = errCount.Load()
	if e, ok := firstErr.Load().(string); ok {
		out.FirstError = e
	}
	return out
}

// addLoads fills in the writers' figures: writes, their latency, and cpu
// (over the window) per write.
func (res *meridianResult) addLoads(loads []regionLoad, cpu procs.CPUUse) {
	var lat latency.Histogram
	for _, l := range loads {
		res.Writes += l.Window
		res.PerRegion[l.Region] = float64(l.Window) / res.Seconds
		res.Errors += l.Errors
		if res.FirstError == "" {
			res.FirstError = l.FirstError
		}
		lat.Merge(&l.Latency)
	}
	res.WritesPerSec = float64(res.Writes) / res.Seconds
	res.CPUSeconds = cpu.Total().Seconds()
	if res.Writes > 0 {
		res.CPUPerWriteus = 1e6 * res.CPUSeconds / float64(res.Writes)
	}
	res.LatencyP50ms = ms(lat.Quantile(0.50))
	res.LatencyP99ms = ms(lat.Quantile(0.99))
	res.LatencyMeanms = ms(lat.Mean())
	res.LatencyMaxms = ms(lat.Max())
}

// addScrapes fills in the nodes' own figures over the window, from their
// metrics before and after it (one map per node, in the same order).
func (res *meridianResult) addScrapes(before, after []map[string]*dto.MetricFamily) {
	var lag, commit, group hist
	for i := range after {
		b, a := before[i], after[i]
		lag = lag.plus(histogramOf(a, "meridian_replication_apply_delay_seconds").minus(histogramOf(b, "meridian_replication_apply_delay_seconds")))
		commit = commit.plus(histogramOf(a, "meridian_store_commit_seconds").minus(histogramOf(b, "meridian_store_commit_seconds")))
		group = group.plus(histogramOf(a, "meridian_store_group_size").minus(histogramOf(b, "meridian_store_group_size")))
		res.RemoteApplied += counterOf(a, "meridian_store_writes_total", "kind", "remote") - counterOf(b, "meridian_store_writes_total", "kind", "remote")
		res.WriteStalls += counterOf(a, "meridian_store_write_stalls_total") - counterOf(b, "meridian_store_write_stalls_total")
		res.WriteStallSecs += counterOf(a, "meridian_store_write_stall_seconds_total") - counterOf(b, "meridian_store_write_stall_seconds_total")
		res.AntiEntropyRuns += counterOf(a, "meridian_anti_entropy_runs_total") - counterOf(b, "meridian_anti_entropy_runs_total")
		res.AntiEntropyItems += counterOf(a, "meridian_anti_entropy_repaired_items_total") - counterOf(b, "meridian_anti_entropy_repaired_items_total")
	}
	res.LagSamples = uint64(lag.count)
	res.LagP50ms = number(1000 * lag.quantile(0.50))
	res.LagP99ms = number(1000 * lag.quantile(0.99))
	res.LagP50Boundm = number(1000 * lag.bucketBound(0.50))
	res.LagP99Boundm = number(1000 * lag.bucketBound(0.99))
	res.LagMeanms = number(1000 * lag.mean())
	res.Commits = commit.count
	res.CommitMeanms = number(1000 * commit.mean())
	res.CommitP99ms = number(1000 * commit.bucketBound(0.99))
	res.SlowCommits = commit.above(0.1024)
	res.GroupMean = number(group.mean())
}

func scrapeAll(ctx context.Context, client *http.Client, addrs []string) ([]map[string]*dto.MetricFamily, error) {
	out := make([]map[string]*dto.MetricFamily, len(addrs))
	for i, a := range addrs {
		mfs, err := scrape(ctx, client, a)
		if err != nil {
			return nil, err
		}
		out[i] = mfs
	}
	return out, nil
}

// sleepUntil waits until t or ctx ends; it reports whether t was reached.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

// number is a float that encodes as JSON null when it is not finite (no
// samples, or beyond a histogram's last bucket).
type number float64

func (n number) MarshalJSON() ([]byte, error) {
	f := float64(n)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null"), nil
	}
	return json.Marshal(f)
}

// traceBacklog logs once a second until stop: acknowledged writes in that
// second, and per region how many records of the other regions' logs it has
// not applied yet.
func traceBacklog(c *cluster, acked *atomic.Uint64, start time.Time, stop <-chan struct{}, logf func(string, ...any)) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var last uint64
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		now := acked.Load()
		heads := map[string]uint64{}
		for _, n := range c.nodes {
			heads[n.Store().Origin()] = n.Store().VV()[n.Store().Origin()]
		}
		backlog := ""
		for _, n := range c.nodes {
			vv := n.Store().VV()
			var behind uint64
			for o, h := range heads {
				behind += h - min(h, vv[o])
			}
			backlog += fmt.Sprintf(" %s=%d", n.Region(), behind)
		}
		logf("t=%4.1fs  acked %6d/s  backlog (records):%s", time.Since(start).Seconds(), now-last, backlog)
		last = now
	}
}
