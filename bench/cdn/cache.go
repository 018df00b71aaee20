package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/pprof"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meridian-platform/meridian/internal/cdn"
	"github.com/meridian-platform/meridian/internal/h1"

	"github.com/meridian-platform/meridian/bench/internal/procs"
)

// distHost is the distribution's host name; every request of the benchmark,
// to nginx too, carries it.
const distHost = "static.bench.test"

// serveCache is the -role cache child: internal/cdn with one distribution
// whose origin is o.origin, served as the edge serves it (internal/h1's
// server, keep-alive) on o.cacheHost, with metrics on a registry and warnings logged as the edge
// would. It prints "ADDR host:port" when ready and exits when its stdin
// closes.
func serveCache(ctx context.Context, o options) error {
	ctx, cancel := procs.UntilStdinCloses(ctx)
	defer cancel()
	c, err := cdn.New(cdn.Config{
		Distributions: []cdn.Distribution{{
			Name:    "static",
			Hosts:   []string{distHost},
			Origins: []cdn.Origin{{Name: "origin", URL: o.origin}},
		}},
		Logger:     slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Registerer: prometheus.NewRegistry(),
	})
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()
	ln, err := net.Listen("tcp", net.JoinHostPort(o.cacheHost, "0"))
	if err != nil {
		return err
	}
	// The edge's client port (edgeproxy.Serve) is internal/h1's server with
	// the cache in front of the proxy.
	serve := func(h http.Handler) *h1.Server {
		return &h1.Server{Handler: h, MaxHeaderBytes: 32 << 10, ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout: time.Minute, IdleTimeout: 90 * time.Second}
	}
	srv := serve(c)
	if o.cacheProfile != "" {
		f, err := os.Create(o.cacheProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer func() { pprof.StopCPUProfile(); _ = f.Close() }()
	}
	servers := []*h1.Server{srv}
	lns := []net.Listener{ln}
	for _, name := range experimentList(o.experiments) {
		eln, err := net.Listen("tcp", net.JoinHostPort(o.cacheHost, "0"))
		if err != nil {
			return err
		}
		servers = append(servers, serve(experiments[name].wrap(c)))
		lns = append(lns, eln)
	}
	done := make(chan error, len(servers))
	for i, s := range servers {
		go func() { done <- s.Serve(lns[i]) }()
		fmt.Println("ADDR", lns[i].Addr().String())
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	for _, s := range servers {
		_ = s.Shutdown(0)
	}
	for range servers {
		if err := <-done; err != nil {
			return err
		}
	}
	return nil
}

// An experiment is not the product: the same cache, in the same process,
// on a port of its own, answering through a wrapped ResponseWriter, to
// measure a change proposed for internal/cdn without changing it.
type experiment struct {
	about string
	wrap  func(http.Handler) http.Handler
}

var experiments = map[string]experiment{
	// onewrite hides net/http's io.ReaderFrom: http.ServeContent's copy of
	// the body then goes through the response's buffer, so a small hit
	// leaves in one write(2) with its header instead of two (the header and
	// the first 512 bytes, then the rest through TCPConn.ReadFrom); larger
	// bodies are copied in 32 KiB pieces as before.
	"onewrite": {"the cache behind a ResponseWriter without ReadFrom: one write per small hit",
		func(h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				h.ServeHTTP(writerOnly{w}, r)
			})
		}},
	// direct turns ServeContent's copy of an entry's body (an
	// io.LimitedReader around the entry's bytes.Reader) into one
	// w.Write of the whole remaining body, which is what writing a plain hit
	// with w.Write(e.body) would do: one write(2) with the header for a
	// small body, a few large ones for a large body, no 32 KiB copies.
	"direct": {"the cache with each body written by one w.Write (what w.Write(e.body) would do)",
		func(h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				h.ServeHTTP(directWriter{w}, r)
			})
		}},
}

func experimentList(s string) []string {
	var out []string
	for name := range strings.SplitSeq(s, ",") {
		if name = strings.TrimSpace(name); name != "" {
			out = append(out, name)
		}
	}
	return out
}

// writerOnly is an http.ResponseWriter and nothing more.
type writerOnly struct{ http.ResponseWriter }

// directWriter writes a body that is a bytes.Reader (under the limit
// io.CopyN puts on it) with one Write; anything else is copied as
// io.Copy would.
type directWriter struct{ http.ResponseWriter }

func (d directWriter) ReadFrom(src io.Reader) (int64, error) {
	if lr, ok := src.(*io.LimitedReader); ok {
		if br, ok := lr.R.(*bytes.Reader); ok && int64(br.Len()) <= lr.N {
			n, err := br.WriteTo(writerOnly(d))
			lr.N -= n
			return n, err
		}
	}
	return io.Copy(writerOnly(d), src)
}

// origin is the cache's origin: a plain net/http file server over the test
// files, in the driver's process, counting the requests it answers.
type origin struct {
	srv  *http.Server
	addr string
	hits atomic.Int64
}

func startOrigin(host, root string) (*origin, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return nil, err
	}
	o := &origin{addr: ln.Addr().String()}
	files := http.FileServer(http.Dir(root))
	o.srv = &http.Server{ReadHeaderTimeout: 5 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			o.hits.Add(1)
			files.ServeHTTP(w, r)
		})}
	go func() { _ = o.srv.Serve(ln) }()
	return o, nil
}

func (o *origin) stop() { _ = o.srv.Close() }
