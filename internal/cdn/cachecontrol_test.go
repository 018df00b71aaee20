package cdn

import (
	"testing"
	"time"
)

func TestParseCacheControl(t *testing.T) {
	t.Parallel()
	absent := time.Duration(-1)
	tests := []struct {
		in                     string
		maxAge, sMaxAge        time.Duration
		swr, sie               time.Duration
		noStore, noCache, priv bool
		public, mustRevalidate bool
		invalid                bool
	}{
		{in: "", maxAge: absent, sMaxAge: absent, swr: absent, sie: absent},
		{in: "max-age=60", maxAge: 60 * time.Second, sMaxAge: absent, swr: absent, sie: absent},
		{in: "Max-Age=60, S-MAXAGE=5", maxAge: 60 * time.Second, sMaxAge: 5 * time.Second, swr: absent, sie: absent},
		{in: `max-age="30"`, maxAge: 30 * time.Second, sMaxAge: absent, swr: absent, sie: absent},
		// The first of duplicated directives wins.
		{in: "max-age=1, max-age=2", maxAge: time.Second, sMaxAge: absent, swr: absent, sie: absent},
		// Invalid values count as 0: stale at once.
		{in: "max-age=abc", maxAge: 0, sMaxAge: absent, swr: absent, sie: absent, invalid: true},
		{in: "max-age=-1", maxAge: 0, sMaxAge: absent, swr: absent, sie: absent, invalid: true},
		{in: "max-age", maxAge: 0, sMaxAge: absent, swr: absent, sie: absent, invalid: true},
		// Overflow is capped at 2^31 seconds.
		{in: "max-age=99999999999999999999999", maxAge: maxDelta, sMaxAge: absent, swr: absent, sie: absent},
		{in: "no-store, no-cache, private, public, must-revalidate", maxAge: absent, sMaxAge: absent, swr: absent, sie: absent,
			noStore: true, noCache: true, priv: true, public: true, mustRevalidate: true},
		// A qualified no-cache or private is treated as unqualified.
		{in: `no-cache="Set-Cookie, X-A", private="X-B"`, maxAge: absent, sMaxAge: absent, swr: absent, sie: absent, noCache: true, priv: true},
		// A comma inside a quoted value does not end the directive.
		{in: `ext="a, max-age=9", max-age=3`, maxAge: 3 * time.Second, sMaxAge: absent, swr: absent, sie: absent},
		{in: "stale-while-revalidate=30,stale-if-error=60", maxAge: absent, sMaxAge: absent, swr: 30 * time.Second, sie: 60 * time.Second},
		{in: " , ,max-age = 7 ,", maxAge: 7 * time.Second, sMaxAge: absent, swr: absent, sie: absent},
	}
	for _, tt := range tests {
		cc := parseCacheControl([]string{tt.in})
		if cc.maxAge != tt.maxAge || cc.sMaxAge != tt.sMaxAge || cc.staleWhileRevalidate != tt.swr || cc.staleIfError != tt.sie {
			t.Errorf("%q: got max-age %v s-maxage %v swr %v sie %v, want %v %v %v %v", tt.in,
				cc.maxAge, cc.sMaxAge, cc.staleWhileRevalidate, cc.staleIfError, tt.maxAge, tt.sMaxAge, tt.swr, tt.sie)
		}
		if cc.noStore != tt.noStore || cc.noCache != tt.noCache || cc.private != tt.priv || cc.public != tt.public ||
			cc.mustRevalidate != tt.mustRevalidate || cc.invalid != tt.invalid {
			t.Errorf("%q: got %+v", tt.in, cc)
		}
	}
	// Several field lines are one list.
	if cc := parseCacheControl([]string{"public", "max-age=5"}); !cc.public || cc.maxAge != 5*time.Second {
		t.Errorf("two lines: got %+v, want public and max-age=5", cc)
	}
}
