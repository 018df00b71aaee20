package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunExitCodesAndMessages(t *testing.T) {
	empty := t.TempDir()
	specs := t.TempDir()
	badSpec, goodSpec := filepath.Join(specs, "bad.yaml"), filepath.Join(specs, "good.yaml")
	if err := os.WriteFile(badSpec, []byte("name: shop\ncommand: x\nreplicas: 3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(goodSpec, []byte("name: shop\ncommand: x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("MERIDIAN_REGION", "")
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{name: "help", args: []string{"--help"}, wantCode: 0, wantStdout: "status"},
		{name: "up help documents subnet", args: []string{"up", "--help"}, wantCode: 0, wantStdout: "--subnet"},
		{name: "unknown command", args: []string{"frobnicate"}, wantCode: 1, wantStderr: `unknown command "frobnicate"`},
		{name: "region needs flags", args: []string{"region"}, wantCode: 1, wantStderr: `"config"`},
		{name: "bad log level", args: []string{"--log-level", "loud", "up", "--data", filepath.Join(empty, "d")}, wantCode: 1, wantStderr: "--log-level"},
		{name: "status without a deployment", args: []string{"status", "--data", empty}, wantCode: 1, wantStderr: "endpoints.json does not exist"},
		{name: "apply needs a file", args: []string{"apply", "--data", empty}, wantCode: 1, wantStderr: `"file"`},
		{name: "apply with a bad spec", args: []string{"apply", "--data", empty, "-f", badSpec}, wantCode: 1, wantStderr: `unknown field "replicas"`},
		{name: "apply without a deployment", args: []string{"apply", "--data", empty, "-f", goodSpec}, wantCode: 1, wantStderr: "endpoints.json does not exist"},
		{name: "shop serve without a region", args: []string{"shop", "serve"}, wantCode: 1, wantStderr: "MERIDIAN_REGION"},
		{name: "up with bogus wan", args: []string{"up", "--data", filepath.Join(empty, "d"), "--wan", "bogus"}, wantCode: 1, wantStderr: `wan profile "bogus" is not known`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			got := Run(context.Background(), tt.args, &stdout, &stderr)
			if got != tt.wantCode {
				t.Errorf("exit code = %d, want %d (stderr %q)", got, tt.wantCode, stderr.String())
			}
			if !strings.Contains(stdout.String(), tt.wantStdout) {
				t.Errorf("stdout %q lacks %q", stdout.String(), tt.wantStdout)
			}
			if !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("stderr %q lacks %q", stderr.String(), tt.wantStderr)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(empty, "d")); !os.IsNotExist(err) {
		t.Errorf("a refused up left %s behind (stat: %v)", filepath.Join(empty, "d"), err)
	}
}

func TestStatusUnhealthyExitsNonZeroWithoutExtraMessage(t *testing.T) {
	dir := t.TempDir()
	// A deployment whose only node is not listening.
	eps := `{"nodes":[{"name":"us-east-1","role":"region","region":"us-east","pid":1,"api":"http://127.0.0.1:1","admin":"http://127.0.0.1:1","peer":"127.0.0.1:1"}]}`
	if err := os.WriteFile(filepath.Join(dir, "endpoints.json"), []byte(eps), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if got := Run(context.Background(), []string{"status", "--data", dir, "--json"}, &stdout, &stderr); got != 1 {
		t.Errorf("exit code = %d, want 1", got)
	}
	if !strings.Contains(stdout.String(), `"healthy": false`) || !strings.Contains(stdout.String(), "connection refused") {
		t.Errorf("stdout = %s, want the node unhealthy with its error", stdout.String())
	}
	if stderr.Len() != 0 {
		t.Errorf("stderr = %q, want nothing (the report says it)", stderr.String())
	}
}
