package edge

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/meridian-platform/meridian/internal/topology"
)

// TestEdgeWithoutBalancers runs a real edge for a deployment whose regions
// run no instance groups and that has no distributions (DNS only, as Route
// 53 alone): it serves DNS and its admin port and opens no HTTP port, where
// it used to refuse to start for want of a region to proxy to.
func TestEdgeWithoutBalancers(t *testing.T) {
	top, err := topology.DefaultAt([]string{"us-east", "eu-west"}, t.TempDir(), topology.WANNone, "127.0.97", "127.0.98")
	if err != nil {
		t.Fatal(err)
	}
	top.CDN.Distributions = nil
	if err := top.Validate(); err != nil {
		t.Fatal(err)
	}
	e, err := New(Config{Topology: top, Edge: "edge-1"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	select {
	case <-e.Ready():
	case err := <-done:
		cancel()
		t.Fatalf("edge did not start: %v", err)
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("edge not ready within 10s")
	}
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("edge stopped with %v", err)
		}
	}()

	m := new(mdns.Msg)
	m.SetQuestion("us-east.meridian.test.", mdns.TypeA)
	r, _, err := (&mdns.Client{Timeout: 2 * time.Second}).Exchange(m, "127.0.98.1:5353")
	if err != nil || len(r.Answer) != 1 || r.Answer[0].(*mdns.A).A.String() != "127.0.97.1" {
		t.Fatalf("DNS us-east.meridian.test: %v, %v; want 127.0.97.1", r, err)
	}
	resp, err := http.Get("http://127.0.98.1:9000/admin/status")
	if err != nil {
		t.Fatal(err)
	}
	var s Status
	err = json.NewDecoder(resp.Body).Decode(&s)
	_ = resp.Body.Close()
	if err != nil || s.Edge != "edge-1" || len(s.Regions) != 0 {
		t.Errorf("status: %+v, %v; want edge-1 with no regions to proxy to", s, err)
	}
	if c, err := net.DialTimeout("tcp", "127.0.98.1:8080", time.Second); err == nil {
		_ = c.Close()
		t.Errorf("the HTTP port is open with nothing to serve")
	}
}
