package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/meridian-platform/meridian/internal/admintoken"
	"github.com/meridian-platform/meridian/internal/deploy"
)

// meridianBin is the binary under test, built once by TestMain.
var meridianBin string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "meridian-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "creating binary dir:", err)
		return 1
	}
	defer func() { _ = os.RemoveAll(dir) }()
	meridianBin = filepath.Join(dir, "meridian")
	args := []string{"build", "-o", meridianBin}
	if raceEnabled {
		args = append(args, "-race") // children report data races too
	}
	build := exec.Command("go", append(args, ".")...)
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// randomSubnet picks a 127.x.y network away from the default 127.0.1 so
// that tests run next to each other and next to a developer's `up`.
func randomSubnet() string {
	return fmt.Sprintf("127.%d.%d", 100+rand.IntN(151), rand.IntN(256))
}

// syncBuffer is a bytes.Buffer safe for a process writing and a test reading.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// run runs the binary to completion and returns its output and exit code.
func run(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, meridianBin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code = cmd.ProcessState.ExitCode()
	if err != nil && code <= 0 {
		t.Fatalf("meridian %s: %v", strings.Join(args, " "), err)
	}
	return out.String(), errb.String(), code
}

// upProc is a running `meridian up`.
type upProc struct {
	t      *testing.T
	dir    string
	cmd    *exec.Cmd
	stdout syncBuffer
	stderr syncBuffer
	done   chan struct{}
	start  time.Time
}

// startUp starts `meridian up --data dir` with args and waits until it
// reports every node ready. Cleanup kills whatever is left.
func startUp(t *testing.T, dir string, args ...string) *upProc {
	t.Helper()
	u := &upProc{t: t, dir: dir, done: make(chan struct{})}
	u.cmd = exec.Command(meridianBin, append([]string{"up", "--data", dir}, args...)...)
	u.cmd.Stdout, u.cmd.Stderr = &u.stdout, &u.stderr
	u.start = time.Now()
	if err := u.cmd.Start(); err != nil {
		t.Fatalf("starting meridian up: %v", err)
	}
	go func() {
		_ = u.cmd.Wait()
		close(u.done)
	}()
	t.Cleanup(func() {
		if u.exited() {
			return
		}
		_ = u.cmd.Process.Kill()
		<-u.done
		if t.Failed() {
			t.Logf("meridian up stderr:\n%s", u.stderr.String())
		}
	})
	took := u.awaitOutput("ready in", 20*time.Second)
	t.Logf("meridian up %s: ready in %s (measured from process start)", strings.Join(args, " "), took.Round(time.Millisecond))
	return u
}

func (u *upProc) exited() bool {
	select {
	case <-u.done:
		return true
	default:
		return false
	}
}

// awaitOutput waits until stdout contains s and returns the time since up
// started.
func (u *upProc) awaitOutput(s string, timeout time.Duration) time.Duration {
	u.t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(u.stdout.String(), s) {
		if u.exited() {
			u.t.Fatalf("meridian up exited (%v) before printing %q\nstdout:\n%s\nstderr:\n%s", u.cmd.ProcessState, s, u.stdout.String(), u.stderr.String())
		}
		if time.Now().After(deadline) {
			u.t.Fatalf("meridian up did not print %q within %s\nstdout:\n%s\nstderr:\n%s", s, timeout, u.stdout.String(), u.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(u.start)
}

// signal sends sig to up and waits for it to exit, returning its exit code.
func (u *upProc) signal(sig syscall.Signal, timeout time.Duration) int {
	u.t.Helper()
	if err := u.cmd.Process.Signal(sig); err != nil {
		u.t.Fatalf("signalling meridian up: %v", err)
	}
	select {
	case <-u.done:
	case <-time.After(timeout):
		u.t.Fatalf("meridian up did not exit within %s of %v\nstderr:\n%s", timeout, sig, u.stderr.String())
	}
	return u.cmd.ProcessState.ExitCode()
}

func (u *upProc) endpoints() deploy.Endpoints {
	u.t.Helper()
	e, err := deploy.ReadEndpoints(u.dir)
	if err != nil {
		u.t.Fatal(err)
	}
	return e
}

// admin returns the admin URL of region's node.
func (u *upProc) admin(region string) string {
	u.t.Helper()
	for _, n := range u.endpoints().Nodes {
		if n.Region == region {
			return n.Admin
		}
	}
	u.t.Fatalf("no node of region %s in endpoints.json", region)
	return ""
}

// alive reports whether pid is a running (not zombie) process.
func alive(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(data, ')')
	if i < 0 || i+2 >= len(data) {
		return false
	}
	state := data[i+2]
	return state != 'Z' && state != 'X'
}

// awaitGone waits until none of pids is alive.
func awaitGone(t *testing.T, pids []int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var left []int
		for _, p := range pids {
			if alive(p) {
				left = append(left, p)
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			for _, p := range left {
				_ = syscall.Kill(p, syscall.SIGKILL)
			}
			t.Fatalf("processes %v still running %s later", left, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// pids lists the processes of every node and edge.
func pids(e deploy.Endpoints) []int {
	var out []int
	for _, n := range e.Nodes {
		out = append(out, n.PID)
	}
	for _, n := range e.Edges {
		out = append(out, n.PID)
	}
	return out
}

// statusJSON runs `meridian status --json` and decodes its output.
func statusJSON(t *testing.T, dir string) (deploy.Report, int) {
	t.Helper()
	out, errOut, code := run(t, "status", "--data", dir, "--json")
	var r deploy.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("status --json printed %q (stderr %q): %v", out, errOut, err)
	}
	return r, code
}

// allConnected reports whether every region is healthy and connected to
// every other region.
func allConnected(r deploy.Report) bool {
	if !r.Healthy() {
		return false
	}
	for _, s := range r.Regions {
		if len(s.Peers) != len(r.Regions)-1 {
			return false
		}
		for _, p := range s.Peers {
			if !p.Connected {
				return false
			}
		}
	}
	return true
}

// do sends one request and returns the status code and body.
func do(method, url, body string) (int, []byte, error) {
	return doWith("", method, url, body)
}

// adminDo is do with the admin token of the deployment in dir, for the
// admin endpoints that change state.
func adminDo(dir, method, url, body string) (int, []byte, error) {
	token, err := admintoken.Read(filepath.Join(dir, deploy.AdminTokenFile))
	if err != nil {
		return 0, nil, err
	}
	return doWith(token, method, url, body)
}

func doWith(token, method, url, body string) (int, []byte, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	admintoken.Set(req, token)
	client := &http.Client{Timeout: 5 * time.Second} // the default transport pools connections
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, data, err
}

// kvDoc is GET /admin/kv/{space}/{key}.
type kvDoc struct {
	Doc      string            `json:"doc"`
	Counters map[string]string `json:"counters"`
}

// getKV reads one key; ok is false if it does not exist (404).
func getKV(admin, space, key string) (kvDoc, bool, error) {
	code, body, err := do(http.MethodGet, admin+"/admin/kv/"+space+"/"+key, "")
	if err != nil {
		return kvDoc{}, false, err
	}
	switch code {
	case http.StatusOK:
		var d kvDoc
		if err := json.Unmarshal(body, &d); err != nil {
			return kvDoc{}, false, fmt.Errorf("decoding %s: %w", body, err)
		}
		return d, true, nil
	case http.StatusNotFound:
		return kvDoc{}, false, nil
	default:
		return kvDoc{}, false, fmt.Errorf("GET %s/%s: %d %s", space, key, code, body)
	}
}
