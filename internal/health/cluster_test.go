package health_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/meridian-platform/meridian/internal/health"
	"github.com/meridian-platform/meridian/internal/netsim"
	"github.com/prometheus/client_golang/prometheus"
)

// metricValue returns the value of the counter or gauge name with labels, 0
// if it has not been set.
func metricValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gathering metrics: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue metrics
				}
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

// TestMajority runs five checkers on a WAN against one region's health
// endpoint. A partition between one checker and the region does not fail the region
// over; killing the region, its own checker with it, makes it unhealthy at
// every remaining checker within Interval×FailureThreshold + 1s; bringing it
// back makes it healthy again within the same bound.
func TestMajority(t *testing.T) {
	const threshold = 3
	bound := testInterval*threshold + time.Second
	nw := netsim.New(time.Now().UnixNano())
	t.Logf("netsim seed %d", nw.Seed())
	tg := newTarget(t, "127.0.0.1")
	nw.Register("region", tg.addr)
	// A WAN: 60ms between checkers, 20ms from each to the region, except
	// that c1 cannot reach it.
	for i := 1; i <= 5; i++ {
		nw.SetLatency(fmt.Sprintf("c%d", i), "region", 20*time.Millisecond)
		for j := i + 1; j <= 5; j++ {
			nw.SetLatency(fmt.Sprintf("c%d", i), fmt.Sprintf("c%d", j), 60*time.Millisecond)
		}
	}
	nw.Partition("c1", "region")
	nodes := newCluster(t, clusterOpts{
		n: 5,
		// A dead region refuses connections, so the timeout does not enter
		// the bound; a generous one keeps a loaded machine from failing
		// probes of a live region.
		checks: []health.Check{{ID: "region", Type: health.HTTP, URL: tg.url(), Interval: testInterval,
			Timeout: slowTimeout, FailureThreshold: threshold}},
		net:         nw,
		expireAfter: 6 * testInterval,
	})
	c1 := nodes[0].checker

	waitFor(t, settle, "c1 locally unhealthy and every checker counting its vote", func() bool {
		if checkStatus(t, c1, "region").Local != health.Unhealthy {
			return false
		}
		for _, n := range nodes {
			if s := checkStatus(t, n.checker, "region"); s.Votes["c1"] != health.Unhealthy || s.Votes["c2"] != health.Healthy {
				return false
			}
		}
		return true
	})
	for _, n := range nodes {
		if got := verdict(n.checker, "region"); got != health.Healthy {
			t.Errorf("%s: global verdict with c1 partitioned: got %s, want healthy", n.name, got)
		}
		if got := metricValue(t, n.reg, "meridian_health_verdict_changes_total",
			map[string]string{"check": "region", "scope": "global", "verdict": "unhealthy"}); got != 0 {
			t.Errorf("%s: global changes to unhealthy with c1 partitioned: got %v, want 0", n.name, got)
		}
	}
	if s := checkStatus(t, c1, "region"); s.UnhealthyVotes != 1 || s.LastError == "" {
		t.Errorf("c1's status: got %d unhealthy votes and last error %q, want 1 and the probe's error", s.UnhealthyVotes, s.LastError)
	}

	// The region dies, and its own checker (c5) with it.
	tg.kill()
	go nodes[4].stop()
	alive := nodes[:4]
	took := waitFor(t, settle, "region unhealthy at every remaining checker", func() bool {
		for _, n := range alive {
			if verdict(n.checker, "region") != health.Unhealthy {
				return false
			}
		}
		return true
	})
	t.Logf("region unhealthy everywhere %v after it died", took)
	if took > bound {
		t.Errorf("region unhealthy everywhere %v after it died, want at most %v", took, bound)
	}

	tg.restart()
	took = waitFor(t, settle, "region healthy again at every remaining checker", func() bool {
		for _, n := range alive {
			if verdict(n.checker, "region") != health.Healthy {
				return false
			}
		}
		return true
	})
	t.Logf("region healthy everywhere %v after it came back", took)
	if took > bound {
		t.Errorf("region healthy everywhere %v after it came back, want at most %v", took, bound)
	}
	if got := checkStatus(t, c1, "region").Local; got != health.Unhealthy {
		t.Errorf("c1's local verdict while still partitioned: got %s, want unhealthy", got)
	}

	nw.Heal("c1", "region")
	waitFor(t, settle, "c1 locally healthy after the partition heals", func() bool {
		return checkStatus(t, c1, "region").Local == health.Healthy
	})
}

