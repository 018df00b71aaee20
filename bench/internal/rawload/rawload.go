// Package rawload is the load generator of bench/lb, bench/edge and
// bench/cdn: keep-alive clients that speak HTTP/1.1 directly on their
// connections (one fixed GET, the response read up to its Content-Length)
// rather than through net/http's client, whose per-connection goroutines
// would cost the load generator's core more than the servers' requests
// cost theirs.
package rawload

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/meridian-platform/meridian/bench/internal/latency"
)

// Target is what every client of a run requests.
type Target struct {
	// Addrs are the servers: client i connects to Addrs[i%len(Addrs)].
	Addrs []string
	// Host is the Host header; "" sends the client's address.
	Host string
	// Path is the request target; "" is "/".
	Path string
	// Size is the body length every response must have; -1 takes any.
	Size int
	// CountHits counts the responses without "X-Cache: Hit" (NonHits).
	CountHits bool
}

// Result is what one run observed.
type Result struct {
	Requests int // complete 200 responses
	Errors   int // failed requests (the connection is then redialled)
	NonHits  int // responses without "X-Cache: Hit", with CountHits
	Elapsed  time.Duration
	Latency  latency.Histogram
	LastErr  error
}

// RPS is the complete responses per second.
func (r *Result) RPS() float64 { return float64(r.Requests) / r.Elapsed.Seconds() }

// Run runs c clients against t for d, each doing its GET back to back on
// one keep-alive connection and recording every request's latency.
//
// A run with no response at all is no error by itself (on a busy machine
// a 1 MiB response can take longer than a short warm-up); one where
// requests failed and none succeeded is.
func Run(ctx context.Context, t Target, c int, d time.Duration) (Result, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	parts := make(chan Result, c)
	start := time.Now()
	end, _ := ctx.Deadline() // what cuts a dial or read short at the end
	for i := range c {
		addr := t.Addrs[i%len(t.Addrs)]
		go func() {
			var p Result
			var cl *client
			// The connection in use, for the AfterFunc to close: a client
			// blocked on an answer wakes up when the run ends.
			var cur atomic.Pointer[client]
			stop := context.AfterFunc(ctx, func() {
				if c := cur.Load(); c != nil {
					c.close()
				}
			})
			defer stop()
			// A failure as the run ends (a dial or read cut by its
			// deadline, which can come a moment before ctx says so) is
			// not one.
			over := func() bool { return ctx.Err() != nil || !time.Now().Before(end) }
			for !over() {
				if cl == nil {
					var err error
					if cl, err = dial(ctx, addr, t); err != nil {
						if !over() {
							p.Errors++
							p.LastErr = err
							time.Sleep(10 * time.Millisecond)
						}
						cl = nil
						continue
					}
					cur.Store(cl)
					if ctx.Err() != nil { // raced with the AfterFunc
						break
					}
				}
				t0 := time.Now()
				hit, err := cl.get()
				if err != nil {
					if !over() {
						p.Errors++
						p.LastErr = err
					}
					cl.close()
					cl = nil
					cur.Store(nil)
					continue
				}
				p.Latency.Record(time.Since(t0))
				p.Requests++
				if t.CountHits && !hit {
					p.NonHits++
				}
			}
			if cl != nil {
				cl.close()
			}
			parts <- p
		}()
	}
	var all Result
	for range c {
		p := <-parts
		all.Requests += p.Requests
		all.Errors += p.Errors
		all.NonHits += p.NonHits
		all.Latency.Merge(&p.Latency)
		if p.LastErr != nil {
			all.LastErr = p.LastErr
		}
	}
	all.Elapsed = time.Since(start)
	if all.Requests == 0 && all.Errors > 0 {
		return all, fmt.Errorf("no request succeeded against %v (%d errors, last: %w)", t.Addrs, all.Errors, all.LastErr)
	}
	return all, nil
}

// client is one keep-alive HTTP/1.1 connection doing the same GET back to
// back.
type client struct {
	c    net.Conn
	br   *bufio.Reader
	req  []byte
	size int
}

func dial(ctx context.Context, addr string, t Target) (*client, error) {
	c, err := (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	host, path := t.Host, t.Path
	if host == "" {
		host = addr
	}
	if path == "" {
		path = "/"
	}
	return &client{c: c, br: bufio.NewReaderSize(c, 64<<10), size: t.Size,
		req: []byte("GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: meridian-bench\r\nAccept: */*\r\n\r\n")}, nil
}

func (cl *client) close() { _ = cl.c.Close() }

// get sends the request and reads the whole response, reporting whether
// it said X-Cache: Hit.
func (cl *client) get() (hit bool, err error) {
	_ = cl.c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := cl.c.Write(cl.req); err != nil {
		return false, err
	}
	return readResponse(cl.br, cl.size)
}

var (
	hdrContentLength    = []byte("content-length")
	hdrConnection       = []byte("connection")
	hdrTransferEncoding = []byte("transfer-encoding")
	hdrXCache           = []byte("x-cache")
)

// readResponse reads one response from br: a 200 with a Content-Length
// (of size, unless size is -1) and no Connection: close, its body
// discarded.
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
			if n, err = strconv.Atoi(string(v)); err != nil || n < 0 {
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
	switch {
	case n < 0:
		return false, errors.New("response without Content-Length")
	case size >= 0 && n != size:
		return false, fmt.Errorf("Content-Length %d, want %d", n, size)
	}
	_, err = br.Discard(n)
	return hit, err
}
