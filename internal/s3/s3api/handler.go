package s3api

import (
	"bytes"
	"crypto/rand"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/meridian-platform/meridian/internal/s3"
	"github.com/meridian-platform/meridian/internal/sigv4"
)

// Config configures a Handler. Engine and Verifier are required.
type Config struct {
	// Engine stores buckets and objects.
	Engine *s3.Engine
	// Verifier authenticates requests.
	Verifier *sigv4.Verifier
	// Region is the region served (x-amz-bucket-region, logs).
	Region string
	// Logger (default: discard).
	Logger *slog.Logger
	// Domains are the host names under which virtual-hosted requests
	// (<bucket>.<domain>) arrive. A request whose Host (without port) ends
	// in "."+domain addresses that bucket; any other is path-style.
	// Default: localhost and s3.localhost.
	Domains []string
	// RequestID makes each response's x-amz-request-id (default: 16 random
	// upper-case hex digits, like S3's). Tests make it deterministic.
	RequestID func() string
}

// Validate says what is wrong with c.
func (c Config) Validate() error {
	var errs []error
	if c.Engine == nil {
		errs = append(errs, errors.New("s3api: config: Engine is required"))
	}
	if c.Verifier == nil {
		errs = append(errs, errors.New("s3api: config: Verifier is required"))
	}
	return errors.Join(errs...)
}

// Handler serves the S3 REST protocol. It is safe for concurrent use.
type Handler struct {
	e         *s3.Engine
	verifier  *sigv4.Verifier
	log       *slog.Logger
	region    string
	domains   []string
	requestID func() string
}

var _ http.Handler = (*Handler)(nil)

// New returns a Handler for cfg.
func New(cfg Config) (*Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	h := &Handler{e: cfg.Engine, verifier: cfg.Verifier, log: cfg.Logger, region: cfg.Region, domains: cfg.Domains, requestID: cfg.RequestID}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	h.log = h.log.With("component", "s3api", "region", cfg.Region)
	if h.domains == nil {
		h.domains = []string{"localhost", "s3.localhost"}
	}
	// The longest domain first: "b.s3.localhost" is bucket b, not "b.s3".
	h.domains = slices.Clone(h.domains)
	slices.SortFunc(h.domains, func(a, b string) int { return len(b) - len(a) })
	if h.requestID == nil {
		h.requestID = randomRequestID
	}
	return h, nil
}

func randomRequestID() string {
	const hex = "0123456789ABCDEF"
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails
	for i := range b {
		b[i] = hex[b[i]&15]
	}
	return string(b)
}

// request is one S3 request being served.
type request struct {
	r      *http.Request
	w      http.ResponseWriter
	id     string
	bucket string
	key    string
	query  url.Values
}

// resource is the Resource of an error document.
func (q *request) resource() string {
	if q.bucket == "" {
		return "/"
	}
	if q.key == "" {
		return "/" + q.bucket
	}
	return "/" + q.bucket + "/" + q.key
}

// ServeHTTP answers one S3 request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := &request{r: r, w: w, id: h.requestID()}
	w.Header().Set("X-Amz-Request-Id", q.id)
	w.Header().Set("X-Amz-Id-2", q.id)
	w.Header().Set("Server", "Meridian")
	q.bucket, q.key = h.address(r)
	query, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		query = url.Values{}
		for part := range strings.SplitSeq(r.URL.RawQuery, "&") {
			k, v, _ := strings.Cut(part, "=")
			k, _ = url.QueryUnescape(k)
			v, _ = url.QueryUnescape(v)
			query[k] = append(query[k], v)
		}
	}
	q.query = query
	if err := h.serve(q); err != nil {
		h.writeError(q, err)
	}
}

// address returns the bucket and key a request addresses.
func (h *Handler) address(r *http.Request) (bucket, key string) {
	host := r.Host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		host = hh
	}
	host = strings.ToLower(host)
	path := r.URL.Path
	for _, d := range h.domains {
		if b, ok := strings.CutSuffix(host, "."+d); ok && b != "" {
			return b, strings.TrimPrefix(path, "/")
		}
	}
	path = strings.TrimPrefix(path, "/")
	bucket, key, _ = strings.Cut(path, "/")
	return bucket, key
}

func (h *Handler) serve(q *request) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic serving %s %s: %v", q.r.Method, q.r.URL.Path, p)
		}
	}()
	res, err := h.verifier.Verify(q.r)
	if err != nil {
		return err
	}
	if err := res.RequireService("s3"); err != nil {
		return err
	}
	if sub := unsupported(q.query); sub != "" {
		return &s3.Error{Code: s3.CodeNotImplemented, Message: fmt.Sprintf("A header or query parameter you provided implies functionality that is not implemented: the ?%s subresource.", sub)}
	}
	switch {
	case q.bucket == "":
		return h.serveService(q)
	case q.key == "":
		return h.serveBucket(q)
	default:
		return h.serveObject(q)
	}
}

