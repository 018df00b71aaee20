package dns

import (
	"net"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

// FuzzHandle feeds arbitrary bytes through the path a UDP query takes:
// unpack, answer, truncate, pack. Nothing may panic and every response the
// server builds must pack.
func FuzzHandle(f *testing.F) {
	add := func(m *mdns.Msg) {
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, byte(20))
	}
	for _, q := range []struct {
		name  string
		qtype uint16
		ecs   string
	}{
		{"www.meridian.test", mdns.TypeA, ""},
		{"shop.meridian.test", mdns.TypeA, "127.0.20.0/24"},
		{"geo.meridian.test", mdns.TypeA, "::1/128"},
		{"mv.meridian.test", mdns.TypeA, ""},
		{"alias.meridian.test", mdns.TypeA, ""},
		{"big.meridian.test", mdns.TypeTXT, ""},
		{"nope.meridian.test", mdns.TypeMX, ""},
		{"example.com", mdns.TypeA, ""},
		{"meridian.test", mdns.TypeANY, ""},
	} {
		add(newQuery(q.name, q.qtype, q.ecs))
	}
	f.Add([]byte{0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0}, byte(10))
	s := newHandler(f, 1, nil)
	s.limit = newLimiter(RateLimit{QPS: 1, Burst: 1, Slip: 2})
	f.Fuzz(func(t *testing.T, b []byte, from byte) {
		var req mdns.Msg
		if err := req.Unpack(b); err != nil {
			return
		}
		src := net.IPv4(127, 0, from, 1)
		resp := respond(s, &req, src.String())
		if _, err := resp.Pack(); err != nil {
			t.Fatalf("packing the response to %s: %v\nresponse:\n%s", req.String(), err, resp)
		}
		s.limit.allow(time.Unix(int64(from), 0), src)
	})
}
