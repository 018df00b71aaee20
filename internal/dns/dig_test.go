package dns

import (
	"context"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestDig asks the server with dig, when it is installed, as an operator
// would.
func TestDig(t *testing.T) {
	t.Parallel()
	dig, err := exec.LookPath("dig")
	if err != nil {
		t.Skip("dig is not installed")
	}
	ts := startServer(t, nil)
	host, port, err := net.SplitHostPort(ts.udp)
	if err != nil {
		t.Fatal(err)
	}
	_, tcpPort, err := net.SplitHostPort(ts.tcp)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"latency by ecs over udp", []string{"-p", port, "+subnet=127.0.20.0/24", "shop.meridian.test", "A"}, "127.0.1.2"},
		{"latency by ecs over tcp", []string{"-p", tcpPort, "+tcp", "+subnet=127.0.30.0/24", "shop.meridian.test", "A"}, "127.0.1.3"},
		{"failover", []string{"-p", port, "fo.meridian.test", "A"}, "127.0.3.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			args := append([]string{"@" + host, "+short", "+tries=1", "+time=2"}, tt.args...)
			out, err := exec.CommandContext(ctx, dig, args...).CombinedOutput()
			if err != nil {
				t.Fatalf("dig %s: %v\n%s", strings.Join(args, " "), err, out)
			}
			if got := strings.TrimSpace(string(out)); got != tt.want {
				t.Errorf("dig %s: got %q, want %q", strings.Join(args, " "), got, tt.want)
			}
		})
	}
}
