package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/meridian-platform/meridian/bench/internal/latency"
	"github.com/meridian-platform/meridian/internal/chaos"
	"github.com/meridian-platform/meridian/internal/deploy"
	"github.com/meridian-platform/meridian/internal/topology"
)

const (
	victim    = "us-east"            // the region that fails
	shopHost  = "shop.meridian.test" // latency-routed over the regions
	naClient  = "127.0.10.61"        // a client address in North America's network
	dnsTTL    = topology.DefaultDNSTTL
	slowAfter = time.Second // a request slower than this counts as "slow"
)

// failover runs a real deployment and fails us-east rounds times per kind.
func failover(ctx context.Context, o options) (*failoverReport, error) {
	tmp, err := os.MkdirTemp("", "edge-bench-")
	if err != nil {
		return nil, err
	}
	if o.keep {
		fmt.Println("scratch directory:", tmp)
	} else {
		defer func() { _ = os.RemoveAll(tmp) }()
	}
	bin := o.meridian
	if bin == "" {
		fmt.Println("building ./cmd/meridian ...")
		if bin, err = buildMeridian(ctx, tmp); err != nil {
			return nil, err
		}
	}
	dir := filepath.Join(tmp, "data")
	logPath := filepath.Join(tmp, "up.log")
	started := time.Now()
	up, err := startUp(ctx, bin, dir, o.subnet, logPath)
	if err != nil {
		return nil, err
	}
	defer up.stop()
	eps, err := deploy.ReadEndpoints(dir)
	if err != nil {
		return nil, err
	}
	if len(eps.Edges) < 2 {
		return nil, fmt.Errorf("endpoints.json lists %d edges, want 3", len(eps.Edges))
	}
	f := &failoverRun{o: o, dir: dir, eps: eps, client: &http.Client{Timeout: 5 * time.Second}}
	for _, n := range eps.Nodes {
		if n.Region == victim {
			f.victimHost, _, _ = net.SplitHostPort(strings.TrimPrefix(n.Admin, "http://"))
		}
	}
	edge1, edge2 := eps.Edges[0], eps.Edges[1]
	rep := &failoverReport{Subnet: o.subnet, Rate: o.rate, TTLms: ms(dnsTTL), Edge: edge1.Name, DNSEdge: edge2.Name,
		DNSClient: naClient, ClientTimeout: o.clientTimeout.String(), Path: o.path}
	fmt.Printf("failover: meridian up --subnet %s (WAN realistic) ready in %s; traffic %d GET %s/s through %s (%s), DNS %s asked for %s from %s every %v\n",
		o.subnet, time.Since(started).Round(time.Millisecond), o.rate, o.path, edge1.Name, edge1.HTTP, edge2.Name, shopHost, naClient, o.dnsEvery)
	if err := f.awaitNormal(ctx, 180*time.Second); err != nil {
		return rep, err
	}
	fmt.Printf("every edge sees every region healthy, DNS answers %s for North America, %s routes to %s: %s after start\n",
		f.victimHost, edge1.Name, victim, time.Since(started).Round(time.Millisecond))
	for kind := range strings.SplitSeq(o.kinds, ",") {
		if kind != "kill" && kind != "blackhole" {
			return rep, fmt.Errorf("-kinds: %q is not kill or blackhole", kind)
		}
		for i := 1; i <= o.rounds; i++ {
			r, err := f.round(ctx, kind, i)
			if err != nil {
				return rep, fmt.Errorf("%s round %d: %w", kind, i, err)
			}
			rep.Rounds = append(rep.Rounds, r)
			r.printLine(os.Stdout, o.verbose)
		}
	}
	rep.summarize()
	return rep, nil
}

type failoverRun struct {
	o          options
	dir        string
	eps        deploy.Endpoints
	client     *http.Client
	victimHost string
}

