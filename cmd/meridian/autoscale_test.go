package main_test

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// pacedLoad sends GETs to url at a settable steady rate from a few
// keep-alive workers, and counts successes and failures (any error or
// non-200 answer). Ticks the workers cannot take at once are counted as
// missed rather than queued, so the rate never bunches up.
type pacedLoad struct {
	rate       atomic.Int64 // requests per second; 0 pauses
	ok, failed atomic.Int64
	missed     atomic.Int64
	mu         sync.Mutex
	firstErr   string
	stop       chan struct{}
	wg         sync.WaitGroup
}

func startPacedLoad(url string, rate, workers int) *pacedLoad {
	l := &pacedLoad{stop: make(chan struct{})}
	l.rate.Store(int64(rate))
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	ticks := make(chan struct{}, workers)
	for range workers {
		l.wg.Go(func() {
			for {
				select {
				case <-l.stop:
					return
				case <-ticks:
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
					l.failed.Add(1)
					l.mu.Lock()
					if l.firstErr == "" {
						l.firstErr = err.Error()
					}
					l.mu.Unlock()
					continue
				}
				l.ok.Add(1)
			}
		})
	}
	l.wg.Go(func() {
		next := time.Now()
		timer := time.NewTimer(0)
		defer timer.Stop()
		for {
			r := l.rate.Load()
			if r <= 0 {
				r, next = 1, time.Now() // paused: look again in a second
			} else {
				select {
				case ticks <- struct{}{}:
				default:
					l.missed.Add(1)
				}
			}
			next = next.Add(time.Second / time.Duration(r))
			if d := time.Until(next); d < -time.Second {
				next = time.Now() // fell far behind: do not burst to catch up
			}
			timer.Reset(time.Until(next))
			select {
			case <-l.stop:
				return
			case <-timer.C:
			}
		}
	})
	return l
}

func (l *pacedLoad) done() int64 { return l.ok.Load() + l.failed.Load() }

func (l *pacedLoad) finish() (ok, failed, missed int64, firstErr string) {
	close(l.stop)
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ok.Load(), l.failed.Load(), l.missed.Load(), l.firstErr
}

