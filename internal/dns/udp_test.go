package dns

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

// TestUDPPathsAgree sends the same datagrams to servers bound to one
// address (served by the server's own UDP workers, batched on a
// *net.UDPConn, one by one on another PacketConn) and to one bound to the
// wildcard address (served by miekg/dns, with control messages): every
// reply, or the lack of one, must be the same byte for byte.
func TestUDPPathsAgree(t *testing.T) {
	t.Parallel()
	one := startServer(t, nil)
	if !boundToOneAddress(mustListenPacket(t, "127.0.0.1:0")) {
		t.Fatal("127.0.0.1 is not taken as one address")
	}
	// A PacketConn that is not a *net.UDPConn: workers reading one datagram
	// per system call.
	plain := startServer(t, func(c *Config) { c.PacketConn = plainConn{mustListenPacket(t, "127.0.0.1:0")} })
	plainAddr := plain.s.udpAddr.String() // startServer's udp is the socket it made
	wild := startServer(t, func(c *Config) { c.PacketConn = mustListenPacket(t, "0.0.0.0:0") })
	_, port, _ := net.SplitHostPort(wild.s.udpAddr.String())
	wildAddr := net.JoinHostPort("127.0.0.1", port)
	if boundToOneAddress(wild.s.cfg.PacketConn) {
		t.Fatal("0.0.0.0 is taken as one address")
	}

	var packets [][]byte
	add := func(m *mdns.Msg) {
		b, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		packets = append(packets, b)
	}
	for _, q := range []struct {
		name  string
		qtype uint16
		ecs   string
	}{
		{"www.meridian.test", mdns.TypeA, ""},
		{"WWW.Meridian.test", mdns.TypeA, "127.0.20.0/24"},
		{"shop.meridian.test", mdns.TypeA, "127.0.30.0/24"},
		{"w.meridian.test", mdns.TypeA, ""},
		{"mv.meridian.test", mdns.TypeA, ""},
		{"alias.meridian.test", mdns.TypeA, ""},
		{"big.meridian.test", mdns.TypeTXT, ""},
		{"meridian.test", mdns.TypeMX, "::1/128"},
		{"nope.meridian.test", mdns.TypeA, ""},
		{"example.com", mdns.TypeA, ""},
	} {
		add(newQuery(q.name, q.qtype, q.ecs))
	}
	status := newQuery("www.meridian.test", mdns.TypeA, "")
	status.Opcode = mdns.OpcodeStatus
	notify := newQuery("www.meridian.test", mdns.TypeSOA, "")
	notify.Opcode = mdns.OpcodeNotify
	update := newQuery("meridian.test", mdns.TypeSOA, "")
	update.Opcode = mdns.OpcodeUpdate
	add(status)
	add(notify)
	add(update)
	good := packets[0]
	twoQuestions := append([]byte(nil), good...)
	twoQuestions[5] = 2
	manyExtra := append([]byte(nil), good...)
	manyExtra[11] = 3
	packets = append(packets, good[:5], good[:12], good[:len(good)-3], twoQuestions, manyExtra,
		append(append([]byte(nil), good[:12]...), 0xc0, 12, 0, 1, 0, 1),
		append([]byte{good[0], good[1], 0x80}, good[3:]...),
		append(append([]byte(nil), good...), make([]byte, 9000)...))

	seed := uint64(time.Now().UnixNano())
	t.Logf("corruption seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	for range 100 {
		b := append([]byte(nil), packets[rng.IntN(10)]...)
		for range 1 + rng.IntN(3) {
			b[rng.IntN(len(b))] = byte(rng.UintN(256))
		}
		packets = append(packets, b)
	}

	for i, b := range packets {
		got := rawExchange(t, one.udp, b, 100*time.Millisecond)
		gotPlain := rawExchange(t, plainAddr, b, 100*time.Millisecond)
		want := rawExchange(t, wildAddr, b, 100*time.Millisecond)
		// On a loaded machine a reply can take longer than the wait: ask
		// all again, more patiently. (Replies are deterministic; all
		// servers see every packet the same number of times.)
		for try := 0; ((got == nil) != (want == nil) || (gotPlain == nil) != (want == nil)) && try < 3; try++ {
			got = rawExchange(t, one.udp, b, time.Second)
			gotPlain = rawExchange(t, plainAddr, b, time.Second)
			want = rawExchange(t, wildAddr, b, time.Second)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("packet %d %x:\ngot  %s\nwant %s (miekg/dns)", i, b, describe(got), describe(want))
		}
		if !bytes.Equal(gotPlain, want) {
			t.Errorf("packet %d %x on a plain PacketConn:\ngot  %s\nwant %s (miekg/dns)", i, b, describe(gotPlain), describe(want))
		}
	}
	for _, ts := range []*testServer{one, plain} {
		if a, b := ts.s.Stats(), wild.s.Stats(); a != b {
			t.Errorf("got stats %+v, want miekg/dns's %+v", a, b)
		}
	}
}

// plainConn hides a *net.UDPConn behind the net.PacketConn interface.
type plainConn struct{ net.PacketConn }

func describe(b []byte) string {
	if b == nil {
		return "no reply"
	}
	var m mdns.Msg
	if err := m.Unpack(b); err != nil {
		return fmt.Sprintf("%x (%v)", b, err)
	}
	return fmt.Sprintf("%d bytes:\n%s", len(b), &m)
}

func mustListenPacket(t *testing.T, addr string) net.PacketConn {
	t.Helper()
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	return pc
}
