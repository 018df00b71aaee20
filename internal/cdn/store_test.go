package cdn

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"testing"
	"time"
)

// check verifies the store's bookkeeping: bytes are the sum of the entries'
// sizes and within the bound, and the Vary index lists exactly the stored
// variants of each object.
func (s *store) check(t *testing.T) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var sum int64
	n := 0
	for el := s.lru.Front(); el != nil; el = el.Next() {
		e := el.Value.(*entry)
		sum += e.size
		n++
		if s.entries[e.key] != el {
			t.Fatalf("entry %q in the LRU list but not in the map", e.key)
		}
		if pi := s.vary[e.primary]; pi == nil || pi.variants[e.key] != el {
			t.Fatalf("entry %q missing from the Vary index of %q", e.key, e.primary)
		}
	}
	if n != len(s.entries) {
		t.Fatalf("%d entries in the list, %d in the map", n, len(s.entries))
	}
	if sum != s.bytes || s.bytes > s.max {
		t.Fatalf("bytes: counted %d, sum %d, bound %d", s.bytes, sum, s.max)
	}
	variants := 0
	for _, pi := range s.vary {
		variants += len(pi.variants)
	}
	if variants != n {
		t.Fatalf("Vary index holds %d variants, store %d entries", variants, n)
	}
}

// TestStoreRandomOps runs seeded random puts, gets, Vary changes and
// removals and checks the bookkeeping after each.
func TestStoreRandomOps(t *testing.T) {
	t.Parallel()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	evicted := 0
	s := newStore(20<<10, func(n int) { evicted += n }, nil)
	varyChoices := [][]string{nil, {"Accept-Encoding"}, {"Accept-Encoding", "Accept-Language"}}
	for i := range 5000 {
		primary := fmt.Sprintf("h/o%d", rng.IntN(40))
		switch op := rng.IntN(10); {
		case op < 6:
			vary := varyChoices[rng.IntN(len(varyChoices))]
			h := http.Header{"Accept-Encoding": {[]string{"gzip", "br"}[rng.IntN(2)]}, "Accept-Language": {"en"}}
			key := variantKey(primary, vary, h)
			s.put(newEntry(key, primary, "h", primary[1:], 200, http.Header{}, make([]byte, rng.IntN(3000)), time.Time{}, policy{varyNames: vary}))
		case op < 8:
			s.get(variantKey(primary, s.varyNames(primary), http.Header{}))
		case op < 9:
			s.removePrimary(primary)
		default:
			s.removeMatching(func(e *entry) bool { return e.primary == primary })
		}
		s.check(t)
		if t.Failed() {
			t.Fatalf("after op %d", i)
		}
	}
	if evicted == 0 {
		t.Error("no evictions in 5000 operations on a 20 KiB store")
	}
}
