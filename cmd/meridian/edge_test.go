package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/meridian-platform/meridian/internal/deploy"
	"github.com/meridian-platform/meridian/internal/edge"
	"github.com/meridian-platform/meridian/internal/health"
)

// edgeStatus asks an edge for its /admin/status.
func edgeStatus(admin string) (edge.Status, error) {
	var s edge.Status
	resp, err := http.Get(admin + "/admin/status")
	if err != nil {
		return s, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return s, fmt.Errorf("%s/admin/status: %s", admin, resp.Status)
	}
	return s, json.NewDecoder(resp.Body).Decode(&s)
}

// check returns the status of check id in s.
func check(s edge.Status, id string) health.CheckStatus {
	for _, c := range s.Health.Checks {
		if c.ID == id {
			return c
		}
	}
	return health.CheckStatus{}
}

// awaitHealthy waits until every edge's own probes and the global verdict
// call each region's node healthy. (The global verdict alone is healthy
// from the start: a region is failed over only once a majority of
// checkers have seen it fail.)
func awaitHealthy(t *testing.T, eps deploy.Endpoints, timeout time.Duration) {
	t.Helper()
	eventually(t, timeout, "every edge sees every region healthy", func() error {
		for _, e := range eps.Edges {
			s, err := edgeStatus(e.Admin)
			if err != nil {
				return err
			}
			for _, n := range eps.Nodes {
				if got := check(s, n.Name); got.Local != health.Healthy || got.Global != health.Healthy {
					return fmt.Errorf("%s sees %s %s (own probes %s)", e.Name, n.Name, got.Global, got.Local)
				}
			}
		}
		return nil
	})
}

// query asks the DNS server at server for name/qtype from the client
// address from (a loopback address standing for a client network), with an
// EDNS Client Subnet option when ecs is not empty.
func query(server, from, name string, qtype uint16, ecs string) (*mdns.Msg, error) {
	m := new(mdns.Msg)
	m.SetQuestion(mdns.Fqdn(name), qtype)
	m.SetEdns0(1232, false)
	if ecs != "" {
		_, ipnet, err := net.ParseCIDR(ecs)
		if err != nil {
			return nil, err
		}
		bits, _ := ipnet.Mask.Size()
		opt := m.IsEdns0()
		opt.Option = append(opt.Option, &mdns.EDNS0_SUBNET{Code: mdns.EDNS0SUBNET, Family: 1, SourceNetmask: uint8(bits), Address: ipnet.IP})
	}
	c := &mdns.Client{Net: "udp", Timeout: 2 * time.Second, Dialer: &net.Dialer{LocalAddr: &net.UDPAddr{IP: net.ParseIP(from)}, Timeout: 2 * time.Second}}
	r, _, err := c.Exchange(m, server)
	return r, err
}

// addrs returns the A records of an answer.
func addrs(r *mdns.Msg) []string {
	var out []string
	for _, rr := range r.Answer {
		if a, ok := rr.(*mdns.A); ok {
			out = append(out, a.A.String())
		}
	}
	slices.Sort(out)
	return out
}

