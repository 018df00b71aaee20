package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/meridian-platform/meridian/bench/internal/procs"
	"github.com/meridian-platform/meridian/bench/internal/rawload"
)

// result is one measured run: one server, one size, one round.
type result struct {
	Target   string  `json:"target"`
	Size     string  `json:"size"`
	Bytes    int     `json:"bytes"`
	Round    int     `json:"round"`
	Requests int     `json:"requests"`
	Errors   int     `json:"errors"`
	NonHits  int     `json:"non_hits,omitempty"` // cache responses without X-Cache: Hit
	RPS      float64 `json:"rps"`
	MBps     float64 `json:"body_mb_per_s"` // body bytes only, 10^6 bytes
	P50Ms    float64 `json:"p50_ms"`
	P99Ms    float64 `json:"p99_ms"`
	MeanMs   float64 `json:"mean_ms"`
	// ServerCores is the server's CPU time (user+system, all its
	// processes) over the run's wall time; ServerUsPerReq that time per
	// request and KernelShare the part of it spent in the kernel.
	ServerCores    float64 `json:"server_cores"`
	ServerUsPerReq float64 `json:"server_cpu_us_per_request"`
	KernelShare    float64 `json:"server_kernel_share"`
	// PerCoreRPS is requests per second of the server's CPU time.
	PerCoreRPS float64 `json:"requests_per_server_core_s"`
	// LoadCores is this process's CPU (load generator and origin).
	LoadCores float64 `json:"load_generator_cores"`
	// OthersOnServerCPUs is the busy time of the server's CPUs not spent
	// by the server (other people's work, or softirqs accounted to
	// nobody), in cores; OthersAll the same for the whole machine minus
	// the server and the load generator.
	OthersOnServerCPUs float64 `json:"others_on_server_cpus_cores,omitempty"`
	OthersAll          float64 `json:"others_cores"`
	// LoadBound: the load generator used (nearly) its whole CPU while the
	// server did not, so req/s is a lower bound for this server.
	LoadBound bool `json:"load_bound,omitempty"`
}

