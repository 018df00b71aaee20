package deploy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/meridian-platform/meridian/internal/admintoken"
	"github.com/meridian-platform/meridian/internal/chaos"
	"github.com/meridian-platform/meridian/internal/iam"
	"github.com/meridian-platform/meridian/internal/pki"
	"github.com/meridian-platform/meridian/internal/topology"
)

// Up starts the deployment described by cfg and supervises it until ctx is
// cancelled, then stops every child (SIGTERM, then SIGKILL after
// cfg.StopTimeout) and returns nil. It returns an error, after stopping
// what it started, if the deployment cannot be prepared or is not ready
// within cfg.ReadyTimeout.
func Up(ctx context.Context, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	cfg.setDefaults()
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return fmt.Errorf("resolving data directory %s: %w", cfg.Dir, err)
	}
	if cfg.Binary == "" {
		if cfg.Binary, err = os.Executable(); err != nil {
			return fmt.Errorf("finding the meridian executable to start nodes from: %w", err)
		}
	}
	_, statErr := os.Stat(filepath.Join(dir, TopologyFile))
	resume := statErr == nil
	if statErr != nil && !errors.Is(statErr, fs.ErrNotExist) {
		return fmt.Errorf("checking for an existing deployment: %w", statErr)
	}
	// The deployment's own directory is the operator's alone: it holds every
	// region's data, keys and logs (the modes inside matter only to users
	// the operator lets in). An existing one keeps its mode.
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating data directory: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(dir, LogsDir), 0o755); err != nil { //nolint:gosec // G301: process logs are for the operator to read, as any user
		return fmt.Errorf("creating data directory: %w", err)
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return err
	}
	defer unlock()

	topo, err := prepareTopology(cfg, dir, resume)
	if err != nil {
		return err
	}
	if !resume {
		data, err := topo.Marshal()
		if err != nil {
			return err
		}
		if err := writeFileAtomic(filepath.Join(dir, TopologyFile), data, 0o644); err != nil {
			return err
		}
	}
	var specs []pki.NodeSpec
	for _, ref := range topo.Nodes() {
		specs = append(specs, pki.NodeSpec{Name: ref.Node.Name, IPs: []net.IP{net.ParseIP(ref.Node.Host)}})
	}
	for _, e := range topo.Edges {
		specs = append(specs, pki.NodeSpec{Name: e.Name, IPs: []net.IP{net.ParseIP(e.Host)}})
	}
	if err := pki.EnsureCluster(topo.TLS.Dir, specs); err != nil {
		return fmt.Errorf("preparing certificates: %w", err)
	}
	// The master key and the administrator's key are made here, once,
	// before any node starts: nodes starting together must not each invent
	// their own.
	if err := iam.EnsureMasterKey(topo.Secrets.MasterKeyFile); err != nil {
		return err
	}
	if topo.Secrets.BootstrapCredentials != "" {
		if _, err := iam.EnsureBootstrapCredentials(topo.Secrets.BootstrapCredentials, iam.Profile); err != nil {
			return err
		}
	}
	if topo.Secrets.AdminTokenFile != "" {
		if _, err := admintoken.Ensure(topo.Secrets.AdminTokenFile); err != nil {
			return err
		}
	}

	s := &supervisor{
		cfg:  cfg,
		dir:  dir,
		topo: topo,
		log:  cfg.Logger.With("component", "deploy"),
		eps:  endpointsFor(topo),
	}
	if err := s.writeEndpoints(); err != nil {
		return err
	}
	s.log.Info("starting deployment", "dir", dir, "resume", resume, "regions", topo.RegionNames())
	return s.run(ctx, resume)
}

// lockDir takes an exclusive lock on dir for this process's lifetime, so a
// second `up` on the same directory fails clearly instead of fighting the
// first over ports and storage locks. The kernel drops the lock when the
// process dies, however it dies.
func lockDir(dir string) (unlock func(), err error) {
	path := filepath.Join(dir, lockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644) //nolint:gosec // G302: the lock file holds only the holder's pid, shown to a second up
	if err != nil {
		return nil, fmt.Errorf("locking data directory: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(path)
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("another `meridian up` (pid %s) is running from %s; stop it first or give another --data directory", strings.TrimSpace(string(holder)), dir)
		}
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = fmt.Fprintf(f, "%d\n", os.Getpid())
	}
	return func() { _ = f.Close() }, nil
}

