package cdn

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// FuzzCacheControl checks that any Cache-Control header parses without
// panicking, that durations are absent (-1) or within [0, 2^31 s], that
// directive names are case-insensitive, and that the parsed directives
// survive being written out and parsed again.
func FuzzCacheControl(f *testing.F) {
	for _, s := range []string{
		"max-age=60", "s-maxage=100, max-age=10", "no-store", "no-cache, must-revalidate",
		`private="Set-Cookie", max-age="30"`, "max-age=99999999999999999999", "max-age=abc",
		"stale-while-revalidate=30, stale-if-error=60\npublic", `foo="a,b\"c", max-age=5`,
		"max-age=1, max-age=2", ",,, ,max-age = 3 ,", "immutable, proxy-revalidate, no-transform",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cc := parseCacheControl(strings.Split(s, "\n"))
		for name, d := range map[string]time.Duration{"max-age": cc.maxAge, "s-maxage": cc.sMaxAge,
			"stale-while-revalidate": cc.staleWhileRevalidate, "stale-if-error": cc.staleIfError} {
			if d != -1 && (d < 0 || d > maxDelta) {
				t.Fatalf("%q: %s = %v, want -1 or within [0, %v]", s, name, d, maxDelta)
			}
		}
		if up := parseCacheControl(strings.Split(asciiUpper(s), "\n")); !sameDirectives(up, cc) {
			t.Fatalf("%q: upper-cased parses differently:\n%+v\n%+v", s, up, cc)
		}
		again := parseCacheControl([]string{renderCacheControl(cc)})
		if !sameDirectives(again, cc) {
			t.Fatalf("%q: rendered as %q parses differently:\n%+v\n%+v", s, renderCacheControl(cc), again, cc)
		}
	})
}

func asciiUpper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

func sameDirectives(a, b cacheControl) bool {
	return a.maxAge == b.maxAge && a.sMaxAge == b.sMaxAge && a.staleWhileRevalidate == b.staleWhileRevalidate &&
		a.staleIfError == b.staleIfError && a.noStore == b.noStore && a.noCache == b.noCache &&
		a.private == b.private && a.public == b.public && a.mustRevalidate == b.mustRevalidate &&
		a.proxyRevalidate == b.proxyRevalidate && a.immutable == b.immutable && a.noTransform == b.noTransform
}

func renderCacheControl(cc cacheControl) string {
	var parts []string
	for name, d := range map[string]time.Duration{"max-age": cc.maxAge, "s-maxage": cc.sMaxAge,
		"stale-while-revalidate": cc.staleWhileRevalidate, "stale-if-error": cc.staleIfError} {
		if d >= 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", name, d/time.Second))
		}
	}
	for name, on := range map[string]bool{"no-store": cc.noStore, "no-cache": cc.noCache, "private": cc.private,
		"public": cc.public, "must-revalidate": cc.mustRevalidate, "proxy-revalidate": cc.proxyRevalidate,
		"immutable": cc.immutable, "no-transform": cc.noTransform} {
		if on {
			parts = append(parts, name)
		}
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}

