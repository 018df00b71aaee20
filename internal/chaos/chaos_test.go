package chaos

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meridian-platform/meridian/internal/topology"
)

// deployment is two regions and one edge on 127.0.83.x whose region nodes
// run an echo server on a free port.
func deployment(t testing.TB) (*topology.Topology, map[string]string) {
	t.Helper()
	top := &topology.Topology{
		Version: 1, DataDir: t.TempDir(),
		Regions: []topology.Region{
			{Name: "east", Nodes: []topology.Node{{Name: "east-1", Host: "127.0.83.1"}}},
			{Name: "west", Nodes: []topology.Node{{Name: "west-1", Host: "127.0.83.2"}}},
		},
		Edges:   []topology.Edge{{Name: "edge-1", Host: "127.0.83.3", Location: "na"}},
		Clients: topology.Clients{Latency: []topology.LocationLatency{{Location: "na", Region: "east", RTT: 10 * time.Millisecond}}},
		WAN:     topology.WAN{Latency: []topology.Link{{A: "east", B: "west", RTT: 60 * time.Millisecond}}},
		Chaos:   true,
	}
	top.SetDefaults()
	if err := top.Validate(); err != nil {
		t.Fatal(err)
	}
	addrs := map[string]string{}
	for _, host := range []string{"127.0.83.1", "127.0.83.2", "127.0.83.3"} {
		ln, err := net.Listen("tcp", host+":0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ln.Close() })
		go echo(ln)
		addrs[host] = ln.Addr().String()
	}
	return top, addrs
}

func echo(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer func() { _ = c.Close() }()
			r := bufio.NewReader(c)
			for {
				line, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if _, err := c.Write([]byte(line)); err != nil {
					return
				}
			}
		}()
	}
}

// roundTrip dials addr through f and times one echo.
func roundTrip(t *testing.T, f *Fabric, addr string, timeout time.Duration) (time.Duration, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := f.Dial(ctx, addr)
	if err != nil {
		return 0, err
	}
	defer func() { _ = c.Close() }()
	_ = c.SetDeadline(time.Now().Add(timeout))
	start := time.Now()
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return 0, err
	}
	if _, err := bufio.NewReader(c).ReadString('\n'); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

func TestFabricLatencyAndPartitions(t *testing.T) {
	top, addrs := deployment(t)
	f, err := NewFabric(top, "east-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	west := addrs["127.0.83.2"]
	if d, err := roundTrip(t, f, west, 5*time.Second); err != nil || d < 60*time.Millisecond {
		t.Fatalf("east-1 to west-1 with the topology's 60ms: got %v, %v want >= 60ms", d, err)
	}
	if d, err := roundTrip(t, f, addrs["127.0.83.1"], 5*time.Second); err != nil || d > 50*time.Millisecond {
		t.Fatalf("east-1 to itself: got %v, %v want no added latency", d, err)
	}

	var s State
	s.SetLatency("west", "east-1", 200*time.Millisecond)
	if err := f.Apply(s); err != nil {
		t.Fatal(err)
	}
	if d, err := roundTrip(t, f, west, 5*time.Second); err != nil || d < 200*time.Millisecond {
		t.Fatalf("after latency 200ms: got %v, %v want >= 200ms", d, err)
	}

	s.Partition("east", "edge-1", false)
	if err := f.Apply(s); err != nil {
		t.Fatal(err)
	}
	_, err = roundTrip(t, f, addrs["127.0.83.3"], 300*time.Millisecond)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("east-1 to edge-1 across a partition: got %v want a timeout", err)
	}

	s.Heal()
	if err := f.Apply(s); err != nil {
		t.Fatal(err)
	}
	if _, err := roundTrip(t, f, addrs["127.0.83.3"], 5*time.Second); err != nil {
		t.Fatalf("after heal: %v", err)
	}
	if d, err := roundTrip(t, f, west, 5*time.Second); err != nil || d < 60*time.Millisecond || d > 190*time.Millisecond {
		t.Fatalf("after heal the topology's latency is back: got %v, %v want 60ms", d, err)
	}
}

