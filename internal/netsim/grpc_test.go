package netsim_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/meridian-platform/meridian/internal/netsim"
)

// TestNetworkCarriesGRPC runs gRPC over TLS, as peer connections do, through
// latency and a partition.
func TestNetworkCarriesGRPC(t *testing.T) {
	cert := selfSigned(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}})))
	healthpb.RegisterHealthServer(srv, health.NewServer())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	defer func() {
		srv.Stop()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()

	n := netsim.New(1)
	n.Register("b", ln.Addr().String())
	const rtt = 100 * time.Millisecond
	n.SetLatency("a", "b", rtt)
	pool := x509.NewCertPool()
	pool.AddCert(cert.Leaf)
	cc, err := grpc.NewClient("passthrough:///"+ln.Addr().String(),
		grpc.WithContextDialer(n.Dialer("a")),
		grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool, ServerName: "netsim.test"})))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	client := healthpb.NewHealthClient(cc)

	check := func(timeout time.Duration) (time.Duration, error) {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		start := time.Now()
		resp, err := client.Check(ctx, &healthpb.HealthCheckRequest{})
		if err == nil && resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("health: got %v, want SERVING", resp.GetStatus())
		}
		return time.Since(start), err
	}
	if _, err := check(5 * time.Second); err != nil {
		t.Fatalf("first check (connects): %v", err)
	}
	got, err := check(5 * time.Second)
	if err != nil {
		t.Fatalf("second check: %v", err)
	}
	if got < rtt || got >= rtt+margin {
		t.Errorf("unary RPC on an open connection: got %v, want in [%v, %v)", got, rtt, rtt+margin)
	}

	n.Partition("a", "b")
	if _, err := check(300 * time.Millisecond); status.Code(err) != codes.DeadlineExceeded {
		t.Errorf("check across a partition: got %v, want DeadlineExceeded", err)
	}
	n.Heal("a", "b")
	if _, err := check(5 * time.Second); err != nil {
		t.Errorf("check after heal: %v", err)
	}
}
