package netsim_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meridian-platform/meridian/internal/netsim"
)

// margin is how much slower than the simulated latency a round trip may be on
// a loaded test machine (two cores shared by several test runs).
const margin = 1500 * time.Millisecond

func TestDelayRoundTrip(t *testing.T) {
	srv := startServer(t, true)
	for _, oneWay := range []time.Duration{0, 20 * time.Millisecond, 75 * time.Millisecond} {
		t.Run(oneWay.String(), func(t *testing.T) {
			c := netsim.Delay(dialTCP(t, srv.addr), oneWay)
			defer c.Close()
			for i := range 3 {
				got := roundTrip(t, c, fmt.Sprintf("ping %d", i))
				if got < 2*oneWay || got >= 2*oneWay+margin {
					t.Errorf("round trip %d: got %v, want in [%v, %v)", i, got, 2*oneWay, 2*oneWay+margin)
				}
			}
		})
	}
}

func TestDelayDoesNotThrottlePipelinedWrites(t *testing.T) {
	srv := startServer(t, true)
	const oneWay = 100 * time.Millisecond
	c := netsim.Delay(dialTCP(t, srv.addr), oneWay)
	defer c.Close()

	const n = 500
	var want bytes.Buffer
	start := time.Now()
	for i := range n {
		msg := fmt.Sprintf("%04d;", i)
		want.WriteString(msg)
		write(t, c, msg)
	}
	if got := time.Since(start); got >= margin {
		t.Fatalf("queueing %d writes took %v, want well under %v: Write must not wait for delivery", n, got, margin)
	}
	if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, want.Len())
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("reading echoes: %v", err)
	}
	elapsed := time.Since(start)
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("echoes out of order or corrupted:\ngot  %.80q…\nwant %.80q…", got, want.Bytes())
	}
	// 500 serialized round trips would take 100s.
	if rtt := 2 * oneWay; elapsed < rtt || elapsed >= rtt+margin {
		t.Errorf("%d pipelined echoes took %v, want about one RTT: in [%v, %v)", n, elapsed, rtt, rtt+margin)
	}
}

func TestDelayWriteBackpressure(t *testing.T) {
	srv := startServer(t, false)
	c := netsim.Delay(dialTCP(t, srv.addr), 10*time.Second)
	defer c.Close()
	peer := srv.acceptOne(t)
	defer peer.Close()

	buf := make([]byte, 256<<10)
	total := 0
	var err error
	for total < 64<<20 && err == nil {
		// A deadline per Write, so that a slow machine does not cut the
		// filling short: only a Write that waits for space times out.
		if err := c.SetWriteDeadline(time.Now().Add(margin)); err != nil {
			t.Fatal(err)
		}
		var n int
		n, err = c.Write(buf)
		total += n
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("writing without delivery: got %v after %d bytes, want a timeout once the queue is full", err, total)
	}
	if lo, hi := 4<<20, 5<<20; total < lo || total > hi {
		t.Errorf("bytes queued before Write blocked: got %d, want in [%d, %d]", total, lo, hi)
	}
}

func TestDelayCloseUnblocksPendingCalls(t *testing.T) {
	srv := startServer(t, false)
	c := netsim.Delay(dialTCP(t, srv.addr), 10*time.Second)
	peer := srv.acceptOne(t)
	defer peer.Close()

	// A write bigger than the queue blocks once the queue is full.
	big := make([]byte, 5<<20)
	readErr, writeErr := make(chan error, 1), make(chan error, 1)
	var queued atomic.Int64
	go func() {
		_, err := c.Read(make([]byte, 1))
		readErr <- err
	}()
	go func() {
		n, err := c.Write(big)
		queued.Store(int64(n))
		writeErr <- err
	}()
	eventually(t, 2*time.Second, "write queue full", func() bool {
		return netsim.QueuedWrite(c) >= 4<<20
	})

	start := time.Now()
	if err := c.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if got := time.Since(start); got >= margin {
		t.Errorf("Close took %v with 4 MiB queued, want it to return at once", got)
	}
	for name, ch := range map[string]chan error{"read": readErr, "write": writeErr} {
		select {
		case err := <-ch:
			if !errors.Is(err, net.ErrClosed) {
				t.Errorf("pending %s after Close: got %v, want net.ErrClosed", name, err)
			}
			if name == "write" && queued.Load() >= int64(len(big)) {
				t.Errorf("pending write: got %d bytes written, want it cut short by Close", queued.Load())
			}
		case <-time.After(time.Second):
			t.Errorf("pending %s still blocked 1s after Close", name)
		}
	}
	select {
	case <-netsim.Stopped(c):
	case <-time.After(3 * time.Second):
		t.Error("conn goroutines still running 3s after Close, want them gone after the 2s linger")
	}
	if _, err := c.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Errorf("write after Close: got %v, want net.ErrClosed", err)
	}
	if err := c.Close(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("second Close: got %v, want net.ErrClosed", err)
	}
}