func newResult(t target, f file, round int, st rawload.Result, srv, gen procs.CPUUse, busyServer, busyAll time.Duration, pinned bool) result {
	el := st.Elapsed.Seconds()
	r := result{
		Target: t.name, Size: f.label, Bytes: f.size, Round: round,
		Requests: st.Requests, Errors: st.Errors, NonHits: st.NonHits,
		RPS:         st.RPS(),
		P50Ms:       ms(st.Latency.Quantile(0.50)),
		P99Ms:       ms(st.Latency.Quantile(0.99)),
		MeanMs:      ms(st.Latency.Mean()),
		ServerCores: srv.Total().Seconds() / el,
		LoadCores:   gen.Total().Seconds() / el,
	}
	r.MBps = r.RPS * float64(f.size) / 1e6
	if st.Requests > 0 {
		r.ServerUsPerReq = float64(srv.Total()) / 1e3 / float64(st.Requests)
	}
	if srv.Total() > 0 {
		r.KernelShare = srv.Sys.Seconds() / srv.Total().Seconds()
		r.PerCoreRPS = float64(st.Requests) / srv.Total().Seconds()
	}
	if pinned {
		r.OthersOnServerCPUs = max(0, (busyServer-srv.Total()).Seconds()/el)
	}
	r.OthersAll = max(0, (busyAll-srv.Total()-gen.Total()).Seconds()/el)
	r.LoadBound = r.LoadCores >= 0.9 && r.ServerCores < 0.85
	return r
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

func (r result) print(w io.Writer) {
	flag := ""
	if r.LoadBound {
		flag = "  (load generator bound)"
	}
	if r.Requests == 0 {
		flag += "  NO RESPONSE COMPLETED"
	}
	if r.NonHits > 0 {
		flag += fmt.Sprintf("  NON-HITS %d", r.NonHits)
	}
	fmt.Fprintf(w, "  %-4s %-16s round %d: %8.0f req/s %8.1f MB/s  p50 %6.2f p99 %6.2f ms  errors %d  server %.2f cores %6.1f us/req (kernel %2.0f%%) %7.0f req/core-s  load %.2f  others %.2f (on server CPU %.2f)%s\n",
		r.Size, r.Target, r.Round, r.RPS, r.MBps, r.P50Ms, r.P99Ms, r.Errors, r.ServerCores, r.ServerUsPerReq,
		100*r.KernelShare, r.PerCoreRPS, r.LoadCores, r.OthersAll, r.OthersOnServerCPUs, flag)
}

// summary is one server at one size over the rounds.
type summary struct {
	Target     string  `json:"target"`
	Size       string  `json:"size"`
	RPS        float64 `json:"rps_mean"`
	RPSMin     float64 `json:"rps_min"`
	RPSMax     float64 `json:"rps_max"`
	MBps       float64 `json:"body_mb_per_s_mean"`
	P50Ms      float64 `json:"p50_ms_mean"`
	P99Ms      float64 `json:"p99_ms_mean"`
	Cores      float64 `json:"server_cores_mean"`
	UsPerReq   float64 `json:"server_cpu_us_per_request_mean"`
	PerCoreRPS float64 `json:"requests_per_server_core_s_mean"`
	// For nginx rows: the cache's figure over this one, the mean of the
	// rounds' ratios and their range. For experiment rows (cache-*): this
	// one's figure over the cache's.
	Ratio        float64   `json:"cache_rps_ratio,omitempty"`
	RoundRatios  []float64 `json:"cache_rps_ratio_per_round,omitempty"`
	PerCoreRatio float64   `json:"cache_per_core_ratio,omitempty"`
	Errors       int       `json:"errors"`
	NonHits      int       `json:"non_hits"`
	LoadBound    int       `json:"load_bound_runs,omitempty"`
}

type report struct {
	Started        string    `json:"started"`
	CPUs           int       `json:"cpus"`
	GoVersion      string    `json:"go"`
	Nginx          string    `json:"nginx,omitempty"`
	NginxVariants  []string  `json:"nginx_variants,omitempty"`
	Pinning        string    `json:"pinning"`
	Concurrency    int       `json:"clients"`
	DurationS      float64   `json:"duration_s"`
	WarmupS        float64   `json:"warmup_s"`
	Rounds         int       `json:"rounds"`
	LoadAvg        string    `json:"loadavg_at_start"`
	Verified       []string  `json:"verified_sizes"`
	OriginRequests int64     `json:"origin_requests_while_measuring"`
	Runs           []result  `json:"runs"`
	Summary        []summary `json:"summary"`
}

func (rep *report) summarize() {
	type key struct{ size, target string }
	var order []key
	runs := map[key][]result{}
	for _, r := range rep.Runs {
		k := key{r.Size, r.Target}
		if runs[k] == nil {
			order = append(order, k)
		}
		runs[k] = append(runs[k], r)
	}
	sums := map[key]*summary{}
	for _, k := range order {
		rs := runs[k]
		s := &summary{Target: k.target, Size: k.size, RPSMin: rs[0].RPS, RPSMax: rs[0].RPS}
		var cpu, reqs float64
		for _, r := range rs {
			s.RPS += r.RPS
			s.RPSMin, s.RPSMax = min(s.RPSMin, r.RPS), max(s.RPSMax, r.RPS)
			s.MBps += r.MBps
			s.P50Ms += r.P50Ms
			s.P99Ms += r.P99Ms
			s.Cores += r.ServerCores
			s.Errors += r.Errors
			s.NonHits += r.NonHits
			if r.LoadBound {
				s.LoadBound++
			}
			cpu += r.ServerUsPerReq * float64(r.Requests)
			reqs += float64(r.Requests)
		}
		n := float64(len(rs))
		s.RPS, s.MBps, s.P50Ms, s.P99Ms, s.Cores = s.RPS/n, s.MBps/n, s.P50Ms/n, s.P99Ms/n, s.Cores/n
		if reqs > 0 && cpu > 0 {
			s.UsPerReq = cpu / reqs
			s.PerCoreRPS = 1e6 / s.UsPerReq
		}
		sums[k] = s
	}
	for _, k := range order {
		s := sums[k]
		c := sums[key{k.size, "cache"}]
		if k.target == "cache" || c == nil {
			continue
		}
		exp := strings.HasPrefix(k.target, "cache-")
		var ratios []float64
		if s.RPS == 0 || c.RPS == 0 {
			continue // a server that answered nothing in a run: no ratio
		}
		for i, r := range runs[k] {
			if cr := runs[key{k.size, "cache"}]; i < len(cr) && cr[i].Round == r.Round && r.RPS > 0 && cr[i].RPS > 0 {
				if exp {
					ratios = append(ratios, r.RPS/cr[i].RPS)
				} else {
					ratios = append(ratios, cr[i].RPS/r.RPS)
				}
			}
		}
		s.RoundRatios = ratios
		if exp {
			s.Ratio = s.RPS / c.RPS
			if c.PerCoreRPS > 0 {
				s.PerCoreRatio = s.PerCoreRPS / c.PerCoreRPS
			}
			continue
		}
		s.Ratio = c.RPS / s.RPS
		if s.PerCoreRPS > 0 {
			s.PerCoreRatio = c.PerCoreRPS / s.PerCoreRPS
		}
	}
	for _, k := range order {
		rep.Summary = append(rep.Summary, *sums[k])
	}
}

func (rep report) print(w io.Writer) {
	fmt.Fprintf(w, "\nmean of %d rounds (req/s range in brackets); cache ÷ nginx per size, per round in brackets\n", rep.Rounds)
	fmt.Fprintln(w, "(for cache-* experiment rows: this ÷ cache):")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "size\tserver\treq/s\t(min–max)\tMB/s\tp50 ms\tp99 ms\tserver cores\tus/req\treq/core-s\tcache ÷ this req/s\tper core\t")
	for _, s := range rep.Summary {
		ratio, perCore := "", ""
		if s.Ratio > 0 {
			parts := make([]string, len(s.RoundRatios))
			for i, x := range s.RoundRatios {
				parts[i] = fmt.Sprintf("%.2f", x)
			}
			ratio = fmt.Sprintf("%.2f (%s)", s.Ratio, strings.Join(parts, " "))
			perCore = fmt.Sprintf("%.2f", s.PerCoreRatio)
		}
		name := s.Target
		if s.LoadBound > 0 {
			name += "*"
		}
		fmt.Fprintf(tw, "%s\t%s\t%.0f\t(%.0f–%.0f)\t%.1f\t%.2f\t%.2f\t%.2f\t%.1f\t%.0f\t%s\t%s\t\n",
			s.Size, name, s.RPS, s.RPSMin, s.RPSMax, s.MBps, s.P50Ms, s.P99Ms, s.Cores, s.UsPerReq, s.PerCoreRPS, ratio, perCore)
	}
	_ = tw.Flush()
	if slices.ContainsFunc(rep.Summary, func(s summary) bool { return s.LoadBound > 0 }) {
		fmt.Fprintln(w, "* in some rounds the load generator used (nearly) its whole CPU while this server did not:")
		fmt.Fprintln(w, "  its req/s is a lower bound and the req/s ratio is not the servers' own; compare per core.")
	}
	bad := 0
	for _, s := range rep.Summary {
		bad += s.Errors + s.NonHits
	}
	fmt.Fprintf(w, "errors and non-hits: %d; origin requests while measuring: %d\n", bad, rep.OriginRequests)
}
