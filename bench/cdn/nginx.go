package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// nginxVariant is one nginx configuration measured as a baseline.
type nginxVariant struct {
	name string
	// directives go into the http block.
	directives string
	about      string
}

// nginxVariants are the configurations -nginx can pick. sendfile is what
// Debian's /etc/nginx/nginx.conf ships (sendfile on, tcp_nopush on) and the
// one the ratio is computed against.
var nginxVariants = []nginxVariant{
	{"sendfile", "sendfile on;\n  tcp_nopush on;", "sendfile on, tcp_nopush on (Debian's default)"},
	{"nosendfile", "sendfile off;", "sendfile off: read() into a buffer, write() to the socket"},
	{"filecache", "sendfile on;\n  tcp_nopush on;\n  open_file_cache max=1000 inactive=60s;\n  open_file_cache_valid 60s;",
		"sendfile on, tcp_nopush on, open_file_cache (no open/fstat/close per request)"},
}

func variantByName(name string) (nginxVariant, bool) {
	for _, v := range nginxVariants {
		if v.name == name {
			return v, true
		}
	}
	return nginxVariant{}, false
}

// nginxProc is nginx in the foreground, in a process group of its own, with
// a config in a temp dir.
type nginxProc struct {
	cmd     *exec.Cmd
	guard   *exec.Cmd
	guardIn io.WriteCloser
	dir     string
	addr    string
	variant nginxVariant
}

// freeAddr returns host:port with a port free at the time of the call.
func freeAddr(host string) (string, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr, nil
}

// startNginx runs nginx serving root statically on host, with workers
// worker processes, behind pin (taskset), in the foreground. A guard child
// of this program kills nginx's process group when this program ends in
// any way.
func startNginx(ctx context.Context, bin string, v nginxVariant, root, host string, workers int, pin []string) (*nginxProc, error) {
	dir, err := os.MkdirTemp("", "cdn-bench-nginx-")
	if err != nil {
		return nil, err
	}
	addr, err := freeAddr(host)
	if err != nil {
		return nil, err
	}
	conf := fmt.Sprintf(`worker_processes %[4]d;
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
  types { application/octet-stream bin; }
  default_type application/octet-stream;
  keepalive_requests 100000;
  keepalive_timeout 65s;
  %[5]s
  server {
    listen %[2]s;
    root %[3]s;
    location / { }
  }
}
`, dir, addr, root, workers, v.directives)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	argv := append(pin, bin, "-c", path, "-p", dir, "-e", filepath.Join(dir, "error.log"), "-g", "daemon off;")
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...) // taskset execs nginx: same pid
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting nginx: %w", err)
	}
	n := &nginxProc{cmd: cmd, dir: dir, addr: addr, variant: v}
	if err := n.startGuard(); err != nil {
		n.stop()
		return nil, err
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			break // any answer: it listens
		}
		if time.Now().After(deadline) {
			n.stop()
			return nil, fmt.Errorf("nginx did not answer on %s (see %s/error.log): %w", addr, dir, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return n, nil
}

// startGuard starts this program as -role guard for nginx's process
// group. The guard has no parent-death signal: it must outlive this
// process to do its job, and it exits right after.
func (n *nginxProc) startGuard() error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	g := exec.Command(self, "-role", "guard", "-pgid", strconv.Itoa(n.cmd.Process.Pid))
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

func (n *nginxProc) stop() {
	_ = n.cmd.Process.Signal(syscall.SIGQUIT)
	done := make(chan struct{})
	go func() { _ = n.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = n.cmd.Process.Kill()
		<-done
	}
	if n.guard != nil {
		_ = n.guardIn.Close() // kills whatever is left of the group
		_ = n.guard.Wait()
	}
	_ = os.RemoveAll(n.dir)
}