// FuzzResponsePolicy feeds arbitrary origin response headers to the storage
// decision: it must not panic, must refuse what RFC 9111 forbids storing,
// and must keep freshness within the distribution's bounds.
func FuzzResponsePolicy(f *testing.F) {
	f.Add(200, "max-age=60", "", "", "", "", false)
	f.Add(404, "", "", "", "Accept-Encoding", "10", false)
	f.Add(302, "s-maxage=5", "", "", "*", "", true)
	f.Add(200, "", "Thu, 01 Jan 2026 00:02:00 GMT", "Thu, 01 Jan 2026 00:00:00 GMT", "", "x", false)
	f.Add(200, "no-cache, public", "0", "", "accept, , Accept", "99999999999999999999", true)
	f.Add(503, "max-age=600", "", "", "", "", false)
	f.Fuzz(func(t *testing.T, status int, cc, expires, date, vary, age string, auth bool) {
		d := &Distribution{MinTTL: time.Second, MaxTTL: time.Hour, DefaultTTL: time.Minute}
		h := http.Header{}
		for k, v := range map[string]string{"Cache-Control": cc, "Expires": expires, "Date": date, "Vary": vary, "Age": age} {
			if v != "" {
				h.Set(k, v)
			}
		}
		req := http.Header{}
		if auth {
			req.Set("Authorization", "Bearer x")
		}
		p := responsePolicy(d, req, status, h, epoch)
		parsed := parseCacheControl(h.Values("Cache-Control"))
		_, star := parseVary(h.Values("Vary"))
		if p.store {
			switch {
			case parsed.noStore || parsed.private || star:
				t.Fatalf("stored despite no-store, private or Vary: * (%q, Vary %q)", cc, vary)
			case status >= 500 && status != 501, status < 200, status == 206, status == 304:
				t.Fatalf("stored status %d", status)
			case p.lifetime < 0 || p.lifetime > time.Hour:
				t.Fatalf("lifetime %v outside [0, MaxTTL 1h]", p.lifetime)
			case p.lifetime < d.MinTTL:
				t.Fatalf("lifetime %v under MinTTL", p.lifetime)
			}
		} else if p.why == "" {
			t.Fatal("not stored, without a reason")
		}
		if p.initialAge < 0 || p.initialAge > maxDelta {
			t.Fatalf("Age %q parsed as %v", age, p.initialAge)
		}
		if !slices.IsSorted(p.varyNames) || len(slices.Compact(slices.Clone(p.varyNames))) != len(p.varyNames) {
			t.Fatalf("Vary %q names %q not sorted and unique", vary, p.varyNames)
		}
	})
}

// FuzzCacheKey checks the request-target half of the cache key: any target
// a client can send gives an object path that starts with "/", and query
// normalization is idempotent and keeps every non-empty parameter.
func FuzzCacheKey(f *testing.F) {
	for _, s := range []string{"/a", "/a?b=2&a=1", "/a?&&x", "/%41/b?c=%20&c=1", "/?a=1&a=0", "*", "/a?b=1;c=2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, target string) {
		u, err := url.ParseRequestURI(target)
		if err != nil {
			return
		}
		p := objectPath(u)
		if !strings.HasPrefix(p, "/") && p != "*" {
			t.Fatalf("%q: object path %q does not start with /", target, p)
		}
		q := normalizeQuery(u.RawQuery)
		if again := normalizeQuery(q); again != q {
			t.Fatalf("%q: normalizing twice: %q then %q", u.RawQuery, q, again)
		}
		want := slices.DeleteFunc(strings.Split(u.RawQuery, "&"), func(s string) bool { return s == "" })
		got := slices.DeleteFunc(strings.Split(q, "&"), func(s string) bool { return s == "" })
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(want, got) {
			t.Fatalf("%q: normalized to %q, parameters changed", u.RawQuery, q)
		}
		// A pattern naming the object exactly matches it.
		if strings.HasPrefix(p, "/") && !strings.Contains(p, "*") && len(p) <= MaxPatternLength {
			pat, err := parsePattern(p)
			if err != nil {
				t.Fatalf("object path %q is not a valid exact pattern: %v", p, err)
			}
			if !pat.match(p) {
				t.Fatalf("exact pattern %q does not match its own object path", p)
			}
		}
	})
}

// FuzzInvalidationPattern checks CloudFront's pattern rules on arbitrary
// input: valid patterns start with "/", carry "*" only at the end, and a
// wildcard pattern matches everything under its prefix.
func FuzzInvalidationPattern(f *testing.F) {
	for _, s := range []string{"/images/*", "/a.jpg", "/*", "*", "/a*b", "images/x", "/a?b=2&a=1", "/**", ""} {
		f.Add(s, "/images/x.jpg")
	}
	f.Fuzz(func(t *testing.T, pat, obj string) {
		p, err := parsePattern(pat)
		if err != nil {
			return
		}
		if !strings.HasPrefix(pat, "/") || strings.Contains(strings.TrimSuffix(pat, "*"), "*") || len(pat) > MaxPatternLength {
			t.Fatalf("%q accepted", pat)
		}
		if p.wildcard {
			if !p.match(p.prefix + obj) {
				t.Fatalf("%q does not match %q", pat, p.prefix+obj)
			}
			if p.match(obj) != strings.HasPrefix(obj, p.prefix) {
				t.Fatalf("%q on %q: wildcard match is not a prefix match", pat, obj)
			}
		} else if p.match(obj) != (obj == p.prefix) {
			t.Fatalf("%q on %q: exact match is not equality", pat, obj)
		}
	})
}

