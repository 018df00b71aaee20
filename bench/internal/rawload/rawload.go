// Package rawload is the load generator of bench/lb and bench/edge: keep-
// alive clients that speak HTTP/1.1 directly on their connections (one
// fixed GET, a response read up to its Content-Length) rather than through
// net/http's client, whose per-connection goroutines would cost the load
// generator's core more than the proxies' requests cost theirs.
package rawload

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Result is one run's figures.
type Result struct {
	Requests int           `json:"requests"`
	Errors   int           `json:"errors"`
	RPS      float64       `json:"rps"`
	P50      time.Duration `json:"p50_ns"`
	P99      time.Duration `json:"p99_ns"`
	Elapsed  time.Duration `json:"elapsed_ns"`
}

// Run runs c keep-alive clients for d against addrs (client i uses
// addrs[i%len(addrs)]), each sending GET / with the given Host (the
// address itself when host is ""), and measures every request.
func Run(ctx context.Context, addrs []string, host string, c int, d time.Duration) (Result, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	type part struct {
		lat  []time.Duration
		errs int
		err  error
	}
	parts := make(chan part, c)
	start := time.Now()
	for i := range c {
		addr := addrs[i%len(addrs)]
		go func() {
			var p part
			p.lat = make([]time.Duration, 0, 1<<14)
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
					if cl, err = dialRaw(ctx, addr, host); err != nil {
						if ctx.Err() == nil {
							p.errs++
							p.err = err
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
				if err := cl.get(); err != nil {
					if ctx.Err() == nil {
						p.errs++
						p.err = err
					}
					cl.close()
					cl = nil
					continue
				}
				p.lat = append(p.lat, time.Since(t0))
			}
			if cl != nil {
				cl.close()
			}
			parts <- p
		}()
	}
	var all []time.Duration
	var errs int
	var lastErr error
	for range c {
		p := <-parts
		all = append(all, p.lat...)
		errs += p.errs
		if p.err != nil {
			lastErr = p.err
		}
	}
	el := time.Since(start)
	if len(all) == 0 {
		return Result{}, fmt.Errorf("no request succeeded against %v (%d errors, last: %w)", addrs, errs, lastErr)
	}
	slices.Sort(all)
	pct := func(q float64) time.Duration { return all[min(len(all)-1, int(q*float64(len(all))))] }
	return Result{Requests: len(all), Errors: errs, RPS: float64(len(all)) / el.Seconds(),
		P50: pct(0.50), P99: pct(0.99), Elapsed: el}, nil
}

// rawClient is one keep-alive HTTP/1.1 connection doing GET / back to back.
type rawClient struct {
	c   net.Conn
	br  *bufio.Reader
	req []byte
}

func dialRaw(ctx context.Context, addr, host string) (*rawClient, error) {
	if host == "" {
		host = addr
	}
	c, err := (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return &rawClient{c: c, br: bufio.NewReaderSize(c, 16<<10),
		req: []byte("GET / HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: meridian-bench\r\nAccept: */*\r\n\r\n")}, nil
}

func (rc *rawClient) close() { _ = rc.c.Close() }

// get sends the request and reads the whole response, which must be a 200
// with a Content-Length and keep the connection open.
func (rc *rawClient) get() error {
	_ = rc.c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := rc.c.Write(rc.req); err != nil {
		return err
	}
	line, err := rc.br.ReadSlice('\n')
	if err != nil {
		return err
	}
	if len(line) < 12 || string(line[:9]) != "HTTP/1.1 " {
		return fmt.Errorf("bad status line %q", line)
	}
	if string(line[9:12]) != "200" {
		return fmt.Errorf("status %s", line[9:12])
	}
	n := -1
	for {
		h, err := rc.br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(h) <= 2 {
			break
		}
		k, v, ok := strings.Cut(string(h), ":")
		if !ok {
			return fmt.Errorf("bad header line %q", h)
		}
		v = strings.TrimSpace(v)
		switch strings.ToLower(k) {
		case "content-length":
			if n, err = strconv.Atoi(v); err != nil {
				return fmt.Errorf("bad Content-Length %q", v)
			}
		case "connection":
			if strings.EqualFold(v, "close") {
				return errors.New("the server closes the connection")
			}
		case "transfer-encoding":
			return fmt.Errorf("unexpected Transfer-Encoding %q", v)
		}
	}
	if n < 0 {
		return errors.New("response without Content-Length")
	}
	_, err = rc.br.Discard(n)
	return err
}
