package main_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meridian-platform/meridian/internal/topology"
)

// TestBadInput runs the binary on input an operator gets wrong and checks
// it fails with a message that says what is wrong.
func TestBadInput(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()

	// A topology file with a typo'd field on a known line.
	topo, err := topology.Default(nil, filepath.Join(tmp, "data"), "none")
	if err != nil {
		t.Fatal(err)
	}
	yaml, err := topo.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(yaml), "\n")
	typoLine := 0
	for i, l := range lines {
		if strings.Contains(l, "peer_port:") {
			lines[i] = strings.Replace(l, "peer_port:", "peer_prot:", 1)
			typoLine = i + 1
			break
		}
	}
	if typoLine == 0 {
		t.Fatalf("no peer_port in the default topology:\n%s", yaml)
	}
	typoFile := filepath.Join(tmp, "typo.yaml")
	if err := os.WriteFile(typoFile, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}

	// A deployment directory whose topology has two regions.
	resumeDir := filepath.Join(tmp, "two")
	two, err := topology.Default([]string{"us-east", "eu-west"}, resumeDir, "none")
	if err != nil {
		t.Fatal(err)
	}
	data, err := two.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(resumeDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(resumeDir, "topology.yaml"), data, 0o644); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		args []string
		want []string // substrings of stderr
	}{
		{
			name: "region config with a typo",
			args: []string{"region", "--config", typoFile, "--node", "us-east-1"},
			want: []string{typoFile, fmt.Sprintf("line %d", typoLine), `unknown field "peer_prot"`, "peer_port"},
		},
		{
			name: "region config missing",
			args: []string{"region", "--config", filepath.Join(tmp, "nope.yaml"), "--node", "us-east-1"},
			want: []string{"nope.yaml", "no such file"},
		},
		{
			name: "region node not in topology",
			args: []string{"region", "--config", filepath.Join(resumeDir, "topology.yaml"), "--node", "mars-1"},
			want: []string{`"mars-1"`, "us-east-1"},
		},
		{
			name: "up with an unknown wan profile",
			args: []string{"up", "--data", filepath.Join(tmp, "wan"), "--wan", "bogus"},
			want: []string{`"bogus"`, "realistic", "none"},
		},
		{
			name: "up with a subnet outside loopback",
			args: []string{"up", "--data", filepath.Join(tmp, "subnet"), "--subnet", "10.0.0"},
			want: []string{`"10.0.0"`, "127.0.0.0/8"},
		},
		{
			name: "up with a malformed subnet",
			args: []string{"up", "--data", filepath.Join(tmp, "subnet"), "--subnet", "127.0.1.5"},
			want: []string{`"127.0.1.5"`, "three octets"},
		},
		{
			name: "up contradicting an existing topology",
			args: []string{"up", "--data", resumeDir, "--regions", "us-east,eu-west,ap-south"},
			want: []string{"topology.yaml", "[us-east eu-west]", "--regions", "another --data"},
		},
		{
			name: "status without endpoints.json",
			args: []string{"status", "--data", filepath.Join(tmp, "empty")},
			want: []string{"endpoints.json", "meridian up"},
		},
		{
			name: "bad log format",
			args: []string{"--log-format", "xml", "region", "--config", typoFile, "--node", "us-east-1"},
			want: []string{"--log-format", `"xml"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, code := run(t, tt.args...)
			if code == 0 {
				t.Fatalf("meridian %s: exit code 0, want non-zero", strings.Join(tt.args, " "))
			}
			for _, w := range tt.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr %q does not contain %q", stderr, w)
				}
			}
		})
	}
	if _, err := os.Stat(filepath.Join(tmp, "wan")); !os.IsNotExist(err) {
		t.Errorf("up --wan bogus created its data directory (stat: %v); bad flags must leave no state", err)
	}
}
