package pki

import (
	"bytes"
	"crypto/x509"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var testNodes = []NodeSpec{
	{Name: "us-east-1", IPs: []net.IP{net.ParseIP("127.0.1.1")}},
	{Name: "eu-west-1", IPs: []net.IP{net.ParseIP("127.0.1.2"), net.ParseIP("::1")}},
}

// snapshot returns every file in dir with its contents and mode.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("reading %s: %v", dir, err)
	}
	out := make(map[string]string)
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatalf("reading %s: %v", e.Name(), err)
		}
		info, err := e.Info()
		if err != nil {
			t.Fatalf("stat %s: %v", e.Name(), err)
		}
		out[e.Name()] = info.Mode().String() + " " + info.ModTime().String() + "\n" + string(data)
	}
	return out
}

func TestEnsureClusterCreatesFilesWithModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "certs")
	if err := EnsureCluster(dir, testNodes); err != nil {
		t.Fatalf("EnsureCluster: %v", err)
	}
	info, err := os.Stat(dir)
	if err != nil {
		t.Fatalf("stat dir: %v", err)
	}
	if got := info.Mode().Perm(); got != 0o700 {
		t.Errorf("directory mode: got %v want %v", got, fs.FileMode(0o700))
	}
	want := map[string]fs.FileMode{
		"ca.pem":            0o644,
		"ca-key.pem":        0o600,
		"us-east-1.pem":     0o644,
		"us-east-1-key.pem": 0o600,
		"eu-west-1.pem":     0o644,
		"eu-west-1-key.pem": 0o600,
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("reading dir: %v", err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	var wantNames []string
	for n := range want {
		wantNames = append(wantNames, n)
	}
	slices.Sort(wantNames)
	if !slices.Equal(names, wantNames) {
		t.Errorf("files: got %v want %v", names, wantNames)
	}
	for name, mode := range want {
		t.Run(name, func(t *testing.T) {
			info, err := os.Stat(filepath.Join(dir, name))
			if err != nil {
				t.Fatalf("stat: %v", err)
			}
			if got := info.Mode().Perm(); got != mode {
				t.Errorf("mode: got %v want %v", got, mode)
			}
		})
	}
}

func TestEnsureClusterIsIdempotent(t *testing.T) {
	dir := t.TempDir()
	if err := EnsureCluster(dir, testNodes); err != nil {
		t.Fatalf("first EnsureCluster: %v", err)
	}
	before := snapshot(t, dir)
	if err := EnsureCluster(dir, testNodes); err != nil {
		t.Fatalf("second EnsureCluster: %v", err)
	}
	after := snapshot(t, dir)
	if len(after) != len(before) {
		t.Errorf("file count after second call: got %d want %d", len(after), len(before))
	}
	for name, b := range before {
		if after[name] != b {
			t.Errorf("%s changed on the second EnsureCluster call", name)
		}
	}

	// Adding a node issues only its material, from the same CA.
	more := append(slices.Clone(testNodes), NodeSpec{Name: "ap-south-1"})
	if err := EnsureCluster(dir, more); err != nil {
		t.Fatalf("EnsureCluster with a new node: %v", err)
	}
	grown := snapshot(t, dir)
	for name, b := range before {
		if grown[name] != b {
			t.Errorf("%s changed when a node was added", name)
		}
	}
	if len(grown) != len(before)+2 {
		t.Errorf("file count after adding a node: got %d want %d", len(grown), len(before)+2)
	}
	if _, err := LoadNode(dir, "ap-south-1"); err != nil {
		t.Errorf("LoadNode of the added node: %v", err)
	}
}

func TestLoadNodeMaterial(t *testing.T) {
	dir := t.TempDir()
	if err := EnsureCluster(dir, testNodes); err != nil {
		t.Fatalf("EnsureCluster: %v", err)
	}
	for _, spec := range testNodes {
		t.Run(spec.Name, func(t *testing.T) {
			m, err := LoadNode(dir, spec.Name)
			if err != nil {
				t.Fatalf("LoadNode: %v", err)
			}
			leaf := m.Cert.Leaf
			if got := leaf.DNSNames; !slices.Equal(got, []string{spec.Name}) {
				t.Errorf("DNS SANs: got %v want [%s]", got, spec.Name)
			}
			if len(leaf.IPAddresses) != len(spec.IPs) {
				t.Fatalf("IP SANs: got %v want %v", leaf.IPAddresses, spec.IPs)
			}
			for i, ip := range spec.IPs {
				if !leaf.IPAddresses[i].Equal(ip) {
					t.Errorf("IP SAN %d: got %v want %v", i, leaf.IPAddresses[i], ip)
				}
			}
			wantEKU := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
			if !slices.Equal(leaf.ExtKeyUsage, wantEKU) {
				t.Errorf("extended key usage: got %v want %v", leaf.ExtKeyUsage, wantEKU)
			}
			if leaf.IsCA {
				t.Error("node certificate is a CA; want a leaf")
			}
			if _, err := leaf.Verify(x509.VerifyOptions{Roots: poolOf(m.CA), DNSName: spec.Name, KeyUsages: wantEKU}); err != nil {
				t.Errorf("node certificate does not verify against the CA: %v", err)
			}
			if got := m.CA.PublicKeyAlgorithm; got != x509.ECDSA {
				t.Errorf("CA key algorithm: got %v want ECDSA", got)
			}
		})
	}
}

func poolOf(c *x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c)
	return p
}