// unsupported returns the first S3 subresource in query that is not
// implemented.
func unsupported(query url.Values) string {
	for _, s := range []string{"acl", "policy", "policyStatus", "cors", "lifecycle", "website", "logging", "notification",
		"encryption", "object-lock", "legal-hold", "retention", "ownershipControls", "publicAccessBlock", "accelerate",
		"requestPayment", "analytics", "inventory", "metrics", "intelligent-tiering", "restore", "select", "torrent",
		"attributes", "renameObject", "metadataTable", "session"} {
		if query.Has(s) {
			return s
		}
	}
	return ""
}

func methodNotAllowed(q *request) error {
	return &s3.Error{Code: s3.CodeMethodNotAllowed, Message: fmt.Sprintf("The specified method (%s) is not allowed against this resource.", q.r.Method)}
}

func (h *Handler) serveService(q *request) error {
	if q.r.Method != http.MethodGet && q.r.Method != http.MethodHead {
		return methodNotAllowed(q)
	}
	if id := q.query.Get(s3.InternalObjectParam); id != "" {
		return h.serveInternal(q, id)
	}
	bs, err := h.e.ListBuckets()
	if err != nil {
		return err
	}
	out := listAllMyBucketsResult{Xmlns: xmlns, Owner: theOwner}
	for _, b := range bs {
		out.Buckets = append(out.Buckets, bucketJSON{Name: b.Name, CreationDate: xmlTime(b.Created), BucketRegion: h.region})
	}
	return h.writeXML(q, http.StatusOK, out)
}

// writeXML sends an XML document.
func (h *Handler) writeXML(q *request, status int, v any) error {
	b, err := xml.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding response: %w", err)
	}
	body := append([]byte(xml.Header), b...)
	q.w.Header().Set("Content-Type", "application/xml")
	q.w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	q.w.WriteHeader(status)
	if q.r.Method != http.MethodHead {
		_, _ = q.w.Write(body)
	}
	return nil
}

func (h *Handler) writeError(q *request, err error) {
	e := toAPIError(err)
	if e.Internal {
		h.log.Error("request failed", "request_id", q.id, "method", q.r.Method, "path", q.r.URL.Path, "err", err)
	} else {
		h.log.Debug("request refused", "request_id", q.id, "method", q.r.Method, "path", q.r.URL.Path, "code", e.Code, "err", err)
	}
	hd := q.w.Header()
	if e.DeleteMarker {
		hd.Set("X-Amz-Delete-Marker", "true")
		if e.VersionID != "" {
			hd.Set("X-Amz-Version-Id", e.VersionID)
		}
	}
	if e.Code == codeInvalidRange {
		hd.Set("Content-Range", fmt.Sprintf("bytes */%d", e.Size))
	}
	// Headers meant for a success (checksums, metadata) must not leak.
	for k := range hd {
		if strings.HasPrefix(k, "X-Amz-Meta-") || strings.HasPrefix(k, "X-Amz-Checksum-") || k == "Etag" || k == "Last-Modified" {
			hd.Del(k)
		}
	}
	if q.r.Method == http.MethodHead {
		hd.Set("Content-Length", "0")
		q.w.WriteHeader(e.Status)
		return
	}
	doc := errorDoc{Code: e.Code, Message: e.Message, BucketName: e.Bucket, Key: e.Key, VersionID: e.VersionID, UploadID: e.UploadID,
		Resource: q.resource(), RequestID: q.id, HostID: q.id}
	if e.Code == codeInvalidRange {
		doc.Size = e.Size
	}
	if e.Code == s3.CodeNoSuchBucket && doc.BucketName == "" {
		doc.BucketName = q.bucket
	}
	b, _ := xml.Marshal(doc)
	body := append([]byte(xml.Header), b...)
	hd.Set("Content-Type", "application/xml")
	hd.Set("Content-Length", fmt.Sprint(len(body)))
	q.w.WriteHeader(e.Status)
	_, _ = q.w.Write(body)
}

// readSmall reads a request body of at most limit bytes (an XML document),
// verifying Content-MD5 and x-amz-checksum-* when the client sent them.
func readSmall(q *request, limit int64) ([]byte, error) {
	if q.r.Body == nil {
		return nil, nil
	}
	b, err := io.ReadAll(io.LimitReader(q.r.Body, limit+1))
	if err != nil {
		var se *sigv4.Error
		if errors.As(err, &se) {
			return nil, se
		}
		return nil, &s3.Error{Code: s3.CodeIncompleteBody, Message: "The request body could not be read: " + err.Error()}
	}
	if int64(len(b)) > limit {
		return nil, malformed(fmt.Sprintf("the request body is larger than %d bytes", limit))
	}
	// Let the engine's verification speak for MD5 and checksums.
	if err := verifyDigests(q, b); err != nil {
		return nil, err
	}
	return b, nil
}

func verifyDigests(q *request, body []byte) error {
	body2 := s3.Body{R: bytes.NewReader(body), Size: int64(len(body)), ContentMD5: q.r.Header.Get("Content-Md5"), Checksums: checksumHeaders(q.r.Header), Trailer: q.r.Trailer}
	return s3.VerifyBody(body2)
}
