package edgeproxy

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meridian-platform/meridian/internal/netsim"
)

// TestPartitionedRegion cuts the WAN link from the edge to the serving region
// under steady GET traffic: requests stuck on open connections time out and
// go to the next region, new ones fail to connect and do too, the region is
// ejected, and no client sees an error. After the heal and the ejection, the
// traffic comes back.
func TestPartitionedRegion(t *testing.T) {
	n := netsim.New(7)
	a, b := newRegion(t, "a"), newRegion(t, "b")
	n.Register("a", a.addr)
	n.Register("b", b.addr)
	n.SetLatency("edge", "a", 20*time.Millisecond)
	n.SetLatency("edge", "b", 60*time.Millisecond)
	dial := n.Dialer("edge")
	clock := newFakeClock()
	e := startEdge(t, Config{
		Regions:         []Region{a.region(), b.region()},
		DisableAffinity: true,
		Dial:            func(ctx context.Context, _, addr string) (net.Conn, error) { return dial(ctx, addr) },
		ConnectTimeout:  300 * time.Millisecond,
		UpstreamTimeout: 500 * time.Millisecond,
		Now:             clock.Now,
	})
	e.rtt.set("a", 20*time.Millisecond)
	e.rtt.set("b", 60*time.Millisecond)

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var wg sync.WaitGroup
	var ok, failed atomic.Int64
	var firstErr atomic.Value
	for range 6 {
		wg.Go(func() {
			for ctx.Err() == nil {
				resp, err := e.client.Get(e.url + "/")
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != 200 {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				ok.Add(1)
			}
		})
	}
	waitFor(t, "traffic on a", func() bool { return a.hits.Load() > 50 })
	n.Partition("edge", "a")
	before := b.hits.Load()
	waitFor(t, "traffic on b", func() bool { return b.hits.Load() > before+100 })
	if e.Status()[0].EjectedUntil.IsZero() {
		t.Errorf("partitioned region a is not ejected")
	}

	n.Heal("edge", "a")
	// Past any ejection: on a loaded machine a dial that was pending when
	// the first ejection ended can count toward a second, longer one.
	clock.Advance(DefaultMaxEjection)
	before = a.hits.Load()
	waitFor(t, "traffic back on a", func() bool { return a.hits.Load() > before+50 })
	stop()
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d of %d requests failed across the partition; first: %v (netsim seed %d)",
			failed.Load(), failed.Load()+ok.Load(), firstErr.Load(), n.Seed())
	}
	timeouts := e.counter(e.m.failures.WithLabelValues("a", "timeout"))
	connects := e.counter(e.m.failures.WithLabelValues("a", "connect"))
	if timeouts+connects == 0 {
		t.Errorf("no attempt on a failed during the partition")
	}
	t.Logf("%d requests; attempts on a that timed out: %v, failed to connect: %v", ok.Load(), timeouts, connects)
}

// TestUpstreamTimeout: a region that does not answer in time loses requests
// safe to retry to the next region; others get 504.
func TestUpstreamTimeout(t *testing.T) {
	a, b := newRegion(t, "a"), newRegion(t, "b")
	e := startEdge(t, Config{Regions: []Region{a.region(), b.region()}, DisableAffinity: true,
		UpstreamTimeout: 200 * time.Millisecond, Outlier: OutlierDetection{Disabled: true}})
	e.rtt.set("a", 10*time.Millisecond)
	e.rtt.set("b", 60*time.Millisecond)
	a.holdOn.Store(true)

	if got := e.get(t, "/hold"); got.code != 200 || got.region != "b" {
		t.Fatalf("GET: got %d from %q, want 200 from b", got.code, got.region)
	}
	got := e.do(t, e.newRequest(t, "POST", "/hold", strings.NewReader("x")))
	if got.code != 504 || !strings.Contains(got.body, "timed out") || b.hits.Load() != 1 {
		t.Fatalf("POST: got %d %q (b hits %d), want 504 saying a timed out, not retried", got.code, got.body, b.hits.Load())
	}
}

