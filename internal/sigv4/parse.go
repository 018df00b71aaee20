package sigv4

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

const (
	algorithm     = "AWS4-HMAC-SHA256"
	terminator    = "aws4_request"
	amzDateFormat = "20060102T150405Z"
	scopeDateFmt  = "20060102"

	// MaxPresignExpiry is the longest X-Amz-Expires a presigned request may carry.
	MaxPresignExpiry = 7 * 24 * time.Hour

	maxAuthLen         = 8 << 10 // longest Authorization header or credential considered
	maxSignedHeaders   = 64
	credentialTemplate = `"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request"` //nolint:gosec // G101: a placeholder shown in error messages, not a credential
)

// scope is a parsed credential: AKID/YYYYMMDD/region/service/aws4_request.
type scope struct {
	accessKeyID string
	date        string // YYYYMMDD
	region      string
	service     string
}

func (s scope) String() string {
	return s.date + "/" + s.region + "/" + s.service + "/" + terminator
}

// scopeError is a credential that does not parse, in both families' words.
// semantic marks a well-formed credential with a wrong part (date,
// terminator), which JSON services report as an invalid signature rather than
// an incomplete one.
type scopeError struct {
	json, s3 string
	semantic bool
}

func (e *scopeError) Error() string { return e.json }

// parseCredential parses a credential "AKID/YYYYMMDD/REGION/SERVICE/aws4_request".
func parseCredential(s string) (scope, error) {
	shape := &scopeError{
		json: fmt.Sprintf("Credential '%s' is malformed; expecting 'AKID/YYYYMMDD/REGION/SERVICE/aws4_request'.", truncate(s, 256)),
		s3:   "the Credential is mal-formed; expecting " + credentialTemplate + ".",
	}
	if len(s) > maxAuthLen {
		return scope{}, shape
	}
	parts := strings.Split(s, "/")
	if len(parts) != 5 {
		return scope{}, shape
	}
	sc := scope{accessKeyID: parts[0], date: parts[1], region: parts[2], service: parts[3]}
	if sc.accessKeyID == "" {
		return scope{}, &scopeError{
			json: "Authorization header requires a non-empty Access Key (AKID) in the 'Credential' parameter.",
			s3:   "a non-empty Access Key (AKID) must be provided in the credential.",
		}
	}
	if sc.region == "" || sc.service == "" {
		return scope{}, shape
	}
	if _, err := time.Parse(scopeDateFmt, sc.date); err != nil || len(sc.date) != 8 {
		return scope{}, &scopeError{
			json:     fmt.Sprintf("Credential should be scoped to a valid date in YYYYMMDD form, not '%s'.", truncate(sc.date, 64)),
			s3:       fmt.Sprintf("Invalid credential date \"%s\".", truncate(sc.date, 64)),
			semantic: true,
		}
	}
	if parts[4] != terminator {
		return scope{}, &scopeError{
			json:     fmt.Sprintf("Credential should be scoped with a valid terminator: '%s', not '%s'.", terminator, truncate(parts[4], 64)),
			s3:       fmt.Sprintf("incorrect terminal \"%s\". This endpoint uses \"%s\".", truncate(parts[4], 64), terminator),
			semantic: true,
		}
	}
	return sc, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// authHeader is a parsed "AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…".
type authHeader struct {
	credential    string
	signedHeaders string
	signature     string
}

// authParseError carries both families' wording of a malformed header.
type authParseError struct {
	json, s3 string
}

func (e *authParseError) Error() string { return e.json }

// parseAuthorization parses the value of an Authorization header that starts
// with the AWS4-HMAC-SHA256 algorithm. It does not look inside the credential.
func parseAuthorization(v string) (authHeader, error) {
	if len(v) > maxAuthLen {
		return authHeader{}, &authParseError{
			json: "Authorization header is too long.",
			s3:   "the authorization header is too long.",
		}
	}
	rest, ok := strings.CutPrefix(v, algorithm)
	if !ok || (rest != "" && rest[0] != ' ') {
		return authHeader{}, &authParseError{
			json: missingParams(true, true, true, v),
			s3:   "the authorization mechanism you have provided is not supported. Please use " + algorithm + ".",
		}
	}
	var h authHeader
	var seen [3]bool
	for part := range strings.SplitSeq(rest, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		key, val, ok := strings.Cut(part, "=")
		if !ok {
			return authHeader{}, &authParseError{
				json: fmt.Sprintf("'%s' not a valid key=value pair (missing equal-sign) in Authorization header: '%s'.", part, v),
				s3:   "the authorization header requires three components: Credential, SignedHeaders, and Signature.",
			}
		}
		var i int
		var dst *string
		switch key {
		case "Credential":
			i, dst = 0, &h.credential
		case "SignedHeaders":
			i, dst = 1, &h.signedHeaders
		case "Signature":
			i, dst = 2, &h.signature
		default:
			return authHeader{}, &authParseError{
				json: fmt.Sprintf("'%s' is not a valid parameter in Authorization header: '%s'.", key, v),
				s3:   "the authorization header requires three components: Credential, SignedHeaders, and Signature.",
			}
		}
		if seen[i] {
			return authHeader{}, &authParseError{
				json: fmt.Sprintf("Authorization header has a duplicate '%s' parameter: '%s'.", key, v),
				s3:   "the authorization header requires three components: Credential, SignedHeaders, and Signature.",
			}
		}
		seen[i] = true
		*dst = val
	}
	if !seen[0] || !seen[1] || !seen[2] || h.credential == "" || h.signedHeaders == "" || h.signature == "" {
		return authHeader{}, &authParseError{
			json: missingParams(h.credential == "", h.signature == "", h.signedHeaders == "", v),
			s3:   "the authorization header requires three components: Credential, SignedHeaders, and Signature.",
		}
	}
	return h, nil
}

func missingParams(credential, signature, signedHeaders bool, v string) string {
	var b strings.Builder
	if credential {
		b.WriteString("Authorization header requires 'Credential' parameter. ")
	}
	if signature {
		b.WriteString("Authorization header requires 'Signature' parameter. ")
	}
	if signedHeaders {
		b.WriteString("Authorization header requires 'SignedHeaders' parameter. ")
	}
	b.WriteString("Authorization=")
	b.WriteString(v)
	return b.String()
}

// parseSignedHeaders splits "host;x-amz-date" into names. Names must be
// lowercase, unique and non-empty; the order is kept as signed.
func parseSignedHeaders(s string) ([]string, error) {
	names := strings.Split(s, ";")
	if len(names) > maxSignedHeaders {
		return nil, fmt.Errorf("too many signed headers (%d, at most %d)", len(names), maxSignedHeaders)
	}
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		if n == "" || n != strings.ToLower(n) || strings.ContainsAny(n, " \t:") {
			return nil, fmt.Errorf("invalid signed header name %q", n)
		}
		if seen[n] {
			return nil, fmt.Errorf("duplicate signed header name %q", n)
		}
		seen[n] = true
	}
	return names, nil
}

// signingTime returns the request's signing time and its canonical form from
// X-Amz-Date (or, failing that, the Date header).
func signingTime(h http.Header) (time.Time, string, bool) {
	if v := h.Get("X-Amz-Date"); v != "" {
		t, err := time.Parse(amzDateFormat, v)
		if err != nil {
			return time.Time{}, "", false
		}
		return t, v, true
	}
	if v := h.Get("Date"); v != "" {
		t, err := http.ParseTime(v)
		if err != nil {
			return time.Time{}, "", false
		}
		t = t.UTC()
		return t, t.Format(amzDateFormat), true
	}
	return time.Time{}, "", false
}

// parseExpires parses X-Amz-Expires as S3 does.
func parseExpires(v string) (time.Duration, string) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, "X-Amz-Expires should be a number"
	}
	if n < 0 {
		return 0, "X-Amz-Expires must be non-negative"
	}
	if n > int64(MaxPresignExpiry/time.Second) {
		return 0, "X-Amz-Expires must be less than a week (in seconds); that is, the given X-Amz-Expires must be less than 604800 seconds"
	}
	return time.Duration(n) * time.Second, ""
}