func TestDelayCloseFlushesWrittenBytes(t *testing.T) {
	srv := startServer(t, false)
	const oneWay = 50 * time.Millisecond
	c := netsim.Delay(dialTCP(t, srv.addr), oneWay)
	peer := srv.acceptOne(t)
	defer peer.Close()

	start := time.Now()
	write(t, c, "goodbye")
	if err := c.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := peer.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(peer)
	if err != nil {
		t.Fatalf("peer reading until EOF: %v", err)
	}
	if string(got) != "goodbye" {
		t.Errorf("peer got %q, want %q then EOF", got, "goodbye")
	}
	if elapsed := time.Since(start); elapsed < oneWay {
		t.Errorf("bytes reached the peer after %v, want at least %v", elapsed, oneWay)
	}
	select {
	case <-netsim.Stopped(c):
	case <-time.After(time.Second):
		t.Error("conn goroutines still running 1s after the flush")
	}
}

func TestDelayDeliversPeerCloseAfterData(t *testing.T) {
	srv := startServer(t, false)
	const oneWay = 50 * time.Millisecond
	c := netsim.Delay(dialTCP(t, srv.addr), oneWay)
	defer c.Close()
	peer := srv.acceptOne(t)
	start := time.Now()
	write(t, peer, "last words")
	if err := peer.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("reading until EOF: %v", err)
	}
	if string(got) != "last words" {
		t.Errorf("got %q, want %q", got, "last words")
	}
	if elapsed := time.Since(start); elapsed < oneWay {
		t.Errorf("data and EOF arrived after %v, want at least %v", elapsed, oneWay)
	}
	if n, err := c.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
		t.Errorf("read after EOF: got (%d, %v), want (0, EOF)", n, err)
	}
}

func TestDelayDeadlines(t *testing.T) {
	srv := startServer(t, true)
	c := netsim.Delay(dialTCP(t, srv.addr), 100*time.Millisecond)
	defer c.Close()

	t.Run("read deadline shorter than the delay", func(t *testing.T) {
		write(t, c, "x")
		start := time.Now()
		expectTimeout(t, c, 50*time.Millisecond)
		if got := time.Since(start); got >= 50*time.Millisecond+margin {
			t.Errorf("timed out after %v, want about 50ms", got)
		}
		// The byte is not lost: it arrives once its time comes.
		expectRead(t, c, "x", 2*time.Second)
	})
	t.Run("deadline moved to the past unblocks a read", func(t *testing.T) {
		if err := c.SetReadDeadline(time.Time{}); err != nil {
			t.Fatal(err)
		}
		errc := make(chan error, 1)
		go func() {
			_, err := c.Read(make([]byte, 1))
			errc <- err
		}()
		if err := c.SetReadDeadline(time.Unix(1, 0)); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-errc:
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("got %v, want os.ErrDeadlineExceeded", err)
			}
		case <-time.After(2 * time.Second):
			t.Error("read still blocked 2s after its deadline moved to the past")
		}
	})
	t.Run("addresses are the underlying conn's", func(t *testing.T) {
		if got := c.RemoteAddr().String(); got != srv.addr {
			t.Errorf("RemoteAddr: got %s, want %s", got, srv.addr)
		}
		if got := c.LocalAddr().Network(); got != "tcp" {
			t.Errorf("LocalAddr network: got %s, want tcp", got)
		}
	})
}

// failConn is a net.Conn whose writes fail after the first failAfter bytes.
type failConn struct {
	net.Conn
	failAfter int64
	written   atomic.Int64
}

var errInjected = errors.New("injected write failure")

func (f *failConn) Write(b []byte) (int, error) {
	if f.written.Add(int64(len(b))) > f.failAfter {
		return 0, errInjected
	}
	return len(b), nil
}

func TestDelaySurfacesWriteErrors(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	c := netsim.Delay(&failConn{Conn: a, failAfter: 3}, 10*time.Millisecond)
	write(t, c, "abc")
	write(t, c, "def") // queued: the failure happens later, in the background
	var err error
	eventually(t, 2*time.Second, "write error surfaced", func() bool {
		_, err = c.Write([]byte("g"))
		return err != nil
	})
	if !errors.Is(err, errInjected) {
		t.Errorf("write after a failed delivery: got %v, want %v", err, errInjected)
	}
	if err := c.Close(); !errors.Is(err, errInjected) {
		t.Errorf("close after a failed delivery: got %v, want %v", err, errInjected)
	}
}

func TestDelayCarriesTLS(t *testing.T) {
	cert := selfSigned(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		s, err := ln.Accept()
		if err != nil {
			return
		}
		defer s.Close()
		_, _ = io.Copy(s, s)
	}()

	const oneWay = 30 * time.Millisecond
	pool := x509.NewCertPool()
	pool.AddCert(cert.Leaf)
	start := time.Now()
	c := tls.Client(netsim.Delay(dialTCP(t, ln.Addr().String()), oneWay), &tls.Config{RootCAs: pool, ServerName: "netsim.test"})
	if err := c.Handshake(); err != nil {
		t.Fatalf("TLS handshake through Delay: %v", err)
	}
	// TLS 1.3 needs one round trip before the client can send data.
	if got := time.Since(start); got < 2*oneWay {
		t.Errorf("handshake took %v, want at least one RTT (%v)", got, 2*oneWay)
	}
	if got := roundTrip(t, c, "over tls"); got < 2*oneWay {
		t.Errorf("TLS round trip took %v, want at least %v", got, 2*oneWay)
	}
	if err := c.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Error("server did not see the TLS conn close within 5s")
	}
}

func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "netsim.test"},
		DNSNames:     []string{"netsim.test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}
