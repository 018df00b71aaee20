package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"time"
)

// ServerConfig returns a TLS 1.3 server configuration for node m's peer port.
// It presents m's certificate and requires every client to present a
// certificate for client authentication that chains to the cluster CA; a
// client that does not is refused with an error saying why (for example
// `peer certificate for "eu-west-1" is not signed by the cluster CA: …`).
// Use PeerName on the connection state to learn which node connected.
func ServerConfig(m *NodeMaterial) (*tls.Config, error) {
	if err := m.check(); err != nil {
		return nil, fmt.Errorf("building server TLS config: %w", err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(m.CA)
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{m.Cert},
		// The standard verification would reject foreign certificates with
		// a generic x509 message; VerifyConnection does the same checks
		// and says what is wrong in cluster terms. ClientCAs stays empty so
		// that a client with a foreign certificate still sends it and gets
		// that clear error instead of "no certificate".
		ClientAuth: tls.RequireAnyClientCert,
		VerifyConnection: func(cs tls.ConnectionState) error {
			_, err := verifyPeer(cs, roots, x509.ExtKeyUsageClientAuth, "", time.Now())
			return err
		},
	}, nil
}

// ClientConfig returns a TLS 1.3 client configuration for node m dialling
// the peer port of node serverName. It presents m's certificate and accepts
// the server only if its certificate chains to the cluster CA, is valid for
// server authentication and names serverName.
func ClientConfig(m *NodeMaterial, serverName string) (*tls.Config, error) {
	if err := m.check(); err != nil {
		return nil, fmt.Errorf("building client TLS config: %w", err)
	}
	if serverName == "" {
		return nil, errors.New("building client TLS config: server name is empty")
	}
	roots := x509.NewCertPool()
	roots.AddCert(m.CA)
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{m.Cert},
		ServerName:   serverName,
		// Verification is not skipped: VerifyConnection checks the chain
		// against the cluster CA and the name, with clearer errors than the
		// built-in check. It runs on every handshake, resumed or not.
		InsecureSkipVerify: true, //nolint:gosec // verified in VerifyConnection below
		VerifyConnection: func(cs tls.ConnectionState) error {
			_, err := verifyPeer(cs, roots, x509.ExtKeyUsageServerAuth, serverName, time.Now())
			return err
		},
	}, nil
}

// PeerName returns the node name in the certificate the peer presented on a
// connection configured by ServerConfig or ClientConfig. Those configurations
// complete a handshake only after verifying that certificate against the
// cluster CA, so the name is authenticated; on connections configured
// elsewhere it is only what the peer claims.
func PeerName(cs tls.ConnectionState) (string, error) {
	var leaf *x509.Certificate
	switch {
	case len(cs.VerifiedChains) > 0 && len(cs.VerifiedChains[0]) > 0:
		leaf = cs.VerifiedChains[0][0]
	case len(cs.PeerCertificates) > 0:
		leaf = cs.PeerCertificates[0]
	default:
		return "", errors.New("peer presented no certificate")
	}
	return nodeNameOf(leaf)
}

func (m *NodeMaterial) check() error {
	switch {
	case m == nil:
		return errors.New("node material is nil")
	case m.CA == nil:
		return fmt.Errorf("node %q material has no CA certificate", m.Name)
	case len(m.Cert.Certificate) == 0 || m.Cert.PrivateKey == nil:
		return fmt.Errorf("node %q material has no certificate and key", m.Name)
	}
	return nil
}

// verifyPeer checks the peer's certificate chain against roots for usage at
// time now and, when serverName is set, that it names serverName. It returns
// the peer's node name.
func verifyPeer(cs tls.ConnectionState, roots *x509.CertPool, usage x509.ExtKeyUsage, serverName string, now time.Time) (string, error) {
	if len(cs.PeerCertificates) == 0 {
		return "", errors.New("peer presented no certificate")
	}
	leaf := cs.PeerCertificates[0]
	who := leaf.Subject.CommonName
	if len(leaf.DNSNames) > 0 {
		who = leaf.DNSNames[0]
	}
	intermediates := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		intermediates.AddCert(c)
	}
	// The name is checked after the chain so that a certificate from
	// another CA is reported as such, whatever it names.
	_, err := leaf.Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: intermediates,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{usage},
	})
	if err != nil {
		return "", describeVerifyError(who, leaf, usage, now, err)
	}
	if leaf.IsCA {
		return "", fmt.Errorf("peer certificate for %q is a CA certificate, not a node certificate", who)
	}
	name, err := nodeNameOf(leaf)
	if err != nil {
		return "", fmt.Errorf("peer certificate for %q: %w", who, err)
	}
	if serverName != "" {
		if err := leaf.VerifyHostname(serverName); err != nil {
			return "", fmt.Errorf("peer certificate for %q does not name the dialled node %q: %w", who, serverName, err)
		}
	}
	return name, nil
}

func describeVerifyError(who string, leaf *x509.Certificate, usage x509.ExtKeyUsage, now time.Time, err error) error {
	var unknown x509.UnknownAuthorityError
	if errors.As(err, &unknown) {
		return fmt.Errorf("peer certificate for %q is not signed by the cluster CA: %w", who, err)
	}
	var invalid x509.CertificateInvalidError
	if errors.As(err, &invalid) {
		switch invalid.Reason {
		case x509.Expired:
			if now.After(leaf.NotAfter) {
				return fmt.Errorf("peer certificate for %q expired at %s: %w", who, leaf.NotAfter.UTC().Format(time.RFC3339), err)
			}
			if now.Before(leaf.NotBefore) {
				return fmt.Errorf("peer certificate for %q is not valid until %s (is a clock wrong?): %w", who, leaf.NotBefore.UTC().Format(time.RFC3339), err)
			}
			return fmt.Errorf("peer certificate for %q chains to a certificate that has expired or is not yet valid: %w", who, err)
		case x509.IncompatibleUsage:
			role := "server"
			if usage == x509.ExtKeyUsageClientAuth {
				role = "client"
			}
			return fmt.Errorf("peer certificate for %q is not valid for %s authentication: %w", who, role, err)
		}
	}
	return fmt.Errorf("peer certificate for %q failed verification against the cluster CA: %w", who, err)
}

// nodeNameOf returns the node name a node certificate was issued for: its
// only DNS SAN.
func nodeNameOf(cert *x509.Certificate) (string, error) {
	if len(cert.DNSNames) != 1 {
		return "", fmt.Errorf("certificate %q has %d DNS names, want exactly one node name", cert.Subject.CommonName, len(cert.DNSNames))
	}
	name := cert.DNSNames[0]
	if err := CheckNodeName(name); err != nil {
		return "", fmt.Errorf("certificate %q: %w", cert.Subject.CommonName, err)
	}
	return name, nil
}