func TestLoadNodeErrorsNameTheFile(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string)
		want  string // substring; "DIR" stands for the directory
	}{
		{
			name:  "missing node certificate",
			setup: func(t *testing.T, dir string) { mustRemove(t, filepath.Join(dir, "us-east-1.pem")) },
			want:  "DIR/us-east-1.pem: no such file or directory",
		},
		{
			name:  "missing CA certificate",
			setup: func(t *testing.T, dir string) { mustRemove(t, filepath.Join(dir, "ca.pem")) },
			want:  "DIR/ca.pem: no such file or directory",
		},
		{
			name:  "garbage key",
			setup: func(t *testing.T, dir string) { mustWrite(t, filepath.Join(dir, "us-east-1-key.pem"), "not a key") },
			want:  "DIR/us-east-1-key.pem: no PEM PRIVATE KEY block found",
		},
		{
			name:  "garbage certificate",
			setup: func(t *testing.T, dir string) { mustWrite(t, filepath.Join(dir, "us-east-1.pem"), "junk") },
			want:  "DIR/us-east-1.pem: no PEM CERTIFICATE block found",
		},
		{
			name: "key of another node",
			setup: func(t *testing.T, dir string) {
				data, err := os.ReadFile(filepath.Join(dir, "eu-west-1-key.pem"))
				if err != nil {
					t.Fatal(err)
				}
				mustWrite(t, filepath.Join(dir, "us-east-1-key.pem"), string(data))
			},
			want: "DIR/us-east-1.pem with DIR/us-east-1-key.pem and DIR/ca.pem: node \"us-east-1\" certificate and key: tls: private key does not match public key",
		},
		{
			name: "certificate of another node",
			setup: func(t *testing.T, dir string) {
				for _, suffix := range []string{".pem", "-key.pem"} {
					data, err := os.ReadFile(filepath.Join(dir, "eu-west-1"+suffix))
					if err != nil {
						t.Fatal(err)
					}
					mustWrite(t, filepath.Join(dir, "us-east-1"+suffix), string(data))
				}
			},
			want: `node "us-east-1" certificate is issued to "eu-west-1"`,
		},
		{
			name: "CA replaced",
			setup: func(t *testing.T, dir string) {
				other, err := GenerateCA("other", time.Hour)
				if err != nil {
					t.Fatal(err)
				}
				mustWrite(t, filepath.Join(dir, "ca.pem"), string(other.CertPEM()))
			},
			want: `node "us-east-1" certificate is not signed by the cluster CA "other"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := EnsureCluster(dir, testNodes); err != nil {
				t.Fatalf("EnsureCluster: %v", err)
			}
			tt.setup(t, dir)
			_, err := LoadNode(dir, "us-east-1")
			want := strings.ReplaceAll(tt.want, "DIR", dir)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("LoadNode: got %v want an error containing %q", err, want)
			}
		})
	}
}

func TestEnsureClusterRefusesInconsistentMaterial(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string)
		want  string
	}{
		{
			name:  "CA key without certificate",
			setup: func(t *testing.T, dir string) { mustRemove(t, filepath.Join(dir, "ca.pem")) },
			want:  "DIR/ca-key.pem exists but its certificate DIR/ca.pem does not",
		},
		{
			name:  "CA certificate without key",
			setup: func(t *testing.T, dir string) { mustRemove(t, filepath.Join(dir, "ca-key.pem")) },
			want:  "DIR/ca.pem exists but its key DIR/ca-key.pem does not",
		},
		{
			name:  "node certificate without key",
			setup: func(t *testing.T, dir string) { mustRemove(t, filepath.Join(dir, "eu-west-1-key.pem")) },
			want:  "DIR/eu-west-1.pem exists but its key DIR/eu-west-1-key.pem does not",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := EnsureCluster(dir, testNodes); err != nil {
				t.Fatalf("EnsureCluster: %v", err)
			}
			tt.setup(t, dir)
			before := snapshot(t, dir)
			err := EnsureCluster(dir, testNodes)
			want := strings.ReplaceAll(tt.want, "DIR", dir)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("EnsureCluster: got %v want an error containing %q", err, want)
			}
			if after := snapshot(t, dir); len(after) != len(before) {
				t.Errorf("files after refused EnsureCluster: got %d want %d (nothing written)", len(after), len(before))
			}
		})
	}
}

func TestEnsureClusterLeavesNodeFilesAfterCAChange(t *testing.T) {
	dir := t.TempDir()
	if err := EnsureCluster(dir, testNodes); err != nil {
		t.Fatalf("EnsureCluster: %v", err)
	}
	cert, err := os.ReadFile(filepath.Join(dir, "us-east-1.pem"))
	if err != nil {
		t.Fatal(err)
	}
	mustRemove(t, filepath.Join(dir, "ca.pem"))
	mustRemove(t, filepath.Join(dir, "ca-key.pem"))
	err = EnsureCluster(dir, testNodes)
	want := `existing material for node "us-east-1" (remove ` + dir + `/us-east-1.pem and ` + dir + `/us-east-1-key.pem to have them reissued)`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("EnsureCluster with node certificates from a lost CA: got %v want an error containing %q", err, want)
	}
	if !strings.Contains(err.Error(), `certificate is not signed by the cluster CA`) {
		t.Errorf("EnsureCluster error %q: want it to say the certificate is not signed by the cluster CA", err)
	}
	after, err := os.ReadFile(filepath.Join(dir, "us-east-1.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(cert, after) {
		t.Error("us-east-1.pem was rewritten; want existing material left alone")
	}
}

func TestNodeNames(t *testing.T) {
	tests := []struct {
		name string
		want string // "" for valid
	}{
		{"us-east-1", ""},
		{"a", ""},
		{strings.Repeat("a", 63), ""},
		{"", "node name is empty"},
		{strings.Repeat("a", 64), "longer than 63 characters"},
		{"US-East-1", "is not a DNS label"},
		{"us_east", "is not a DNS label"},
		{"-us", "is not a DNS label"},
		{"us-", "is not a DNS label"},
		{"../etc", "is not a DNS label"},
		{"ca", `node name "ca" is reserved for the CA files`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckNodeName(tt.name)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("got %v want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("got %v want an error containing %q", err, tt.want)
			}
		})
	}
	if err := EnsureCluster(t.TempDir(), []NodeSpec{{Name: "ca"}}); err == nil {
		t.Error(`EnsureCluster with a node named "ca": got nil error want one`)
	}
}

func TestParseCARoundTrip(t *testing.T) {
	ca, err := GenerateCA("round trip", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := ca.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseCA(ca.CertPEM(), keyPEM)
	if err != nil {
		t.Fatalf("ParseCA: %v", err)
	}
	if !got.Cert.Equal(ca.Cert) || !got.Key.Equal(ca.Key) {
		t.Error("ParseCA(CertPEM, KeyPEM): got a different CA want the same")
	}
	other, err := GenerateCA("other", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseCA(other.CertPEM(), keyPEM); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("ParseCA with a mismatched key: got %v want an error saying the key does not match", err)
	}
}

func mustRemove(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}

func mustWrite(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}
