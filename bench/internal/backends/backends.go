// Package backends is the trivial upstream servers that bench/lb and
// bench/edge put behind the proxies they compare: each answers every
// request with a fixed body (and /healthz with "ok"), as cheaply as
// net/http allows, so that the proxies' costs are what differs.
package backends

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/meridian-platform/meridian/bench/internal/procs"
)

// Serve runs n servers on 127.0.0.1 answering bodyBytes-byte bodies,
// printing "ADDR host:port" for each (a child process's protocol with its
// parent, see procs), until ctx ends or stdin closes.
func Serve(ctx context.Context, n, bodyBytes int) error {
	ctx, cancel := procs.UntilStdinCloses(ctx)
	defer cancel()
	body := []byte(Body(bodyBytes))
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			_, _ = io.WriteString(w, "ok\n")
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write(body)
	})
	var srvs []*http.Server
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
		srvs = append(srvs, srv)
		go func() { _ = srv.Serve(ln) }()
		fmt.Println("ADDR", ln.Addr().String())
	}
	<-ctx.Done()
	for _, s := range srvs {
		_ = s.Close()
	}
	return nil
}

// Body is what the backends answer with for a body size of n bytes: n-1
// bytes of "x" and a newline (the newline at least). bench/internal/nginx's
// backends answer with the same.
func Body(n int) string { return strings.Repeat("x", max(n-1, 0)) + "\n" }
