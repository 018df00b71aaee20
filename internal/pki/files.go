package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Validity periods used by EnsureCluster.
const (
	// CAValidity is how long a CA created by EnsureCluster is valid.
	CAValidity = 10 * 365 * 24 * time.Hour
	// NodeValidity is how long a node certificate issued by EnsureCluster is
	// valid (capped at the CA's expiry).
	NodeValidity = 5 * 365 * 24 * time.Hour
)

// CACommonName is the subject common name of a CA created by EnsureCluster.
const CACommonName = "Meridian cluster CA"

// File names inside a certificate directory.
const (
	CACertFile = "ca.pem"
	CAKeyFile  = "ca-key.pem"
)

// NodeCertFile is the file name of a node's certificate inside a certificate
// directory.
func NodeCertFile(node string) string { return node + ".pem" }

// NodeKeyFile is the file name of a node's private key inside a certificate
// directory.
func NodeKeyFile(node string) string { return node + "-key.pem" }

// NodeSpec names a node that needs a certificate and the IP addresses it is
// reached at (written as IP SANs).
type NodeSpec struct {
	Name string
	IPs  []net.IP
}

// NodeMaterial is what a node needs for mutual TLS: the cluster CA and the
// node's own certificate and key.
type NodeMaterial struct {
	// Name is the node name the certificate was issued for.
	Name string
	// CA is the cluster CA certificate that every peer must chain to.
	CA *x509.Certificate
	// Cert is the node's certificate and key; Cert.Leaf is set.
	Cert tls.Certificate
}

// NewNodeMaterial builds NodeMaterial for node name from PEM data: it checks
// that the key matches the certificate, that the certificate is signed by the
// CA, and that it names the node. It does not check validity periods (LoadNode
// does); use it when certificates live in memory, as in test harnesses.
func NewNodeMaterial(name string, caPEM, certPEM, keyPEM []byte) (*NodeMaterial, error) {
	caCert, err := parseCertPEM(caPEM)
	if err != nil {
		return nil, fmt.Errorf("CA certificate: %w", err)
	}
	if !caCert.IsCA {
		return nil, fmt.Errorf("CA certificate %q is not a CA certificate", caCert.Subject.CommonName)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("node %q certificate and key: %w", name, err)
	}
	leaf := pair.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return nil, fmt.Errorf("node %q certificate: %w", name, err)
		}
		pair.Leaf = leaf
	}
	if leaf.IsCA {
		return nil, fmt.Errorf("node %q certificate is a CA certificate, not a node certificate", name)
	}
	if err := leaf.CheckSignatureFrom(caCert); err != nil {
		return nil, fmt.Errorf("node %q certificate is not signed by the cluster CA %q: %w", name, caCert.Subject.CommonName, err)
	}
	got, err := nodeNameOf(leaf)
	if err != nil {
		return nil, fmt.Errorf("node %q certificate: %w", name, err)
	}
	if got != name {
		return nil, fmt.Errorf("node %q certificate is issued to %q", name, got)
	}
	return &NodeMaterial{Name: name, CA: caCert, Cert: pair}, nil
}

// LoadNode reads the CA certificate and node name's certificate and key from
// dir and checks them as NewNodeMaterial does, and that the certificate is
// currently valid. Errors name the offending file.
func LoadNode(dir, name string) (*NodeMaterial, error) {
	if err := CheckNodeName(name); err != nil {
		return nil, fmt.Errorf("loading node certificate: %w", err)
	}
	caPath := filepath.Join(dir, CACertFile)
	certPath := filepath.Join(dir, NodeCertFile(name))
	keyPath := filepath.Join(dir, NodeKeyFile(name))
	caPEM, err := os.ReadFile(caPath)
	if err != nil {
		return nil, fmt.Errorf("reading CA certificate: %w", err)
	}
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, fmt.Errorf("reading node %q certificate: %w", name, err)
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, fmt.Errorf("reading node %q key: %w", name, err)
	}
	caCert, err := parseCertPEM(caPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", caPath, err)
	}
	if _, err := parseCertPEM(certPEM); err != nil {
		return nil, fmt.Errorf("%s: %w", certPath, err)
	}
	if _, err := parseKeyPEM(keyPEM); err != nil {
		return nil, fmt.Errorf("%s: %w", keyPath, err)
	}
	m, err := NewNodeMaterial(name, caPEM, certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%s with %s and %s: %w", certPath, keyPath, caPath, err)
	}
	if err := checkValidAt(m.Cert.Leaf, time.Now()); err != nil {
		return nil, fmt.Errorf("%s: %w", certPath, err)
	}
	if err := checkValidAt(caCert, time.Now()); err != nil {
		return nil, fmt.Errorf("%s: %w", caPath, err)
	}
	return m, nil
}

func checkValidAt(cert *x509.Certificate, now time.Time) error {
	if now.After(cert.NotAfter) {
		return fmt.Errorf("certificate %q expired at %s", cert.Subject.CommonName, cert.NotAfter.UTC().Format(time.RFC3339))
	}
	if now.Before(cert.NotBefore) {
		return fmt.Errorf("certificate %q is not valid until %s (is this host's clock behind?)", cert.Subject.CommonName, cert.NotBefore.UTC().Format(time.RFC3339))
	}
	return nil
}

