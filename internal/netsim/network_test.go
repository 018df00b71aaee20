package netsim_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/meridian-platform/meridian/internal/netsim"
)

// newNetwork returns a Network whose node "b" listens on an echo server, and
// the server's address.
func newNetwork(t *testing.T) (*netsim.Network, string) {
	t.Helper()
	n := netsim.New(1)
	srv := startServer(t, true)
	n.Register("b", srv.addr)
	return n, srv.addr
}

func TestNetworkLatency(t *testing.T) {
	for _, rtt := range []time.Duration{0, 40 * time.Millisecond, 150 * time.Millisecond} {
		t.Run(rtt.String(), func(t *testing.T) {
			n, addr := newNetwork(t)
			n.SetLatency("a", "b", rtt)
			start := time.Now()
			c := dialVia(t, n.Dialer("a"), addr)
			if got := time.Since(start); got < rtt || got >= rtt+margin {
				t.Errorf("dial: got %v, want one RTT for the handshake: in [%v, %v)", got, rtt, rtt+margin)
			}
			for i := range 3 {
				got := roundTrip(t, c, fmt.Sprintf("ping %d", i))
				if got < rtt || got >= rtt+margin {
					t.Errorf("round trip %d: got %v, want in [%v, %v)", i, got, rtt, rtt+margin)
				}
			}
		})
	}
}

func TestNetworkLatencyIsPerLink(t *testing.T) {
	n, addr := newNetwork(t)
	const rtt = 3 * time.Second // never experienced: only a-b has it
	n.SetLatency("a", "b", rtt)
	for _, from := range []string{"c", "b"} {
		t.Run("from "+from, func(t *testing.T) {
			c := dialVia(t, n.Dialer(from), addr)
			if got := roundTrip(t, c, "ping"); got >= rtt/2 {
				t.Errorf("round trip on a link without latency: got %v, want well under the a-b RTT", got)
			}
		})
	}
	t.Run("unregistered address", func(t *testing.T) {
		other := startServer(t, true)
		c := dialVia(t, n.Dialer("a"), other.addr)
		if got := roundTrip(t, c, "ping"); got >= rtt/2 {
			t.Errorf("round trip to an unknown address: got %v, want a plain conn", got)
		}
	})
}

func TestNetworkRegisterHost(t *testing.T) {
	n := netsim.New(1)
	srv := startServer(t, true)
	host, _, err := net.SplitHostPort(srv.addr)
	if err != nil {
		t.Fatal(err)
	}
	n.Register("b", host)
	const rtt = 100 * time.Millisecond
	n.SetLatency("a", "b", rtt)
	c := dialVia(t, n.Dialer("a"), srv.addr)
	if got := roundTrip(t, c, "ping"); got < rtt {
		t.Errorf("round trip to a port on a registered host: got %v, want at least %v", got, rtt)
	}
}

func TestNetworkLatencyChangeAppliesToOpenConn(t *testing.T) {
	n, addr := newNetwork(t)
	c := dialVia(t, n.Dialer("a"), addr)
	// Each step is judged on the fastest of three round trips.
	steps := []struct {
		rtt    time.Duration
		lo, hi time.Duration
	}{
		{0, 0, 200 * time.Millisecond},
		{400 * time.Millisecond, 400 * time.Millisecond, 400*time.Millisecond + margin},
		{0, 0, 200 * time.Millisecond},
		{100 * time.Millisecond, 100 * time.Millisecond, 400 * time.Millisecond},
	}
	for _, s := range steps {
		t.Run(s.rtt.String(), func(t *testing.T) {
			n.SetLatency("a", "b", s.rtt)
			if got := fastestRoundTrip(t, c, 3); got < s.lo || got >= s.hi {
				t.Errorf("round trip on an open conn after SetLatency(%v): got %v, want in [%v, %v)", s.rtt, got, s.lo, s.hi)
			}
		})
	}
}

