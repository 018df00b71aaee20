package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/pprof"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meridian-platform/meridian/internal/cdn"
)

// distHost is the distribution's host name; every request of the benchmark,
// to nginx too, carries it.
const distHost = "static.bench.test"

// serveCache is the -role cache child: internal/cdn with one distribution
// whose origin is o.origin, served by a net/http server with keep-alive on
// o.cacheHost, with metrics on a registry and warnings logged as the edge
// would. It prints "ADDR host:port" when ready and exits when its stdin
// closes.
func serveCache(ctx context.Context, o options) error {
	ctx, cancel := untilStdinCloses(ctx)
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
	// The edge's client port (edgeproxy.Serve) is a net/http server too;
	// its HTTP/1.1 path is the same.
	srv := &http.Server{Handler: c, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 90 * time.Second}
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
	servers := []*http.Server{srv}
	lns := []net.Listener{ln}
	if o.experiment {
		eln, err := net.Listen("tcp", net.JoinHostPort(o.cacheHost, "0"))
		if err != nil {
			return err
		}
		servers = append(servers, &http.Server{Handler: oneWrite(c), ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 90 * time.Second})
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
		_ = s.Close()
	}
	for range servers {
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	}
	return nil
}

// oneWrite is the experiment (-experiment), not the product: the same
// cache, answering through a ResponseWriter that hides net/http's
// io.ReaderFrom. http.ServeContent's copy of the body then goes through the
// response's buffer, so a small hit leaves in one write(2) with its header
// instead of two (header and the first 512 bytes, then the rest through
// TCPConn.ReadFrom). It measures what writing small bodies with w.Write
// would gain, without changing internal/cdn.
func oneWrite(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(writerOnly{w}, r)
	})
}

// writerOnly is an http.ResponseWriter and nothing more.
type writerOnly struct{ http.ResponseWriter }

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