// supervisor owns the children of one Up call.
type supervisor struct {
	cfg  Config
	dir  string
	topo *topology.Topology
	log  *slog.Logger

	mu  sync.Mutex
	eps Endpoints // pids change as children restart
}

func (s *supervisor) writeEndpoints() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return WriteEndpoints(s.dir, s.eps)
}

func (s *supervisor) setPID(node string, pid int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.eps.Nodes {
		if s.eps.Nodes[i].Name == node {
			s.eps.Nodes[i].PID = pid
		}
	}
	for i := range s.eps.Edges {
		if s.eps.Edges[i].Name == node {
			s.eps.Edges[i].PID = pid
		}
	}
	if err := WriteEndpoints(s.dir, s.eps); err != nil {
		s.log.Error("updating endpoints", "node", node, "err", err)
	}
}

// run starts every child, waits for readiness, prints the summary and
// supervises until ctx is cancelled.
func (s *supervisor) run(ctx context.Context, resume bool) error {
	// children is cancelled on return, whatever the reason; every node
	// goroutine then stops its child before g.Wait returns.
	children, cancel := context.WithCancel(ctx)
	defer cancel()
	g, gctx := errgroup.WithContext(children)
	for _, c := range childrenOf(s.topo) {
		g.Go(func() error { return s.supervise(gctx, c) })
	}
	started := time.Now()
	err := s.awaitReady(gctx)
	if err == nil {
		s.printSummary(time.Since(started), resume)
		<-gctx.Done()
	}
	cancel()
	if werr := g.Wait(); werr != nil {
		err = werr // the root cause of an early stop
	} else if ctx.Err() != nil {
		err = nil // stopped by the operator, maybe before all were ready
	}
	if err != nil {
		return err
	}
	if rerr := os.Remove(filepath.Join(s.dir, EndpointsFile)); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
		s.log.Warn("removing endpoints file", "err", rerr)
	}
	s.log.Info("deployment stopped", "dir", s.dir)
	return nil
}

// child is one process `up` runs: a region node or an edge.
type child struct {
	name, role string
	// region is the node's region, or the edge's location.
	region string
	// args are the subcommand's arguments after the topology file.
	args  []string
	admin string // host:port
}

func childrenOf(t *topology.Topology) []child {
	var cs []child
	for _, ref := range t.Nodes() {
		cs = append(cs, child{name: ref.Node.Name, role: RoleRegion, region: ref.Region, args: []string{"--node", ref.Node.Name}, admin: ref.Node.AdminAddr()})
	}
	for _, e := range t.Edges {
		cs = append(cs, child{name: e.Name, role: RoleEdge, region: e.Location, args: []string{"--edge", e.Name}, admin: e.AdminAddr()})
	}
	return cs
}

// supervise runs c until ctx is cancelled, restarting it with exponential
// backoff whenever it exits on its own, except while the chaos state holds
// it stopped.
func (s *supervisor) supervise(ctx context.Context, c child) error {
	log := s.log.With("role", c.role, "node", c.name)
	logPath := filepath.Join(s.dir, LogsDir, c.name+".log")
	logFile, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644) //nolint:gosec // G302: process logs are for the operator to read, as any user
	if err != nil {
		return fmt.Errorf("opening log of %s: %w", c.name, err)
	}
	defer func() { _ = logFile.Close() }()

	backoff := s.cfg.MinBackoff
	for {
		if !s.holdWhileStopped(ctx, log, c.name) {
			return nil
		}
		began := time.Now()
		state, err := s.runChild(ctx, log, c, logFile)
		s.setPID(c.name, 0)
		if ctx.Err() != nil {
			return nil
		}
		ran := time.Since(began)
		if ran >= s.cfg.ResetBackoffAfter {
			backoff = s.cfg.MinBackoff
		}
		if err != nil {
			log.Error("starting process failed; retrying", "err", err, "backoff", backoff)
		} else {
			log.Error("process exited unexpectedly; restarting", "status", state.String(), "ran", ran.Round(time.Millisecond), "backoff", backoff, "log", logPath)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, s.cfg.MaxBackoff)
	}
}

