package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meridian-platform/meridian/bench/internal/procs"
	"github.com/meridian-platform/meridian/internal/region"
	"github.com/meridian-platform/meridian/internal/topology"
)

// The -procs protocol, one line each on the child's stdin and stdout:
//
//	child → parent  READY                  the node serves
//	parent → child  START <unix ns>        the writers' common start
//	child → parent  REPORT <json>          a regionLoad, after the last write
//
// The child then keeps its node running (for the convergence check and the
// last scrape) until SIGTERM or until its stdin closes.
const (
	lineReady  = "READY"
	lineStart  = "START "
	lineReport = "REPORT "
)

// startDelay is how far ahead of now the parent sets the common start: long
// enough for every child to read it before it is due.
const startDelay = 500 * time.Millisecond

// parseReport reads a REPORT line of a child.
func parseReport(line string) (regionLoad, error) {
	raw, ok := strings.CutPrefix(line, lineReport)
	if !ok {
		return regionLoad{}, fmt.Errorf("not a report line: %q", firstLine([]byte(line)))
	}
	var l regionLoad
	if err := json.Unmarshal([]byte(raw), &l); err != nil {
		return regionLoad{}, fmt.Errorf("child report: %w", err)
	}
	if l.Region == "" || l.Window > l.All || l.Latency.Count() != l.Window {
		return regionLoad{}, fmt.Errorf("child report of %q: %d writes in the window, %d in all, %d latencies", l.Region, l.Window, l.All, l.Latency.Count())
	}
	return l, nil
}

// parseStart reads the START line the parent sends.
func parseStart(line string) (time.Time, error) {
	raw, ok := strings.CutPrefix(strings.TrimSpace(line), lineStart)
	if !ok {
		return time.Time{}, fmt.Errorf("want %q, got %q", lineStart+"<unix ns>", line)
	}
	ns, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || ns <= 0 {
		return time.Time{}, fmt.Errorf("bad start time %q", raw)
	}
	return time.Unix(0, ns), nil
}

// runWriteNode is the child of -procs (-write-node): one region node of the
// topology in cfgPath and its writers, in this process.
func runWriteNode(ctx context.Context, cfgPath, node string, o options, stdin io.Reader, stdout io.Writer) error {
	topo, err := topology.Load(cfgPath)
	if err != nil {
		return err
	}
	ri := -1
	for i, ref := range topo.Nodes() {
		if ref.Node.Name == node {
			ri = i
		}
	}
	if ri < 0 {
		return fmt.Errorf("no node %q in %s", node, cfgPath)
	}
	n, err := region.New(region.Config{
		Topology: topo,
		Node:     node,
		Logger:   slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})).With("component", "bench-node", "node", node),
	})
	if err != nil {
		return err
	}
	// The parent going away closes stdin: stop then too.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- n.Run(ctx) }()
	fail := func(err error) error {
		cancel()
		return errors.Join(err, <-runErr)
	}
	select {
	case <-n.Ready():
	case err := <-runErr:
		return fmt.Errorf("node %s: %w", node, err)
	}
	if _, err := fmt.Fprintln(stdout, lineReady); err != nil {
		return fail(err)
	}
	lines := make(chan string)
	go func() {
		defer cancel()
		sc := bufio.NewScanner(stdin)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var start time.Time
	select {
	case line := <-lines:
		if start, err = parseStart(line); err != nil {
			return fail(err)
		}
	case <-ctx.Done():
		return fail(nil)
	}
	var acked atomic.Uint64
	load := driveRegion(ctx, n.Store(), ri, writeSchedule{
		writers:  o.writers,
		interval: slotInterval(o.rate, len(topo.Nodes())),
		start:    start, from: start.Add(o.warm), until: start.Add(o.warm + o.dur),
	}, &acked)
	load.Region = n.Region()
	raw, err := json.Marshal(&load)
	if err != nil {
		return fail(fmt.Errorf("encoding report: %w", err))
	}
	if _, err := fmt.Fprintf(stdout, "%s%s\n", lineReport, raw); err != nil {
		return fail(err)
	}
	err = <-runErr
	if err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("node %s: %w", node, err)
	}
	return nil
}

// child is one region's process of -procs.
type child struct {
	node  string
	admin string
	*procs.Child
}

// startChildren starts one -write-node process per node of the topology in
// cfgPath and waits until each is READY.
func startChildren(ctx context.Context, topo *topology.Topology, cfgPath string, o options) ([]*child, error) {
	var cs []*child
	fail := func(err error) ([]*child, error) {
		_ = stopChildren(cs) // the error that made us give up is the one to report
		return nil, err
	}
	for _, ref := range topo.Nodes() {
		c := &child{node: ref.Node.Name, admin: ref.Node.AdminAddr()}
		var err error
		c.Child, err = procs.Spawn(ctx, nil, nil, "-write-node", c.node, "-config", cfgPath,
			"-writers", strconv.Itoa(o.writers), "-rate", strconv.FormatFloat(o.rate, 'g', -1, 64),
			"-warmup", o.warm.String(), "-duration", o.dur.String())
		if err != nil {
			return fail(fmt.Errorf("node %s: %w", c.node, err))
		}
		cs = append(cs, c)
	}
	for _, c := range cs {
		line, err := c.next(ctx, 60*time.Second)
		if err != nil {
			return fail(err)
		}
		if line != lineReady {
			return fail(fmt.Errorf("node %s: want %s, got %q", c.node, lineReady, line))
		}
	}
	return cs, nil
}

