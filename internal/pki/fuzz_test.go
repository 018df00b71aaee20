package pki

import (
	"net"
	"testing"
	"time"
)

// FuzzNewNodeMaterial feeds arbitrary file contents (as found on disk) to the
// PEM parsers: they must never panic, and material they accept must be
// usable for TLS configurations.
func FuzzNewNodeMaterial(f *testing.F) {
	ca, err := GenerateCA("fuzz CA", time.Hour)
	if err != nil {
		f.Fatal(err)
	}
	certPEM, keyPEM, err := ca.Issue("us-east-1", []net.IP{net.ParseIP("127.0.1.1")}, time.Hour)
	if err != nil {
		f.Fatal(err)
	}
	caKeyPEM, err := ca.KeyPEM()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(ca.CertPEM(), certPEM, keyPEM)
	f.Add(ca.CertPEM(), certPEM, caKeyPEM)
	f.Add(certPEM, ca.CertPEM(), keyPEM)
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), []byte{}, []byte("junk"))
	f.Fuzz(func(t *testing.T, caPEM, certPEM, keyPEM []byte) {
		m, err := NewNodeMaterial("us-east-1", caPEM, certPEM, keyPEM)
		if err != nil {
			return
		}
		if _, err := ServerConfig(m); err != nil {
			t.Errorf("ServerConfig of accepted material: %v", err)
		}
		if _, err := ClientConfig(m, "eu-west-1"); err != nil {
			t.Errorf("ClientConfig of accepted material: %v", err)
		}
		if _, err := ParseCA(caPEM, keyPEM); err == nil {
			// The node key cannot also be the CA key.
			t.Errorf("ParseCA accepted the node key as the CA key")
		}
	})
}
