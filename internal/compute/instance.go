package compute

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type instState int

const (
	stateStarting instState = iota // running, not yet healthy
	stateHealthy                   // healthy and registered
	stateDraining                  // being deregistered and stopped
)

func (s instState) String() string {
	switch s {
	case stateStarting:
		return "starting"
	case stateHealthy:
		return "healthy"
	default:
		return "draining"
	}
}

// instance is one supervised process.
type instance struct {
	id      string
	gen     int
	port    int
	addr    string
	spec    GroupSpec // the template it was started from
	logPath string
	started time.Time // real time

	pid     int
	done    chan struct{} // closed once the process has exited and been reaped
	exitErr error         // how it exited; read after done is closed
	quit    chan struct{} // closed when the group retires it: stops the monitor

	// Owned by the group loop, read by Status under group.mu.
	state        instState
	ready        bool      // passed the supervisor's health checks
	registered   bool      // Targets.Register succeeded
	registeredAt time.Time // Config.Now when it went into service
}

// inheritedEnv lists the variables instances take from the node's own
// environment.
func inheritedEnv() []string { return []string{"PATH", "HOME", "TMPDIR", "LANG", "TZ", "USER"} }

// environ builds an instance's environment: inherited basics, then the
// region's, then the group's, then the instance's own.
func (s *Supervisor) environ(inst *instance, group string) []string {
	m := map[string]string{}
	for _, k := range inheritedEnv() {
		if v, ok := os.LookupEnv(k); ok {
			m[k] = v
		}
	}
	maps.Copy(m, s.cfg.BaseEnv)
	maps.Copy(m, inst.spec.Env)
	maps.Copy(m, instanceVars(inst, s.cfg.Host, group))
	env := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		env = append(env, k+"="+m[k])
	}
	return env
}

func instanceVars(inst *instance, host, group string) map[string]string {
	return map[string]string{
		EnvPort: strconv.Itoa(inst.port), EnvHost: host, EnvAddr: inst.addr,
		EnvInstance: inst.id, EnvGroup: group,
	}
}

// expandArgs replaces ${PORT}, ${HOST}, ${ADDR}, ${INSTANCE} and ${GROUP}
// and leaves every other character as written.
func expandArgs(args []string, inst *instance, host, group string) []string {
	vars := map[string]string{
		"PORT": strconv.Itoa(inst.port), "HOST": host, "ADDR": inst.addr,
		"INSTANCE": inst.id, "GROUP": group,
	}
	out := make([]string, len(args))
	for i, a := range args {
		for k, v := range vars {
			a = strings.ReplaceAll(a, "${"+k+"}", v)
		}
		out[i] = a
	}
	return out
}

// startProcess starts the instance's process. The child gets its own
// process group and SIGKILL as its parent-death signal. The kernel sends
// that signal when the thread that forked the child exits, so the forking
// goroutine stays locked to its thread until the child has been reaped:
// the signal then fires only if the whole node process dies.
func (s *Supervisor) startProcess(inst *instance, group string) error {
	if err := os.MkdirAll(filepath.Dir(inst.logPath), 0o755); err != nil { //nolint:gosec // G301: instance logs are for the operator to read, as any user
		return fmt.Errorf("creating instance log directory: %w", err)
	}
	logf, err := os.OpenFile(inst.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644) //nolint:gosec // G302: instance logs are for the operator to read, as any user
	if err != nil {
		return fmt.Errorf("opening instance log: %w", err)
	}
	args := expandArgs(inst.spec.Args, inst, s.cfg.Host, group)
	_, _ = fmt.Fprintf(logf, "--- meridian: starting instance %s on %s at %s: %s %s\n",
		inst.id, inst.addr, time.Now().UTC().Format(time.RFC3339Nano), inst.spec.Command, strings.Join(args, " "))
	command := inst.spec.Command
	if command == "meridian" {
		command = s.cfg.Executable
	}
	cmd := exec.Command(command, args...)
	cmd.Env = s.environ(inst, group)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}

	started := make(chan error, 1)
	// Exits when the child has exited and been reaped; the group's
	// retirement of the instance ensures that happens.
	go func() {
		runtime.LockOSThread()
		// Never unlocked: the thread ends with this goroutine, after the child.
		defer logf.Close()
		if err := cmd.Start(); err != nil {
			_, _ = fmt.Fprintf(logf, "--- meridian: %v\n", err)
			started <- err
			return
		}
		inst.pid = cmd.Process.Pid
		inst.started = time.Now()
		started <- nil
		err := cmd.Wait()
		if err == nil {
			err = errors.New("exit status 0")
		}
		inst.exitErr = err
		_, _ = fmt.Fprintf(logf, "--- meridian: instance %s exited: %v\n", inst.id, err)
		close(inst.done)
	}()
	return <-started
}

