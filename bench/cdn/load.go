package main

import (
	"context"
	"time"

	"github.com/meridian-platform/meridian/bench/internal/rawload"
)

// load runs c keep-alive clients doing GET path against addr back to back
// for d, each response a 200 of size body bytes; with checkHit it counts
// the responses whose X-Cache is not Hit.
func load(ctx context.Context, addr, path string, size, c int, d time.Duration, checkHit bool) (rawload.Result, error) {
	return rawload.Run(ctx, rawload.Target{Addrs: []string{addr}, Host: distHost, Path: path, Size: size, CountHits: checkHit}, c, d)
}