// holdWhileStopped waits while `meridian chaos kill` holds name down. It
// returns false if ctx ends first.
func (s *supervisor) holdWhileStopped(ctx context.Context, log *slog.Logger, name string) bool {
	logged := false
	for {
		st, err := chaos.Load(s.dir)
		if err != nil {
			log.Warn("reading chaos state; starting the process anyway", "err", err)
			return ctx.Err() == nil
		}
		if !st.IsStopped(name) {
			if logged {
				log.Info("released by chaos restart")
			}
			return ctx.Err() == nil
		}
		if !logged {
			log.Warn("held down by chaos kill until `meridian chaos restart " + name + "`") //nolint:sloglint // the message is the command to copy, process name included
			logged = true
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// runChild starts c's process and blocks until it exits. When ctx is
// cancelled it sends SIGTERM, and SIGKILL to the child's process group
// after StopTimeout.
//
// The child is started and waited for by a goroutine locked to its OS
// thread for the child's whole life: Pdeathsig fires when the thread that
// forked the child exits, so an unlocked thread could be retired by the Go
// runtime and kill a healthy child.
func (s *supervisor) runChild(ctx context.Context, log *slog.Logger, c child, logFile *os.File) (*os.ProcessState, error) {
	args := append(append([]string{}, s.cfg.ChildArgs...), c.role, "--config", filepath.Join(s.dir, TopologyFile))
	args = append(args, c.args...)
	type result struct {
		state *os.ProcessState
		err   error
	}
	startedc := make(chan *os.Process, 1)
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		cmd := exec.Command(s.cfg.Binary, args...)
		cmd.Stdout, cmd.Stderr = logFile, logFile
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		_, _ = fmt.Fprintf(logFile, "--- meridian up: starting %s at %s\n", c.name, time.Now().Format(time.RFC3339Nano))
		if err := cmd.Start(); err != nil {
			close(startedc)
			done <- result{err: fmt.Errorf("starting %s: %w", cmd, err)}
			return
		}
		startedc <- cmd.Process
		err := cmd.Wait()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = nil // an exit status is reported through the state
		}
		done <- result{state: cmd.ProcessState, err: err}
	}()

	proc := <-startedc
	if proc == nil {
		r := <-done
		return nil, r.err
	}
	s.setPID(c.name, proc.Pid)
	log.Info("process started", "pid", proc.Pid)
	select {
	case r := <-done:
		return r.state, r.err
	case <-ctx.Done():
	}
	if err := proc.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		log.Warn("sending SIGTERM", "pid", proc.Pid, "err", err)
	}
	timer := time.NewTimer(s.cfg.StopTimeout)
	defer timer.Stop()
	select {
	case r := <-done:
		log.Info("process stopped", "pid", proc.Pid, "status", stateString(r.state))
		return r.state, r.err
	case <-timer.C:
	}
	log.Warn("process did not stop in time; killing it", "pid", proc.Pid, "waited", s.cfg.StopTimeout)
	_ = syscall.Kill(-proc.Pid, syscall.SIGKILL) // the whole group, while the leader is unreaped
	_ = proc.Kill()
	r := <-done
	return r.state, r.err
}

func stateString(st *os.ProcessState) string {
	if st == nil {
		return "unknown"
	}
	return st.String()
}

// awaitReady polls every node's /readyz until all answer 200. After
// ReadyTimeout it fails with the log tail of every node not ready.
func (s *supervisor) awaitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ReadyTimeout)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	pending := map[string]child{}
	for _, c := range childrenOf(s.topo) {
		pending[c.name] = c
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		for name, c := range pending {
			if ready(ctx, client, "http://"+c.admin+"/readyz") {
				delete(pending, name)
			}
		}
		if len(pending) == 0 {
			return nil
		}
		select {
		case <-tick.C:
			continue
		case <-ctx.Done():
		}
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("interrupted before the deployment was ready: %w", ctx.Err())
		}
		var b strings.Builder
		fmt.Fprintf(&b, "not ready within %s:", s.cfg.ReadyTimeout)
		for _, c := range childrenOf(s.topo) {
			if _, ok := pending[c.name]; !ok {
				continue
			}
			logPath := filepath.Join(s.dir, LogsDir, c.name+".log")
			fmt.Fprintf(&b, "\n\n%s (%s %s) did not answer http://%s/readyz; last lines of %s:\n%s",
				c.name, c.role, c.region, c.admin, logPath, tail(logPath, 20))
		}
		return errors.New(b.String())
	}
}