func TestEdgesRouteAndFailOver(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	u := startUp(t, dir, "--subnet", randomSubnet()) // realistic WAN: the nearest region is measured
	eps := u.endpoints()
	if len(eps.Edges) != 3 {
		t.Fatalf("endpoints.json lists %d edges, want one per region: %+v", len(eps.Edges), eps.Edges)
	}
	regions := []string{"us-east", "eu-west", "ap-south"}
	host := map[string]string{} // region -> its node's address
	for _, n := range eps.Nodes {
		host[n.Region], _, _ = net.SplitHostPort(strings.TrimPrefix(n.Admin, "http://"))
	}
	// Stand-ins for clients in North America, Europe and Asia-Pacific.
	clients := map[string]string{"us-east": "127.0.10.9", "eu-west": "127.0.20.9", "ap-south": "127.0.30.9"}
	awaitHealthy(t, eps, 90*time.Second) // shops start slowly under -race on a busy machine
	t.Logf("every edge sees every region healthy %s after start", time.Since(u.start).Round(time.Millisecond))

	t.Run("latency answers per client network", func(t *testing.T) {
		for _, e := range eps.Edges {
			for _, region := range regions {
				r, err := query(e.DNS, clients[region], "shop.meridian.test", mdns.TypeA, "")
				if err != nil {
					t.Fatalf("%s: shop for a client in %s's location: %v", e.Name, region, err)
				}
				if got := addrs(r); !r.Authoritative || !slices.Equal(got, []string{host[region]}) {
					t.Errorf("%s: shop.meridian.test for %s: got %v (aa=%v) want [%s]", e.Name, clients[region], got, r.Authoritative, host[region])
				}
			}
			// The client subnet option wins over the source address.
			r, err := query(e.DNS, "127.0.0.1", "shop.meridian.test", mdns.TypeA, "127.0.30.0/24")
			if err != nil {
				t.Fatal(err)
			}
			if got := addrs(r); !slices.Equal(got, []string{host["ap-south"]}) {
				t.Errorf("%s: shop with ECS 127.0.30.0/24: got %v want [%s]", e.Name, got, host["ap-south"])
			}
		}
		edgeHost := func(i int) string { h, _, _ := net.SplitHostPort(eps.Edges[i].DNS); return h }
		r, err := query(eps.Edges[0].DNS, clients["eu-west"], "www.meridian.test", mdns.TypeA, "")
		if err != nil {
			t.Fatal(err)
		}
		if got := addrs(r); !slices.Equal(got, []string{edgeHost(1)}) {
			t.Errorf("www.meridian.test for a European client: got %v want the European edge [%s]", got, edgeHost(1))
		}
		r, err = query(eps.Edges[0].DNS, clients["us-east"], "nope.meridian.test", mdns.TypeA, "")
		if err != nil || r.Rcode != mdns.RcodeNameError {
			t.Errorf("unknown name: got %v, %v want NXDOMAIN", r, err)
		}
		r, err = query(eps.Edges[0].DNS, clients["us-east"], "example.com", mdns.TypeA, "")
		if err != nil || r.Rcode != mdns.RcodeRefused {
			t.Errorf("another zone: got %v, %v want REFUSED", r, err)
		}
		if dig, err := exec.LookPath("dig"); err == nil {
			h, p, _ := net.SplitHostPort(eps.Edges[1].DNS)
			out, err := exec.Command(dig, "+short", "-b", clients["eu-west"], "@"+h, "-p", p, "shop.meridian.test").CombinedOutput()
			if err != nil || strings.TrimSpace(string(out)) != host["eu-west"] {
				t.Errorf("dig shop.meridian.test from Europe: got %q, %v want %s", out, err, host["eu-west"])
			}
		} else {
			t.Log("dig is not installed (Debian: bind9-dnsutils); asked with the miekg/dns client only")
		}
	})

	t.Run("each edge proxies to its nearest region", func(t *testing.T) {
		for i, e := range eps.Edges {
			req, _ := http.NewRequest(http.MethodGet, e.HTTP+"/", nil)
			req.Host = "shop.meridian.test"
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Meridian-Region") != regions[i] || resp.Header.Get("X-Meridian-Edge") != e.Name {
				t.Errorf("GET %s/: %s region %q edge %q, want 200 from %s via %s", e.HTTP, resp.Status,
					resp.Header.Get("X-Meridian-Region"), resp.Header.Get("X-Meridian-Edge"), regions[i], e.Name)
			}
		}
	})

	t.Run("one checker cut off from a region does not fail it over", func(t *testing.T) {
		run(t, "chaos", "--data", dir, "partition", "edge-2", "eu-west")
		defer run(t, "chaos", "--data", dir, "heal")
		// edge-2 itself calls eu-west's node unhealthy...
		eventually(t, 10*time.Second, "edge-2's own verdict of eu-west-1", func() error {
			s, err := edgeStatus(eps.Edges[1].Admin)
			if err != nil {
				return err
			}
			if got := check(s, "eu-west-1").Local; got != health.Unhealthy {
				return fmt.Errorf("local verdict %s", got)
			}
			return nil
		})
		// ...and every checker still agrees the region is up, so DNS keeps it.
		for range 10 {
			for _, e := range eps.Edges {
				s, err := edgeStatus(e.Admin)
				if err != nil {
					t.Fatal(err)
				}
				if got := check(s, "eu-west").Global; got != health.Healthy {
					t.Fatalf("%s: global verdict of eu-west with one checker partitioned: %s", e.Name, got)
				}
			}
			r, err := query(eps.Edges[1].DNS, clients["eu-west"], "shop.meridian.test", mdns.TypeA, "")
			if err != nil || !slices.Equal(addrs(r), []string{host["eu-west"]}) {
				t.Fatalf("shop for Europe at the partitioned edge: got %v, %v want [%s]", r, err, host["eu-west"])
			}
			time.Sleep(200 * time.Millisecond)
		}
	})

	t.Run("a killed region: no failed GET through the edge, out of DNS in time, back after restart", func(t *testing.T) {
		tr := startTraffic(eps.Edges[0].HTTP+"/", 4)
		finished := false
		defer func() {
			if !finished {
				tr.finish()
			}
		}()
		tr.awaitRequests(t, 20, 10*time.Second)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		killed := time.Now()
		if _, err := deploy.Kill(ctx, dir, "us-east"); err != nil {
			t.Fatal(err)
		}
		var gone time.Duration
		for gone == 0 {
			r, err := query(eps.Edges[1].DNS, clients["us-east"], "shop.meridian.test", mdns.TypeA, "")
			if err == nil && !slices.Contains(addrs(r), host["us-east"]) {
				gone = time.Since(killed)
			}
			if time.Since(killed) > 15*time.Second {
				t.Fatalf("us-east still answered 15s after it was killed: %v", r)
			}
			time.Sleep(20 * time.Millisecond)
		}
		// interval × threshold + 1 s with the defaults (1 s, 3).
		if gone > 4*time.Second {
			t.Errorf("us-east left DNS answers %s after it was killed, want within 4s", gone)
		}
		t.Logf("us-east left DNS answers %s after it was killed", gone.Round(time.Millisecond))
		tr.awaitRequests(t, 20, 10*time.Second)
		ok, failed, firstErr := tr.finish()
		finished = true
		if failed != 0 {
			t.Errorf("GETs through edge-1 while its region died: %d ok, %d failed (first: %s), want none failed", ok, failed, firstErr)
		}
		t.Logf("GETs through edge-1 across the kill: %d ok, %d failed", ok, failed)

		if _, err := deploy.Restart(ctx, dir, "us-east"); err != nil {
			t.Fatal(err)
		}
		eventually(t, 60*time.Second, "us-east back in DNS answers", func() error {
			r, err := query(eps.Edges[1].DNS, clients["us-east"], "shop.meridian.test", mdns.TypeA, "")
			if err != nil {
				return err
			}
			if got := addrs(r); !slices.Equal(got, []string{host["us-east"]}) {
				return fmt.Errorf("answer %v", got)
			}
			return nil
		})
	})
}