// TestEjectionAbortsHeldRequests black-holes the serving region with the
// default 60 s UpstreamTimeout: dials to it fail after a few round trips
// (its RTT is known), three failures eject it, and the ejection aborts the
// GETs it holds on open connections, which the next region answers. No
// request waits anywhere near the UpstreamTimeout.
func TestEjectionAbortsHeldRequests(t *testing.T) {
	n := netsim.New(11)
	a, b := newRegion(t, "a"), newRegion(t, "b")
	n.Register("a", a.addr)
	n.Register("b", b.addr)
	n.SetLatency("edge", "a", 20*time.Millisecond)
	n.SetLatency("edge", "b", 60*time.Millisecond)
	dial := n.Dialer("edge")
	e := startEdge(t, Config{
		Regions:         []Region{a.region(), b.region()},
		DisableAffinity: true,
		Dial:            func(ctx context.Context, _, addr string) (net.Conn, error) { return dial(ctx, addr) },
	})
	e.rtt.set("a", 20*time.Millisecond)
	e.rtt.set("b", 60*time.Millisecond)
	if got := e.connectTimeout("a"); got != MinConnectTimeout {
		t.Errorf("connect timeout to a region 20ms away: got %v want %v", got, MinConnectTimeout)
	}

	// Open loop, as clients arrive: a request every 5ms whatever the
	// others are doing, so requests held by the black hole do not stop
	// new ones.
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var wg sync.WaitGroup
	var failed atomic.Int64
	var slowest atomic.Int64
	wg.Go(func() {
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			wg.Go(func() {
				start := time.Now()
				resp, err := e.client.Get(e.url + "/")
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				if err != nil || resp.StatusCode != 200 {
					failed.Add(1)
				}
				for d := int64(time.Since(start)); d > slowest.Load(); {
					if slowest.CompareAndSwap(slowest.Load(), d) {
						break
					}
				}
			})
		}
	})
	waitFor(t, "traffic on a", func() bool { return a.hits.Load() > 50 })
	n.Partition("edge", "a")
	before := b.hits.Load()
	waitFor(t, "traffic on b", func() bool { return b.hits.Load() > before+200 })
	stop()
	wg.Wait()
	if failed.Load() != 0 {
		t.Errorf("%d requests failed across the black hole", failed.Load())
	}
	if d := time.Duration(slowest.Load()); d > 5*time.Second {
		t.Errorf("slowest request took %v: held requests waited for the upstream timeout instead of being aborted by the ejection", d)
	}
	t.Logf("slowest request %v; attempts on a aborted by the ejection: %v, failed to connect: %v",
		time.Duration(slowest.Load()).Round(time.Millisecond),
		e.counter(e.m.failures.WithLabelValues("a", "ejected")), e.counter(e.m.failures.WithLabelValues("a", "connect")))
}

// TestLastRegionGetsTheWholeConnectTimeout: the RTT-derived connect
// timeout makes a slow handshake a failure so that the request can go to
// the next region; on the last region there is no next one, and a slow
// handshake (a loaded machine, a congested link) is waited for up to
// ConnectTimeout instead of answered with 502.
func TestLastRegionGetsTheWholeConnectTimeout(t *testing.T) {
	n := netsim.New(11)
	a := newRegion(t, "a")
	n.Register("a", a.addr)
	n.SetLatency("edge", "a", 400*time.Millisecond) // a handshake takes one round trip: 400 ms
	dial := n.Dialer("edge")
	e := startEdge(t, Config{
		Regions:         []Region{a.region()},
		DisableAffinity: true,
		Dial:            func(ctx context.Context, _, addr string) (net.Conn, error) { return dial(ctx, addr) },
		ConnectTimeout:  2 * time.Second,
	})
	e.rtt.set("a", time.Millisecond) // measured fast: the derived bound is MinConnectTimeout
	if got := e.get(t, "/"); got.code != 200 {
		t.Fatalf("the only region, slow to connect: got %d %q, want 200", got.code, got.body)
	}
}
