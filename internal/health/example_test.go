package health_test

import (
	"context"
	"log/slog"
	"net/http"
	"os"

	"github.com/meridian-platform/meridian/internal/health"
)

// An edge checks two regions, shares verdicts with the other checkers and
// serves its own on the admin port.
func ExampleNew() {
	c, err := health.New(health.Config{
		Name: "edge-1",
		Checks: []health.Check{
			{ID: "us-east", Type: health.HTTP, URL: "http://127.0.1.1:9000/readyz"},
			{ID: "eu-west", Type: health.HTTP, URL: "http://127.0.1.2:9000/readyz"},
			{ID: "any-region", Type: health.Calculated, Children: []string{"us-east", "eu-west"}, HealthyThreshold: 1},
		},
		// The same list on every checker; each skips itself.
		Peers: []health.Peer{
			{Name: "edge-1", URL: "http://127.0.2.1:9000"},
			{Name: "us-east-1", URL: "http://127.0.1.1:9000"},
			{Name: "eu-west-1", URL: "http://127.0.1.2:9000"},
		},
		Logger: slog.New(slog.NewTextHandler(os.Stderr, nil)),
	})
	if err != nil {
		slog.Error("bad health check configuration", "err", err)
		return
	}
	admin := http.NewServeMux()
	admin.Handle(health.Path, c.Handler())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = c.Run(ctx) }() // returns nil once ctx is cancelled

	// The DNS server and the edge ask on every query or request:
	healthy, known := c.Health("us-east")
	rtt, measured := c.RTT("us-east")
	_, _, _, _ = healthy, known, rtt, measured
}