func TestChaosBadInput(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	_, stderr, code := run(t, "chaos", "--data", dir, "partition", "us-east", "edge-1")
	if code == 0 || !strings.Contains(stderr, "topology") {
		t.Errorf("chaos without a deployment: exit %d, stderr %q; want an error about the missing topology", code, stderr)
	}
	startUp(t, dir, "--subnet", randomSubnet(), "--wan", "none")
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"partition", "us-east", "mars"}, `"mars" is not a node, edge or region of this deployment`},
		{[]string{"kill", "pluto"}, `"pluto" is not a node, edge or region`},
		{[]string{"latency", "us-east", "eu-west", "soon"}, `round trip "soon": give milliseconds (150) or a duration (150ms)`},
		{[]string{"partition", "us-east"}, "accepts 2 arg(s), received 1"},
	} {
		_, stderr, code := run(t, append([]string{"chaos", "--data", dir}, tt.args...)...)
		if code == 0 || !strings.Contains(stderr, tt.want) {
			t.Errorf("chaos %v: exit %d, stderr %q; want an error containing %q", tt.args, code, stderr, tt.want)
		}
	}
	stdout, _, code := run(t, "chaos", "--data", dir, "latency", "us-east", "eu-west", "150")
	if code != 0 || !strings.Contains(stdout, `"rtt": "150ms"`) {
		t.Errorf("chaos latency 150: exit %d, stdout %q", code, stdout)
	}
	stdout, _, code = run(t, "chaos", "--data", dir, "heal")
	if code != 0 || strings.Contains(stdout, "150ms") {
		t.Errorf("chaos heal: exit %d, stdout %q; want the latency override gone", code, stdout)
	}
}

