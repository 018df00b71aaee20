package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/meridian-platform/meridian/bench/internal/latency"
)

// loadStats is what one load run observed.
type loadStats struct {
	requests int // complete 200 responses of the right length
	errors   int // failed requests (the connection is then redialled)
	nonHits  int // responses without "X-Cache: Hit", when checked
	elapsed  time.Duration
	lat      latency.Histogram
	lastErr  error
}

// load runs c keep-alive clients doing GET path against addr back to back
// for d, each response a 200 of size body bytes; with checkHit it counts
// the responses whose X-Cache is not Hit. The clients speak HTTP/1.1
// directly on their connections (one fixed request, the response read up
// to its Content-Length), as bench/lb's do, so that the load generator's
// core is spent on the network rather than on net/http's client.
func load(ctx context.Context, addr, path string, size, c int, d time.Duration, checkHit bool) (loadStats, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	parts := make(chan loadStats, c)
	start := time.Now()
	for range c {
		go func() {
			var p loadStats
			var cl *rawClient
			stop := context.AfterFunc(ctx, func() {
				if cl != nil {
					cl.close()
				}
			})
			defer stop()
			for ctx.Err() == nil {
				if cl == nil {
					var err error
					if cl, err = dialRaw(ctx, addr, path, size); err != nil {
						if ctx.Err() == nil {
							p.errors++
							p.lastErr = err
							time.Sleep(10 * time.Millisecond)
						}
						cl = nil
						continue
					}
					if ctx.Err() != nil { // raced with the AfterFunc
						cl.close()
						break
					}
				}
				t0 := time.Now()
				hit, err := cl.get()
				if err != nil {
					if ctx.Err() == nil {
						p.errors++
						p.lastErr = err
					}
					cl.close()
					cl = nil
					continue
				}
				p.lat.Record(time.Since(t0))
				p.requests++
				if checkHit && !hit {
					p.nonHits++
				}
			}
			if cl != nil {
				cl.close()
			}
			parts <- p
		}()
	}
	var all loadStats
	for range c {
		p := <-parts
		all.requests += p.requests
		all.errors += p.errors
		all.nonHits += p.nonHits
		all.lat.Merge(&p.lat)
		if p.lastErr != nil {
			all.lastErr = p.lastErr
		}
	}
	all.elapsed = time.Since(start)
	// No response at all is possible without anything being wrong: on a
	// machine busy enough, a 1 MiB response can take longer than a short
	// warm-up. Failures are not.
	if all.requests == 0 && all.errors > 0 {
		return all, fmt.Errorf("no request succeeded against %s (%d errors, last: %w)", addr, all.errors, all.lastErr)
	}
	return all, nil
}

// rawClient is one keep-alive HTTP/1.1 connection doing the same GET back
// to back.
type rawClient struct {
	c    net.Conn
	br   *bufio.Reader
	req  []byte
	size int
}

func dialRaw(ctx context.Context, addr, path string, size int) (*rawClient, error) {
	c, err := (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return &rawClient{c: c, br: bufio.NewReaderSize(c, 64<<10), size: size, req: request(path)}, nil
}

// request is the GET every client sends, to nginx and to the cache alike.
func request(path string) []byte {
	return []byte("GET " + path + " HTTP/1.1\r\nHost: " + distHost + "\r\nUser-Agent: cdn-bench\r\nAccept: */*\r\n\r\n")
}

func (rc *rawClient) close() { _ = rc.c.Close() }

var (
	hdrContentLength    = []byte("content-length")
	hdrConnection       = []byte("connection")
	hdrTransferEncoding = []byte("transfer-encoding")
	hdrXCache           = []byte("x-cache")
)

// get sends the request and reads the whole response, which must be a 200
// with a Content-Length of the file's size and keep the connection open. It
// reports whether the response said X-Cache: Hit.
func (rc *rawClient) get() (hit bool, err error) {
	_ = rc.c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := rc.c.Write(rc.req); err != nil {
		return false, err
	}
	return readResponse(rc.br, rc.size)
}

// readResponse reads one response from br: a 200 with Content-Length size
// and no Connection: close, its body discarded.
func readResponse(br *bufio.Reader, size int) (hit bool, err error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return false, err
	}
	if len(line) < 12 || string(line[:9]) != "HTTP/1.1 " {
		return false, fmt.Errorf("bad status line %q", line)
	}
	if string(line[9:12]) != "200" {
		return false, fmt.Errorf("status %s", line[9:12])
	}
	n := -1
	for {
		h, err := br.ReadSlice('\n')
		if err != nil {
			return false, err
		}
		if len(h) <= 2 {
			break
		}
		k, v, ok := bytes.Cut(h, []byte(":"))
		if !ok {
			return false, fmt.Errorf("bad header line %q", h)
		}
		v = bytes.TrimSpace(v)
		switch {
		case bytes.EqualFold(k, hdrContentLength):
			if n, err = strconv.Atoi(string(v)); err != nil {
				return false, fmt.Errorf("bad Content-Length %q", v)
			}
		case bytes.EqualFold(k, hdrConnection):
			if bytes.EqualFold(v, []byte("close")) {
				return false, errors.New("the server closes the connection")
			}
		case bytes.EqualFold(k, hdrTransferEncoding):
			return false, fmt.Errorf("unexpected Transfer-Encoding %q", v)
		case bytes.EqualFold(k, hdrXCache):
			hit = string(v) == "Hit"
		}
	}
	if n != size {
		return false, fmt.Errorf("Content-Length %d, want %d", n, size)
	}
	_, err = br.Discard(n)
	return hit, err
}
