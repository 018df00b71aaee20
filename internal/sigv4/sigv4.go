// Package sigv4 verifies AWS Signature Version 4 on the server side, for every
// AWS-compatible request Meridian serves: the JSON protocols (DynamoDB, Secrets
// Manager) and S3 REST. It accepts the Authorization-header and presigned
// query forms, checks clock skew and presign expiry, verifies the payload hash
// (buffering bounded JSON bodies, streaming S3 bodies) and decodes aws-chunked
// streaming uploads while verifying their chunk signatures, trailing checksum
// and trailer signature.
//
// Failures are *Error values carrying AWS's codes and texts for both protocol
// families; ForService renders one for the API at hand.
//
// Imported by the API adapters (internal/tables/dynamoapi, internal/objects/s3api,
// the Secrets Manager adapter) and by whatever routes the API port. It depends
// on no other Meridian package: keys come from Config.Lookup.
package sigv4

import (
	"bytes"
	"context"
	"crypto/hmac"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// ErrUnknownKey is what Config.Lookup returns (possibly wrapped) for an access
// key ID it does not know.
var ErrUnknownKey = errors.New("unknown access key")

// Credential is what Lookup knows about an access key.
type Credential struct {
	// SecretAccessKey is the key's secret; SigV4 needs it in the clear.
	SecretAccessKey string
	// Principal names the identity the key belongs to (for example an IAM
	// user ARN); it is copied to Result for authorization and audit.
	Principal string
}

// Config configures a Verifier. The zero value of every field but Lookup
// means its default.
type Config struct {
	// Lookup returns the credential for an access key ID, or an error that
	// wraps ErrUnknownKey when there is none. Any other error makes Verify
	// fail with an internal error. Required.
	Lookup func(ctx context.Context, accessKeyID string) (Credential, error)
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// MaxSkew is how far the signing time of a header-signed request may be
	// from Now, either way. Default 15 minutes, as AWS.
	MaxSkew time.Duration
	// MaxBody is the largest body Verify reads into memory to hash it, which
	// it must do for the JSON protocols (whose signature covers the body
	// hash). S3 bodies are hashed while the handler streams them and are not
	// limited. Default 16 MiB.
	MaxBody int64
}

// Defaults.
const (
	DefaultMaxSkew = 15 * time.Minute
	DefaultMaxBody = 16 << 20
)

// Validate says what is wrong with c, in words an operator understands.
func (c Config) Validate() error {
	if c.Lookup == nil {
		return errors.New("sigv4: config: Lookup is required to find secret keys")
	}
	if c.MaxSkew < 0 {
		return fmt.Errorf("sigv4: config: MaxSkew %v is negative", c.MaxSkew)
	}
	if c.MaxBody < 0 {
		return fmt.Errorf("sigv4: config: MaxBody %d is negative", c.MaxBody)
	}
	return nil
}

// Verifier checks SigV4 signatures. It is safe for concurrent use.
type Verifier struct {
	lookup  func(ctx context.Context, accessKeyID string) (Credential, error)
	now     func() time.Time
	maxSkew time.Duration
	maxBody int64

	// keys caches derived signing keys: four HMACs per request were a
	// visible share of a small S3 PUT, and a key signs every request of
	// its day, region and service.
	keysMu sync.Mutex
	keys   map[scope]cachedKey
}

// cachedKey is a derived signing key with the secret it was derived from,
// so a changed secret derives a new one.
type cachedKey struct {
	secret string
	key    []byte
}

// maxCachedKeys bounds the signing-key cache; it is emptied when full.
const maxCachedKeys = 1024

// signingKey returns the derived key of a credential for a scope.
func (v *Verifier) signingKey(secret string, sc scope) []byte {
	v.keysMu.Lock()
	c, ok := v.keys[sc]
	v.keysMu.Unlock()
	if ok && c.secret == secret {
		return c.key
	}
	key := signingKey(secret, sc)
	v.keysMu.Lock()
	if v.keys == nil || len(v.keys) >= maxCachedKeys {
		v.keys = map[scope]cachedKey{}
	}
	v.keys[sc] = cachedKey{secret: secret, key: key}
	v.keysMu.Unlock()
	return key
}

// New returns a Verifier for cfg.
func New(cfg Config) (*Verifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	v := &Verifier{lookup: cfg.Lookup, now: cfg.Now, maxSkew: cfg.MaxSkew, maxBody: cfg.MaxBody}
	if v.now == nil {
		v.now = time.Now
	}
	if v.maxSkew == 0 {
		v.maxSkew = DefaultMaxSkew
	}
	if v.maxBody == 0 {
		v.maxBody = DefaultMaxBody
	}
	return v, nil
}

// Payload markers that x-amz-content-sha256 may carry instead of a hash.
const (
	UnsignedPayload               = "UNSIGNED-PAYLOAD"
	StreamingSignedPayload        = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	StreamingSignedPayloadTrail   = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
	StreamingUnsignedPayloadTrail = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
)

// Result describes a verified request.
type Result struct {
	AccessKeyID string
	Principal   string
	Region      string // from the credential scope; Meridian accepts any
	Service     string // from the credential scope, e.g. "dynamodb", "s3"
	SignedAt    time.Time
	// Presigned is set for the query-string form.
	Presigned bool
	// PayloadHash is the payload line of the canonical request: a hex
	// SHA-256, or one of the UNSIGNED/STREAMING markers.
	PayloadHash string
	// DecodedContentLength is the length of the body the handler reads
	// (x-amz-decoded-content-length for aws-chunked bodies), or -1 if unknown.
	DecodedContentLength int64
}

// RequireService returns a KindWrongService error unless the request was
// signed for service. Adapters call it so that a signature made for one
// service is not accepted by another.
func (r *Result) RequireService(service string) error {
	if r.Service != service {
		return errWrongService(r.Service, service)
	}
	return nil
}

// request is the authentication material of one request, from either form.
type request struct {
	sc        scope
	presigned bool
	signed    []string
	signedStr string
	signature string
	amzDate   string
	at        time.Time
	query     string // canonical query string
}

// Verify authenticates r. On success the returned Result names the caller and
// r.Body may have been replaced:
//
//   - JSON protocols: the body was read (at most Config.MaxBody bytes),
//     hashed, and restored unchanged.
//   - S3 with a hex x-amz-content-sha256: the body hashes as it is read; if it
//     does not match, Read returns a KindContentSHA256Mismatch *Error in
//     place of io.EOF.
//   - S3 aws-chunked (STREAMING-*): the body decodes the framing as it is
//     read and returns the payload only. Each chunk's signature is checked
//     when its last byte has been read, the trailing checksum and trailer
//     signature at the end; failures are *Error values from Read. Bytes are
//     handed over before their chunk is verified, so a handler must not commit
//     anything until Read has returned io.EOF. r.ContentLength becomes the
//     decoded length, "aws-chunked" is removed from Content-Encoding, and
//     trailing headers appear in r.Trailer once the body is read to io.EOF.
//
// Every error is an *Error; render it with ForService.
func (v *Verifier) Verify(r *http.Request) (*Result, error) {
	authz := r.Header.Values("Authorization")
	params := queryParams(r.URL.RawQuery)
	presigned := params.has("X-Amz-Algorithm") || params.has("X-Amz-Credential") || params.has("X-Amz-Signature")
	switch {
	case len(authz) == 0 && !presigned:
		return nil, errMissingAuth()
	case len(authz) > 0 && presigned:
		msg := "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified"
		return nil, newError(KindMalformedAuth, "",
			rendering{"IncompleteSignatureException", msg, http.StatusBadRequest},
			rendering{"InvalidArgument", msg, http.StatusBadRequest}, nil)
	case len(authz) > 1:
		return nil, errMalformedAuth("", "Request has more than one Authorization header.",
			"the request has more than one Authorization header.")
	}

	var (
		req *request
		err error
	)
	now := v.now()
	if presigned {
		req, err = v.parsePresigned(r, params, now)
	} else {
		req, err = v.parseHeader(r, authz[0], now)
	}
	if err != nil {
		return nil, err
	}
	service := req.sc.service
	s3 := isS3(service)

	if !contains(req.signed, "host") {
		return nil, errHostNotSigned(service)
	}
	if s3 && !req.presigned {
		if names := unsignedAmzHeaders(r, req.signed); names != "" {
			return nil, errHeadersNotSigned(service, names)
		}
	}

	payloadHash, mode, err := payloadMode(r, s3, req.presigned)
	if err != nil {
		return nil, err
	}

	cred, err := v.lookup(r.Context(), req.sc.accessKeyID)
	if err != nil {
		if errors.Is(err, ErrUnknownKey) {
			return nil, errUnknownKey(service, err)
		}
		return nil, errInternalFor(service, fmt.Errorf("looking up access key %q: %w", req.sc.accessKeyID, err))
	}

	// JSON protocols sign the body's hash; compute it before the signature.
	var body []byte
	if !s3 && mode != modeUnsigned {
		body, err = v.readBody(r, service)
		if err != nil {
			return nil, err
		}
		if mode == modeComputed {
			payloadHash = sha256Hex(body)
		}
	}

	key := v.signingKey(cred.SecretAccessKey, req.sc)
	if !v.signatureMatches(r, req, key, payloadHash) {
		return nil, errSignatureMismatch(service)
	}

	res := &Result{
		AccessKeyID:          req.sc.accessKeyID,
		Principal:            cred.Principal,
		Region:               req.sc.region,
		Service:              service,
		SignedAt:             req.at,
		Presigned:            req.presigned,
		PayloadHash:          payloadHash,
		DecodedContentLength: r.ContentLength,
	}

	switch {
	case !s3 && mode == modeHex:
		if got := sha256Hex(body); got != payloadHash {
			return nil, errContentSHA256Mismatch(service, payloadHash, got)
		}
	case s3 && mode == modeHex:
		if r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody {
			if payloadHash != emptySHA256 {
				return nil, errContentSHA256Mismatch(service, payloadHash, emptySHA256)
			}
		} else {
			r.Body = newHashingBody(r.Body, payloadHash)
		}
	case mode == modeStreaming:
		n, err := installChunked(r, streamConfig{
			payload: payloadHash,
			key:     key,
			amzDate: req.amzDate,
			scope:   req.sc.String(),
			seed:    req.signature,
		})
		if err != nil {
			return nil, err
		}
		res.DecodedContentLength = n
	}
	return res, nil
}

// signatureMatches computes the request signature and compares it with the
// claimed one in constant time. S3 paths are canonicalized by re-encoding
// every segment; a client that signed the path exactly as it sent it (with
// a sub-delimiter such as '+' or '!' left unescaped) signed the same decoded
// path, so that form is accepted too.
func (v *Verifier) signatureMatches(r *http.Request, req *request, key []byte, payloadHash string) bool {
	uris := []string{canonicalURI(r.URL, isS3(req.sc.service))}
	if isS3(req.sc.service) {
		if raw := r.URL.EscapedPath(); raw != "" && raw != uris[0] {
			uris = append(uris, raw)
		}
	}
	ok := false
	for _, uri := range uris {
		creq := canonicalRequest(r, uri, req.query, req.signed, req.signedStr, payloadHash)
		want := hexString(hmacSHA256(key, stringToSign(req.amzDate, req.sc, creq)))
		if hmac.Equal([]byte(want), []byte(req.signature)) {
			ok = true
		}
	}
	return ok
}

func (v *Verifier) parseHeader(r *http.Request, authz string, now time.Time) (*request, error) {
	ah, err := parseAuthorization(authz)
	if err != nil {
		var pe *authParseError
		errors.As(err, &pe)
		if strings.HasPrefix(authz, "AWS ") {
			return nil, errSigV2(pe.json)
		}
		return nil, errMalformedAuth("", pe.json, pe.s3)
	}
	sc, err := parseCredential(ah.credential)
	if err != nil {
		return nil, scopeErr(err, sc.service, false)
	}
	signed, err := parseSignedHeaders(ah.signedHeaders)
	if err != nil {
		return nil, errMalformedAuth(sc.service,
			fmt.Sprintf("Authorization header has an invalid 'SignedHeaders' parameter: %v.", err),
			fmt.Sprintf("the SignedHeaders are invalid: %v.", err))
	}
	at, amzDate, ok := signingTime(r.Header)
	if !ok {
		return nil, newError(KindMalformedAuth, sc.service,
			rendering{"IncompleteSignatureException", "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=" + authz, http.StatusBadRequest},
			rendering{"AccessDenied", "AWS authentication requires a valid Date or x-amz-date header", http.StatusForbidden}, nil)
	}
	if err := checkScopeDate(sc, amzDate, false); err != nil {
		return nil, err
	}
	if d := now.Sub(at); d > v.maxSkew || d < -v.maxSkew {
		return nil, errTimeSkewed(sc.service, at, now, v.maxSkew)
	}
	return &request{
		sc:        sc,
		signed:    signed,
		signedStr: ah.signedHeaders,
		signature: ah.signature,
		amzDate:   amzDate,
		at:        at,
		query:     canonicalQuery(r.URL.RawQuery, ""),
	}, nil
}

func (v *Verifier) parsePresigned(r *http.Request, p params, now time.Time) (*request, error) {
	names := []string{"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Signature"}
	vals := make(map[string]string, len(names))
	for _, n := range names {
		vs := p[n]
		if len(vs) != 1 || vs[0] == "" {
			return nil, errMalformedQuery("", "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.")
		}
		vals[n] = vs[0]
	}
	if vals["X-Amz-Algorithm"] != algorithm {
		return nil, errMalformedQuery("", `X-Amz-Algorithm only supports "`+algorithm+`"`)
	}
	sc, err := parseCredential(vals["X-Amz-Credential"])
	if err != nil {
		return nil, scopeErr(err, "", true)
	}
	service := sc.service
	at, err := time.Parse(amzDateFormat, vals["X-Amz-Date"])
	if err != nil {
		return nil, errMalformedQuery(service, `X-Amz-Date must be in the ISO8601 Long Format "yyyyMMdd'T'HHmmss'Z'"`)
	}
	expires, msg := parseExpires(vals["X-Amz-Expires"])
	if msg != "" {
		return nil, errMalformedQuery(service, msg)
	}
	signed, err := parseSignedHeaders(vals["X-Amz-SignedHeaders"])
	if err != nil {
		return nil, errMalformedQuery(service, fmt.Sprintf("X-Amz-SignedHeaders is invalid: %v", err))
	}
	if err := checkScopeDate(sc, vals["X-Amz-Date"], true); err != nil {
		return nil, err
	}
	if at.Sub(now) > v.maxSkew {
		return nil, errNotYetValid(service)
	}
	if now.After(at.Add(expires)) {
		return nil, errExpired(service)
	}
	return &request{
		sc:        sc,
		presigned: true,
		signed:    signed,
		signedStr: vals["X-Amz-SignedHeaders"],
		signature: vals["X-Amz-Signature"],
		amzDate:   vals["X-Amz-Date"],
		at:        at,
		query:     canonicalQuery(r.URL.RawQuery, "X-Amz-Signature"),
	}, nil
}

func scopeErr(err error, service string, presigned bool) *Error {
	var se *scopeError
	if !errors.As(err, &se) {
		return errMalformedAuth(service, err.Error(), err.Error())
	}
	if se.semantic {
		return errInvalidScope(service, presigned, se.json, se.s3)
	}
	if presigned {
		return newError(KindMalformedQuery, service,
			rendering{"IncompleteSignatureException", se.json, http.StatusBadRequest},
			rendering{"AuthorizationQueryParametersError", "Error parsing the X-Amz-Credential parameter; " + se.s3, http.StatusBadRequest}, nil)
	}
	return errMalformedAuth(service, se.json, se.s3)
}

func checkScopeDate(sc scope, amzDate string, presigned bool) error {
	if len(amzDate) >= 8 && amzDate[:8] == sc.date {
		return nil
	}
	day := amzDate
	if len(day) > 8 {
		day = day[:8]
	}
	return errInvalidScope(sc.service, presigned,
		fmt.Sprintf("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.", sc.date, day, amzDate),
		fmt.Sprintf("Invalid credential date \"%s\". This date is not the same as X-Amz-Date: \"%s\".", sc.date, day))
}

// readBody reads the whole body (at most maxBody bytes) and restores it.
func (v *Verifier) readBody(r *http.Request, service string) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	if r.ContentLength > v.maxBody {
		return nil, errBodyTooLarge(service, v.maxBody)
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, v.maxBody+1))
	if err != nil {
		return nil, newError(KindIncompleteBody, service,
			rendering{"SerializationException", "The request body could not be read.", http.StatusBadRequest},
			rendering{"IncompleteBody", msgIncompleteBody, http.StatusBadRequest},
			fmt.Errorf("reading request body: %w", err))
	}
	if int64(len(b)) > v.maxBody {
		return nil, errBodyTooLarge(service, v.maxBody)
	}
	r.Body = readCloser{bytes.NewReader(b), r.Body}
	return b, nil
}

type readCloser struct {
	io.Reader
	io.Closer
}

// unsignedAmzHeaders lists x-amz-* request headers missing from signed.
func unsignedAmzHeaders(r *http.Request, signed []string) string {
	var missing []string
	for k := range r.Header {
		lk := strings.ToLower(k)
		if strings.HasPrefix(lk, "x-amz-") && !contains(signed, lk) {
			missing = append(missing, lk)
		}
	}
	if len(missing) == 0 {
		return ""
	}
	sortStrings(missing)
	return strings.Join(missing, ", ")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// params is a decoded query string; unlike url.ParseQuery it never drops a
// parameter for containing ';'.
type params map[string][]string

func queryParams(raw string) params {
	p := params{}
	for part := range strings.SplitSeq(raw, "&") {
		if part == "" {
			continue
		}
		k, val, _ := strings.Cut(part, "=")
		if dk, err := url.QueryUnescape(k); err == nil {
			k = dk
		}
		if dv, err := url.QueryUnescape(val); err == nil {
			val = dv
		}
		p[k] = append(p[k], val)
	}
	return p
}

func (p params) has(k string) bool { _, ok := p[k]; return ok }
