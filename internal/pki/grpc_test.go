package pki

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"
)

// TestGRPCOverMutualTLS runs the configurations the way the peer port uses
// them: gRPC with credentials.NewTLS, the server learning the caller's node
// name from the connection.
func TestGRPCOverMutualTLS(t *testing.T) {
	c := newCluster(t, "grpc CA")
	east, west := c.node("us-east-1"), c.node("eu-west-1")
	foreign := &NodeMaterial{Name: "eu-west-1", CA: c.ca.Cert, Cert: newCluster(t, "other CA").node("eu-west-1").Cert}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	callers := make(chan string, 4)
	srv := grpc.NewServer(
		grpc.Creds(credentials.NewTLS(serverConfig(t, east))),
		grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
			p, ok := peer.FromContext(ctx)
			if !ok {
				return nil, errors.New("no peer in context")
			}
			tlsInfo, ok := p.AuthInfo.(credentials.TLSInfo)
			if !ok {
				return nil, errors.New("peer is not TLS")
			}
			name, err := PeerName(tlsInfo.State)
			if err != nil {
				return nil, err
			}
			callers <- name
			return handler(ctx, req)
		}),
	)
	healthpb.RegisterHealthServer(srv, health.NewServer())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Stop()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})

	check := func(m *NodeMaterial, serverName string) error {
		conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(credentials.NewTLS(clientConfig(t, m, serverName))))
		if err != nil {
			return err
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
		return err
	}

	t.Run("same CA", func(t *testing.T) {
		if err := check(west, "us-east-1"); err != nil {
			t.Fatalf("health check: %v", err)
		}
		if got := <-callers; got != "eu-west-1" {
			t.Errorf("caller seen by the server: got %q want %q", got, "eu-west-1")
		}
	})
	t.Run("wrong server name", func(t *testing.T) {
		err := check(west, "ap-south-1")
		// gRPC quotes the handshake error inside its status text.
		want := `peer certificate for \"us-east-1\" does not name the dialled node \"ap-south-1\"`
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("health check: got %v want an error containing %q", err, want)
		}
	})
	t.Run("client from another CA", func(t *testing.T) {
		if err := check(foreign, "us-east-1"); err == nil {
			t.Error("health check with a foreign client certificate: got nil error want one")
		}
		select {
		case name := <-callers:
			t.Errorf("server handled a call from %q with a foreign certificate", name)
		default:
		}
	})
}
