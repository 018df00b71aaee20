package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meridian-platform/meridian/internal/lb"

	"github.com/meridian-platform/meridian/bench/internal/procs"
)

// serveMeridian runs the balancer in front of the backends, with metrics on
// (a registry nobody scrapes) and warnings logged, as a region would.
func serveMeridian(ctx context.Context, o options) error {
	ctx, cancel := procs.UntilStdinCloses(ctx)
	defer cancel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	l, err := lb.New(lb.Config{
		Listener:     ln,
		TargetGroups: []lb.TargetGroup{{Name: "bench"}},
		Logger:       slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Registerer:   prometheus.NewRegistry(),
	})
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	targets := strings.Split(o.targets, ",")
	for i, addr := range targets {
		if err := l.Register("bench", fmt.Sprintf("b%d", i), addr); err != nil {
			return err
		}
	}
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	for i := range targets {
		if err := l.WaitHealthy(wctx, "bench", fmt.Sprintf("b%d", i)); err != nil {
			return err
		}
	}
	if o.lbProfile != "" {
		f, err := os.Create(o.lbProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer func() { pprof.StopCPUProfile(); _ = f.Close() }()
	}
	fmt.Println("ADDR", ln.Addr().String())
	return <-done
}