// TestPeerExpiry checks that a stopped peer's last verdicts count until
// ExpireAfter has passed since they were refreshed, and not after.
func TestPeerExpiry(t *testing.T) {
	const expire = 600 * time.Millisecond
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	nw := netsim.New(time.Now().UnixNano())
	t.Logf("netsim seed %d", nw.Seed())
	tg := newTarget(t, "127.0.0.1")
	nw.Register("region", tg.addr)
	// c2 and c3 cannot reach the region: a majority of three.
	nw.Partition("c2", "region")
	nw.Partition("c3", "region")
	nodes := newCluster(t, clusterOpts{
		n: 3,
		checks: []health.Check{{ID: "region", Type: health.HTTP, URL: tg.url(), Interval: testInterval,
			Timeout: slowTimeout, FailureThreshold: 1}},
		net:         nw,
		expireAfter: expire,
		now:         clk.Now,
	})
	c1 := nodes[0]
	waitFor(t, settle, "region unhealthy at c1 by c2's and c3's votes", func() bool {
		return verdict(c1.checker, "region") == health.Unhealthy
	})
	if got := checkStatus(t, c1.checker, "region").Local; got != health.Healthy {
		t.Fatalf("c1's own verdict: got %s, want healthy", got)
	}

	nodes[1].stop()
	// The clock has not moved: c2's last verdicts are still fresh.
	peer := func(name string) health.PeerStatus {
		for _, p := range c1.checker.Status().Peers {
			if p.Name == name {
				return p
			}
		}
		t.Fatalf("no peer %s in c1's status", name)
		return health.PeerStatus{}
	}
	waitFor(t, settle, "c1 failing to fetch c2", func() bool { return peer("c2").LastError != "" })
	if p := peer("c2"); !p.Fresh {
		t.Errorf("c2 unreachable before its votes expire: got %+v, want fresh", p)
	}
	if got := verdict(c1.checker, "region"); got != health.Unhealthy {
		t.Errorf("verdict at c1 before c2's votes expire: got %s, want unhealthy", got)
	}

	clk.Advance(expire)
	waitFor(t, settle, "region healthy at c1 with c3's votes refreshed and c2's expired", func() bool {
		return peer("c3").Fresh && verdict(c1.checker, "region") == health.Healthy
	})
	if p := peer("c2"); p.Fresh || p.LastError == "" {
		t.Errorf("c2 after expiry: got %+v, want not fresh with the fetch error", p)
	}
	if got := checkStatus(t, c1.checker, "region").Votes["c2"]; got != health.Unknown {
		t.Errorf("c2's vote after expiry: got %s, want unknown", got)
	}
	if got := metricValue(t, c1.reg, "meridian_health_peer_fresh", map[string]string{"peer": "c2"}); got != 0 {
		t.Errorf("meridian_health_peer_fresh{peer=c2}: got %v, want 0", got)
	}
}

// TestQuietPeerStaysFresh checks that a peer whose verdicts do not change
// still refreshes them before they expire: its long-poll is answered every
// ExpireAfter/3.
func TestQuietPeerStaysFresh(t *testing.T) {
	const expire = 600 * time.Millisecond
	tg := newTarget(t, "127.0.0.1")
	nodes := newCluster(t, clusterOpts{
		n:           2,
		checks:      []health.Check{{ID: "region", Type: health.HTTP, URL: tg.url(), Interval: testInterval}},
		expireAfter: expire,
	})
	c1 := nodes[0]
	fetches := func() float64 {
		return metricValue(t, c1.reg, "meridian_health_peer_fetches_total", map[string]string{"peer": "c2", "result": "success"})
	}
	waitFor(t, settle, "c2 healthy at c1", func() bool {
		return checkStatus(t, c1.checker, "region").Votes["c2"] == health.Healthy
	})
	from := fetches()
	// Ten quiet long-polls take about 10×ExpireAfter/3; c2 must be fresh
	// all along.
	waitFor(t, 20*expire, "ten more fetches of c2", func() bool {
		if p := c1.checker.Status().Peers[0]; !p.Fresh {
			t.Fatalf("c2 expired at c1 while reachable: %+v", p)
		}
		return fetches() >= from+10
	})
	if got := tg.count(http.StatusOK); got == 0 {
		t.Error("the target saw no probes")
	}
}

