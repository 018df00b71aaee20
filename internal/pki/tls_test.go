package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

// cluster is an in-memory CA with helpers to mint node material.
type cluster struct {
	t  *testing.T
	ca *CA
}

func newCluster(t *testing.T, name string) *cluster {
	t.Helper()
	ca, err := GenerateCA(name, 24*time.Hour)
	if err != nil {
		t.Fatalf("GenerateCA(%q): %v", name, err)
	}
	return &cluster{t: t, ca: ca}
}

func (c *cluster) node(name string) *NodeMaterial {
	c.t.Helper()
	certPEM, keyPEM, err := c.ca.Issue(name, []net.IP{net.ParseIP("127.0.0.1")}, time.Hour)
	if err != nil {
		c.t.Fatalf("Issue(%q): %v", name, err)
	}
	return c.material(name, certPEM, keyPEM)
}

func (c *cluster) nodeValid(name string, notBefore, notAfter time.Time) *NodeMaterial {
	c.t.Helper()
	certPEM, keyPEM, err := c.ca.issue(name, nil, notBefore, notAfter)
	if err != nil {
		c.t.Fatalf("issue(%q): %v", name, err)
	}
	return c.material(name, certPEM, keyPEM)
}

func (c *cluster) material(name string, certPEM, keyPEM []byte) *NodeMaterial {
	c.t.Helper()
	m, err := NewNodeMaterial(name, c.ca.CertPEM(), certPEM, keyPEM)
	if err != nil {
		c.t.Fatalf("NewNodeMaterial(%q): %v", name, err)
	}
	return m
}

func serverConfig(t *testing.T, m *NodeMaterial) *tls.Config {
	t.Helper()
	cfg, err := ServerConfig(m)
	if err != nil {
		t.Fatalf("ServerConfig: %v", err)
	}
	return cfg
}

func clientConfig(t *testing.T, m *NodeMaterial, serverName string) *tls.Config {
	t.Helper()
	cfg, err := ClientConfig(m, serverName)
	if err != nil {
		t.Fatalf("ClientConfig: %v", err)
	}
	return cfg
}

// outcome is what each side of one connection saw.
type outcome struct {
	serverErr  error  // handshake, or writing the greeting
	clientErr  error  // handshake, or reading the greeting
	serverPeer string // PeerName as seen by the server
	clientPeer string // PeerName as seen by the client
}

// connect runs a real TLS handshake over TCP on 127.0.0.1. After a
// successful handshake the server writes one byte that the client reads, so
// that a client certificate rejected by the server (which TLS 1.3 reports
// only after the client's handshake returns) surfaces on the client too.
func connect(t *testing.T, serverCfg, clientCfg *tls.Config) outcome {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	defer ln.Close()
	deadline := time.Now().Add(10 * time.Second)

	type serverResult struct {
		err  error
		peer string
	}
	done := make(chan serverResult, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			done <- serverResult{err: err}
			return
		}
		defer conn.Close()
		_ = conn.SetDeadline(deadline)
		srv := tls.Server(conn, serverCfg)
		if err := srv.Handshake(); err != nil {
			done <- serverResult{err: err}
			return
		}
		peer, err := PeerName(srv.ConnectionState())
		if err != nil {
			done <- serverResult{err: err}
			return
		}
		if _, err := srv.Write([]byte{'!'}); err != nil {
			done <- serverResult{err: err}
			return
		}
		done <- serverResult{peer: peer}
	}()

	var out outcome
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(deadline)
	cli := tls.Client(conn, clientCfg)
	out.clientErr = cli.Handshake()
	if out.clientErr == nil {
		out.clientPeer, out.clientErr = PeerName(cli.ConnectionState())
	}
	if out.clientErr == nil {
		buf := make([]byte, 1)
		_, out.clientErr = cli.Read(buf)
	}
	_ = cli.Close()
	res := <-done
	out.serverErr, out.serverPeer = res.err, res.peer
	return out
}

func TestHandshakeSameCA(t *testing.T) {
	c := newCluster(t, "test CA")
	east, west := c.node("us-east-1"), c.node("eu-west-1")

	out := connect(t, serverConfig(t, east), clientConfig(t, west, "us-east-1"))
	if out.serverErr != nil || out.clientErr != nil {
		t.Fatalf("handshake failed: server: %v; client: %v", out.serverErr, out.clientErr)
	}
	if out.serverPeer != "eu-west-1" {
		t.Errorf("server's PeerName: got %q want %q", out.serverPeer, "eu-west-1")
	}
	if out.clientPeer != "us-east-1" {
		t.Errorf("client's PeerName: got %q want %q", out.clientPeer, "us-east-1")
	}

	// And the other way round.
	out = connect(t, serverConfig(t, west), clientConfig(t, east, "eu-west-1"))
	if out.serverErr != nil || out.clientErr != nil {
		t.Fatalf("reverse handshake failed: server: %v; client: %v", out.serverErr, out.clientErr)
	}
	if out.serverPeer != "us-east-1" || out.clientPeer != "eu-west-1" {
		t.Errorf("reverse PeerNames: got server %q client %q want us-east-1 and eu-west-1", out.serverPeer, out.clientPeer)
	}
}