// awaitNormal waits until every edge sees every node healthy, edge-2's DNS
// answers us-east for North America, and edge-1 routes to us-east again
// without it being ejected.
func (f *failoverRun) awaitNormal(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	left := func() time.Duration { return max(time.Until(deadline), time.Second) }
	if err := until(ctx, left(), "every edge sees every region healthy", func() error {
		return allHealthy(ctx, f.client, f.eps)
	}); err != nil {
		return err
	}
	if err := until(ctx, left(), victim+" in DNS answers", func() error {
		got, err := dnsA(f.eps.Edges[1].DNS, naClient, shopHost, time.Second)
		if err != nil {
			return err
		}
		if !slices.Equal(got, []string{f.victimHost}) {
			return fmt.Errorf("answer %v, want [%s]", got, f.victimHost)
		}
		return nil
	}); err != nil {
		return err
	}
	return until(ctx, left(), f.eps.Edges[0].Name+" routes to "+victim, func() error {
		s, err := edgeStatus(ctx, f.client, f.eps.Edges[0].Admin)
		if err != nil {
			return err
		}
		for _, r := range s.Regions {
			if r.ID == victim && (!r.Healthy || !r.EjectedUntil.IsZero()) {
				return fmt.Errorf("%s healthy %v, ejected until %v", victim, r.Healthy, r.EjectedUntil)
			}
		}
		region, err := f.probe(ctx)
		if err != nil {
			return err
		}
		if region != victim {
			return fmt.Errorf("answered by %s", region)
		}
		return nil
	})
}

// probe sends one GET through edge-1 and returns the region that answered.
func (f *failoverRun) probe(ctx context.Context) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.eps.Edges[0].HTTP+"/", nil)
	if err != nil {
		return "", err
	}
	req.Host = shopHost
	resp, err := f.client.Do(req)
	if err != nil {
		return "", err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %s", resp.Status)
	}
	return resp.Header.Get("X-Meridian-Region"), nil
}

// inject fails us-east the way kind says.
func (f *failoverRun) inject(ctx context.Context, kind string) error {
	switch kind {
	case "kill":
		_, err := deploy.Kill(ctx, f.dir, victim)
		return err
	case "blackhole":
		// us-east cut off from every other checker and from every edge's
		// proxy: the equivalent of `meridian chaos partition us-east X` for
		// every X, in one change.
		_, _, err := deploy.Inject(ctx, f.dir, func(s *chaos.State) {
			for _, e := range f.eps.Edges {
				s.Partition(victim, e.Name, false)
			}
			seen := map[string]bool{}
			for _, n := range f.eps.Nodes {
				if n.Region != victim && !seen[n.Region] {
					seen[n.Region] = true
					s.Partition(victim, n.Region, false)
				}
			}
		})
		return err
	}
	return fmt.Errorf("unknown kind %q", kind)
}

func (f *failoverRun) restore(ctx context.Context, kind string) error {
	if kind == "kill" {
		_, err := deploy.Restart(ctx, f.dir, victim)
		return err
	}
	_, _, err := deploy.Inject(ctx, f.dir, func(s *chaos.State) { s.Heal() })
	return err
}

// request is one GET of the traffic.
type request struct {
	sent, done time.Time
	status     int
	region     string
	err        string
	body       string // the start of a failed answer's body
}

// traffic sends GETs at a fixed rate, each on its own goroutine, so that a
// request the edge holds does not hold back the next one (a closed loop of
// a few workers stops measuring as soon as they are all stuck).
type traffic struct {
	mu   sync.Mutex
	reqs []request
	wg   sync.WaitGroup
	stop chan struct{}
	done chan struct{}
}

func startTraffic(url string, rate int, timeout time.Duration) *traffic {
	// Each request is its own goroutine; the transport pools connections.
	tr := &http.Transport{MaxIdleConnsPerHost: 1024, MaxIdleConns: 1024, DisableCompression: true}
	client := &http.Client{Transport: tr, Timeout: timeout}
	t := &traffic{stop: make(chan struct{}), done: make(chan struct{})}
	every := time.Second / time.Duration(max(rate, 1))
	go func() {
		defer close(t.done)
		defer tr.CloseIdleConnections()
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-t.stop:
				t.wg.Wait()
				return
			case <-tick.C:
			}
			t.wg.Go(func() {
				r := request{sent: time.Now()}
				req, _ := http.NewRequest(http.MethodGet, url, nil)
				req.Host = shopHost
				resp, err := client.Do(req)
				if err == nil {
					if resp.StatusCode != http.StatusOK {
						b, _ := io.ReadAll(io.LimitReader(resp.Body, 120))
						r.body = strings.TrimSpace(string(b))
					}
					_, err = io.Copy(io.Discard, resp.Body)
					_ = resp.Body.Close()
					r.status = resp.StatusCode
					r.region = resp.Header.Get("X-Meridian-Region")
				}
				r.done = time.Now()
				if err != nil {
					r.err = err.Error()
				}
				t.mu.Lock()
				t.reqs = append(t.reqs, r)
				t.mu.Unlock()
			})
		}
	}()
	return t
}

