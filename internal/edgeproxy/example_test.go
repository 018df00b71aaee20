package edgeproxy_test

import (
	"context"
	"log"
	"net"
	"time"

	"github.com/meridian-platform/meridian/internal/edgeproxy"
)

// An edge forwarding to three regions, the nearest first, with us-west
// taking a quarter of the traffic it would get while it warms up.
func ExampleNew() {
	rtt := edgeproxy.RTTFunc(func(region string) (time.Duration, bool) {
		d, ok := map[string]time.Duration{"us-east": 12 * time.Millisecond, "us-west": 14 * time.Millisecond}[region]
		return d, ok // eu-west is not measured yet: tried after the others
	})
	p, err := edgeproxy.New(edgeproxy.Config{
		Name: "edge-nyc",
		Regions: []edgeproxy.Region{
			{ID: "us-east", URL: "http://127.0.1.1:8080", HealthCheck: "lb-us-east"},
			{ID: "us-west", URL: "http://127.0.1.2:8080", HealthCheck: "lb-us-west", TrafficDial: edgeproxy.Percent(25)},
			{ID: "eu-west", URL: "http://127.0.1.3:8080", HealthCheck: "lb-eu-west"},
		},
		RTT: rtt,
	})
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.2.1:0")
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // a real edge serves until its process is told to stop
	if err := p.Serve(ctx, ln); err != nil {
		log.Fatal(err)
	}
	// Output:
}
