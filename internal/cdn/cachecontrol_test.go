package cdn

import (
	"net/http"
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

func TestResponsePolicy(t *testing.T) {
	t.Parallel()
	d := &Distribution{}
	now := epoch
	date := now.Format(http.TimeFormat)
	in := func(d time.Duration) string { return now.Add(d).Format(http.TimeFormat) }
	tests := []struct {
		name         string
		status       int
		h            http.Header
		auth         bool
		wantStore    bool
		wantLifetime time.Duration
	}{
		{name: "max-age", status: 200, h: http.Header{"Cache-Control": {"max-age=60"}}, wantStore: true, wantLifetime: time.Minute},
		{name: "expires", status: 200, h: http.Header{"Expires": {in(time.Hour)}, "Date": {date}}, wantStore: true, wantLifetime: time.Hour},
		// Expires and Date from a skewed origin clock: only their difference counts.
		{name: "expires skewed", status: 200, h: http.Header{"Expires": {in(-time.Hour + time.Minute)}, "Date": {in(-time.Hour)}}, wantStore: true, wantLifetime: time.Minute},
		// Without Date, the arrival time stands in.
		{name: "expires without date", status: 200, h: http.Header{"Expires": {in(2 * time.Minute)}}, wantStore: true, wantLifetime: 2 * time.Minute},
		{name: "expires invalid", status: 200, h: http.Header{"Expires": {"0"}, "Date": {date}}, wantStore: true, wantLifetime: 0},
		{name: "default TTL", status: 200, h: http.Header{}, wantStore: true, wantLifetime: DefaultTTL},
		{name: "error TTL", status: 404, h: http.Header{}, wantStore: true, wantLifetime: DefaultErrorTTL},
		{name: "302 without freshness", status: 302, h: http.Header{}},
		{name: "302 with freshness", status: 302, h: http.Header{"Cache-Control": {"max-age=5"}}, wantStore: true, wantLifetime: 5 * time.Second},
		{name: "206", status: 206, h: http.Header{"Cache-Control": {"max-age=5"}}},
		{name: "503", status: 503, h: http.Header{"Cache-Control": {"max-age=5"}}},
		{name: "no-store", status: 200, h: http.Header{"Cache-Control": {"no-store, max-age=5"}}},
		{name: "private", status: 200, h: http.Header{"Cache-Control": {"private"}}},
		{name: "vary star", status: 200, h: http.Header{"Vary": {"Accept, *"}}},
		{name: "set-cookie", status: 200, h: http.Header{"Set-Cookie": {"a=b"}}},
		{name: "authorization", status: 200, h: http.Header{"Cache-Control": {"max-age=5"}}, auth: true},
		{name: "authorization public", status: 200, h: http.Header{"Cache-Control": {"public, max-age=5"}}, auth: true, wantStore: true, wantLifetime: 5 * time.Second},
		{name: "authorization must-revalidate", status: 200, h: http.Header{"Cache-Control": {"must-revalidate, max-age=5"}}, auth: true, wantStore: true, wantLifetime: 5 * time.Second},
		{name: "above max TTL", status: 200, h: http.Header{"Cache-Control": {"max-age=99999999999"}}, wantStore: true, wantLifetime: DefaultMaxTTL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := http.Header{}
			if tt.auth {
				req.Set("Authorization", "Bearer x")
			}
			p := responsePolicy(d, req, tt.status, tt.h, now)
			if p.store != tt.wantStore || (p.store && p.lifetime != tt.wantLifetime) {
				t.Errorf("got store %v lifetime %v (%s), want %v %v", p.store, p.lifetime, p.why, tt.wantStore, tt.wantLifetime)
			}
		})
	}
}