func TestHandshakeRejections(t *testing.T) {
	ours := newCluster(t, "our CA")
	theirs := newCluster(t, "their CA")
	now := time.Now()
	expiredEast := ours.nodeValid("us-east-1", now.Add(-48*time.Hour), now.Add(-time.Hour))
	expiredWest := ours.nodeValid("eu-west-1", now.Add(-48*time.Hour), now.Add(-time.Hour))
	futureWest := ours.nodeValid("eu-west-1", now.Add(time.Hour), now.Add(48*time.Hour))
	// A client from another cluster would reject our server before sending
	// its certificate (TLS 1.3 verifies the server first), so to reach the
	// server's check this one trusts our CA but holds a certificate from
	// theirs, as a node with a stale certificate would.
	foreignWest := &NodeMaterial{Name: "eu-west-1", CA: ours.ca.Cert, Cert: theirs.node("eu-west-1").Cert}

	tests := []struct {
		name   string
		server *tls.Config
		client *tls.Config
		// wantServer / wantClient are substrings of the error on the side
		// that rejects; the other side must fail too, with any error.
		wantServer string
		wantClient string
		// wantUnknownCA asks that the rejecting side's error wraps the
		// x509 unknown-authority error.
		wantUnknownCA bool
	}{
		{
			name:          "client from another CA is rejected by the server",
			server:        serverConfig(t, ours.node("us-east-1")),
			client:        clientConfig(t, foreignWest, "us-east-1"),
			wantServer:    `peer certificate for "eu-west-1" is not signed by the cluster CA: x509: certificate signed by unknown authority`,
			wantUnknownCA: true,
		},
		{
			name:          "server from another CA is rejected by the client",
			server:        serverConfig(t, theirs.node("us-east-1")),
			client:        clientConfig(t, ours.node("eu-west-1"), "us-east-1"),
			wantClient:    `peer certificate for "us-east-1" is not signed by the cluster CA: x509: certificate signed by unknown authority`,
			wantUnknownCA: true,
		},
		{
			name:       "server with another node's name is rejected",
			server:     serverConfig(t, ours.node("us-east-1")),
			client:     clientConfig(t, ours.node("eu-west-1"), "ap-south-1"),
			wantClient: `peer certificate for "us-east-1" does not name the dialled node "ap-south-1"`,
		},
		{
			name:       "expired server certificate is rejected by the client",
			server:     serverConfig(t, expiredEast),
			client:     clientConfig(t, ours.node("eu-west-1"), "us-east-1"),
			wantClient: `peer certificate for "us-east-1" expired at ` + expiredEast.Cert.Leaf.NotAfter.UTC().Format(time.RFC3339),
		},
		{
			name:       "expired client certificate is rejected by the server",
			server:     serverConfig(t, ours.node("us-east-1")),
			client:     clientConfig(t, expiredWest, "us-east-1"),
			wantServer: `peer certificate for "eu-west-1" expired at ` + expiredWest.Cert.Leaf.NotAfter.UTC().Format(time.RFC3339),
		},
		{
			name:       "not yet valid client certificate is rejected by the server",
			server:     serverConfig(t, ours.node("us-east-1")),
			client:     clientConfig(t, futureWest, "us-east-1"),
			wantServer: `peer certificate for "eu-west-1" is not valid until `,
		},
		{
			name:   "client without a certificate is rejected by the server",
			server: serverConfig(t, ours.node("us-east-1")),
			client: func() *tls.Config {
				cfg := clientConfig(t, ours.node("eu-west-1"), "us-east-1")
				cfg.Certificates = nil
				return cfg
			}(),
			wantServer: "client didn't provide a certificate",
		},
		{
			name:   "TLS 1.2 client is refused",
			server: serverConfig(t, ours.node("us-east-1")),
			client: func() *tls.Config {
				cfg := clientConfig(t, ours.node("eu-west-1"), "us-east-1")
				cfg.MinVersion, cfg.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
				return cfg
			}(),
			wantServer: "unsupported versions",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := connect(t, tt.server, tt.client)
			if out.serverErr == nil || out.clientErr == nil {
				t.Fatalf("connection succeeded on one side: got server err %v, client err %v; want both to fail", out.serverErr, out.clientErr)
			}
			rejecting, want := out.serverErr, tt.wantServer
			if tt.wantClient != "" {
				rejecting, want = out.clientErr, tt.wantClient
			}
			if !strings.Contains(rejecting.Error(), want) {
				t.Errorf("rejecting side's error: got %q want it to contain %q", rejecting, want)
			}
			var unknown x509.UnknownAuthorityError
			if tt.wantUnknownCA && !errors.As(rejecting, &unknown) {
				t.Errorf("rejecting side's error %q: got no x509.UnknownAuthorityError in its chain, want one", rejecting)
			}
		})
	}
}

func TestConfigsAreTLS13Only(t *testing.T) {
	m := newCluster(t, "CA").node("us-east-1")
	for name, cfg := range map[string]*tls.Config{
		"server": serverConfig(t, m),
		"client": clientConfig(t, m, "eu-west-1"),
	} {
		if cfg.MinVersion != tls.VersionTLS13 {
			t.Errorf("%s MinVersion: got %#x want %#x", name, cfg.MinVersion, tls.VersionTLS13)
		}
	}
}

func TestConfigArgumentErrors(t *testing.T) {
	m := newCluster(t, "CA").node("us-east-1")
	if _, err := ClientConfig(m, ""); err == nil || !strings.Contains(err.Error(), "server name is empty") {
		t.Errorf("ClientConfig with empty server name: got %v want an error about the empty server name", err)
	}
	if _, err := ServerConfig(nil); err == nil {
		t.Error("ServerConfig(nil): got nil error want one")
	}
	if _, err := ServerConfig(&NodeMaterial{Name: "x", CA: m.CA}); err == nil || !strings.Contains(err.Error(), "no certificate and key") {
		t.Errorf("ServerConfig without a certificate: got %v want an error about the missing certificate", err)
	}
}

func TestPeerNameWithoutCertificate(t *testing.T) {
	if _, err := PeerName(tls.ConnectionState{}); err == nil {
		t.Error("PeerName of a state with no certificate: got nil error want one")
	}
}
