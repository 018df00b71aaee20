// Package nginx runs nginx (the Debian package) as the baseline reverse
// proxy the benchmarks compare Meridian's proxies with (in the foreground,
// with a generated config in a temp dir, keep-alive on both sides, access
// log off and the forwarded headers Meridian's proxies set), as cheap
// backends behind both, and as the static file server bench/cdn compares
// its cache with. A program that starts nginx must run Guard when it is
// started as `-role guard -pgid N` (see Start).
//
// Imported by the programs under bench/ only.
package nginx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/meridian-platform/meridian/bench/internal/backends"
)

// Find returns path if given, else nginx on PATH or /usr/sbin/nginx.
func Find(path string) (string, error) {
	if path != "" {
		return path, nil
	}
	if p, err := exec.LookPath("nginx"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
		return "/usr/sbin/nginx", nil
	}
	return "", errors.New("nginx not found")
}

// Version is what `nginx -v` says, without its "nginx version:" prefix.
func Version(bin string) string {
	out, _ := exec.Command(bin, "-v").CombinedOutput()
	return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(string(out)), "nginx version:"))
}

// Proc is a running nginx.
type Proc struct {
	Cmd  *exec.Cmd
	Addr string
	// Addrs are all its listeners (Addr is the first).
	Addrs   []string
	Version string
	dir     string
	guard   *exec.Cmd
	guardIn io.WriteCloser
}

// StartProxy runs nginx from bin (see Start) as a reverse proxy to backends
// on a free port of 127.0.0.1.
func StartProxy(ctx context.Context, bin string, backends []string, workers int, pin []string) (*Proc, error) {
	addrs, err := FreeAddrs("127.0.0.1", 1)
	if err != nil {
		return nil, err
	}
	var servers strings.Builder
	for _, b := range backends {
		fmt.Fprintf(&servers, "    server %s;\n", b)
	}
	block := fmt.Sprintf(`  upstream backends {
%[1]s    keepalive 256;
    keepalive_requests 100000;
  }
  server {
    listen %[2]s;
    location / {
      proxy_pass http://backends;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Host $host;
      proxy_next_upstream error timeout;
    }
  }
`, servers.String(), addrs[0])
	n, err := Start(ctx, bin, block, addrs, workers, pin)
	if err != nil {
		return nil, err
	}
	fmt.Printf("nginx: %s (%s), worker_processes %s, access_log off, keepalive 256 to the backends, on %s\n",
		n.Version, bin, workerProcesses(workers), n.Addr)
	return n, nil
}

// StartBackends runs nginx from bin (see Start) as n backend servers on free ports of
// 127.0.0.1, each answering every request with backends.Body(bodyBytes)
// as text/plain (as bench/internal/backends does, at a fraction of its
// CPU per request, so that one core of load generator and backends can
// keep a proxy on another core busy). Proc.Addrs lists them.
func StartBackends(ctx context.Context, bin string, n, bodyBytes, workers int, pin []string) (*Proc, error) {
	addrs, err := FreeAddrs("127.0.0.1", n)
	if err != nil {
		return nil, err
	}
	var listen strings.Builder
	for _, a := range addrs {
		fmt.Fprintf(&listen, "    listen %s;\n", a)
	}
	body := strings.TrimSuffix(backends.Body(bodyBytes), "\n") + `\n` // nginx's escape for the newline
	block := fmt.Sprintf(`  server {
%[1]s    default_type text/plain;
    location / { return 200 "%[2]s"; }
    location = /healthz { return 200 "ok\n"; }
  }
`, listen.String(), body)
	return Start(ctx, bin, block, addrs, workers, pin)
}

// FreeAddrs picks n free ports of host, as host:port.
func FreeAddrs(host string, n int) ([]string, error) {
	var addrs []string
	for range n {
		ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return nil, err
		}
		addrs = append(addrs, ln.Addr().String())
		defer func() { _ = ln.Close() }() // held until all are picked
	}
	return addrs, nil
}

func workerProcesses(workers int) string {
	if workers > 0 {
		return strconv.Itoa(workers)
	}
	return "auto"
}

// Start runs nginx from bin in the foreground with block in its http block
// (after the common part: access log off, temp paths in a temp dir,
// keepalive_requests 100000), listening on addrs, with workers worker
// processes (auto when 0), behind the pin prefix (taskset, which execs
// nginx: same pid), and waits until every addr answers.
//
// nginx runs in a process group of its own with a guard: this program
// re-executed as `-role guard -pgid N` (its main must call Guard then),
// which kills the group when this program ends in any way, even by
// SIGKILL: nginx's workers outlive a killed master.
func Start(ctx context.Context, bin, block string, addrs []string, workers int, pin []string) (*Proc, error) {
	dir, err := os.MkdirTemp("", "bench-nginx-")
	if err != nil {
		return nil, err
	}
	conf := fmt.Sprintf(`worker_processes %[2]s;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path %[1]s/body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;
  keepalive_requests 100000;
%[3]s}
`, dir, workerProcesses(workers), block)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	argv := append(slices.Clone(pin), bin, "-c", path, "-p", dir, "-e", filepath.Join(dir, "error.log"), "-g", "daemon off;")
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting nginx: %w", err)
	}
	n := &Proc{Cmd: cmd, dir: dir, Addr: addrs[0], Addrs: addrs}
	if err := n.startGuard(); err != nil {
		n.Stop()
		return nil, err
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, addr := range addrs {
		for {
			resp, err := http.Get("http://" + addr + "/")
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				break // any answer: it listens
			}
			if time.Now().After(deadline) {
				n.Stop()
				return nil, fmt.Errorf("nginx did not answer on %s (see %s/error.log): %w", addr, dir, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	n.Version = Version(bin)
	return n, nil
}

// startGuard starts this program as -role guard for nginx's process group.
// The guard has no parent-death signal: it must outlive this process to do
// its job, and it exits right after.
func (n *Proc) startGuard() error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	g := exec.Command(self, "-role", "guard", "-pgid", strconv.Itoa(n.Cmd.Process.Pid))
	g.Stderr = os.Stderr
	in, err := g.StdinPipe()
	if err != nil {
		return err
	}
	if err := g.Start(); err != nil {
		return fmt.Errorf("starting the nginx guard: %w", err)
	}
	n.guard, n.guardIn = g, in
	return nil
}

// Guard is the -role guard child: when its stdin closes (the program that
// started nginx stopped it or died, even by SIGKILL) it kills process group
// pgid.
func Guard(pgid int) error {
	_, _ = io.Copy(io.Discard, os.Stdin)
	if pgid > 1 {
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	}
	return nil
}

// Stop asks nginx to quit gracefully (SIGQUIT), kills it after 10 s, has
// the guard kill whatever is left of its group, and removes its temp dir.
func (n *Proc) Stop() {
	_ = n.Cmd.Process.Signal(syscall.SIGQUIT)
	done := make(chan struct{})
	go func() { _ = n.Cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = n.Cmd.Process.Kill()
		<-done
	}
	if n.guard != nil {
		_ = n.guardIn.Close()
		_ = n.guard.Wait()
	}
	_ = os.RemoveAll(n.dir)
}
