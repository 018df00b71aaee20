package main_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/meridian-platform/meridian/internal/deploy"
)

// shopGroup returns region's shop group from a status report, if reported.
func shopGroup(r deploy.Report, region string) (deploy.GroupStatus, bool) {
	for _, s := range r.Regions {
		if s.Name != region {
			continue
		}
		for _, g := range s.Groups {
			if g.Name == "shop" {
				return g, true
			}
		}
	}
	return deploy.GroupStatus{}, false
}

// healthyInstances lists the group's healthy instances.
func healthyInstances(g deploy.GroupStatus) []deploy.InstanceStatus {
	var out []deploy.InstanceStatus
	for _, i := range g.Instances {
		if i.Healthy {
			out = append(out, i)
		}
	}
	return out
}

// awaitShops waits until every region reports its shop group with want
// healthy instances and no others, and returns that report.
func awaitShops(t *testing.T, dir string, regions []string, want int, timeout time.Duration) deploy.Report {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		r, _ := statusJSON(t, dir)
		ok := true
		for _, name := range regions {
			g, found := shopGroup(r, name)
			ok = ok && found && len(g.Instances) == want && len(healthyInstances(g)) == want
		}
		if ok {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("shop groups not at %d healthy instances in every region within %s: %+v", want, timeout, r)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// lbURL returns the load balancer URL of region's node.
func (u *upProc) lbURL(region string) string {
	u.t.Helper()
	for _, n := range u.endpoints().Nodes {
		if n.Region == region && n.LB != "" {
			return n.LB
		}
	}
	u.t.Fatalf("no load balancer of region %s in endpoints.json", region)
	return ""
}

// traffic sends GETs through url from a few workers until stopped, and
// counts successes and failures (any error or non-200 answer).
type traffic struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	firstErr   string
	stop       chan struct{}
	wg         sync.WaitGroup
}

func startTraffic(url string, workers int) *traffic {
	tr := &traffic{stop: make(chan struct{})}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	for range workers {
		tr.wg.Go(func() {
			for {
				select {
				case <-tr.stop:
					return
				default:
				}
				resp, err := client.Get(url)
				var body []byte
				if err == nil {
					body, err = io.ReadAll(resp.Body)
					_ = resp.Body.Close()
					if err == nil && resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("status %s: %.200s", resp.Status, body)
					}
				}
				if err != nil {
					tr.failed.Add(1)
					tr.mu.Lock()
					if tr.firstErr == "" {
						tr.firstErr = err.Error()
					}
					tr.mu.Unlock()
					continue
				}
				tr.ok.Add(1)
			}
		})
	}
	return tr
}

func (tr *traffic) finish() (ok, failed int64, firstErr string) {
	close(tr.stop)
	tr.wg.Wait()
	return tr.ok.Load(), tr.failed.Load(), tr.firstErr
}

