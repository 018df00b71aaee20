package dns

import (
	"fmt"
	"net/netip"
	"sync"
	"testing"

	mdns "github.com/miekg/dns"
)

// TestConcurrentAnswers answers from many goroutines (general and fast
// path) while health verdicts flip and the zones are swapped; run with
// -race. Every answer must come
// from the zones in force and never be empty for a name that exists.
func TestConcurrentAnswers(t *testing.T) {
	t.Parallel()
	h := &fakeHealth{}
	s := newHandler(t, 3, h)
	s.limit = nil // one source address
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() { // flips verdicts and swaps zones until stopped
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			h.set("eu-west", i%2 == 0)
			h.set(fmt.Sprintf("mv-%d", i%12+1), i%3 == 0)
			if err := s.SetZones(testZones()); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	names := []string{"shop.meridian.test", "w.meridian.test", "mv.meridian.test", "geo.meridian.test", "fo.meridian.test", "alias.meridian.test"}
	var workers sync.WaitGroup
	for g := range 8 {
		workers.Add(1)
		go func() {
			defer workers.Done()
			sc := newUDPScratch()
			from := netip.MustParseAddrPort("127.0.10.1:5353")
			for i := range 300 {
				name := names[(g+i)%len(names)]
				q := newQuery(name, mdns.TypeA, "127.0.20.0/24")
				var r *mdns.Msg
				if i%2 == 0 {
					r = respond(s, q, "127.0.10.1")
				} else { // as the UDP workers answer, fast path first
					wire, err := q.Pack()
					if err != nil {
						t.Error(err)
						return
					}
					r = new(mdns.Msg)
					if err := r.Unpack(s.udpAnswer(sc, wire, from)); err != nil {
						t.Errorf("%s: unpacking the answer: %v", name, err)
						return
					}
				}
				if r.Rcode != mdns.RcodeSuccess || len(r.Answer) == 0 {
					t.Errorf("%s: got rcode %s with %d answers, want an answer", name, mdns.RcodeToString[r.Rcode], len(r.Answer))
					return
				}
			}
		}()
	}
	workers.Wait()
	close(stop)
	wg.Wait()
}
