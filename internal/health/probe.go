package health

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"sync"
	"time"
)

// result is the outcome of one probe.
type result struct {
	err error // nil when the probe succeeded
	// connect is the time from starting to dial to having a connection
	// (name resolution, TCP and TLS handshakes included).
	connect time.Duration
	// firstByte is, for HTTP probes, the time from having written the
	// request to the first byte of the response: one network round trip
	// plus the target's time to answer.
	firstByte time.Duration
}

// rtt is the round-trip sample of a successful probe: connect, one TCP
// handshake, for every type. The first byte of an HTTP answer also waits
// for the target's work (a deep health check writes to disk), which on a
// loaded host can make the nearest region measure farther than the next.
func (r result) rtt(Type) time.Duration {
	return r.connect
}

// prober runs probes over the configured dialer.
type prober struct {
	now    func() time.Time
	dial   dialFunc
	client *http.Client
	agent  string
}

func newProber(cfg Config) *prober {
	tr := &http.Transport{
		Proxy:       nil, // probes go straight to the target
		DialContext: cfg.Dial,
		// A new connection for every probe, as Route 53 does: a kept-alive
		// connection would hide a listener that no longer accepts.
		DisableKeepAlives:      true,
		DisableCompression:     true,
		MaxResponseHeaderBytes: 64 << 10,
		TLSClientConfig:        cloneTLS(cfg.TLS),
	}
	return &prober{
		now:  cfg.Now,
		dial: cfg.Dial,
		client: &http.Client{
			Transport:     tr,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		agent: "meridian-health/1 (checker " + cfg.Name + ")",
	}
}

func cloneTLS(c *tls.Config) *tls.Config {
	if c == nil {
		return nil
	}
	return c.Clone()
}

func (p *prober) probe(ctx context.Context, k Check) result {
	ctx, cancel := context.WithTimeout(ctx, k.Timeout)
	defer cancel()
	if k.Type == TCP {
		return p.probeTCP(ctx, k)
	}
	return p.probeHTTP(ctx, k)
}

func (p *prober) probeTCP(ctx context.Context, k Check) result {
	start := p.now()
	c, err := p.dial(ctx, "tcp", k.Addr)
	r := result{connect: p.now().Sub(start)}
	if err != nil {
		r.err = fmt.Errorf("connecting to %s: %w", k.Addr, timeoutErr(ctx, err, "no connection", k.Timeout))
		return r
	}
	_ = c.Close() // the probe is done; a close error says nothing about the target
	return r
}

func (p *prober) probeHTTP(ctx context.Context, k Check) result {
	var r result
	// The trace callbacks run on the transport's goroutines, possibly after
	// Do has returned with an error.
	var mu sync.Mutex
	var start, gotConn, wrote time.Time
	var firstByte time.Duration
	trace := &httptrace.ClientTrace{
		GotConn: func(httptrace.GotConnInfo) {
			t := p.now()
			mu.Lock()
			gotConn = t
			mu.Unlock()
		},
		WroteRequest: func(httptrace.WroteRequestInfo) {
			t := p.now()
			mu.Lock()
			wrote = t
			mu.Unlock()
		},
		GotFirstResponseByte: func() {
			t := p.now()
			mu.Lock()
			if !wrote.IsZero() {
				firstByte = t.Sub(wrote)
			}
			mu.Unlock()
		},
	}
	connected := false
	timings := func() {
		mu.Lock()
		defer mu.Unlock()
		connected = !gotConn.IsZero()
		if connected {
			r.connect = gotConn.Sub(start)
		}
		r.firstByte = firstByte
	}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodGet, k.URL, nil)
	if err != nil {
		r.err = fmt.Errorf("building request: %w", err)
		return r
	}
	req.Header.Set("User-Agent", p.agent)
	start = p.now()
	resp, err := p.client.Do(req)
	timings()
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // it repeats the method and URL
		}
		what := "no connection"
		if connected {
			what = "no response"
		}
		r.err = fmt.Errorf("GET %s: %w", k.URL, timeoutErr(ctx, err, what, k.Timeout))
		return r
	}
	defer func() { _ = resp.Body.Close() }() // read-only; nothing to flush
	if resp.StatusCode < 200 || resp.StatusCode > 399 {
		r.err = fmt.Errorf("GET %s: status %d, want 2xx or 3xx", k.URL, resp.StatusCode)
		return r
	}
	if k.SearchString == "" {
		return r
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, SearchBytes))
	if bytes.Contains(body, []byte(k.SearchString)) {
		return r // found before any read error mattered
	}
	if err != nil {
		r.err = fmt.Errorf("GET %s: reading body: %w", k.URL, timeoutErr(ctx, err, "no complete body", k.Timeout))
		return r
	}
	r.err = fmt.Errorf("GET %s: %q not in the first %d bytes of the body", k.URL, k.SearchString, SearchBytes)
	return r
}

// timeoutErr says what did not happen within the probe timeout when the
// timeout is what ended err.
func timeoutErr(ctx context.Context, err error, what string, timeout time.Duration) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%s within the %v timeout: %w", what, timeout, err)
	}
	return err
}