// EnsureCluster makes dir hold a CA and a certificate and key for every node,
// creating only what is missing: existing files are never rewritten, so a
// second `meridian up` on the same data directory reuses its material.
// Existing node material is checked against the CA; a half-present pair (a
// certificate without its key or the reverse), a certificate from another CA
// or an expired one is an error naming the file rather than silently replaced.
//
// dir is created with mode 0700 if it does not exist; private keys are written
// with mode 0600 and certificates with 0644.
func EnsureCluster(dir string, nodes []NodeSpec) error {
	for _, n := range nodes {
		if err := CheckNodeName(n.Name); err != nil {
			return fmt.Errorf("preparing certificates in %s: %w", dir, err)
		}
	}
	if err := ensureDir(dir); err != nil {
		return err
	}
	ca, err := ensureCA(dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, n := range nodes {
		if err := ensureNode(dir, ca, n); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func ensureDir(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("checking certificate directory: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating certificate directory: %w", err)
	}
	// MkdirAll is subject to the umask; make the mode exact.
	if err := os.Chmod(dir, 0o700); err != nil { //nolint:gosec // G302: a directory needs x; 0700 is owner-only
		return fmt.Errorf("restricting certificate directory: %w", err)
	}
	return nil
}

func ensureCA(dir string) (*CA, error) {
	certPath := filepath.Join(dir, CACertFile)
	keyPath := filepath.Join(dir, CAKeyFile)
	certOK, err := exists(certPath)
	if err != nil {
		return nil, err
	}
	keyOK, err := exists(keyPath)
	if err != nil {
		return nil, err
	}
	switch {
	case certOK && keyOK:
		certPEM, err := os.ReadFile(certPath)
		if err != nil {
			return nil, fmt.Errorf("reading CA certificate: %w", err)
		}
		keyPEM, err := os.ReadFile(keyPath)
		if err != nil {
			return nil, fmt.Errorf("reading CA key: %w", err)
		}
		ca, err := ParseCA(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("loading CA from %s and %s: %w", certPath, keyPath, err)
		}
		if err := checkValidAt(ca.Cert, time.Now()); err != nil {
			return nil, fmt.Errorf("%s: %w", certPath, err)
		}
		return ca, nil
	case certOK:
		return nil, fmt.Errorf("%s exists but its key %s does not; restore the key, or remove the certificate and every node certificate to start a new CA", certPath, keyPath)
	case keyOK:
		return nil, fmt.Errorf("%s exists but its certificate %s does not; restore the certificate, or remove the key to start a new CA", keyPath, certPath)
	}
	ca, err := GenerateCA(CACommonName, CAValidity)
	if err != nil {
		return nil, err
	}
	keyPEM, err := ca.KeyPEM()
	if err != nil {
		return nil, fmt.Errorf("encoding CA key: %w", err)
	}
	// Key first: a certificate on disk always has its key next to it.
	if err := writeNew(keyPath, keyPEM, 0o600); err != nil {
		return nil, err
	}
	if err := writeNew(certPath, ca.CertPEM(), 0o644); err != nil {
		return nil, err
	}
	return ca, nil
}

func ensureNode(dir string, ca *CA, n NodeSpec) error {
	certPath := filepath.Join(dir, NodeCertFile(n.Name))
	keyPath := filepath.Join(dir, NodeKeyFile(n.Name))
	certOK, err := exists(certPath)
	if err != nil {
		return err
	}
	keyOK, err := exists(keyPath)
	if err != nil {
		return err
	}
	switch {
	case certOK && keyOK:
		_, err := LoadNode(dir, n.Name)
		if err != nil {
			return fmt.Errorf("existing material for node %q (remove %s and %s to have them reissued): %w", n.Name, certPath, keyPath, err)
		}
		return nil
	case certOK:
		return fmt.Errorf("%s exists but its key %s does not; remove the certificate to have both reissued", certPath, keyPath)
	case keyOK:
		return fmt.Errorf("%s exists but its certificate %s does not; remove the key to have both reissued", keyPath, certPath)
	}
	certPEM, keyPEM, err := ca.Issue(n.Name, n.IPs, NodeValidity)
	if err != nil {
		return err
	}
	if err := writeNew(keyPath, keyPEM, 0o600); err != nil {
		return err
	}
	return writeNew(certPath, certPEM, 0o644)
}

func exists(path string) (bool, error) {
	_, err := os.Lstat(path)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	default:
		return false, fmt.Errorf("checking %s: %w", path, err)
	}
}

// writeNew writes data to path with mode perm, durably, and fails rather than
// replace a file that already exists. The data is written to a temporary file
// first, so path never holds a partial file.
func writeNew(path string, data []byte, perm fs.FileMode) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	tmpName := tmp.Name()
	defer func() {
		if rmErr := os.Remove(tmpName); rmErr != nil && !errors.Is(rmErr, fs.ErrNotExist) && err == nil {
			err = fmt.Errorf("removing temporary file %s: %w", tmpName, rmErr)
		}
	}()
	if err := tmp.Chmod(perm); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("syncing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	// Link, unlike rename, refuses to replace an existing file.
	if err := os.Link(tmpName, path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("syncing directory %s: %w", dir, err)
	}
	syncErr := d.Sync()
	closeErr := d.Close()
	if syncErr != nil {
		return fmt.Errorf("syncing directory %s: %w", dir, syncErr)
	}
	if closeErr != nil {
		return fmt.Errorf("closing directory %s: %w", dir, closeErr)
	}
	return nil
}