// next is the child's next stdout line.
func (c *child) next(ctx context.Context, timeout time.Duration) (string, error) {
	line, err := c.Next(ctx, timeout)
	if err != nil {
		return "", fmt.Errorf("node %s: %w", c.node, err)
	}
	return line, nil
}

// stopChildren stops every child at once (closing its stdin ends its node)
// and waits for them.
func stopChildren(cs []*child) error {
	errs := make([]error, len(cs))
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Go(func() {
			c.Stop()
			if st := c.Cmd.ProcessState; st != nil && !st.Success() {
				errs[i] = fmt.Errorf("node %s: %s", c.node, st)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// runMeridianProcs is runMeridian with every region and its writers in a
// child process of its own (-procs).
func runMeridianProcs(ctx context.Context, topo *topology.Topology, workDir string, o options) (res meridianResult, err error) {
	res = meridianResult{Regions: len(topo.Nodes()), WritersPerRegion: o.writers, Rate: o.rate, Procs: true, Seconds: o.dur.Seconds(), PerRegion: map[string]float64{}}
	cfgPath, err := writeTopology(topo, workDir)
	if err != nil {
		return res, err
	}
	cs, err := startChildren(ctx, topo, cfgPath, o)
	if err != nil {
		return res, err
	}
	defer func() {
		if stopErr := stopChildren(cs); stopErr != nil && err == nil {
			err = stopErr
		}
	}()
	client := &http.Client{Timeout: 10 * time.Second}
	admin := make([]string, len(cs))
	for i, c := range cs {
		admin[i] = c.admin
	}
	if err := awaitConnectedHTTP(ctx, client, admin, 30*time.Second); err != nil {
		return res, err
	}

	start := time.Now().Add(startDelay)
	from, until := start.Add(o.warm), start.Add(o.warm+o.dur)
	for _, c := range cs {
		if err := c.Send(lineStart + strconv.FormatInt(start.UnixNano(), 10)); err != nil {
			return res, fmt.Errorf("starting node %s: %w", c.node, err)
		}
	}
	childCPU := func() procs.CPUUse {
		var sum procs.CPUUse
		for _, c := range cs {
			u, _ := procs.ProcCPU(c.Cmd.Process.Pid)
			sum.User += u.User
			sum.Sys += u.Sys
		}
		return sum
	}
	scraped := scrapeWindow(ctx, client, admin, from, until, childCPU, "")

	loads := make([]regionLoad, len(cs))
	var lastAck time.Time
	for i, c := range cs {
		line, err := c.next(ctx, o.warm+o.dur+startDelay+2*time.Minute)
		if err != nil {
			return res, err
		}
		if loads[i], err = parseReport(line); err != nil {
			return res, fmt.Errorf("node %s: %w", c.node, err)
		}
		if t := time.Unix(0, loads[i].LastAck); t.After(lastAck) {
			lastAck = t
		}
	}
	snaps := <-scraped
	if err := ctx.Err(); err != nil {
		return res, err
	}
	if snaps.err != nil {
		return res, snaps.err
	}

	// Convergence, as in-process: every region holds the same digest and
	// version vector, read from each node's /admin/status.
	var sts []region.Status
	err = awaitConverged(ctx, lastAck, func() (bool, error) {
		var err error
		sts, err = statusAll(ctx, client, admin)
		return err == nil && statusesAgree(sts), err
	})
	if err != nil {
		return res, err
	}
	res.ConvergeSeconds = time.Since(lastAck).Seconds()
	res.AllAcksEverywhere = true
	for i, st := range sts {
		for _, other := range sts {
			if other.Applied[st.Origin] < loads[i].All {
				res.AllAcksEverywhere = false
			}
		}
	}
	res.addLoads(loads, snaps.cpu)
	res.addScrapes(snaps.before, snaps.after)
	return res, nil
}

// statusesAgree reports whether every node holds the same items (digest)
// and the same version vector, the first node's being non-empty.
func statusesAgree(sts []region.Status) bool {
	if len(sts) == 0 || len(sts[0].Applied) == 0 {
		return false
	}
	for _, s := range sts[1:] {
		if s.Digest != sts[0].Digest || !equalVV(s.Applied, sts[0].Applied) {
			return false
		}
	}
	return true
}

func statusAll(ctx context.Context, client *http.Client, addrs []string) ([]region.Status, error) {
	out := make([]region.Status, len(addrs))
	for i, a := range addrs {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+a+"/admin/status", nil)
		if err != nil {
			return nil, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, fmt.Errorf("status of %s: %w", a, err)
		}
		err = json.NewDecoder(resp.Body).Decode(&out[i])
		_ = resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("status of %s: %s: %w", a, resp.Status, err)
		}
		if _, err := hex.DecodeString(out[i].Digest); err != nil || out[i].Digest == "" {
			return nil, fmt.Errorf("status of %s: digest %q", a, out[i].Digest)
		}
	}
	return out, nil
}

// awaitConnectedHTTP waits until every node streams from every peer, as
// its /admin/status says.
func awaitConnectedHTTP(ctx context.Context, client *http.Client, addrs []string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		sts, err := statusAll(ctx, client, addrs)
		var missing []string
		if err != nil {
			missing = append(missing, err.Error())
		}
		for _, s := range sts {
			if len(s.Peers) != len(addrs)-1 {
				missing = append(missing, s.Region+": peers not known yet")
			}
			for _, p := range s.Peers {
				if !p.Connected {
					missing = append(missing, s.Region+"←"+p.Region)
				}
			}
		}
		if len(missing) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("replication streams not up after %s: %s", timeout, strings.Join(missing, ", "))
		}
		if !sleepUntil(ctx, time.Now().Add(50*time.Millisecond)) {
			return ctx.Err()
		}
	}
}
