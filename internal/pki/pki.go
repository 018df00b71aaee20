// Package pki is the private certificate authority behind mutual TLS between
// Meridian nodes on the peer port (replication and health gossip over gRPC).
//
// It generates an ECDSA P-256 CA and node certificates, keeps them in a
// directory (ca.pem, ca-key.pem, <node>.pem, <node>-key.pem), and builds
// tls.Configs that accept only peers holding a certificate from that CA.
// Verification errors are worded for operators ("peer certificate for
// "eu-west-1" is not signed by the cluster CA: …").
//
// Imported by the CLI (`meridian up` calls EnsureCluster) and by whatever
// serves or dials the peer port (LoadNode, ServerConfig, ClientConfig,
// PeerName). It imports nothing from Meridian.
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"time"
)

// clockSkewAllowance backdates NotBefore so that a node whose clock is a
// little behind the issuer's still accepts a freshly issued certificate.
const clockSkewAllowance = time.Hour

// PEM block types used in the files this package writes.
const (
	pemCertificate = "CERTIFICATE"
	pemPrivateKey  = "PRIVATE KEY"
)

// CA is a certificate authority: a self-signed certificate and its key.
type CA struct {
	// Cert is the parsed self-signed CA certificate.
	Cert *x509.Certificate
	// Key is the CA's private key.
	Key *ecdsa.PrivateKey
}

// GenerateCA creates a new self-signed ECDSA P-256 CA named commonName, valid
// from now (less a small clock-skew allowance) for validity.
func GenerateCA(commonName string, validity time.Duration) (*CA, error) {
	return generateCA(commonName, time.Now(), validity)
}

func generateCA(commonName string, now time.Time, validity time.Duration) (*CA, error) {
	if commonName == "" {
		return nil, errors.New("generating CA: common name is empty")
	}
	if validity <= 0 {
		return nil, fmt.Errorf("generating CA %q: validity %v is not positive", commonName, validity)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating CA %q key: %w", commonName, err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, fmt.Errorf("generating CA %q: %w", commonName, err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             now.Add(-clockSkewAllowance),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("self-signing CA %q: %w", commonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parsing new CA %q certificate: %w", commonName, err)
	}
	return &CA{Cert: cert, Key: key}, nil
}

// ParseCA reads a CA from its PEM certificate and PEM (PKCS#8) private key and
// checks that they belong together and that the certificate is a CA.
func ParseCA(certPEM, keyPEM []byte) (*CA, error) {
	cert, err := parseCertPEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("CA certificate: %w", err)
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("CA certificate %q is not a CA certificate", cert.Subject.CommonName)
	}
	key, err := parseKeyPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("CA key: %w", err)
	}
	ecKey, ok := key.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("CA key is a %T, want an ECDSA key", key)
	}
	if !ecKey.PublicKey.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("CA key does not match CA certificate %q", cert.Subject.CommonName)
	}
	return &CA{Cert: cert, Key: ecKey}, nil
}

// CertPEM returns the CA certificate in PEM form.
func (ca *CA) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: pemCertificate, Bytes: ca.Cert.Raw})
}

// KeyPEM returns the CA private key as a PEM PKCS#8 block.
func (ca *CA) KeyPEM() ([]byte, error) {
	return encodeKey(ca.Key)
}

// Issue creates a node certificate and key signed by ca. The certificate is
// valid for both server and client authentication, names the node as its
// common name and only DNS SAN, carries ips as IP SANs, and is valid from now
// (less a small clock-skew allowance) for validity, capped at the CA's expiry.
func (ca *CA) Issue(name string, ips []net.IP, validity time.Duration) (certPEM, keyPEM []byte, err error) {
	now := time.Now()
	return ca.issue(name, ips, now.Add(-clockSkewAllowance), now.Add(validity))
}

func (ca *CA) issue(name string, ips []net.IP, notBefore, notAfter time.Time) (certPEM, keyPEM []byte, err error) {
	if err := CheckNodeName(name); err != nil {
		return nil, nil, fmt.Errorf("issuing certificate: %w", err)
	}
	if !notAfter.After(notBefore) {
		return nil, nil, fmt.Errorf("issuing certificate for %q: validity ends (%v) before it starts (%v)", name, notAfter, notBefore)
	}
	if notAfter.After(ca.Cert.NotAfter) {
		notAfter = ca.Cert.NotAfter
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generating key for %q: %w", name, err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, nil, fmt.Errorf("issuing certificate for %q: %w", name, err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		DNSNames:              []string{name},
		IPAddresses:           ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return nil, nil, fmt.Errorf("signing certificate for %q: %w", name, err)
	}
	keyPEM, err = encodeKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("encoding key for %q: %w", name, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemCertificate, Bytes: der}), keyPEM, nil
}

// CheckNodeName reports whether name can name a node certificate: a DNS
// label (lowercase letters, digits and '-', 1 to 63 characters, not starting
// or ending with '-') that does not collide with the CA's file names.
func CheckNodeName(name string) error {
	if name == "" {
		return errors.New("node name is empty")
	}
	if len(name) > 63 {
		return fmt.Errorf("node name %q is longer than 63 characters", name)
	}
	for i, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
		case r == '-' && i != 0 && i != len(name)-1:
		default:
			return fmt.Errorf("node name %q is not a DNS label (lowercase letters, digits and '-', not starting or ending with '-')", name)
		}
	}
	if name == "ca" {
		return fmt.Errorf("node name %q is reserved for the CA files", name)
	}
	return nil
}

func newSerial() (*big.Int, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("drawing serial number: %w", err)
	}
	return serial.Add(serial, big.NewInt(1)), nil
}

func encodeKey(key crypto.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("marshalling private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemPrivateKey, Bytes: der}), nil
}

// parseCertPEM parses the first CERTIFICATE block in data.
func parseCertPEM(data []byte) (*x509.Certificate, error) {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, errors.New("no PEM CERTIFICATE block found")
		}
		if block.Type != pemCertificate {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parsing certificate: %w", err)
		}
		return cert, nil
	}
}

// parseKeyPEM parses the first PRIVATE KEY (PKCS#8) or EC PRIVATE KEY block.
func parseKeyPEM(data []byte) (crypto.PrivateKey, error) {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, errors.New("no PEM PRIVATE KEY block found")
		}
		switch block.Type {
		case pemPrivateKey:
			key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("parsing PKCS#8 private key: %w", err)
			}
			return key, nil
		case "EC PRIVATE KEY":
			key, err := x509.ParseECPrivateKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("parsing EC private key: %w", err)
			}
			return key, nil
		}
	}
}
