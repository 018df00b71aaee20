package cdn

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// hostName returns a Host header's name: lowercased, port and trailing dot
// removed.
func hostName(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return strings.TrimSuffix(strings.ToLower(host), ".")
}

// normalizeQuery sorts a raw query's parameters by name, keeping the order
// of parameters that share a name, and drops empty ones ("a=1&&b" →
// "a=1&b"). Parameters are compared as sent, without decoding, so
// "a=%41" and "a=A" stay distinct.
func normalizeQuery(raw string) string {
	if raw == "" {
		return ""
	}
	parts := strings.Split(raw, "&")
	parts = slices.DeleteFunc(parts, func(p string) bool { return p == "" })
	slices.SortStableFunc(parts, func(a, b string) int {
		an, _, _ := strings.Cut(a, "=")
		bn, _, _ := strings.Cut(b, "=")
		return strings.Compare(an, bn)
	})
	return strings.Join(parts, "&")
}

// objectPath is the part of the cache key invalidation patterns match: the
// escaped path and, when there is one, "?" and the normalized query.
func objectPath(u *url.URL) string {
	p := u.EscapedPath()
	if p == "" {
		p = "/"
	}
	if q := normalizeQuery(u.RawQuery); q != "" {
		p += "?" + q
	}
	return p
}

// primaryKey identifies an object regardless of Vary: host and object path.
func primaryKey(host, objPath string) string {
	return host + objPath
}

// variantKey is the cache key: the primary key plus the values of the
// request headers the stored response varies on. Values are compared after
// trimming and joining multiple lines with ", ".
func variantKey(primary string, varyNames []string, h http.Header) string {
	if len(varyNames) == 0 {
		return primary
	}
	var b strings.Builder
	b.WriteString(primary)
	for _, n := range varyNames {
		b.WriteByte(0)
		b.WriteString(n)
		b.WriteByte(':')
		vals := h.Values(n)
		for i, v := range vals {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(strings.TrimSpace(v))
		}
	}
	return b.String()
}

// pattern is a parsed invalidation path.
type pattern struct {
	prefix   string // the path before a trailing *
	wildcard bool
}

// parsePattern parses an invalidation path with CloudFront's rules: it
// starts with "/", is at most MaxPatternLength characters, and may end with
// one "*" that matches zero or more characters (of the path and query
// string together); "*" anywhere else is an error. A path without "*"
// matches exactly that path and query (query parameters normalized like the
// cache key), so "/a.jpg" does not invalidate "/a.jpg?v=2" but "/a.jpg*"
// does. Matching is case-sensitive and on the path as the client sent it
// (percent-escapes are not decoded). Every Vary variant of a matching object
// is invalidated.
func parsePattern(p string) (pattern, error) {
	switch {
	case p == "":
		return pattern{}, errors.New("empty invalidation path")
	case len(p) > MaxPatternLength:
		return pattern{}, fmt.Errorf("invalidation path is %d characters long, the limit is %d", len(p), MaxPatternLength)
	case p[0] != '/':
		return pattern{}, fmt.Errorf("invalidation path %q must start with /", p)
	}
	body, wild := strings.CutSuffix(p, "*")
	if strings.Contains(body, "*") {
		return pattern{}, fmt.Errorf("invalidation path %q has a * before its end; a wildcard is allowed only as the last character", p)
	}
	if !wild {
		if path, q, ok := strings.Cut(body, "?"); ok {
			body = path
			if q = normalizeQuery(q); q != "" {
				body += "?" + q
			}
		}
	}
	return pattern{prefix: body, wildcard: wild}, nil
}

func (p pattern) match(objPath string) bool {
	if p.wildcard {
		return strings.HasPrefix(objPath, p.prefix)
	}
	return objPath == p.prefix
}
