package cdn

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// maxDelta is the largest delta-seconds value RFC 9111 §1.2.2 asks caches
// to represent; larger values are capped to it.
const maxDelta = 2147483648 * time.Second

// cacheControl is a parsed Cache-Control header (RFC 9111 §5.2). Durations
// are -1 when the directive is absent.
type cacheControl struct {
	maxAge, sMaxAge              time.Duration
	staleWhileRevalidate         time.Duration
	staleIfError                 time.Duration
	noStore, noCache, private    bool
	public, mustRevalidate       bool
	proxyRevalidate, noTransform bool
	immutable, invalid           bool
}

// parseCacheControl parses every Cache-Control field line. Directive names
// are case-insensitive; values may be tokens or quoted strings. The first
// occurrence of a duplicated directive wins. A delta-seconds directive with
// a value that is not a non-negative integer counts as 0 (RFC 9111 §4.2.1
// encourages treating invalid freshness as stale) and sets invalid.
// Qualified no-cache and private ("no-cache=Set-Cookie") are treated as
// unqualified, which is stricter than required.
func parseCacheControl(lines []string) cacheControl {
	cc := cacheControl{maxAge: -1, sMaxAge: -1, staleWhileRevalidate: -1, staleIfError: -1}
	seen := map[string]bool{}
	for _, line := range lines {
		for s := line; s != ""; {
			var name, value string
			var hasValue bool
			name, value, hasValue, s = nextDirective(s)
			if name == "" {
				continue
			}
			if seen[name] {
				continue
			}
			seen[name] = true
			switch name {
			case "max-age":
				cc.maxAge = cc.delta(value, hasValue)
			case "s-maxage":
				cc.sMaxAge = cc.delta(value, hasValue)
			case "stale-while-revalidate":
				cc.staleWhileRevalidate = cc.delta(value, hasValue)
			case "stale-if-error":
				cc.staleIfError = cc.delta(value, hasValue)
			case "no-store":
				cc.noStore = true
			case "no-cache":
				cc.noCache = true
			case "private":
				cc.private = true
			case "public":
				cc.public = true
			case "must-revalidate":
				cc.mustRevalidate = true
			case "proxy-revalidate":
				cc.proxyRevalidate = true
			case "no-transform":
				cc.noTransform = true
			case "immutable":
				cc.immutable = true
			}
		}
	}
	return cc
}

// nextDirective splits the first directive off a Cache-Control list:
// name[=token|quoted-string], then optional whitespace and a comma.
func nextDirective(s string) (name, value string, hasValue bool, rest string) {
	s = strings.TrimLeft(s, " \t,")
	i := strings.IndexAny(s, "=,")
	if i < 0 {
		return strings.ToLower(strings.TrimSpace(s)), "", false, ""
	}
	name = strings.ToLower(strings.TrimSpace(s[:i]))
	if s[i] == ',' {
		return name, "", false, s[i+1:]
	}
	s = strings.TrimLeft(s[i+1:], " \t")
	if strings.HasPrefix(s, `"`) {
		var b strings.Builder
		j := 1
		for ; j < len(s); j++ {
			c := s[j]
			if c == '\\' && j+1 < len(s) {
				j++
				b.WriteByte(s[j])
				continue
			}
			if c == '"' {
				break
			}
			b.WriteByte(c)
		}
		rest = s[min(j+1, len(s)):]
		if k := strings.IndexByte(rest, ','); k >= 0 {
			rest = rest[k+1:]
		} else {
			rest = ""
		}
		return name, b.String(), true, rest
	}
	if k := strings.IndexByte(s, ','); k >= 0 {
		return name, strings.TrimSpace(s[:k]), true, s[k+1:]
	}
	return name, strings.TrimSpace(s), true, ""
}

func (cc *cacheControl) delta(v string, hasValue bool) time.Duration {
	d, ok := parseDelta(v)
	if !hasValue || !ok {
		cc.invalid = true
		return 0
	}
	return d
}

// parseDelta parses delta-seconds: one or more digits, capped at maxDelta.
func parseDelta(v string) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n > int64(maxDelta/time.Second) {
		return maxDelta, true
	}
	return time.Duration(n) * time.Second, true
}