// getVia GETs path from an edge with the given Host header and returns the
// status, X-Cache and body.
func getVia(t *testing.T, edgeURL, host, path string) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, edgeURL+path, nil)
	if host != "" {
		req.Host = host
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s%s (Host %s): %v", edgeURL, path, host, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("X-Cache"), string(body)
}

func TestEdgeCache(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	u := startUp(t, dir, "--subnet", randomSubnet(), "--wan", "none")
	eps := u.endpoints()
	awaitShops(t, dir, []string{"us-east", "eu-west", "ap-south"}, 2, 60*time.Second)
	edge1 := eps.Edges[0].HTTP

	t.Run("the shop's pictures come from the bucket through the cache", func(t *testing.T) {
		var code int
		var xcache, body string
		eventually(t, 30*time.Second, "the mug's picture through edge-1", func() error {
			if code, xcache, body = getVia(t, edge1, "shop.meridian.test", "/static/products/mug.svg"); code != http.StatusOK {
				return fmt.Errorf("%d %s", code, body)
			}
			return nil
		})
		if !strings.Contains(body, "Meridian mug") {
			t.Fatalf("picture: %.200q", body)
		}
		if code, xcache2, _ := getVia(t, edge1, "www.meridian.test", "/static/products/mug.svg"); code != http.StatusOK || xcache2 != "Hit" {
			t.Errorf("second GET under another host name: %d X-Cache %q (first was %q), want a Hit: /static/ is one object whatever the host", code, xcache2, xcache)
		}
		stdout, stderr, code2 := run(t, "cdn", "--data", dir, "invalidate", "--distribution", "shop-static", "/static/products/*")
		if code2 != 0 || !strings.Contains(stdout, "edge-1: 1 objects invalidated") {
			t.Fatalf("cdn invalidate: exit %d\n%s%s", code2, stdout, stderr)
		}
		if _, xcache3, _ := getVia(t, edge1, "", "/static/products/mug.svg"); xcache3 != "Miss" {
			t.Errorf("after the invalidation: X-Cache %q, want Miss", xcache3)
		}
	})

	t.Run("static.meridian.test serves the bucket, signed by the edge, without listing it", func(t *testing.T) {
		code, xcache, body := getVia(t, edge1, "static.meridian.test", "/products/tee.svg")
		if code != http.StatusOK || !strings.Contains(body, "Active-active T-shirt") {
			t.Fatalf("GET static.meridian.test/products/tee.svg: %d %s %.200q", code, xcache, body)
		}
		// Anonymous requests to the bucket itself are refused: only the
		// edge's signature opens it.
		resp, err := http.Get(eps.Nodes[0].API + "/static/products/tee.svg")
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("unsigned GET of the bucket object at the region: %s, want 403", resp.Status)
		}
		for _, path := range []string{"/", "/?list-type=2", "/products/"} {
			if code, _, body := getVia(t, edge1, "static.meridian.test", path); code != http.StatusNotFound || strings.Contains(body, "ListBucketResult") {
				t.Errorf("GET static.meridian.test%s: %d %.200q, want 404 and no listing", path, code, body)
			}
		}
		if code, _, _ := getVia(t, edge1, "static.meridian.test", "/nope.png"); code != http.StatusNotFound {
			t.Errorf("GET a missing key: %d, want 404", code)
		}
	})

	t.Run("bad invalidations", func(t *testing.T) {
		for _, tt := range []struct {
			args []string
			want string
		}{
			{[]string{"--distribution", "nope", "/x"}, `"nope" is not a distribution`},
			{[]string{"images/*"}, "/"},
		} {
			_, stderr, code := run(t, append([]string{"cdn", "--data", dir, "invalidate"}, tt.args...)...)
			if code == 0 || !strings.Contains(stderr, tt.want) {
				t.Errorf("cdn invalidate %v: exit %d stderr %q, want an error containing %q", tt.args, code, stderr, tt.want)
			}
		}
	})
}
