package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// emptySHA256 is the hex SHA-256 of the empty string.
const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

func sha256Hex(data []byte) string {
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}

// signingKey derives kSigning = HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date), region), service), "aws4_request").
func signingKey(secret string, sc scope) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), sc.date)
	k = hmacSHA256(k, sc.region)
	k = hmacSHA256(k, sc.service)
	return hmacSHA256(k, terminator)
}

// stringToSign builds the string to sign for a canonical request.
func stringToSign(amzDate string, sc scope, canonicalRequest string) string {
	return algorithm + "\n" + amzDate + "\n" + sc.String() + "\n" + sha256Hex([]byte(canonicalRequest))
}

// uriEncode percent-encodes every byte outside RFC 3986's unreserved set
// (A-Z a-z 0-9 - . _ ~) with uppercase hex, as SigV4 requires. '/' is kept
// when keepSlash is set.
func uriEncode(s string, keepSlash bool) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9',
			c == '-', c == '.', c == '_', c == '~', c == '/' && keepSlash:
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
		}
	}
	return b.String()
}

// canonicalURI returns the CanonicalURI of the request path. For S3 each
// segment is decoded and encoded once, with no normalization. For every other
// service the path is normalized (empty, "." and ".." segments removed, as
// RFC 3986 and AWS's signing documentation prescribe) and each segment is
// encoded twice.
func canonicalURI(u *url.URL, s3 bool) string {
	raw := u.EscapedPath()
	if raw == "" {
		return "/"
	}
	segs := strings.Split(raw, "/")
	for i, seg := range segs {
		if dec, err := url.PathUnescape(seg); err == nil {
			segs[i] = dec
		}
	}
	if s3 {
		for i, seg := range segs {
			segs[i] = uriEncode(seg, false)
		}
		p := strings.Join(segs, "/")
		if !strings.HasPrefix(p, "/") {
			p = "/" + p
		}
		return p
	}
	trailing := len(segs) > 1 && segs[len(segs)-1] == ""
	var out []string
	for _, seg := range segs {
		switch seg {
		case "", ".":
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, uriEncode(uriEncode(seg, false), false))
		}
	}
	p := "/" + strings.Join(out, "/")
	if trailing && len(out) > 0 {
		p += "/"
	}
	return p
}

// canonicalQuery returns the CanonicalQueryString of a raw query: every name
// and value decoded ('+' as space, as the SDKs parse it), encoded with
// uriEncode, and the encoded pairs sorted by name then value. A parameter
// named skip (X-Amz-Signature for presigned requests) is left out.
func canonicalQuery(rawQuery, skip string) string {
	if rawQuery == "" {
		return ""
	}
	type pair struct{ k, v string }
	var pairs []pair
	for part := range strings.SplitSeq(rawQuery, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		if dk, err := url.QueryUnescape(k); err == nil {
			k = dk
		}
		if skip != "" && k == skip {
			continue
		}
		if dv, err := url.QueryUnescape(v); err == nil {
			v = dv
		}
		pairs = append(pairs, pair{uriEncode(k, false), uriEncode(v, false)})
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i].k != pairs[j].k {
			return pairs[i].k < pairs[j].k
		}
		return pairs[i].v < pairs[j].v
	})
	var b strings.Builder
	for i, p := range pairs {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.k)
		b.WriteByte('=')
		b.WriteString(p.v)
	}
	return b.String()
}

// headerValues returns the request's values of the lowercase header name as
// they were on the wire, including those net/http moves out of the header map.
func headerValues(r *http.Request, name string) []string {
	switch name {
	case "host":
		return []string{r.Host}
	case "content-length":
		if v := r.Header.Values("Content-Length"); len(v) > 0 {
			return v
		}
		if r.ContentLength >= 0 {
			return []string{strconv.FormatInt(r.ContentLength, 10)}
		}
		return nil
	case "transfer-encoding":
		if len(r.TransferEncoding) > 0 {
			return []string{strings.Join(r.TransferEncoding, ",")}
		}
	}
	return r.Header.Values(name)
}

// trimAll trims leading and trailing spaces and collapses inner runs of
// spaces to one, as SigV4 canonical header values require.
func trimAll(s string) string {
	s = strings.Trim(s, " \t")
	if !strings.Contains(s, "  ") {
		return s
	}
	var b strings.Builder
	space := false
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' {
			if space {
				continue
			}
			space = true
		} else {
			space = false
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// canonicalRequest builds the SigV4 canonical request:
// Method\nURI\nQuery\nHeaders\n\nSignedHeaders\nPayloadHash.
func canonicalRequest(r *http.Request, uri, query string, signed []string, signedStr, payloadHash string) string {
	var b strings.Builder
	b.WriteString(r.Method)
	b.WriteByte('\n')
	b.WriteString(uri)
	b.WriteByte('\n')
	b.WriteString(query)
	b.WriteByte('\n')
	for _, name := range signed {
		b.WriteString(name)
		b.WriteByte(':')
		for i, v := range headerValues(r, name) {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(trimAll(v))
		}
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.WriteString(signedStr)
	b.WriteByte('\n')
	b.WriteString(payloadHash)
	return b.String()
}
