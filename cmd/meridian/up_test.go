package main_test

import (
	"fmt"
	"io"
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

// TestUpStatusStop starts the default three regions with the realistic WAN,
// checks status and endpoints.json against the running processes, then
// stops it with SIGINT and checks that nothing is left running.
func TestUpStatusStop(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	u := startUp(t, dir, "--subnet", randomSubnet())

	eps := u.endpoints()
	wantRegions := []string{"us-east", "eu-west", "ap-south"}
	if len(eps.Nodes) != len(wantRegions) {
		t.Fatalf("endpoints.json lists %d nodes, want %d: %+v", len(eps.Nodes), len(wantRegions), eps)
	}
	for i, n := range eps.Nodes {
		if n.Region != wantRegions[i] || n.Role != "region" || n.Name != wantRegions[i]+"-1" {
			t.Errorf("node %d = %s/%s role %s, want %s/%s-1 role region", i, n.Region, n.Name, n.Role, wantRegions[i], wantRegions[i])
		}
		if !alive(n.PID) {
			t.Errorf("node %s: pid %d is not running", n.Name, n.PID)
		}
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", n.PID))
		if !strings.Contains(string(cmdline), n.Name) {
			t.Errorf("pid %d of %s runs %q", n.PID, n.Name, strings.ReplaceAll(string(cmdline), "\x00", " "))
		}
		if !strings.HasSuffix(n.API, ":4566") || !strings.HasSuffix(n.Admin, ":9000") || !strings.HasSuffix(n.Peer, ":7100") {
			t.Errorf("node %s: api %s admin %s peer %s, want ports 4566, 9000, 7100", n.Name, n.API, n.Admin, n.Peer)
		}
	}

	// The admin ports take changes only with the deployment's token;
	// reads stay open.
	admin := eps.Nodes[0].Admin
	for _, tc := range []struct {
		auth string
		want int
	}{{"", http.StatusUnauthorized}, {"Bearer " + strings.Repeat("0", 64), http.StatusForbidden}} {
		req, _ := http.NewRequest(http.MethodPut, admin+"/admin/kv/guarded/k", strings.NewReader("v"))
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want || !strings.Contains(string(body), `"error"`) {
			t.Fatalf("PUT with Authorization %q: got %d %s, want %d with a JSON error", tc.auth, resp.StatusCode, body, tc.want)
		}
	}
	if _, ok, err := getKV(admin, "guarded", "k"); err != nil || ok {
		t.Fatalf("a refused PUT left the key (found %v, err %v)", ok, err)
	}
	if code, body, err := adminDo(dir, http.MethodPut, admin+"/admin/kv/guarded/k", "v"); err != nil || code != http.StatusOK {
		t.Fatalf("PUT with the token: %d %s %v", code, body, err)
	}

	deadline := time.Now().Add(20 * time.Second)
	var report deploy.Report
	for {
		var code int
		report, code = statusJSON(t, dir)
		if allConnected(report) {
			if code != 0 {
				t.Errorf("status exit code %d with every region healthy, want 0", code)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("regions not all healthy and connected within 20s: %+v", report)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("every region healthy with connected peers %s after start", time.Since(u.start).Round(time.Millisecond))
	for i, s := range report.Regions {
		if s.Name != wantRegions[i] {
			t.Errorf("status region %d = %s, want %s", i, s.Name, wantRegions[i])
		}
	}

	table, _, code := run(t, "status", "--data", dir)
	if code != 0 || !strings.Contains(table, "REGION") || !strings.Contains(table, "ap-south") {
		t.Errorf("status table (exit %d):\n%s", code, table)
	}

	if code := u.signal(syscall.SIGINT, 20*time.Second); code != 0 {
		t.Errorf("meridian up exit code after SIGINT = %d, want 0\nstderr:\n%s", code, u.stderr.String())
	}
	// up waits for its children, so they must be gone already.
	for _, p := range pids(eps) {
		if alive(p) {
			t.Errorf("region process %d still running after meridian up exited", p)
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, deploy.EndpointsFile)); !os.IsNotExist(err) {
		t.Errorf("endpoints.json after a clean stop: stat err %v, want not exist", err)
	}
	if _, stderr, code := run(t, "status", "--data", dir); code == 0 || !strings.Contains(stderr, "meridian up") {
		t.Errorf("status after stop: exit %d, stderr %q; want non-zero and a hint to run meridian up", code, stderr)
	}
}

// ackLog records writes that were acknowledged (200).
type ackLog struct {
	mu   sync.Mutex
	keys map[string][]string // region -> keys
}

func (a *ackLog) add(region, key string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.keys[region] = append(a.keys[region], key)
}

func (a *ackLog) count(region string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.keys[region])
}

// TestKill9RegionLosesNoAcknowledgedWrites writes unique keys to every
// region while one region's process is killed with SIGKILL; the supervisor
// restarts it, and every acknowledged write must be readable in its own
// region and, after convergence, everywhere.
func TestKill9RegionLosesNoAcknowledgedWrites(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	u := startUp(t, dir, "--subnet", randomSubnet(), "--wan", "none")
	regions := []string{"us-east", "eu-west", "ap-south"}
	admins := map[string]string{}
	for _, r := range regions {
		admins[r] = u.admin(r)
	}
	const victim = "eu-west"
	var victimPID int
	for _, n := range u.endpoints().Nodes {
		if n.Region == victim {
			victimPID = n.PID
		}
	}

	acked := &ackLog{keys: map[string][]string{}}
	var failed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, r := range regions {
		for w := range 3 {
			wg.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					key := fmt.Sprintf("%s-w%d-%d", r, w, i)
					code, _, err := adminDo(dir, http.MethodPut, admins[r]+"/admin/kv/acks/"+key, `{"k":"`+key+`"}`)
					if err == nil && code == http.StatusOK {
						acked.add(r, key)
					} else {
						failed.Add(1)
						time.Sleep(5 * time.Millisecond) // pace retries against a region that is down
					}
				}
			})
		}
	}
	// Kill once the victim has acknowledged a fair number of writes.
	deadline := time.Now().Add(10 * time.Second)
	for acked.count(victim) < 200 {
		if time.Now().After(deadline) {
			close(stop)
			wg.Wait()
			t.Fatalf("%s acknowledged only %d writes in 10s", victim, acked.count(victim))
		}
		time.Sleep(10 * time.Millisecond)
	}
	beforeKill := acked.count(victim)
	if err := syscall.Kill(victimPID, syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 %d: %v", victimPID, err)
	}
	killedAt := time.Now()

	// The supervisor restarts the victim under a new pid.
	var newPID int
	deadline = time.Now().Add(15 * time.Second)
	for {
		for _, n := range u.endpoints().Nodes {
			if n.Region == victim && n.PID != 0 && n.PID != victimPID && alive(n.PID) {
				newPID = n.PID
			}
		}
		if newPID != 0 {
			if code, _, err := do(http.MethodGet, admins[victim]+"/readyz", ""); err == nil && code == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			close(stop)
			wg.Wait()
			t.Fatalf("%s not restarted and ready within 15s of kill -9 (pid now %d)\nstderr:\n%s", victim, newPID, u.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("%s restarted as pid %d, ready %s after kill -9", victim, newPID, time.Since(killedAt).Round(time.Millisecond))
	// Keep writing for a moment against the restarted region too.
	afterRestart := acked.count(victim)
	deadline = time.Now().Add(10 * time.Second)
	for acked.count(victim) < afterRestart+100 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if !strings.Contains(u.stderr.String(), "exited unexpectedly") || !strings.Contains(u.stderr.String(), "signal: killed") {
		t.Errorf("meridian up did not log the crash with its exit status; stderr:\n%s", u.stderr.String())
	}

	total := 0
	for _, r := range regions {
		total += acked.count(r)
	}
	t.Logf("acknowledged writes: %d total, %s %d before kill, %d after; %d failed (during the outage)", total, victim, beforeKill, acked.count(victim)-afterRestart, failed.Load())

	// Read-your-writes: every acknowledged write is in its own region now.
	for _, r := range regions {
		for _, key := range acked.keys[r] {
			d, ok, err := getKV(admins[r], "acks", key)
			if err != nil {
				t.Fatalf("reading %s in %s: %v", key, r, err)
			}
			if !ok || d.Doc != `{"k":"`+key+`"}` {
				t.Errorf("acknowledged write %s lost in its own region %s (got %q, exists %v)", key, r, d.Doc, ok)
			}
		}
	}
	// Convergence: every acknowledged write reaches every region.
	for _, reader := range regions {
		var pending []string
		for _, r := range regions {
			pending = append(pending, acked.keys[r]...)
		}
		deadline := time.Now().Add(30 * time.Second)
		for len(pending) > 0 {
			var left []string
			for _, key := range pending {
				if _, ok, err := getKV(admins[reader], "acks", key); err != nil || !ok {
					left = append(left, key)
				}
			}
			pending = left
			if len(pending) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d acknowledged writes never reached %s, such as %v", len(pending), reader, pending[:min(5, len(pending))])
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// TestKill9UpLeavesNoOrphansAndResumes kills `meridian up` itself with
// SIGKILL: its children must die with it (parent-death signal), and a
// second `up` on the same data directory must resume with the data.
func TestKill9UpLeavesNoOrphansAndResumes(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	subnet := randomSubnet()
	u := startUp(t, dir, "--subnet", subnet, "--wan", "none")
	regions := []string{"us-east", "eu-west", "ap-south"}
	written := map[string][]string{}
	for _, r := range regions {
		admin := u.admin(r)
		for i := range 20 {
			key := fmt.Sprintf("%s-%d", r, i)
			if code, body, err := adminDo(dir, http.MethodPut, admin+"/admin/kv/resume/"+key, key); err != nil || code != http.StatusOK {
				t.Fatalf("PUT %s in %s: %d %s %v", key, r, code, body, err)
			}
			written[r] = append(written[r], key)
		}
	}
	children := pids(u.endpoints())
	if code := u.signal(syscall.SIGKILL, 10*time.Second); code != -1 {
		t.Fatalf("meridian up exit code after SIGKILL = %d, want -1 (killed)", code)
	}
	awaitGone(t, children, 5*time.Second)

	u2 := startUp(t, dir, "--subnet", subnet, "--wan", "none")
	if !strings.Contains(u2.stdout.String(), "resumed") {
		t.Errorf("second up does not say it resumed:\n%s", u2.stdout.String())
	}
	for _, p := range pids(u2.endpoints()) {
		for _, old := range children {
			if p == old {
				t.Errorf("second up reports pid %d of the killed deployment", p)
			}
		}
	}
	for _, reader := range regions {
		admin := u2.admin(reader)
		deadline := time.Now().Add(30 * time.Second)
		for _, r := range regions {
			for _, key := range written[r] {
				for {
					d, ok, err := getKV(admin, "resume", key)
					if err == nil && ok && d.Doc == key {
						break
					}
					// Read-your-writes: a region's own writes are there at once.
					if reader == r || time.Now().After(deadline) {
						t.Fatalf("after resume, %s reads %s (written in %s) as %q exists=%v err=%v", reader, key, r, d.Doc, ok, err)
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
		}
	}
	if code := u2.signal(syscall.SIGTERM, 20*time.Second); code != 0 {
		t.Errorf("second up exit code after SIGTERM = %d, want 0", code)
	}
}

// TestCountersExact adds to one counter from every region at once; after
// convergence every region reports the exact total.
func TestCountersExact(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	u := startUp(t, dir, "--subnet", randomSubnet()) // realistic WAN
	regions := []string{"us-east", "eu-west", "ap-south"}
	const writers, adds = 4, 40
	var want atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, len(regions)*writers)
	for ri, r := range regions {
		admin := u.admin(r)
		for w := range writers {
			wg.Go(func() {
				delta := int64(ri*writers + w + 1)
				for range adds {
					code, body, err := adminDo(dir, http.MethodPost, fmt.Sprintf("%s/admin/kv/carts/c1/add?field=items&delta=%d", admin, delta), "")
					if err != nil || code != http.StatusOK {
						errs <- fmt.Errorf("add in %s: %d %s %v", r, code, body, err) //nolint:errorlint // err is nil when only the status is wrong; %v prints <nil>
						return
					}
					want.Add(delta)
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	wantTotal := fmt.Sprint(want.Load())
	for _, r := range regions {
		admin := u.admin(r)
		deadline := time.Now().Add(30 * time.Second)
		for {
			d, ok, err := getKV(admin, "carts", "c1")
			if err == nil && ok && d.Counters["items"] == wantTotal {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s counter items = %q (exists %v, err %v), want %s", r, d.Counters["items"], ok, err, wantTotal)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	t.Logf("counter total %s exact in every region", wantTotal)
}
