package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/meridian-platform/meridian/bench/internal/procs"
)

type report struct {
	Load        string        `json:"load_average_at_start"`
	CPUs        int           `json:"cpus"`
	ServerCPUs  string        `json:"server_cpus,omitempty"`
	DnsperfCPUs string        `json:"dnsperf_cpus,omitempty"`
	Workers     int           `json:"server_workers"`
	Queries     int           `json:"queries_in_mix"`
	RecordSets  int           `json:"record_sets"`
	Records     int           `json:"records"`
	Verify      verification  `json:"verification"`
	LatencyQPS  int           `json:"latency_phase_qps,omitempty"`
	Runs        []measurement `json:"runs"`
	Summary     []summary     `json:"summary"`
	// Ratio is Meridian's mean QPS over Knot's; RatioMin and RatioMax the
	// range of the rounds' ratios (each round measures both back to back).
	Ratio        float64 `json:"qps_ratio_to_knot,omitempty"`
	RatioMin     float64 `json:"qps_ratio_min,omitempty"`
	RatioMax     float64 `json:"qps_ratio_max,omitempty"`
	RatioPerCore float64 `json:"qps_per_core_ratio_to_knot,omitempty"`
	TargetMet    bool    `json:"target_met"`
}

// summary is one server's throughput runs (means, with the range of QPS)
// and its latency run.
type summary struct {
	Server       string  `json:"server"`
	Runs         int     `json:"runs"`
	QPS          float64 `json:"qps"`
	QPSMin       float64 `json:"qps_min"`
	QPSMax       float64 `json:"qps_max"`
	Lost         int64   `json:"lost"`
	Sent         int64   `json:"sent"`
	AvgMs        float64 `json:"avg_latency_ms"`
	MaxMs        float64 `json:"max_latency_ms"`
	RespBytes    int     `json:"response_bytes"`
	ServerCores  float64 `json:"server_cores"`
	DnsperfCores float64 `json:"dnsperf_cores"`
	OtherCores   float64 `json:"other_cores"`
	QPSPerCore   float64 `json:"qps_per_server_core"`
	// The latency phase at a fixed rate.
	LatAvgMs  float64 `json:"fixed_rate_avg_ms,omitempty"`
	LatP50Ms  float64 `json:"fixed_rate_p50_ms,omitempty"`
	LatP99Ms  float64 `json:"fixed_rate_p99_ms,omitempty"`
	LatP999Ms float64 `json:"fixed_rate_p999_ms,omitempty"`
	LatLost   int64   `json:"fixed_rate_lost,omitempty"`
}

func (rep *report) summarize() {
	rep.Summary = nil
	idx := map[string]int{}
	for _, m := range rep.Runs {
		i, ok := idx[m.Server]
		if !ok {
			i = len(rep.Summary)
			idx[m.Server] = i
			rep.Summary = append(rep.Summary, summary{Server: m.Server})
		}
		s := &rep.Summary[i]
		if m.Phase == "latency" {
			s.LatAvgMs, s.LatP50Ms, s.LatP99Ms, s.LatP999Ms = msf(m.AvgLatency), msf(m.P50), msf(m.P99), msf(m.P999)
			s.LatLost = m.Lost
			continue
		}
		if s.Runs == 0 || m.QPS < s.QPSMin {
			s.QPSMin = m.QPS
		}
		s.QPSMax = max(s.QPSMax, m.QPS)
		s.Runs++
		s.QPS += m.QPS
		s.Lost += m.Lost
		s.Sent += m.Sent
		s.AvgMs += msf(m.AvgLatency)
		s.MaxMs = max(s.MaxMs, msf(m.MaxLatency))
		s.RespBytes = m.RespBytes
		s.ServerCores += m.ServerCores
		s.DnsperfCores += m.DnsperfCores
		s.OtherCores += m.OtherCores
		s.QPSPerCore += m.QPSPerCore
	}
	for i := range rep.Summary {
		s := &rep.Summary[i]
		if n := float64(s.Runs); n > 0 {
			s.QPS, s.AvgMs, s.ServerCores, s.DnsperfCores, s.OtherCores, s.QPSPerCore =
				s.QPS/n, s.AvgMs/n, s.ServerCores/n, s.DnsperfCores/n, s.OtherCores/n, s.QPSPerCore/n
		}
	}
	k, m := rep.get("knot"), rep.get("meridian")
	rep.Ratio, rep.RatioMin, rep.RatioMax, rep.RatioPerCore = 0, 0, 0, 0
	if k == nil || m == nil || k.QPS == 0 {
		return
	}
	rep.Ratio = m.QPS / k.QPS
	if k.QPSPerCore > 0 {
		rep.RatioPerCore = m.QPSPerCore / k.QPSPerCore
	}
	rounds := map[int]map[string]float64{}
	for _, r := range rep.Runs {
		if r.Phase != "throughput" {
			continue
		}
		if rounds[r.Round] == nil {
			rounds[r.Round] = map[string]float64{}
		}
		rounds[r.Round][r.Server] = r.QPS
	}
	for _, qps := range rounds {
		if qps["knot"] == 0 || qps["meridian"] == 0 {
			continue
		}
		x := qps["meridian"] / qps["knot"]
		if rep.RatioMin == 0 || x < rep.RatioMin {
			rep.RatioMin = x
		}
		rep.RatioMax = max(rep.RatioMax, x)
	}
	rep.TargetMet = rep.Ratio >= targetRatio
}