// finish stops sending and waits for every request in flight.
func (t *traffic) finish() []request {
	close(t.stop)
	<-t.done
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.reqs)
}

// poll calls fn every interval until stop closes.
func poll(every time.Duration, stop <-chan struct{}, fn func(now time.Time)) *sync.WaitGroup {
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				fn(time.Now())
			}
		}
	})
	return &wg
}

// roundResult is one failure of us-east. Times are milliseconds after T0,
// the moment the fault was injected (the start of the Kill or Inject call).
type roundResult struct {
	Kind  string `json:"kind"`
	Round int    `json:"round"`
	// InjectMs is how long the Kill / Inject call took (pushing the chaos
	// state to every process, then for kill the SIGKILL).
	InjectMs float64 `json:"inject_ms"`

	// EdgeSwitchMs is when edge-1's /admin/status first showed us-east
	// ejected or unhealthy: from then on the edge sends it no request while
	// another region is available. SwitchBy says which it was;
	// EdgeUnhealthyMs is when the health verdict itself arrived there.
	EdgeSwitchMs    float64 `json:"edge_switch_ms"`
	SwitchBy        string  `json:"switch_by"`
	EdgeUnhealthyMs float64 `json:"edge_unhealthy_ms"`
	// LastVictimSentMs / LastVictimDoneMs: the last request answered by
	// us-east (X-Meridian-Region), when it was sent and when its answer
	// arrived; negative when that was before T0.
	LastVictimSentMs float64 `json:"last_victim_answer_sent_ms"`
	LastVictimDoneMs float64 `json:"last_victim_answer_done_ms"`
	// Retried is how many attempts us-east failed and edge-1 sent on to
	// another region (its meridian_edge_retries_total), Failures by kind.
	Retried  float64            `json:"retried"`
	Failures map[string]float64 `json:"upstream_failures"`
	Ejected  float64            `json:"ejections"`

	Requests int `json:"requests"`
	Failed   int `json:"failed"`
	// FailedBy counts failed requests by "status region: body" or error.
	FailedBy map[string]int `json:"failed_by,omitempty"`
	// Latency of the requests sent from T0 on; Slow counts those over 1 s,
	// LastSlowDoneMs is when the last of them finished. BeforeP99Ms is the
	// p99 of the requests sent before T0 (the steady state, plus those
	// caught in flight).
	P50Ms          float64 `json:"p50_ms"`
	P99Ms          float64 `json:"p99_ms"`
	MaxMs          float64 `json:"max_ms"`
	Slow           int     `json:"slow"`
	LastSlowDoneMs float64 `json:"last_slow_done_ms"`
	BeforeP50Ms    float64 `json:"before_p50_ms"`
	BeforeP99Ms    float64 `json:"before_p99_ms"`
	// Timeline buckets the requests by the time they were sent.
	Timeline []bucket `json:"timeline"`

	// DNSGoneMs is when edge-2 first answered North America without
	// us-east's address after its last answer with it; -1 if it still did
	// at the end. DNSPolls counts the queries, DNSErrors the unanswered.
	DNSGoneMs   float64 `json:"dns_gone_ms"`
	DNSPolls    int     `json:"dns_polls"`
	DNSErrors   int     `json:"dns_errors"`
	StatusPolls int     `json:"status_polls"`
	// DNSEdgeView is edge-2's view of us-east at the end when DNS still
	// answered it.
	DNSEdgeView string `json:"dns_edge_view,omitempty"`
	// RestoreMs is from the restart / heal to everything normal again.
	RestoreMs float64 `json:"restore_ms"`
}

// bucket is the requests sent in one slice of a round.
type bucket struct {
	FromMs  float64        `json:"from_ms"`
	N       int            `json:"n"`
	Failed  int            `json:"failed"`
	MaxMs   float64        `json:"max_ms"`
	Regions map[string]int `json:"regions"`
}