func TestNetworkAsymmetricLatency(t *testing.T) {
	n := netsim.New(1)
	srv := startServer(t, false)
	n.Register("b", srv.addr)
	const ab, ba = 150 * time.Millisecond, 10 * time.Millisecond
	n.SetLatencyOneWay("a", "b", ab)
	n.SetLatencyOneWay("b", "a", ba)
	c := dialVia(t, n.Dialer("a"), srv.addr)
	peer := srv.acceptOne(t)
	defer peer.Close()

	for _, tc := range []struct {
		name     string
		from, to net.Conn
		lo       time.Duration
	}{
		{"a to b", c, peer, ab},
		{"b to a", peer, c, ba},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			write(t, tc.from, "x")
			expectRead(t, tc.to, "x", 5*time.Second)
			if got := time.Since(start); got < tc.lo || got >= tc.lo+margin {
				t.Errorf("one-way trip: got %v, want in [%v, %v)", got, tc.lo, tc.lo+margin)
			}
		})
	}
}

func TestNetworkPipeliningNotThrottled(t *testing.T) {
	n, addr := newNetwork(t)
	const rtt = 200 * time.Millisecond
	n.SetLatency("a", "b", rtt)
	c := dialVia(t, n.Dialer("a"), addr)

	const msgs = 500
	var want bytes.Buffer
	start := time.Now()
	for i := range msgs {
		msg := fmt.Sprintf("%04d;", i)
		want.WriteString(msg)
		write(t, c, msg)
	}
	expectRead(t, c, want.String(), 5*time.Second)
	if got := time.Since(start); got < rtt || got >= rtt+margin {
		t.Errorf("%d pipelined echoes: got %v, want about one RTT: in [%v, %v)", msgs, got, rtt, rtt+margin)
	}
}

func TestNetworkPartition(t *testing.T) {
	n, addr := newNetwork(t)
	n.SetLatency("a", "b", 20*time.Millisecond)
	dial := n.Dialer("a")
	c := dialVia(t, dial, addr)
	roundTrip(t, c, "before")

	n.Partition("a", "b")
	t.Run("open conn is black-holed", func(t *testing.T) {
		write(t, c, "during")
		expectTimeout(t, c, 300*time.Millisecond)
	})
	t.Run("new dial blocks until ctx ends", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		nc, err := dial(ctx, addr)
		if err == nil {
			nc.Close()
			t.Fatal("dial across a partition: got a conn, want a timeout")
		}
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("dial: got %v, want a net.Error timeout wrapping context.DeadlineExceeded", err)
		}
		if got := time.Since(start); got < 200*time.Millisecond {
			t.Errorf("dial failed after %v, want it to wait for the 200ms ctx like a black hole", got)
		}
	})
	t.Run("canceled dial is not a timeout", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := dial(ctx, addr)
		var ne net.Error
		if !errors.Is(err, context.Canceled) || (errors.As(err, &ne) && ne.Timeout()) {
			t.Errorf("got %v, want context.Canceled and no timeout", err)
		}
	})
	t.Run("other links still work", func(t *testing.T) {
		other := dialVia(t, n.Dialer("c"), addr)
		roundTrip(t, other, "via c")
	})

	n.Heal("a", "b")
	t.Run("after heal a new conn works", func(t *testing.T) {
		nc := dialVia(t, dial, addr)
		roundTrip(t, nc, "after")
	})
	t.Run("after heal held bytes are delivered", func(t *testing.T) {
		expectRead(t, c, "during", 2*time.Second)
		roundTrip(t, c, "again")
	})
}

func TestNetworkDialWaitsForHeal(t *testing.T) {
	n, addr := newNetwork(t)
	n.Partition("b", "a")
	type result struct {
		c   net.Conn
		err error
	}
	done := make(chan result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := n.Dialer("a")(ctx, addr)
		done <- result{c, err}
	}()
	select {
	case r := <-done:
		t.Fatalf("dial across a partition returned (%v, %v) before the heal", r.c, r.err)
	case <-time.After(100 * time.Millisecond):
	}
	n.HealAll()
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatalf("dial after HealAll: %v", r.err)
		}
		defer r.c.Close()
		roundTrip(t, r.c, "healed")
	case <-time.After(2 * time.Second):
		t.Fatal("dial still blocked 2s after HealAll")
	}
}

