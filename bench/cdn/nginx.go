package main

import (
	"context"
	"fmt"

	"github.com/meridian-platform/meridian/bench/internal/nginx"
)

// nginxVariant is one nginx configuration measured as a baseline.
type nginxVariant struct {
	name string
	// directives go into the http block.
	directives string
	about      string
}

// nginxVariants are the configurations -nginx can pick. sendfile is what
// Debian's /etc/nginx/nginx.conf ships (sendfile on, tcp_nopush on) and the
// one the ratio is computed against.
var nginxVariants = []nginxVariant{
	{"sendfile", "sendfile on;\n  tcp_nopush on;", "sendfile on, tcp_nopush on (Debian's default)"},
	{"nosendfile", "sendfile off;", "sendfile off: read() into a buffer, write() to the socket"},
	{"filecache", "sendfile on;\n  tcp_nopush on;\n  open_file_cache max=1000 inactive=60s;\n  open_file_cache_valid 60s;",
		"sendfile on, tcp_nopush on, open_file_cache (no open/fstat/close per request)"},
}

func variantByName(name string) (nginxVariant, bool) {
	for _, v := range nginxVariants {
		if v.name == name {
			return v, true
		}
	}
	return nginxVariant{}, false
}

// startNginx runs nginx serving root statically on host, with workers
// worker processes, behind pin (taskset), as bench/internal/nginx.Start
// runs it (with its guard).
func startNginx(ctx context.Context, bin string, v nginxVariant, root, host string, workers int, pin []string) (*nginx.Proc, error) {
	addrs, err := nginx.FreeAddrs(host, 1)
	if err != nil {
		return nil, err
	}
	addr := addrs[0]
	block := fmt.Sprintf(`  types { application/octet-stream bin; }
  default_type application/octet-stream;
  keepalive_timeout 65s;
  %[3]s
  server {
    listen %[1]s;
    root %[2]s;
    location / { }
  }
`, addr, root, v.directives)
	return nginx.Start(ctx, bin, block, addrs, workers, pin)
}