func (rep *report) get(name string) *summary {
	for i := range rep.Summary {
		if rep.Summary[i].Server == name {
			return &rep.Summary[i]
		}
	}
	return nil
}

func (rep report) print(w io.Writer) {
	fmt.Fprintln(w, "\nthroughput: mean of the rounds (range); latency: the fixed-rate phase")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "server\tqueries/s\t(min–max)\tlost\tavg ms\tmax ms\tresp B\tserver cores\tq/core-s\tdnsperf cores\tothers' cores\tfixed rate p50 / p99 / p99.9 ms\t")
	for _, s := range rep.Summary {
		lat := "-"
		if s.LatP50Ms > 0 {
			lat = fmt.Sprintf("%.3f / %.3f / %.3f", s.LatP50Ms, s.LatP99Ms, s.LatP999Ms)
		}
		if s.Runs == 0 {
			fmt.Fprintf(tw, "%s\t-\t\t\t\t\t\t\t\t\t\t%s\t\n", s.Server, lat)
			continue
		}
		fmt.Fprintf(tw, "%s\t%.0f\t(%.0f–%.0f)\t%d\t%.3f\t%.1f\t%d\t%.2f\t%.0f\t%.2f\t%.2f\t%s\t\n",
			s.Server, s.QPS, s.QPSMin, s.QPSMax, s.Lost, s.AvgMs, s.MaxMs, s.RespBytes,
			s.ServerCores, s.QPSPerCore, s.DnsperfCores, s.OtherCores, lat)
	}
	_ = tw.Flush()
	fmt.Fprintln(w, "Meridian evaluates routing policies and reads health checks per query and echoes ECS; Knot serves static data.")
	if rep.Ratio == 0 {
		fmt.Fprintln(w, "no Knot or no Meridian figures: target not evaluated")
		return
	}
	verdict := "MISSED"
	if rep.TargetMet {
		verdict = "MET"
	}
	fmt.Fprintf(w, "Meridian q/s / Knot q/s: %.2f (rounds %.2f–%.2f) (target >= %.2f: %s); per server core: %.2f\n",
		rep.Ratio, rep.RatioMin, rep.RatioMax, targetRatio, verdict, rep.RatioPerCore)
	if k := rep.get("knot"); k != nil && rep.DnsperfCPUs != "" && k.DnsperfCores >= 0.9*float64(procs.CPUCount(rep.DnsperfCPUs)) {
		fmt.Fprintf(w, "note: dnsperf used %.2f of its %d CPU(s) against Knot: the load generator may be the limit, so Knot's q/s is a lower bound and the ratio an upper bound\n",
			k.DnsperfCores, procs.CPUCount(rep.DnsperfCPUs))
	}
	for _, s := range rep.Summary {
		if s.OtherCores > 0.5 && !strings.Contains(s.Server, "rrl") {
			fmt.Fprintf(w, "note: other processes used %.2f of the %d cores during %s's throughput runs: the machine was busy, so q/s moves from run to run; q/core-s is much less sensitive to it\n",
				s.OtherCores, rep.CPUs, s.Server)
		}
		if s.Sent > 0 && float64(s.Lost) > 0.001*float64(s.Sent) && !strings.Contains(s.Server, "rrl") {
			fmt.Fprintf(w, "note: %s lost %.2f%% of its queries: its q/s counts only answers\n", s.Server, 100*float64(s.Lost)/float64(s.Sent))
		}
	}
}