// awaitRequests waits until the traffic has had n more successes.
func (tr *traffic) awaitRequests(t *testing.T, n int64, timeout time.Duration) {
	t.Helper()
	target := tr.ok.Load() + n
	deadline := time.Now().Add(timeout)
	for tr.ok.Load() < target {
		if time.Now().After(deadline) {
			tr.mu.Lock()
			first := tr.firstErr
			tr.mu.Unlock()
			t.Fatalf("traffic made %d of %d more successful requests in %s (failed %d, first failure: %s)", tr.ok.Load()+n-target, n, timeout, tr.failed.Load(), first)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestShopBehindLoadBalancers runs `meridian up` with its default
// topology: every region runs the shop group behind its load balancer. It
// checks the catalog through each region's balancer, the groups in
// `status --json`, that a kill -9'd instance under steady traffic fails no
// request and is replaced within 10s, that `meridian apply` rolls the
// group under traffic without failed requests, that a kill -9'd region
// node leaves no instance behind and its restart starts a fresh set, and
// that no instance outlives the deployment.
func TestShopBehindLoadBalancers(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	u := startUp(t, dir, "--subnet", randomSubnet(), "--wan", "none")
	regions := []string{"us-east", "eu-west", "ap-south"}
	for _, r := range regions {
		if !strings.Contains(u.stdout.String(), u.lbURL(r)) {
			t.Errorf("up's summary lacks %s's load balancer %s:\n%s", r, u.lbURL(r), u.stdout.String())
		}
	}
	report := awaitShops(t, dir, regions, 2, 30*time.Second)
	t.Logf("every region's shop healthy %s after start", time.Since(u.start).Round(time.Millisecond))

	t.Run("status shows groups", func(t *testing.T) {
		for _, ep := range u.endpoints().Nodes {
			g, _ := shopGroup(report, ep.Region)
			if g.Desired != 2 || g.Min != 2 || g.Max != 6 {
				t.Errorf("%s shop: desired %d min %d max %d, want 2, 2, 6", ep.Region, g.Desired, g.Min, g.Max)
			}
			host, _, _ := net.SplitHostPort(strings.TrimPrefix(ep.LB, "http://"))
			for _, i := range g.Instances {
				h, _, _ := net.SplitHostPort(i.Addr)
				cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", i.PID))
				if h != host || !alive(i.PID) || !strings.Contains(string(cmdline), "shop\x00serve") {
					t.Errorf("%s instance %s: addr %s pid %d (alive %v, cmdline %q); want an address on %s and a running `shop serve`",
						ep.Region, i.ID, i.Addr, i.PID, alive(i.PID), cmdline, host)
				}
			}
		}
	})

	t.Run("catalog through every load balancer", func(t *testing.T) {
		for _, r := range regions {
			resp, err := http.Get(u.lbURL(r) + "/")
			if err != nil {
				t.Fatalf("GET %s/: %v", u.lbURL(r), err)
			}
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Meridian-Region") != r || !strings.Contains(string(body), "Catalog") {
				t.Errorf("GET %s/: %s, X-Meridian-Region %q, body %.200q; want 200, %s and the catalog",
					u.lbURL(r), resp.Status, resp.Header.Get("X-Meridian-Region"), body, r)
			}
		}
	})

	const region = "eu-west"
	t.Run("kill -9 of an instance under traffic", func(t *testing.T) {
		g, _ := shopGroup(report, region)
		victim := g.Instances[0]
		tr := startTraffic(u.lbURL(region)+"/", 4)
		tr.awaitRequests(t, 50, 10*time.Second)
		if err := syscall.Kill(victim.PID, syscall.SIGKILL); err != nil {
			tr.finish()
			t.Fatalf("kill -9 %d: %v", victim.PID, err)
		}
		killed := time.Now()
		var replaced time.Duration
		for replaced == 0 {
			r, _ := statusJSON(t, dir)
			g, _ := shopGroup(r, region)
			healthy := healthyInstances(g)
			if len(healthy) == 2 && healthy[0].PID != victim.PID && healthy[1].PID != victim.PID {
				replaced = time.Since(killed)
			} else if time.Since(killed) > 10*time.Second {
				tr.finish()
				t.Fatalf("no healthy replacement for %s (pid %d) within 10s: %+v", victim.ID, victim.PID, g)
			}
			time.Sleep(50 * time.Millisecond)
		}
		tr.awaitRequests(t, 50, 10*time.Second)
		ok, failed, first := tr.finish()
		t.Logf("replacement healthy %s after kill -9; %d requests, %d failed", replaced.Round(time.Millisecond), ok+failed, failed)
		if failed != 0 {
			t.Errorf("%d of %d requests failed through the load balancer (first: %s)", failed, ok+failed, first)
		}
	})

	t.Run("apply rolls the group under traffic", func(t *testing.T) {
		before, _ := statusJSON(t, dir)
		spec := filepath.Join(t.TempDir(), "shop.yaml")
		if err := os.WriteFile(spec, []byte("name: shop\ncommand: meridian\nargs: [shop, serve]\nenv: {SHOP_ROLLOUT: two}\nmin: 2\nmax: 6\ndesired: 2\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		tr := startTraffic(u.lbURL(region)+"/", 2)
		tr.awaitRequests(t, 20, 10*time.Second)
		out, errOut, code := run(t, "apply", "-f", spec, "--data", dir, "--wait", "25s")
		ok, failed, first := tr.finish()
		if code != 0 {
			t.Fatalf("apply exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
		}
		for _, r := range regions {
			want := r + " (" + r + "-1) group shop: env: (none) -> [SHOP_ROLLOUT=two] (rolling update), converged"
			if !strings.Contains(out, want) {
				t.Errorf("apply printed:\n%s\nwant a line %q", out, want)
			}
		}
		if failed != 0 {
			t.Errorf("%d of %d requests failed during the rolling update (first: %s)", failed, ok+failed, first)
		}
		after, _ := statusJSON(t, dir)
		old, _ := shopGroup(before, region)
		cur, _ := shopGroup(after, region)
		if len(healthyInstances(cur)) != 2 {
			t.Errorf("after apply %s shop = %+v, want 2 healthy instances", region, cur)
		}
		for _, a := range cur.Instances {
			for _, b := range old.Instances {
				if a.PID == b.PID {
					t.Errorf("instance %s (pid %d) survived the rolling update", a.ID, a.PID)
				}
			}
		}
	})

	t.Run("kill -9 of a region node takes its instances along", func(t *testing.T) {
		const region = "ap-south"
		before, _ := statusJSON(t, dir)
		g, _ := shopGroup(before, region)
		var nodePID int
		for _, n := range u.endpoints().Nodes {
			if n.Region == region {
				nodePID = n.PID
			}
		}
		var old []int
		for _, i := range g.Instances {
			old = append(old, i.PID)
		}
		if err := syscall.Kill(nodePID, syscall.SIGKILL); err != nil {
			t.Fatalf("kill -9 %d: %v", nodePID, err)
		}
		awaitGone(t, old, 5*time.Second)
		after := awaitShops(t, dir, []string{region}, 2, 30*time.Second)
		cur, _ := shopGroup(after, region)
		for _, i := range cur.Instances {
			for _, p := range old {
				if i.PID == p {
					t.Errorf("restarted node reports the old instance pid %d", p)
				}
			}
		}
	})

	// Stopping the deployment stops every instance.
	final, _ := statusJSON(t, dir)
	var instances []int
	for _, s := range final.Regions {
		for _, g := range s.Groups {
			for _, i := range g.Instances {
				instances = append(instances, i.PID)
			}
		}
	}
	if code := u.signal(syscall.SIGINT, 30*time.Second); code != 0 {
		t.Errorf("meridian up exit code after SIGINT = %d, want 0", code)
	}
	awaitGone(t, instances, 5*time.Second)
}
