package sigv4

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	testAKID      = "AKIDMERIDIANTEST"
	testSecret    = "meridian/test+secret/key/0123456789abcdef"
	testPrincipal = "arn:aws:iam::000000000000:user/tester"
)

// testClock is an injected clock the tests move.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time   { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Set(t time.Time)  { c.mu.Lock(); c.t = t; c.mu.Unlock() }
func newClock(t time.Time) *testClock { return &testClock{t: t} }

// keys is a Lookup over a fixed map.
func keys(m map[string]Credential) func(context.Context, string) (Credential, error) {
	return func(_ context.Context, akid string) (Credential, error) {
		c, ok := m[akid]
		if !ok {
			return Credential{}, fmt.Errorf("access key %q: %w", akid, ErrUnknownKey)
		}
		return c, nil
	}
}

func newTestVerifier(t *testing.T, clock *testClock) *Verifier {
	t.Helper()
	v, err := New(Config{
		Lookup: keys(map[string]Credential{
			testAKID:               {SecretAccessKey: testSecret, Principal: testPrincipal},
			"AKIAIOSFODNN7EXAMPLE": {SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", Principal: "example"},
		}),
		Now: clock.Now,
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return v
}

// reply is what the test server answers: the verified identity and the body
// the handler read, or the error rendered for the request's service.
type reply struct {
	Code        string            `json:"code,omitempty"`
	Message     string            `json:"message,omitempty"`
	Kind        string            `json:"kind,omitempty"`
	Principal   string            `json:"principal,omitempty"`
	Service     string            `json:"service,omitempty"`
	Region      string            `json:"region,omitempty"`
	Presigned   bool              `json:"presigned,omitempty"`
	BodySHA256  string            `json:"body_sha256,omitempty"`
	BodyLen     int               `json:"body_len"`
	ContentLen  int64             `json:"content_length"`
	Trailer     map[string]string `json:"trailer,omitempty"`
	ContentEnc  string            `json:"content_encoding,omitempty"`
	Status      int               `json:"-"`
	DecodedSize int64             `json:"decoded_size"`
}

// serviceOf is how the test server picks the error family: S3 requests are
// those whose path starts with /bucket or /examplebucket.
func serviceOf(r *http.Request) string {
	if strings.HasPrefix(r.URL.Path, "/bucket") || strings.HasPrefix(r.URL.Path, "/examplebucket") {
		return "s3"
	}
	return "dynamodb"
}

// newServer starts a real listener whose handler verifies every request and
// reads its whole body.
func newServer(t *testing.T, v *Verifier) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeErr := func(err error) {
			e := ForService(err, serviceOf(r))
			w.WriteHeader(e.Status)
			_ = json.NewEncoder(w).Encode(reply{Code: e.Code, Message: e.Message, Kind: e.Kind.String()})
		}
		res, err := v.Verify(r)
		if err != nil {
			writeErr(err)
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			writeErr(err)
			return
		}
		sum := sha256.Sum256(body)
		out := reply{
			Principal: res.Principal, Service: res.Service, Region: res.Region, Presigned: res.Presigned,
			BodySHA256: hex.EncodeToString(sum[:]), BodyLen: len(body), ContentLen: r.ContentLength,
			ContentEnc: r.Header.Get("Content-Encoding"), DecodedSize: res.DecodedContentLength,
		}
		if len(r.Trailer) > 0 {
			out.Trailer = map[string]string{}
			for k := range r.Trailer {
				out.Trailer[strings.ToLower(k)] = r.Trailer.Get(k)
			}
		}
		_ = json.NewEncoder(w).Encode(out)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// do sends req and decodes the reply.
func do(t *testing.T, c *http.Client, req *http.Request) reply {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("sending %s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	var out reply
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("decoding reply (status %d): %v", resp.StatusCode, err)
	}
	out.Status = resp.StatusCode
	return out
}

func hexSHA256(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// checkReply compares the outcome with the expected error code ("" for success).
func checkReply(t *testing.T, got reply, wantStatus int, wantCode string) {
	t.Helper()
	if got.Status != wantStatus || got.Code != wantCode {
		t.Fatalf("got status %d code %q (%s: %s), want status %d code %q",
			got.Status, got.Code, got.Kind, got.Message, wantStatus, wantCode)
	}
}

func asError(t *testing.T, err error) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("got error %v (%T), want *Error", err, err)
	}
	return e
}