// TestBlackholedRegion checks the bound when a region stops answering
// instead of refusing connections: every probe then runs into its timeout.
func TestBlackholedRegion(t *testing.T) {
	const threshold = 3
	bound := testInterval*threshold + time.Second
	nw := netsim.New(time.Now().UnixNano())
	t.Logf("netsim seed %d", nw.Seed())
	tg := newTarget(t, "127.0.0.1")
	nw.Register("region", tg.addr)
	nodes := newCluster(t, clusterOpts{
		n:           3,
		checks:      []health.Check{{ID: "region", Type: health.HTTP, URL: tg.url(), Interval: testInterval, FailureThreshold: threshold}},
		net:         nw,
		expireAfter: 6 * testInterval,
	})
	all := func(v health.Verdict) func() bool {
		return func() bool {
			for _, n := range nodes {
				if verdict(n.checker, "region") != v {
					return false
				}
			}
			return true
		}
	}
	waitFor(t, settle, "region healthy everywhere", all(health.Healthy))
	for _, n := range nodes {
		nw.Partition(n.name, "region")
	}
	took := waitFor(t, settle, "black-holed region unhealthy everywhere", all(health.Unhealthy))
	t.Logf("black-holed region unhealthy everywhere after %v", took)
	if took > bound {
		t.Errorf("black-holed region unhealthy everywhere after %v, want at most %v", took, bound)
	}
	if got := checkStatus(t, nodes[0].checker, "region").LastError; !strings.Contains(got, "no connection within the 100ms timeout") {
		t.Errorf("last error: got %q, want it to name the timeout", got)
	}
}

// TestRTTIsOneRoundTrip checks what RTT measures over a link with a known
// round-trip time: one round trip for both an http check (request to first
// byte) and a tcp check (the handshake); the http probe's connect time is
// one more.
func TestRTTIsOneRoundTrip(t *testing.T) {
	const link = 150 * time.Millisecond
	// slack absorbs a loaded machine's scheduling delays; it stays under
	// link, so two round trips would not pass for one.
	const slack = 140 * time.Millisecond
	nw := netsim.New(time.Now().UnixNano())
	t.Logf("netsim seed %d", nw.Seed())
	tg := newTarget(t, "127.0.0.1")
	nw.Register("region", tg.addr)
	nw.SetLatency("solo", "region", link)
	dial := nw.Dialer("solo")
	c := runChecker(t, health.Config{
		Checks: []health.Check{
			{ID: "web", Type: health.HTTP, URL: tg.url(), Interval: 500 * time.Millisecond, Timeout: 2 * time.Second},
			{ID: "db", Type: health.TCP, Addr: tg.addr, Interval: 500 * time.Millisecond, Timeout: 2 * time.Second},
		},
		Dial: func(ctx context.Context, _, addr string) (net.Conn, error) { return dial(ctx, addr) },
	})
	for _, id := range []string{"web", "db"} {
		waitFor(t, settle, id+" measured", func() bool { _, ok := c.RTT(id); return ok })
		d, _ := c.RTT(id)
		t.Logf("RTT(%s) = %v", id, d)
		if d < link || d > link+slack {
			t.Errorf("RTT(%s) over a %v link: got %v, want %v to %v", id, link, d, link, link+slack)
		}
	}
	s := checkStatus(t, c, "web")
	if connect := time.Duration(s.ConnectMillis * float64(time.Millisecond)); connect < link || connect > link+slack {
		t.Errorf("connect time of the http probe: got %v, want %v to %v", connect, link, link+slack)
	}
}
