package cdn

import (
	"container/list"
	"net/http"
	"slices"
	"sync"
	"time"
)

// entry is a stored response. It is immutable once stored: a revalidation
// stores a new entry that shares the body.
type entry struct {
	key     string // variant key
	primary string // primary key (host + object path)
	host    string
	objPath string

	status int
	header http.Header // without hop-by-hop fields and Age
	body   []byte

	received time.Time // clock time the response (or its revalidation) arrived
	policy
	size int64
}

// entryOverhead approximates the bookkeeping bytes of an entry beyond its
// keys, headers and body.
const entryOverhead = 256

func newEntry(key, primary, host, objPath string, status int, h http.Header, body []byte, received time.Time, p policy) *entry {
	e := &entry{key: key, primary: primary, host: host, objPath: objPath, status: status,
		header: h, body: body, received: received, policy: p}
	e.size = int64(len(body) + len(key) + len(primary) + len(objPath) + entryOverhead)
	for k, vs := range h {
		for _, v := range vs {
			e.size += int64(len(k) + len(v) + 4)
		}
	}
	return e
}

// age is the entry's current age (RFC 9111 §4.2.3). The origin's Date is
// not used: origin clocks are not trusted, only the Age it sends.
func (e *entry) age(now time.Time) time.Duration {
	return e.initialAge + max(now.Sub(e.received), 0)
}

func (e *entry) fresh(now time.Time) bool {
	return !e.noCache && e.age(now) < e.lifetime
}

// staleWhileRevalidate reports whether the entry may be served while it is
// refreshed in the background.
func (e *entry) staleWhileRevalidate(now time.Time) bool {
	return !e.noCache && !e.mustRevalidate && e.swr > 0 && e.age(now) < e.lifetime+e.swr
}

// staleIfError reports whether the entry may be served when every origin
// fails.
func (e *entry) staleIfError(now time.Time) bool {
	return !e.noCache && !e.mustRevalidate && e.sie > 0 && e.age(now) < e.lifetime+e.sie
}

// matches reports whether the entry is the variant for a request with
// header h.
func (e *entry) matches(h http.Header) bool {
	return variantKey(e.primary, e.varyNames, h) == e.key
}

// store holds entries in memory under a byte bound, evicting the least
// recently used. It also remembers, per primary key, the request headers
// the object varies on, to compute the variant key of a lookup.
type store struct {
	max     int64
	onEvict func(n int)
	onSize  func(bytes int64, objects int)

	mu      sync.Mutex
	bytes   int64
	lru     list.List // of *entry, most recent at the front
	entries map[string]*list.Element
	vary    map[string]*primaryInfo
}

type primaryInfo struct {
	varyNames []string
	variants  map[string]*list.Element // by variant key
}

func newStore(maxBytes int64, onEvict func(int), onSize func(int64, int)) *store {
	return &store{max: maxBytes, onEvict: onEvict, onSize: onSize,
		entries: map[string]*list.Element{}, vary: map[string]*primaryInfo{}}
}

// varyNames returns the headers stored variants of primary vary on.
func (s *store) varyNames(primary string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if pi := s.vary[primary]; pi != nil {
		return pi.varyNames
	}
	return nil
}

// get returns the entry for key and marks it recently used.
func (s *store) get(key string) *entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	el := s.entries[key]
	if el == nil {
		return nil
	}
	s.lru.MoveToFront(el)
	return el.Value.(*entry)
}

// put stores e, replacing an entry with the same key, and evicts least
// recently used entries until the bound holds. An entry larger than the
// whole cache is not stored. When e varies on other headers than the
// object's stored variants, those variants are dropped.
func (s *store) put(e *entry) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.report()
	if e.size > s.max {
		return false
	}
	if el := s.entries[e.key]; el != nil {
		s.remove(el)
	}
	if pi := s.vary[e.primary]; pi != nil && !slices.Equal(pi.varyNames, e.varyNames) {
		for _, el := range pi.variants {
			s.remove(el)
		}
	}
	evicted := 0
	for s.bytes+e.size > s.max {
		s.remove(s.lru.Back())
		evicted++
	}
	if evicted > 0 && s.onEvict != nil {
		s.onEvict(evicted)
	}
	el := s.lru.PushFront(e)
	s.entries[e.key] = el
	s.bytes += e.size
	pi := s.vary[e.primary]
	if pi == nil {
		pi = &primaryInfo{varyNames: e.varyNames, variants: map[string]*list.Element{}}
		s.vary[e.primary] = pi
	}
	pi.variants[e.key] = el
	return true
}

// delete removes the entry for key if it is still old (a newer one may have
// replaced it meanwhile).
func (s *store) delete(old *entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if el := s.entries[old.key]; el != nil && el.Value.(*entry) == old {
		s.remove(el)
		s.report()
	}
}

// removeMatching removes every entry for which match is true and returns
// how many it removed.
func (s *store) removeMatching(match func(*entry) bool) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, el := range s.entries {
		if match(el.Value.(*entry)) {
			s.remove(el)
			n++
		}
	}
	if n > 0 {
		s.report()
	}
	return n
}

// removePrimary removes every variant of an object and returns how many
// it removed.
func (s *store) removePrimary(primary string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	pi := s.vary[primary]
	if pi == nil {
		return 0
	}
	n := len(pi.variants)
	for _, el := range pi.variants {
		s.remove(el)
	}
	s.report()
	return n
}

func (s *store) remove(el *list.Element) {
	e := el.Value.(*entry)
	s.lru.Remove(el)
	delete(s.entries, e.key)
	s.bytes -= e.size
	if pi := s.vary[e.primary]; pi != nil {
		delete(pi.variants, e.key)
		if len(pi.variants) == 0 {
			delete(s.vary, e.primary)
		}
	}
}

func (s *store) report() {
	if s.onSize != nil {
		s.onSize(s.bytes, len(s.entries))
	}
}

// usage returns the bytes and objects stored.
func (s *store) usage() (int64, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bytes, len(s.entries)
}