const bucketWidth = 500 * time.Millisecond

func (f *failoverRun) round(ctx context.Context, kind string, n int) (*roundResult, error) {
	e1, e2 := f.eps.Edges[0], f.eps.Edges[1]
	res := &roundResult{Kind: kind, Round: n, EdgeSwitchMs: -1, EdgeUnhealthyMs: -1, DNSGoneMs: -1}
	before, err := edgeCounters(ctx, f.client, e1.Admin, victim)
	if err != nil {
		return nil, err
	}
	tr := startTraffic(e1.HTTP+f.o.path, f.o.rate, f.o.clientTimeout)
	finished := false
	defer func() {
		if !finished {
			tr.finish()
		}
	}()
	select {
	case <-time.After(f.o.pre):
	case <-ctx.Done():
		return nil, ctx.Err()
	}

	var (
		mu          sync.Mutex
		switchAt    time.Time
		switchBy    string
		unhealthyAt time.Time
		goneAfter   time.Time // first answer without us-east after the last with it
	)
	stop := make(chan struct{})
	t0 := time.Now()
	statusPoll := poll(f.o.dnsEvery, stop, func(now time.Time) {
		mu.Lock()
		done := !unhealthyAt.IsZero()
		mu.Unlock()
		if done {
			return
		}
		s, err := edgeStatus(ctx, f.client, e1.Admin)
		if err != nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		res.StatusPolls++
		for _, r := range s.Regions {
			if r.ID != victim {
				continue
			}
			var by []string
			if !r.EjectedUntil.IsZero() {
				by = append(by, "ejected")
			}
			if !r.Healthy {
				by = append(by, "unhealthy")
				unhealthyAt = now
			}
			if len(by) > 0 && switchAt.IsZero() {
				switchAt, switchBy = now, strings.Join(by, "+")
			}
		}
	})
	dnsPoll := poll(f.o.dnsEvery, stop, func(now time.Time) {
		got, err := dnsA(e2.DNS, naClient, shopHost, 500*time.Millisecond)
		mu.Lock()
		defer mu.Unlock()
		res.DNSPolls++
		if err != nil {
			res.DNSErrors++
			return
		}
		if slices.Contains(got, f.victimHost) {
			goneAfter = time.Time{}
		} else if goneAfter.IsZero() {
			goneAfter = now
		}
	})
	if err := f.inject(ctx, kind); err != nil {
		close(stop)
		return nil, fmt.Errorf("injecting %s: %w", kind, err)
	}
	res.InjectMs = ms(time.Since(t0))
	select {
	case <-time.After(f.o.observe):
	case <-ctx.Done():
		close(stop)
		return nil, ctx.Err()
	}
	close(stop)
	statusPoll.Wait()
	dnsPoll.Wait()
	if goneAfter.IsZero() {
		if s, err := edgeStatus(ctx, f.client, e2.Admin); err == nil {
			for _, id := range []string{victim + "-1", victim} {
				c := checkOf(s, id)
				res.DNSEdgeView += fmt.Sprintf("%s: global %s local %s votes %v; ", id, c.Global, c.Local, c.Votes)
			}
			res.DNSEdgeView += fmt.Sprintf("peers %+v", s.Health.Peers)
		}
	}
	reqs := tr.finish() // waits for requests still held (up to -client-timeout)
	finished = true
	after, err := edgeCounters(ctx, f.client, e1.Admin, victim)
	if err != nil {
		return nil, err
	}

	rel := func(t time.Time) float64 { return ms(t.Sub(t0)) }
	if !switchAt.IsZero() {
		res.EdgeSwitchMs, res.SwitchBy = rel(switchAt), switchBy
	}
	if !unhealthyAt.IsZero() {
		res.EdgeUnhealthyMs = rel(unhealthyAt)
	}
	if !goneAfter.IsZero() {
		res.DNSGoneMs = rel(goneAfter)
	}
	res.Failures = map[string]float64{}
	for k, v := range after {
		d := v - before[k]
		switch {
		case k == "retries":
			res.Retried = d
		case k == "ejections":
			res.Ejected = d
		case strings.HasPrefix(k, "fail_") && d > 0:
			res.Failures[strings.TrimPrefix(k, "fail_")] = d
		}
	}
	var hist, base latency.Histogram
	lastVictim := -1
	buckets := map[int]*bucket{}
	for i, r := range reqs {
		res.Requests++
		lat := r.done.Sub(r.sent)
		bi := int(r.sent.Sub(t0).Truncate(bucketWidth) / bucketWidth)
		if r.sent.Before(t0) {
			bi--
		}
		b := buckets[bi]
		if b == nil {
			b = &bucket{FromMs: ms(time.Duration(bi) * bucketWidth), Regions: map[string]int{}}
			buckets[bi] = b
		}
		b.N++
		b.MaxMs = max(b.MaxMs, ms(lat))
		if r.err != "" || r.status != http.StatusOK {
			res.Failed++
			b.Failed++
			if res.FailedBy == nil {
				res.FailedBy = map[string]int{}
			}
			why := r.err
			if why == "" {
				why = fmt.Sprintf("%d from %q: %.80s", r.status, r.region, r.body)
			}
			res.FailedBy[why]++
			continue
		}
		b.Regions[r.region]++
		if r.region == victim && (lastVictim < 0 || r.done.After(reqs[lastVictim].done)) {
			lastVictim = i
		}
		if r.sent.Before(t0) {
			base.Record(lat)
			continue
		}
		hist.Record(lat)
		if lat > slowAfter {
			res.Slow++
			res.LastSlowDoneMs = max(res.LastSlowDoneMs, rel(r.done))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(buckets)) {
		res.Timeline = append(res.Timeline, *buckets[k])
	}
	if lastVictim >= 0 {
		res.LastVictimSentMs, res.LastVictimDoneMs = rel(reqs[lastVictim].sent), rel(reqs[lastVictim].done)
	}
	// A quantile is its bucket's upper bound (+1.6%): never above the max.
	q := func(h *latency.Histogram, p float64) float64 { return ms(min(h.Quantile(p), h.Max())) }
	res.P50Ms, res.P99Ms, res.MaxMs = q(&hist, 0.5), q(&hist, 0.99), ms(hist.Max())
	res.BeforeP50Ms, res.BeforeP99Ms = q(&base, 0.5), q(&base, 0.99)

	restored := time.Now()
	if err := f.restore(ctx, kind); err != nil {
		return nil, fmt.Errorf("restoring after %s: %w", kind, err)
	}
	if err := f.awaitNormal(ctx, 180*time.Second); err != nil {
		return nil, fmt.Errorf("after %s: %w", kind, err)
	}
	res.RestoreMs = ms(time.Since(restored))
	return res, nil
}

func (r *roundResult) printLine(w io.Writer, verbose bool) {
	dns := "still answered"
	if r.DNSGoneMs >= 0 {
		dns = fmt.Sprintf("%.0f ms", r.DNSGoneMs)
	}
	fmt.Fprintf(w, "  %-9s round %d: fault injected in %.0f ms; edge switch %.0f ms (%s; unhealthy at %.0f ms), last %s answer sent %.0f / done %.0f ms; "+
		"retried %.0f %v; %d req, %d failed; before p50/p99 %.0f/%.0f ms, after p50/p99/max %.0f/%.0f/%.0f ms, %d over 1 s (last done %.0f ms); "+
		"DNS gone %s; restored in %.1f s\n",
		r.Kind, r.Round, r.InjectMs, r.EdgeSwitchMs, r.SwitchBy, r.EdgeUnhealthyMs, victim, r.LastVictimSentMs, r.LastVictimDoneMs,
		r.Retried, r.Failures, r.Requests, r.Failed, r.BeforeP50Ms, r.BeforeP99Ms, r.P50Ms, r.P99Ms, r.MaxMs, r.Slow, r.LastSlowDoneMs,
		dns, r.RestoreMs/1000)
	for why, n := range r.FailedBy {
		fmt.Fprintf(w, "    %d failed: %s\n", n, why)
	}
	if r.DNSEdgeView != "" {
		fmt.Fprintf(w, "    edge-2 at the end: %s\n", r.DNSEdgeView)
	}
	if verbose {
		for _, b := range r.Timeline {
			fmt.Fprintf(w, "    sent from %6.0f ms: %4d req, %3d failed, max %6.0f ms, by region %v\n", b.FromMs, b.N, b.Failed, b.MaxMs, b.Regions)
		}
	}
}

type kindSummary struct {
	Kind string `json:"kind"`
	// Max over the rounds.
	EdgeSwitchMaxMs float64 `json:"edge_switch_max_ms"`
	LastVictimMaxMs float64 `json:"last_victim_answer_done_max_ms"`
	Failed          int     `json:"failed"`
	MaxLatencyMs    float64 `json:"max_latency_ms"`
	DNSGoneMaxMs    float64 `json:"dns_gone_max_ms"`
	DNSWithTTLMs    float64 `json:"dns_with_ttl_max_ms"`
	EdgeMet         bool    `json:"edge_target_met"`
	DNSMet          bool    `json:"dns_target_met"`
}

type failoverReport struct {
	Subnet        string         `json:"subnet"`
	Rate          int            `json:"rate"`
	Edge          string         `json:"edge"`
	DNSEdge       string         `json:"dns_edge"`
	DNSClient     string         `json:"dns_client"`
	TTLms         float64        `json:"dns_ttl_ms"`
	ClientTimeout string         `json:"client_timeout"`
	Path          string         `json:"path"`
	Rounds        []*roundResult `json:"rounds"`
	Summary       []kindSummary  `json:"summary"`
}

func (rep *failoverReport) summarize() {
	by := map[string]*kindSummary{}
	var order []string
	for _, r := range rep.Rounds {
		s := by[r.Kind]
		if s == nil {
			s = &kindSummary{Kind: r.Kind}
			by[r.Kind] = s
			order = append(order, r.Kind)
		}
		if r.EdgeSwitchMs < 0 {
			s.EdgeSwitchMaxMs = -1
		} else if s.EdgeSwitchMaxMs >= 0 {
			s.EdgeSwitchMaxMs = max(s.EdgeSwitchMaxMs, r.EdgeSwitchMs)
		}
		s.LastVictimMaxMs = max(s.LastVictimMaxMs, r.LastVictimDoneMs)
		s.Failed += r.Failed
		s.MaxLatencyMs = max(s.MaxLatencyMs, r.MaxMs)
		if r.DNSGoneMs < 0 {
			s.DNSGoneMaxMs = -1
		} else if s.DNSGoneMaxMs >= 0 {
			s.DNSGoneMaxMs = max(s.DNSGoneMaxMs, r.DNSGoneMs)
		}
	}
	for _, k := range order {
		s := by[k]
		if s.DNSGoneMaxMs >= 0 {
			s.DNSWithTTLMs = s.DNSGoneMaxMs + rep.TTLms
		}
		s.EdgeMet = s.EdgeSwitchMaxMs >= 0 && s.EdgeSwitchMaxMs < ms(targetEdgeFailover) &&
			s.LastVictimMaxMs < ms(targetEdgeFailover) && s.Failed == 0
		s.DNSMet = s.DNSGoneMaxMs >= 0 && s.DNSGoneMaxMs < ms(targetDNSFailover)
		rep.Summary = append(rep.Summary, *s)
	}
}

func (rep *failoverReport) print(w io.Writer) {
	if len(rep.Summary) == 0 {
		return
	}
	fmt.Fprintf(w, "\nfailover of %s, max over the rounds (ms after the fault):\n", victim)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "kind\tedge switch\tlast us-east answer\tfailed\tmax latency\tDNS gone\t+TTL\tedge < 1 s, 0 failed\tDNS < 4 s\t")
	for _, s := range rep.Summary {
		fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%d\t%.0f\t%.0f\t%.0f\t%s\t%s\t\n", s.Kind, s.EdgeSwitchMaxMs, s.LastVictimMaxMs,
			s.Failed, s.MaxLatencyMs, s.DNSGoneMaxMs, s.DNSWithTTLMs, verdict(s.EdgeMet), verdict(s.DNSMet))
	}
	_ = tw.Flush()
	fmt.Fprintln(w, "baselines (published, not measured here): Route 53 health-checked DNS ~30 s + TTL; Global Accelerator ~30 s")
}
