package cdn_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/meridian-platform/meridian/internal/cdn"
)

// The edge builds one Cache for all distributions, serves it on its client
// port and mounts the admin API on its admin port. Order lets the edge's
// health and latency ranking choose which region's origin is tried first.
func Example() {
	var preferred atomic.Value // the edge's current ranking of regions
	preferred.Store([]string{"eu-west", "us-east"})

	c, err := cdn.New(cdn.Config{
		Distributions: []cdn.Distribution{{
			Name:  "static",
			Hosts: []string{"static.meridian.test"},
			Origins: []cdn.Origin{
				{Name: "us-east", URL: "http://127.0.1.1:4566/static"},
				{Name: "eu-west", URL: "http://127.0.2.1:4566/static"},
			},
			Order: func() []string { return preferred.Load().([]string) },
		}, {
			Name:        "shop",
			Hosts:       []string{"shop.meridian.test"},
			Origins:     []cdn.Origin{{Name: "us-east", URL: "http://127.0.1.1:8080", ForwardHost: true}},
			AllowWrites: true,
			DefaultTTL:  -1, // cache only what the application marks cacheable
		}},
		MaxBytes: 512 << 20,
		Logger:   slog.New(slog.DiscardHandler), // the edge's logger

	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	//nolint:govet // unusedwrite: the servers are shown, not run
	var (
		client = &http.Server{Addr: ":8081", Handler: c, ReadHeaderTimeout: 5 * time.Second}
		admin  = &http.Server{Addr: "127.0.0.1:9091", Handler: c.AdminHandler(), ReadHeaderTimeout: 5 * time.Second}
	)
	_, _ = client, admin // ListenAndServe both in the edge's errgroup
	fmt.Println("ok")
	// Output: ok
}

// Validate's errors are meant for the operator who wrote the config.
func ExampleConfig_Validate() {
	err := cdn.Config{Distributions: []cdn.Distribution{{
		Hosts:   []string{"static.meridian.test"},
		Origins: []cdn.Origin{{URL: "127.0.1.1:4566/static"}},
		MinTTL:  time.Hour, MaxTTL: time.Minute,
	}}}.Validate()
	fmt.Println(err)
	// Output:
	// distribution static.meridian.test: origin 1: URL "127.0.1.1:4566/static" is not valid (first path segment in URL cannot contain colon); write it as http://host:port/prefix
	// distribution static.meridian.test: minimum TTL 1h0m0s is above the maximum TTL 1m0s
}