func ready(ctx context.Context, client *http.Client, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// tail returns the last n lines of the file at path, indented.
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "    (" + err.Error() + ")"
	}
	lines := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	var b strings.Builder
	for _, l := range lines {
		b.WriteString("    ")
		b.Write(l)
		b.WriteByte('\n')
	}
	return strings.TrimRight(b.String(), "\n")
}

// printSummary tells the operator what is running and where.
func (s *supervisor) printSummary(took time.Duration, resume bool) {
	var b strings.Builder
	verb := "started"
	if resume {
		verb = "resumed"
	}
	fmt.Fprintf(&b, "meridian %s %d regions, ready in %s\n\n", verb, len(s.topo.Regions), took.Round(time.Millisecond))
	s.mu.Lock()
	nodes := slices.Clone(s.eps.Nodes)
	s.mu.Unlock()
	tw := new(bytes.Buffer)
	fmt.Fprintf(tw, "  %-12s %-14s %-28s %-28s %s\n", "REGION", "NODE", "ADMIN", "AWS API", "LOAD BALANCER")
	for _, ep := range nodes {
		lbURL := ep.LB
		if lbURL == "" {
			lbURL = "-"
		}
		fmt.Fprintf(tw, "  %-12s %-14s %-28s %-28s %s\n", ep.Region, ep.Name, ep.Admin, ep.API, lbURL)
	}
	s.mu.Lock()
	edges := slices.Clone(s.eps.Edges)
	s.mu.Unlock()
	if len(edges) > 0 {
		fmt.Fprintf(tw, "\n  %-12s %-14s %-28s %-28s %s\n", "EDGE", "LOCATION", "ADMIN", "DNS (UDP, TCP)", "HTTP")
		for _, ep := range edges {
			fmt.Fprintf(tw, "  %-12s %-14s %-28s %-28s %s\n", ep.Name, ep.Location, ep.Admin, ep.DNS, ep.HTTP)
		}
	}
	b.Write(tw.Bytes())
	rel := s.dir
	if wd, err := os.Getwd(); err == nil {
		if r, err := filepath.Rel(wd, s.dir); err == nil && !strings.HasPrefix(r, "..") {
			rel = r
		}
	}
	fmt.Fprintf(&b, "\n  data:      %s\n", s.dir)
	fmt.Fprintf(&b, "  endpoints: %s\n", filepath.Join(s.dir, EndpointsFile))
	fmt.Fprintf(&b, "  logs:      %s\n", filepath.Join(s.dir, LogsDir))
	if creds := s.topo.Secrets.BootstrapCredentials; creds != "" && len(nodes) > 0 {
		fmt.Fprintf(&b, "\nUse the AWS CLI or SDKs (DynamoDB) with the administrator key in %s:\n", creds)
		fmt.Fprintf(&b, "  export AWS_SHARED_CREDENTIALS_FILE=%s AWS_PROFILE=%s AWS_REGION=%s\n", creds, iam.Profile, nodes[0].Region)
		fmt.Fprintf(&b, "  aws dynamodb list-tables --endpoint-url %s\n", nodes[0].API)
	}
	if len(nodes) > 0 && nodes[0].LB != "" {
		fmt.Fprintf(&b, "\nEach region's instance groups serve behind its load balancer (the reference shop unless\nthe topology says otherwise); try %s/\n", nodes[0].LB)
	}
	if len(edges) > 0 {
		host, port, _ := net.SplitHostPort(edges[0].DNS)
		fmt.Fprintf(&b, "\nEdges answer DNS for the topology's zones and send HTTP to the nearest healthy region:\n")
		fmt.Fprintf(&b, "  dig @%s -p %s shop.meridian.test\n", host, port)
		fmt.Fprintf(&b, "  curl -H 'Host: shop.meridian.test' %s/\n", edges[0].HTTP)
		fmt.Fprintf(&b, "and serve the bucket static through their cache:\n")
		fmt.Fprintf(&b, "  curl -i -H 'Host: static.meridian.test' %s/products/mug.svg\n", edges[0].HTTP)
	}
	fmt.Fprintf(&b, "\nCheck it with `meridian status --data %s`; stop it with Ctrl-C (data stays for the next `up`).\n", rel)
	_, _ = io.WriteString(s.cfg.Out, b.String())
}