func TestNetworkPartitionOneWay(t *testing.T) {
	tests := []struct {
		name             string
		from, to         string
		aToB, bToA, dial bool
	}{
		{name: "a to b cut", from: "a", to: "b", aToB: false, bToA: true},
		{name: "b to a cut", from: "b", to: "a", aToB: true, bToA: false},
		{name: "unrelated link cut", from: "a", to: "c", aToB: true, bToA: true, dial: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := netsim.New(1)
			srv := startServer(t, false)
			n.Register("b", srv.addr)
			c := dialVia(t, n.Dialer("a"), srv.addr)
			peer := srv.acceptOne(t)
			defer peer.Close()

			n.PartitionOneWay(tc.from, tc.to)
			write(t, c, "to b")
			write(t, peer, "to a")
			if tc.aToB {
				expectRead(t, peer, "to b", 2*time.Second)
			} else {
				expectTimeout(t, peer, 300*time.Millisecond)
			}
			if tc.bToA {
				expectRead(t, c, "to a", 2*time.Second)
			} else {
				expectTimeout(t, c, 300*time.Millisecond)
			}

			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			nc, err := n.Dialer("a")(ctx, srv.addr)
			if err == nil {
				nc.Close()
			}
			if got := err == nil; got != tc.dial {
				t.Errorf("new dial during the cut: got err %v, want success %v", err, tc.dial)
			}
		})
	}
}

func TestNetworkLoss(t *testing.T) {
	t.Run("certain loss holds each direction 200ms", func(t *testing.T) {
		n, addr := newNetwork(t)
		c := dialVia(t, n.Dialer("a"), addr)
		n.SetLoss("a", "b", 1)
		want := 2 * 200 * time.Millisecond
		if got := roundTrip(t, c, "ping"); got < want || got >= want+margin {
			t.Errorf("round trip with loss 1: got %v, want in [%v, %v)", got, want, want+margin)
		}
		n.SetLoss("a", "b", 0)
		if got := fastestRoundTrip(t, c, 3); got >= want {
			t.Errorf("round trip after loss 0: got %v, want no hold", got)
		}
	})
	t.Run("partial loss keeps every byte in order", func(t *testing.T) {
		n, addr := newNetwork(t)
		t.Logf("seed %d", n.Seed())
		c := dialVia(t, n.Dialer("a"), addr)
		n.SetLoss("a", "b", 0.3)
		var want bytes.Buffer
		start := time.Now()
		for i := range 300 {
			msg := fmt.Sprintf("%04d;", i)
			want.WriteString(msg)
			write(t, c, msg)
		}
		expectRead(t, c, want.String(), 5*time.Second)
		// With 300 chunks and p=0.3, some chunk is held; the ones behind it
		// wait with it, so the whole stream is late by about one hold, not
		// by one hold per loss.
		if got := time.Since(start); got < 200*time.Millisecond || got >= 400*time.Millisecond+margin {
			t.Errorf("300 echoes under 30%% loss: got %v, want in [200ms, %v)", got, 400*time.Millisecond+margin)
		}
	})
}

func TestNetworkHTTPClient(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s", r.URL.Path)
	}))
	defer srv.Close()
	n := netsim.New(1)
	n.Register("b", srv.Listener.Addr().String())
	const rtt = 100 * time.Millisecond
	n.SetLatency("a", "b", rtt)
	dial := n.Dialer("a")
	tr := &http.Transport{DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
		return dial(ctx, addr)
	}}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 5 * time.Second}

	get := func(path string) time.Duration {
		t.Helper()
		start := time.Now()
		resp, err := client.Get(srv.URL + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("reading body: %v", err)
		}
		if want := "hello " + path; string(body) != want {
			t.Fatalf("GET %s: got %q, want %q", path, body, want)
		}
		return time.Since(start)
	}
	// A new connection costs the handshake RTT plus the request's.
	if got := get("/first"); got < 2*rtt || got >= 2*rtt+margin {
		t.Errorf("first GET: got %v, want in [%v, %v)", got, 2*rtt, 2*rtt+margin)
	}
	// A kept-alive connection costs one RTT.
	if got := get("/second"); got < rtt || got >= rtt+margin {
		t.Errorf("second GET: got %v, want in [%v, %v)", got, rtt, rtt+margin)
	}

	n.Partition("a", "b")
	client.Timeout = 300 * time.Millisecond
	res, err := client.Get(srv.URL + "/cut")
	if err == nil {
		_ = res.Body.Close()
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("GET across a partition: got %v, want a client timeout", err)
	}
	n.Heal("a", "b")
	client.Timeout = 5 * time.Second
	get("/healed")
}