func TestFabricReadsStateFileAndServesIt(t *testing.T) {
	top, addrs := deployment(t)
	var s State
	s.Partition("edge-1", "west", true)
	if err := Save(top.DataDir, s); err != nil {
		t.Fatal(err)
	}
	f, err := NewFabric(top, "edge-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	// One way edge-1 -> west: no connection can be set up.
	if _, err := roundTrip(t, f, addrs["127.0.83.2"], 300*time.Millisecond); err == nil {
		t.Fatal("edge-1 to west-1 with a one-way partition in chaos.json: got an answer")
	}

	srv := httptest.NewServer(f.Handler())
	defer srv.Close()
	put := func(body string) (int, string) {
		req, _ := http.NewRequest(http.MethodPut, srv.URL+"/admin/chaos", strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		b := new(strings.Builder)
		_, _ = bufio.NewReader(resp.Body).WriteTo(b)
		return resp.StatusCode, b.String()
	}
	if code, body := put(`{"partitions":[{"from":"edge-1","to":"mars"}]}`); code != 400 || !strings.Contains(body, `\"mars\" is not a node, edge or region`) {
		t.Errorf("PUT an unknown name: got %d %s", code, body)
	}
	if got := f.State(); len(got.Partitions) != 1 || got.Partitions[0].To != "west" {
		t.Errorf("a refused PUT changed the state: %+v", got)
	}
	if code, body := put(`{"latency":[{"a":"edge-1","b":"east","rtt":"fast"}]}`); code != 400 || !strings.Contains(body, `duration \"fast\"`) {
		t.Errorf("PUT a bad duration: got %d %s", code, body)
	}
	if code, body := put(`{}`); code != 200 {
		t.Fatalf("PUT an empty state: got %d %s", code, body)
	}
	if _, err := roundTrip(t, f, addrs["127.0.83.2"], 5*time.Second); err != nil {
		t.Fatalf("after PUT {}: %v", err)
	}
}

func TestLoadRejectsACorruptFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, File), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), File) {
		t.Fatalf("Load of a torn file: got %v want an error naming it", err)
	}
	if s, err := Load(t.TempDir()); err != nil || len(s.Partitions)+len(s.Latency)+len(s.Stopped) != 0 {
		t.Fatalf("Load without a file: got %+v, %v want the zero state", s, err)
	}
}

// TestChaosOffByDefault: a topology that does not turn chaos on ignores the
// state file and refuses PUT /admin/chaos, so an admin port reachable from
// elsewhere cannot be used to cut a region off.
func TestChaosOffByDefault(t *testing.T) {
	top, addrs := deployment(t)
	top.Chaos = false
	var s State
	s.Partition("east", "west", false)
	if err := Save(top.DataDir, s); err != nil {
		t.Fatal(err)
	}
	f, err := NewFabric(top, "east-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := roundTrip(t, f, addrs["127.0.83.2"], 5*time.Second); err != nil {
		t.Fatalf("east-1 to west-1 with chaos off and a partition in chaos.json: %v", err)
	}
	srv := httptest.NewServer(f.Handler())
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodPut, srv.URL+"/admin/chaos", strings.NewReader(`{"partitions":[{"from":"east","to":"west"}]}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || len(f.State().Partitions) != 0 {
		t.Errorf("PUT /admin/chaos with chaos off: %s, state %+v; want 403 and no fault", resp.Status, f.State())
	}
}

// TestNothingSimulatedMeansPlainTCP: with chaos off and no WAN latency (a
// real deployment) a dial hands out the kernel's connection itself, and
// with either on, netsim's wrapper that can delay and cut it.
func TestNothingSimulatedMeansPlainTCP(t *testing.T) {
	for _, tc := range []struct {
		name    string
		chaos   bool
		latency bool
		plain   bool
	}{
		{"nothing", false, false, true},
		{"latency", false, true, false},
		{"chaos", true, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			top, addrs := deployment(t)
			top.Chaos = tc.chaos
			if !tc.latency {
				top.WAN.Latency = nil
			}
			f, err := NewFabric(top, "east-1", nil)
			if err != nil {
				t.Fatal(err)
			}
			c, err := f.Dial(t.Context(), addrs["127.0.83.2"])
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = c.Close() }()
			if _, plain := c.(*net.TCPConn); plain != tc.plain {
				t.Errorf("chaos %v, latency %v: dialed a %T; want plain TCP %v", tc.chaos, tc.latency, c, tc.plain)
			}
		})
	}
}