// TestShopAutoscalesWithLoadStep runs `meridian up` with one region, gives
// its shop group a requests-per-second target with `meridian apply`, and
// sends a steady trickle through the region's load balancer with a load step
// on top. The group must scale out to exactly the instances the step needs
// to meet the target (no fewer, no overshoot), hold there while the load
// lasts, and scale back in to its minimum once the step ends, draining
// without failing a single request of the trickle.
func TestShopAutoscalesWithLoadStep(t *testing.T) {
	t.Parallel()
	const (
		region   = "us-east"
		target   = 15.0 // requests per second per instance
		minN     = 2
		maxN     = 6
		trickle  = 4  // requests per second before, during and after the step
		step     = 48 // requests per second added by the step
		warmUp   = 2 * time.Second
		cooldown = 3 * time.Second
	)
	// 52 rps at 15 per instance needs ceil(3.47) = 4 instances: far enough
	// from 3 and from 5 that measurement noise of ±10% cannot change it, and
	// below max so that clamping cannot hide an overshoot.
	want := int(math.Ceil((trickle + step) / target))
	if want <= minN || want >= maxN {
		t.Fatalf("test constants: the step needs %d instances, want strictly between min %d and max %d", want, minN, maxN)
	}

	dir := filepath.Join(t.TempDir(), "data")
	u := startUp(t, dir, "--subnet", randomSubnet(), "--wan", "none", "--regions", region)
	awaitShops(t, dir, []string{region}, minN, 30*time.Second)

	spec := filepath.Join(t.TempDir(), "shop.yaml")
	yaml := fmt.Sprintf("name: shop\ncommand: meridian\nargs: [shop, serve]\nmin: %d\nmax: %d\ndesired: %d\n"+
		"drain_delay: 5s\nscaling: {metric: rps, target: %g, warm_up: %s, cooldown: %s}\n",
		minN, maxN, minN, target, warmUp, cooldown)
	if err := os.WriteFile(spec, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := run(t, "apply", "-f", spec, "--data", dir, "--wait", "20s")
	if code != 0 || !strings.Contains(out, "converged") {
		t.Fatalf("apply exit %d, want 0 and converged\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	t.Logf("apply: %s", strings.TrimSpace(out))

	load := startPacedLoad(u.lbURL(region)+"/healthz", trickle, 8)
	finished := false
	finish := func() {
		if finished {
			return
		}
		finished = true
		ok, failed, missed, first := load.finish()
		t.Logf("load: %d requests, %d failed, %d ticks missed by busy workers", ok+failed, failed, missed)
		if failed != 0 {
			t.Errorf("%d of %d requests through the load balancer failed (first: %s)", failed, ok+failed, first)
		}
	}
	defer finish()

	// With only the trickle, the group stays at its minimum.
	quiet := time.Now()
	for time.Since(quiet) < warmUp+2*time.Second {
		r, _ := statusJSON(t, dir)
		if g, _ := shopGroup(r, region); g.Desired != minN {
			t.Fatalf("under a trickle of %d rps the group scaled to desired %d, want %d: %+v", trickle, g.Desired, minN, g)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// The step: scale out to want healthy instances.
	load.rate.Store(trickle + step)
	stepStart, stepDone := time.Now(), load.done()
	peak := minN
	var scaledOut time.Duration
	for scaledOut == 0 {
		r, _ := statusJSON(t, dir)
		g, _ := shopGroup(r, region)
		peak = max(peak, g.Desired)
		if g.Desired > want {
			finish()
			t.Fatalf("%d rps at a target of %g per instance scaled the group to desired %d, want %d: %+v", trickle+step, target, g.Desired, want, g)
		}
		if g.Desired == want && len(g.Instances) == want && len(healthyInstances(g)) == want {
			scaledOut = time.Since(stepStart)
		} else if time.Since(stepStart) > 20*time.Second {
			finish()
			t.Fatalf("group not at %d healthy instances within 20s of a %d rps step: %+v", want, trickle+step, g)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// It holds there while the load lasts: the new instances, warmed up,
	// bring the measured average down to the target, not further out.
	hold := time.Now()
	for time.Since(hold) < warmUp+2*time.Second {
		r, _ := statusJSON(t, dir)
		g, _ := shopGroup(r, region)
		peak = max(peak, g.Desired)
		if g.Desired != want || len(healthyInstances(g)) != want {
			finish()
			t.Fatalf("under the same %d rps step the group left %d healthy instances: %+v", trickle+step, want, g)
		}
		time.Sleep(200 * time.Millisecond)
	}
	stepRate := float64(load.done()-stepDone) / time.Since(stepStart).Seconds()

	// The step ends: scale in to min, draining under the trickle.
	load.rate.Store(trickle)
	stepEnd := time.Now()
	var scaledIn time.Duration
	for scaledIn == 0 {
		r, _ := statusJSON(t, dir)
		g, _ := shopGroup(r, region)
		if g.Desired == minN && len(g.Instances) == minN && len(healthyInstances(g)) == minN {
			scaledIn = time.Since(stepEnd)
		} else if time.Since(stepEnd) > 20*time.Second {
			finish()
			t.Fatalf("group not back at %d instances within 20s of the step's end: %+v", minN, g)
		}
		time.Sleep(100 * time.Millisecond)
	}
	finish()
	t.Logf("step of %.1f rps measured at the client (target %g per instance): scaled out %d -> %d healthy in %s, peak desired %d; scaled in to %d in %s after the step ended (warm-up %s, cooldown %s)",
		stepRate, target, minN, want, scaledOut.Round(time.Millisecond), peak, minN, scaledIn.Round(time.Millisecond), warmUp, cooldown)

	// Every decision is logged. The evaluation that spans the step's start
	// or end may see part of it and scale by less, so the group may get to
	// want (and back to min) in more than one action, but it must never
	// pass want, and must not scale in before the step ends.
	logs, err := os.ReadFile(filepath.Join(dir, "logs", region+"-1.log"))
	if err != nil {
		t.Fatal(err)
	}
	var decisions []string
	lastTo, scalingIn := minN, false
	for _, line := range strings.Split(string(logs), "\n") {
		out, in := strings.Contains(line, `msg="scaling out"`), strings.Contains(line, `msg="scaling in"`)
		if !out && !in {
			continue
		}
		decisions = append(decisions, line)
		t.Logf("node: %s", line)
		_, after, _ := strings.Cut(line, " to=")
		to, err := strconv.Atoi(strings.Fields(after + " x")[0])
		switch {
		case err != nil:
			t.Errorf("no target count in the decision %q", line)
		case out && (scalingIn || to <= lastTo || to > want):
			t.Errorf("scale-out to %d after %d (scaling in already: %v), want a rise up to %d before any scale-in: %s", to, lastTo, scalingIn, want, line)
		case in && (to >= lastTo || to < minN):
			t.Errorf("scale-in to %d after %d, want a fall down to %d: %s", to, lastTo, minN, line)
		}
		scalingIn = scalingIn || in
		lastTo = to
	}
	if len(decisions) < 2 || lastTo != minN || !scalingIn {
		t.Errorf("node logged %d scaling decisions ending at %d, want scale-outs to %d then scale-ins to %d", len(decisions), lastTo, want, minN)
	}
}
