package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	mdns "github.com/miekg/dns"
)

// knotProc is knotd in the foreground with a generated config and zone file
// in a temp dir.
type knotProc struct {
	cmd     *exec.Cmd
	dir     string
	addr    string
	version string
	workers int
}

func findKnot(o options) (string, error) {
	if o.knotd != "" {
		return o.knotd, nil
	}
	if p, err := exec.LookPath("knotd"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/sbin/knotd"); err == nil {
		return "/usr/sbin/knotd", nil
	}
	return "", errors.New("knotd not found")
}

// startKnot serves the zone's static equivalent with knotd on addr, UDP and
// TCP, `workers` UDP workers, no RRL module (Knot limits nothing unless
// mod-rrl is configured), the zone loaded from the file and never written
// back, no journal.
func startKnot(ctx context.Context, bin, addr string, workers int, z benchZone, pin []string) (*knotProc, error) {
	dir, err := os.MkdirTemp("", "dns-bench-knot-")
	if err != nil {
		return nil, err
	}
	host, port, err := splitAddr(addr)
	if err != nil {
		return nil, err
	}
	conf := fmt.Sprintf(`server:
    rundir: "%[1]s"
    listen: %[2]s@%[3]s
    udp-workers: %[4]d
    tcp-workers: 1
    background-workers: 1
database:
    storage: "%[1]s/db"
log:
  - target: stderr
    any: warning
control:
    listen: "%[1]s/knot.sock"
template:
  - id: default
    storage: "%[1]s"
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
    semantic-checks: on
zone:
  - domain: meridian.test
    file: meridian.test.zone
`, dir, host, port, workers)
	if err := os.Mkdir(filepath.Join(dir, "db"), 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "knot.conf"), []byte(conf), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "meridian.test.zone"), []byte(z.zoneFile()), 0o644); err != nil {
		return nil, err
	}
	args := append(append([]string(nil), pin...), bin, "-c", filepath.Join(dir, "knot.conf"))
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("starting knotd: %w", err)
	}
	k := &knotProc{cmd: cmd, dir: dir, addr: addr, workers: workers}
	if err := awaitSOA(ctx, addr, 10*time.Second); err != nil {
		k.stop()
		return nil, fmt.Errorf("knotd did not serve meridian.test on %s (config in %s): %w", addr, dir, err)
	}
	out, _ := exec.Command(bin, "-V").CombinedOutput()
	k.version = strings.TrimSpace(string(out))
	return k, nil
}

func (k *knotProc) pid() int { return k.cmd.Process.Pid }

func (k *knotProc) stop() {
	_ = k.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = k.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = k.cmd.Process.Kill()
		<-done
	}
	_ = os.RemoveAll(k.dir)
}

// awaitSOA waits until addr answers the zone's SOA over UDP.
func awaitSOA(ctx context.Context, addr string, within time.Duration) error {
	deadline := time.Now().Add(within)
	c := &mdns.Client{Net: "udp", Timeout: 500 * time.Millisecond}
	m := new(mdns.Msg)
	m.SetQuestion(zoneName, mdns.TypeSOA)
	for {
		r, _, err := c.ExchangeContext(ctx, m, addr)
		if err == nil && r.Rcode == mdns.RcodeSuccess && len(r.Answer) == 1 {
			return nil
		}
		if err == nil {
			err = fmt.Errorf("answer %s with %d records", mdns.RcodeToString[r.Rcode], len(r.Answer))
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}
