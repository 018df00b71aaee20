package dns

import (
	"bytes"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

// pathPair is two servers built alike: fast answers UDP datagrams as the
// UDP workers do (fast path first), general only through miekg/dns's
// parsing and the general path. Fed the same datagrams in the same order,
// their seeded choices and rate limits stay in step.
type pathPair struct {
	fast, general *Server
	sc            *udpScratch
}

func newPathPair(t testing.TB, seed uint64, h Health, limit bool) *pathPair {
	t.Helper()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	build := func() *Server {
		cfg := Config{Zones: testZones(), Seed: seed, Health: h, Now: func() time.Time { return now },
			Logger: slog.New(slog.DiscardHandler)}
		cfg.RateLimit = RateLimit{QPS: 1, Burst: 50, Slip: 2, Disabled: !limit}
		s, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	return &pathPair{fast: build(), general: build(), sc: newUDPScratch()}
}

// check answers m from both and fails the test when the datagrams differ.
func (p *pathPair) check(t testing.TB, m []byte, from netip.AddrPort) {
	t.Helper()
	got := p.fast.udpAnswer(p.sc, m, from)
	var want []byte
	if resp := p.general.serveUDPPacket(m, from); resp != nil {
		var err error
		if want, err = resp.Pack(); err != nil {
			t.Fatalf("packing the general path's answer: %v", err)
		}
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("query %x from %s:\ngot  %s\nwant %s (general path)", m, from, describe(got), describe(want))
	}
	if a, b := p.fast.Stats(), p.general.Stats(); a != b {
		t.Fatalf("query %x: got stats %+v, want %+v (general path)", m, a, b)
	}
}

// TestFastPathAgrees answers a matrix of queries (names, types, EDNS, ECS,
// sources, case, header bits, health) through the fast path and the
// general path: the datagrams must be the same byte for byte.
func TestFastPathAgrees(t *testing.T) {
	t.Parallel()
	names := []string{"www", "w", "shop", "fo", "geo", "geo-nodefault", "mv", "big", "alias", "away", "v6",
		"", "_http._tcp", "_tcp", "nope", "a.b.www"}
	types := []uint16{mdns.TypeA, mdns.TypeAAAA, mdns.TypeTXT, mdns.TypeMX, mdns.TypeCNAME, mdns.TypeSOA}
	ecss := []string{"", "127.0.20.0/24", "127.0.10.5/32", "127.0.30.0/20", "0.0.0.0/0", "127.0.99.0/24",
		"2001:db8::/56", "2001:db8:1::/47"}
	sources := []string{"127.0.0.1", "127.0.20.9", "127.0.30.1", "::1"}
	down := &fakeHealth{}
	down.set("eu-west", false)
	down.set("mv-3", false)
	down.set("w-b", false)
	down.set("fo-p", false)
	down.set("geo-na", false)
	seed := uint64(time.Now().UnixNano())
	t.Logf("header bits seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	for _, h := range []Health{nil, down} {
		p := newPathPair(t, 9, h, false)
		counter := newHandler(t, 9, h) // answers on the fast path where it can, to count
		fastAnswers := 0
		for _, name := range names {
			for _, qt := range types {
				for i, ecs := range append(ecss, "noedns", "edns512", "edns4096") {
					qname := strings.TrimPrefix(name+".meridian.test", ".")
					if i%2 == 1 {
						qname = strings.ToUpper(qname[:1]) + qname[1:]
					}
					var m *mdns.Msg
					switch ecs {
					case "noedns":
						m = newQuery(qname, qt, "")
					case "edns512", "edns4096":
						m = newQuery(qname, qt, "")
						m.SetEdns0(map[string]uint16{"edns512": 512, "edns4096": 4096}[ecs], rng.IntN(2) == 0)
					default:
						m = newQuery(qname, qt, ecs)
					}
					m.RecursionDesired = rng.IntN(2) == 0
					m.CheckingDisabled = rng.IntN(2) == 0
					m.AuthenticatedData = rng.IntN(2) == 0
					m.Zero = rng.IntN(4) == 0
					b, err := m.Pack()
					if err != nil {
						t.Fatal(err)
					}
					for _, src := range sources {
						from := netip.AddrPortFrom(netip.MustParseAddr(src), 5353)
						if q, ok := parseFast(b, nil); ok {
							if _, ok := counter.answerFast(&q, from.Addr().AsSlice(), nil); ok {
								fastAnswers++
							}
						}
						p.check(t, b, from)
					}
				}
			}
		}
		if fastAnswers == 0 {
			t.Error("the fast path answered nothing: the test compares the general path with itself")
		}
		t.Logf("health %v: %d of the queries answerable on the fast path", h, fastAnswers)
	}
}

// TestFastPathRateLimited: queries over the limit are dropped or slipped
// as on the general path, whichever path would answer them.
func TestFastPathRateLimited(t *testing.T) {
	t.Parallel()
	p := newPathPair(t, 1, nil, true)
	from := netip.MustParseAddrPort("127.0.30.66:5353")
	for i := range 120 {
		m := newQuery([]string{"www.meridian.test", "alias.meridian.test"}[i%2], mdns.TypeA, "")
		m.Id = uint16(i)
		b, _ := m.Pack()
		p.check(t, b, from)
	}
	if st := p.fast.Stats(); st.RateSlipped == 0 || st.RateDropped == 0 {
		t.Errorf("got stats %+v, want queries slipped and dropped", st)
	}
}

// FuzzFastPath feeds arbitrary datagrams to the fast path and to the
// general path, with rate limiting on: the answers must be the same bytes.
func FuzzFastPath(f *testing.F) {
	for _, q := range []struct {
		name  string
		qtype uint16
		ecs   string
	}{
		{"www.meridian.test", mdns.TypeA, ""},
		{"WWW.meridian.test", mdns.TypeTXT, "127.0.20.0/24"},
		{"shop.meridian.test", mdns.TypeA, "127.0.30.0/20"},
		{"geo.meridian.test", mdns.TypeA, "2001:db8::/56"},
		{"geo-nodefault.meridian.test", mdns.TypeA, "127.0.20.0/24"},
		{"mv.meridian.test", mdns.TypeA, ""},
		{"w.meridian.test", mdns.TypeA, "0.0.0.0/0"},
		{"v6.meridian.test", mdns.TypeAAAA, ""},
		{"big.meridian.test", mdns.TypeTXT, ""},
		{"alias.meridian.test", mdns.TypeA, ""},
	} {
		b, err := newQuery(q.name, q.qtype, q.ecs).Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, byte(20))
	}
	p := newPathPair(f, 1, nil, true)
	f.Fuzz(func(t *testing.T, b []byte, from byte) {
		p.check(t, b, netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, from, 1}), 5353))
	})
}