// FuzzHandler drives the whole handler with arbitrary origin response
// headers and client request headers: two requests for one object, the
// second after a clock step. It must not panic, must answer with one of
// the four X-Cache values, must serve the origin's bytes (or a range of
// them) and must keep the cache's byte bound.
func FuzzHandler(f *testing.F) {
	f.Add(200, "max-age=60", "", `"v1"`, "", "", "/a", "", "", "", int64(30))
	f.Add(200, "no-cache", "Accept-Language", "", "Wed, 31 Dec 2025 00:00:00 GMT", "", "/a?b=1&a=2", "bytes=0-3", "", "en", int64(0))
	f.Add(404, "", "", "", "", "Thu, 01 Jan 2026 00:01:00 GMT", "/x/y", "", `"v1"`, "", int64(5))
	f.Add(301, "s-maxage=5, stale-while-revalidate=10", "*", `W/"w"`, "", "", "/", "bytes=-1", "*", "fr", int64(12))
	f.Add(200, "max-age=1, stale-if-error=100", "Accept", `"e"`, "garbage", "0", "/%41", "bytes=5-1", "", "", int64(50))

	clk := newClock()
	origin := newTestOrigin(f, "127.0.0.2", clk)
	const body = "0123456789abcdef"
	c, err := New(Config{Distributions: []Distribution{testDist(origin)}, Now: clk.Now, MaxBytes: 64 << 10})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = c.Close() })

	f.Fuzz(func(t *testing.T, status int, cc, vary, etag, lastMod, expires, path, rng, inm, lang string, step int64) {
		if status < 200 || status > 599 || !strings.HasPrefix(path, "/") || strings.ContainsAny(path, " #") {
			return
		}
		h := http.Header{}
		for k, v := range map[string]string{"Cache-Control": cc, "Vary": vary, "Etag": etag, "Last-Modified": lastMod, "Expires": expires} {
			if v != "" && !strings.ContainsAny(v, "\r\n\x00") {
				h.Set(k, v)
			}
		}
		u, err := url.ParseRequestURI(path)
		if err != nil {
			return
		}
		origin.set(u.Path, &object{status: status, header: h, body: body})
		clk.Set(epoch)
		for i := range 2 {
			if i == 1 {
				clk.Advance(time.Duration(step%1000) * time.Second)
			}
			req, err := http.NewRequest(http.MethodGet, "http://"+testHost+path, nil)
			if err != nil {
				return
			}
			req.Host = testHost
			for k, v := range map[string]string{"Range": rng, "If-None-Match": inm, "Accept-Language": lang} {
				if v != "" && !strings.ContainsAny(v, "\r\n\x00") {
					req.Header.Set(k, v)
				}
			}
			w := httptest.NewRecorder()
			c.ServeHTTP(w, req)
			c.waitIdle(t)
			x := w.Header().Get("X-Cache")
			if x != Hit && x != Miss && x != Stale && x != RefreshHit {
				t.Fatalf("request %d: X-Cache %q", i, x)
			}
			got := w.Body.String()
			switch w.Code {
			case http.StatusOK:
				if status == http.StatusOK && got != body {
					t.Fatalf("request %d: 200 with %q, want %q", i, got, body)
				}
			case http.StatusPartialContent:
				if !strings.Contains(body, got) && !strings.HasPrefix(w.Header().Get("Content-Type"), "multipart/") {
					t.Fatalf("request %d: 206 with %q, not a range of %q", i, got, body)
				}
			}
			if b, _ := c.Usage(); b > 64<<10 {
				t.Fatalf("cache holds %d bytes, over its bound", b)
			}
		}
		if _, err := c.Invalidate(testHost, "/*"); err != nil {
			t.Fatal(err)
		}
	})
}
