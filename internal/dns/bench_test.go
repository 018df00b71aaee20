package dns

import (
	"net"
	"testing"

	mdns "github.com/miekg/dns"
)

// BenchmarkAnswer measures the handler path without the network: unpack,
// answer, pack.
func BenchmarkAnswer(b *testing.B) {
	s := newHandler(b, 1, nil)
	for _, q := range []struct{ name, ecs string }{
		{"www.meridian.test", ""},
		{"shop.meridian.test", "127.0.20.0/24"},
		{"mv.meridian.test", ""},
	} {
		wire, err := newQuery(q.name, mdns.TypeA, q.ecs).Pack()
		if err != nil {
			b.Fatal(err)
		}
		src := net.ParseIP("127.0.10.1")
		b.Run(q.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var m mdns.Msg
				if err := m.Unpack(wire); err != nil {
					b.Fatal(err)
				}
				resp := s.answer(&m, src)
				fit(resp, udpSize(&m, s.cfg.MaxUDPSize))
				if _, err := resp.Pack(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