// signal sends sig to the instance's process group unless it has already
// been reaped.
func (inst *instance) signal(sig syscall.Signal) {
	select {
	case <-inst.done:
	default:
		_ = syscall.Kill(-inst.pid, sig)
	}
}

// stop asks the instance to exit with SIGTERM and kills it with SIGKILL
// after timeout; it returns once the process has been reaped.
func (inst *instance) stop(timeout time.Duration) (killed bool) {
	inst.signal(syscall.SIGTERM)
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-inst.done:
		return false
	case <-t.C:
	}
	inst.signal(syscall.SIGKILL)
	<-inst.done
	return true
}

// lastOutput is the last non-empty line the instance wrote to its log
// before the supervisor's own closing line, for error reports.
func (inst *instance) lastOutput() string {
	f, err := os.Open(inst.logPath)
	if err != nil {
		return ""
	}
	defer f.Close()
	const tail = 2048
	if st, err := f.Stat(); err == nil && st.Size() > tail {
		_, _ = f.Seek(st.Size()-tail, io.SeekStart)
	}
	b, _ := io.ReadAll(io.LimitReader(f, tail))
	lines := strings.Split(string(b), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		if l == "" || strings.HasPrefix(l, "--- meridian: instance ") {
			continue
		}
		if len(l) > 300 {
			l = l[:300] + "…"
		}
		return l
	}
	return ""
}

// event is what an instance's monitor tells its group.
type event struct {
	inst      *instance
	ready     bool   // passed HealthyThreshold checks in a row
	inService bool   // the load balancer routes to it
	kind      string // failure kind: exited, unhealthy, start_timeout, lb_unhealthy
	reason    string // failure, in words
}

// monitor health-checks the instance until it exits, fails or is retired,
// reporting to the group. It returns when inst.quit is closed or after
// reporting a failure.
func (g *group) monitor(inst *instance) {
	h := inst.spec.HealthCheck
	tick := time.NewTicker(h.Interval)
	defer tick.Stop()
	startBy := time.NewTimer(inst.spec.StartTimeout)
	defer startBy.Stop()
	url := "http://" + inst.addr + h.Path
	var ok, bad int
	healthy := false
	var lastErr error
	for {
		select {
		case <-inst.quit:
			return
		case <-inst.done:
			g.report(event{inst: inst, kind: "exited", reason: fmt.Sprintf("process exited (%v) after %v", inst.exitErr, time.Since(inst.started).Round(time.Millisecond))})
			return
		case <-startBy.C:
			if !healthy {
				g.report(event{inst: inst, kind: "start_timeout", reason: fmt.Sprintf("did not pass %d health checks in a row within %v (last check: %v)", h.HealthyThreshold, inst.spec.StartTimeout, lastErr)})
				return
			}
		case <-tick.C:
			lastErr = g.s.probe(inst, url, h.Timeout)
			if lastErr == nil {
				ok, bad = ok+1, 0
				if !healthy && ok >= h.HealthyThreshold {
					healthy = true
					g.report(event{inst: inst, ready: true})
				}
				continue
			}
			ok, bad = 0, bad+1
			if healthy && bad >= h.UnhealthyThreshold {
				g.report(event{inst: inst, kind: "unhealthy", reason: fmt.Sprintf("failed %d health checks in a row: %v", bad, lastErr)})
				return
			}
		}
	}
}

func (g *group) report(ev event) {
	select {
	case g.events <- ev:
	case <-ev.inst.quit:
	}
}

// probe runs one health check.
func (s *Supervisor) probe(inst *instance, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	go func() { // end the check early when the instance is retired
		select {
		case <-inst.quit:
			cancel()
		case <-ctx.Done():
		}
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 399 {
		return fmt.Errorf("GET %s: status %d", url, resp.StatusCode)
	}
	return nil
}