// policy is what a response's headers say about storing and reusing it.
type policy struct {
	store          bool          // may be stored
	lifetime       time.Duration // freshness lifetime
	noCache        bool          // stored, but revalidated before every use
	mustRevalidate bool          // never served stale
	swr, sie       time.Duration // stale-while-revalidate, stale-if-error windows
	initialAge     time.Duration // the response's Age when received
	varyNames      []string      // canonical request header names it varies on
	why            string        // why it is not stored, for tests
}

// statusCacheability tells whether a status is stored without explicit
// freshness (max-age, s-maxage, Expires) and with which TTL: the
// distribution's DefaultTTL (heuristic) or, for errors, DefaultErrorTTL.
// With explicit freshness any status from 200 to 499 but 206 and 304 is
// stored. 5xx responses other than 501 are never stored, so that a failing
// origin cannot pin its errors in the edge.
func statusCacheability(status int) (heuristic, known bool) {
	switch status {
	case 200, 203, 204, 300, 301, 308:
		return true, true
	case 404, 405, 410, 414, 501:
		return false, true
	}
	return false, false
}

// responsePolicy decides whether a response to a GET request (with the
// given request headers), received at now, may be stored, and for how long
// it is fresh.
func responsePolicy(d *Distribution, reqHeader http.Header, status int, h http.Header, now time.Time) policy {
	cc := parseCacheControl(h.Values("Cache-Control"))
	p := policy{
		noCache:        cc.noCache,
		mustRevalidate: cc.mustRevalidate || cc.proxyRevalidate || cc.sMaxAge >= 0,
		swr:            max(cc.staleWhileRevalidate, 0),
		sie:            max(cc.staleIfError, 0),
		initialAge:     parseAge(h.Get("Age")),
	}
	heuristic, known := statusCacheability(status)
	hasExpires := len(h.Values("Expires")) > 0
	explicit := cc.sMaxAge >= 0 || cc.maxAge >= 0 || hasExpires
	names, star := parseVary(h.Values("Vary"))
	p.varyNames = names
	switch {
	case !known && !(explicit && status >= 200 && status < 500 && status != 206 && status != 304):
		p.why = "status " + strconv.Itoa(status) + " is not cacheable"
		return p
	case cc.noStore:
		p.why = "no-store"
		return p
	case cc.private:
		p.why = "private"
		return p
	case star:
		p.why = "Vary: *"
		return p
	case len(h.Values("Set-Cookie")) > 0:
		p.why = "Set-Cookie"
		return p
	case reqHeader.Get("Authorization") != "" && !cc.public && cc.sMaxAge < 0 && !cc.mustRevalidate:
		p.why = "request has Authorization"
		return p
	}
	def, maxTTL := d.ttls()
	switch {
	case cc.sMaxAge >= 0:
		p.lifetime = cc.sMaxAge
	case cc.maxAge >= 0:
		p.lifetime = cc.maxAge
	case hasExpires:
		// Expires minus Date keeps the origin's clock skew out; without
		// a valid Date the arrival time stands in (RFC 9111 §4.2.1). An
		// invalid Expires means already expired.
		exp, err := http.ParseTime(h.Get("Expires"))
		date, derr := http.ParseTime(h.Get("Date"))
		if derr != nil {
			date = now
		}
		if err == nil {
			p.lifetime = max(exp.Sub(date), 0)
		}
	}
	if explicit {
		p.lifetime = min(max(p.lifetime, d.MinTTL), maxTTL)
	} else if heuristic {
		if def < 0 && !cc.noCache {
			p.why = "no freshness and the default TTL is negative"
			return p
		}
		p.lifetime = max(def, 0)
	} else {
		p.lifetime = max(DefaultErrorTTL, d.MinTTL)
	}
	p.store = true
	return p
}

// parseVary returns the canonical, sorted, de-duplicated header names a
// response varies on, and whether it varies on "*".
func parseVary(lines []string) (names []string, star bool) {
	for _, line := range lines {
		for f := range strings.SplitSeq(line, ",") {
			f = strings.TrimSpace(f)
			switch f {
			case "":
			case "*":
				star = true
			default:
				names = append(names, http.CanonicalHeaderKey(f))
			}
		}
	}
	slices.Sort(names)
	return slices.Compact(names), star
}

// parseAge parses an Age header; anything but delta-seconds is ignored.
func parseAge(v string) time.Duration {
	d, ok := parseDelta(strings.TrimSpace(v))
	if !ok {
		return 0
	}
	return d
}
