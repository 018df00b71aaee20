package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"runtime/pprof"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meridian-platform/meridian/internal/dns"

	"github.com/meridian-platform/meridian/bench/internal/procs"
)

// serveMeridian runs Meridian's DNS server on o.addr (UDP and TCP) with the
// benchmark zone, as a region would: metrics on a registry nobody scrapes,
// warnings logged, every target's health check known and healthy, the
// default client networks and latency table. Rate limiting is off unless
// -rrl asks for it (its defaults: 100 responses/s per /24, burst 200).
// It prints "ADDR x" when ready and stops when stdin closes.
func serveMeridian(ctx context.Context, o options) error {
	ctx, cancel := procs.UntilStdinCloses(ctx)
	defer cancel()
	z := buildZone(o.hosts)
	checks := z.healthChecks()
	cfg := dns.Config{
		Addr:   o.addr,
		Zones:  []dns.Zone{z.meridian},
		Health: dns.HealthFunc(func(id string) (bool, bool) { ok, known := checks[id]; return ok, known }),
		Seed:   o.seed,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		// A registry nobody scrapes: the server still counts every answer.
		Registerer: prometheus.NewRegistry(),
	}
	cfg.RateLimit.Disabled = !o.rrl
	serveUDP, err := experimentConfig(&cfg, o.experiment, o.addr)
	if err != nil {
		return err
	}
	s, err := dns.New(cfg)
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	select {
	case <-s.Ready():
	case err := <-done:
		return err
	}
	if serveUDP != nil {
		go func() { _ = serveUDP(ctx, s) }() // returns when ctx is done
	}
	if o.cpuprofile != "" {
		f, err := os.Create(o.cpuprofile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer func() { pprof.StopCPUProfile(); _ = f.Close() }()
	}
	fmt.Println("ADDR", o.addr)
	fmt.Println("GOMAXPROCS", runtime.GOMAXPROCS(0))
	return <-done
}
