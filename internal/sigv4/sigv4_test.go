package sigv4

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

var signTime = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

var testCreds = aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: testSecret}

// signed builds a request to srv and signs it with the real SDK signer.
type signOpts struct {
	method, path, rawQuery string
	body                   []byte
	service                string
	header                 map[string]string
	payloadHash            string // default: hex SHA-256 of body
	creds                  aws.Credentials
	at                     time.Time
	after                  func(*http.Request) // tampering after signing
	s3                     bool
}

func signedRequest(t *testing.T, base string, o signOpts) *http.Request {
	t.Helper()
	u := base + o.path
	if o.rawQuery != "" {
		u += "?" + o.rawQuery
	}
	req, err := http.NewRequest(o.method, u, bytes.NewReader(o.body))
	if err != nil {
		t.Fatal(err)
	}
	if len(o.body) == 0 {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	for k, v := range o.header {
		req.Header.Set(k, v)
	}
	ph := o.payloadHash
	if ph == "" {
		ph = hexSHA256(o.body)
	}
	creds, at := o.creds, o.at
	if creds.AccessKeyID == "" {
		creds = testCreds
	}
	if at.IsZero() {
		at = signTime
	}
	signer := v4.NewSigner(func(so *v4.SignerOptions) {
		so.DisableURIPathEscaping = o.s3
	})
	if err := signer.SignHTTP(context.Background(), creds, req, ph, o.service, "us-east-1", at); err != nil {
		t.Fatal(err)
	}
	if o.after != nil {
		o.after(req)
	}
	return req
}

func TestHeaderForm(t *testing.T) {
	dynamo := func(o signOpts) signOpts {
		o.method, o.path, o.service = http.MethodPost, "/", "dynamodb"
		if o.body == nil {
			o.body = []byte(`{"TableName":"orders"}`)
		}
		if o.header == nil {
			o.header = map[string]string{"X-Amz-Target": "DynamoDB_20120810.DescribeTable", "Content-Type": "application/x-amz-json-1.0"}
		}
		return o
	}
	s3put := func(o signOpts) signOpts {
		o.method, o.service, o.s3 = http.MethodPut, "s3", true
		if o.path == "" {
			o.path = "/bucket/photos/summer%20photo+1.jpg"
		}
		if o.body == nil {
			o.body = []byte("object bytes")
		}
		if o.header == nil {
			o.header = map[string]string{"X-Amz-Content-Sha256": hexSHA256(o.body), "X-Amz-Meta-Color": "blue"}
		}
		return o
	}
	tests := []struct {
		name       string
		opts       signOpts
		now        time.Time
		wantStatus int
		wantCode   string
		wantMsg    string
	}{
		{name: "dynamodb ok", opts: dynamo(signOpts{}), wantStatus: 200},
		{name: "dynamodb with content sha header ok", opts: dynamo(signOpts{header: map[string]string{
			"X-Amz-Target": "DynamoDB_20120810.ListTables", "X-Amz-Content-Sha256": hexSHA256([]byte(`{"TableName":"orders"}`)),
		}}), wantStatus: 200},
		{name: "dynamodb path and query normalization", opts: dynamo(signOpts{}), wantStatus: 200},
		{name: "dynamodb wrong secret", opts: dynamo(signOpts{creds: aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: "wrong"}}),
			wantStatus: 400, wantCode: "InvalidSignatureException", wantMsg: msgInvalidSignature},
		{name: "dynamodb unknown key", opts: dynamo(signOpts{creds: aws.Credentials{AccessKeyID: "AKIDNOBODY", SecretAccessKey: testSecret}}),
			wantStatus: 400, wantCode: "UnrecognizedClientException", wantMsg: "The security token included in the request is invalid."},
		{name: "dynamodb clock 30 minutes ahead", opts: dynamo(signOpts{}), now: signTime.Add(30 * time.Minute),
			wantStatus: 400, wantCode: "InvalidSignatureException",
			wantMsg: "Signature expired: 20240101T000000Z is now earlier than 20240101T001500Z (20240101T003000Z - 15 min.)"},
		{name: "dynamodb clock 20 minutes behind", opts: dynamo(signOpts{}), now: signTime.Add(-20 * time.Minute),
			wantStatus: 400, wantCode: "InvalidSignatureException",
			wantMsg: "Signature not yet current: 20240101T000000Z is still later than 20231231T235500Z (20231231T234000Z + 15 min.)"},
		{name: "dynamodb clock 14 minutes ahead is fine", opts: dynamo(signOpts{}), now: signTime.Add(14 * time.Minute), wantStatus: 200},
		{name: "dynamodb tampered body", opts: dynamo(signOpts{after: func(r *http.Request) {
			b := []byte(`{"TableName":"ORDERS"}`)
			r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
		}}), wantStatus: 400, wantCode: "InvalidSignatureException"},
		{name: "dynamodb tampered body under signed content sha", opts: dynamo(signOpts{
			header: map[string]string{"X-Amz-Content-Sha256": hexSHA256([]byte(`{"TableName":"orders"}`))},
			after: func(r *http.Request) {
				b := []byte(`{"TableName":"ORDERS"}`)
				r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
			}}), wantStatus: 400, wantCode: "InvalidSignatureException"},
		{name: "dynamodb tampered signed header", opts: dynamo(signOpts{after: func(r *http.Request) {
			r.Header.Set("X-Amz-Target", "DynamoDB_20120810.DeleteTable")
		}}), wantStatus: 400, wantCode: "InvalidSignatureException"},
		{name: "dynamodb missing authorization", opts: dynamo(signOpts{after: func(r *http.Request) { r.Header.Del("Authorization") }}),
			wantStatus: 400, wantCode: "MissingAuthenticationTokenException", wantMsg: "Request is missing Authentication Token"},
		{name: "dynamodb malformed authorization", opts: dynamo(signOpts{after: func(r *http.Request) {
			r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+testAKID+"/20240101/us-east-1/dynamodb/aws4_request")
		}}), wantStatus: 400, wantCode: "IncompleteSignatureException",
			wantMsg: "Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. " +
				"Authorization=AWS4-HMAC-SHA256 Credential=" + testAKID + "/20240101/us-east-1/dynamodb/aws4_request"},
		{name: "dynamodb host not signed", opts: dynamo(signOpts{after: func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), ";host;", ";", 1))
		}}), wantStatus: 400, wantCode: "IncompleteSignatureException",
			wantMsg: "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."},
		{name: "dynamodb scope date differs from x-amz-date", opts: dynamo(signOpts{after: func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "/20240101/", "/20240102/", 1))
		}}), wantStatus: 400, wantCode: "InvalidSignatureException",
			wantMsg: "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '20240102' != '20240101', from '20240101T000000Z'."},
		{name: "dynamodb streaming payload refused", opts: dynamo(signOpts{header: map[string]string{"X-Amz-Content-Sha256": StreamingSignedPayload},
			payloadHash: StreamingSignedPayload}), wantStatus: 400, wantCode: "InvalidSignatureException"},

		{name: "s3 put ok", opts: s3put(signOpts{}), wantStatus: 200},
		{name: "s3 unsigned payload ok", opts: s3put(signOpts{header: map[string]string{"X-Amz-Content-Sha256": UnsignedPayload}, payloadHash: UnsignedPayload}), wantStatus: 200},
		{name: "s3 get with query ok", opts: signOpts{method: http.MethodGet, path: "/bucket", service: "s3", s3: true,
			rawQuery: "list-type=2&prefix=a%20b%2Fc&delimiter=%2F&start-after=%E2%82%AC&acl",
			header:   map[string]string{"X-Amz-Content-Sha256": emptySHA256}}, wantStatus: 200},
		{name: "s3 wrong secret", opts: s3put(signOpts{creds: aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: "wrong"}}),
			wantStatus: 403, wantCode: "SignatureDoesNotMatch", wantMsg: msgS3SignatureDoesNotMatch},
		{name: "s3 unknown key", opts: s3put(signOpts{creds: aws.Credentials{AccessKeyID: "AKIDNOBODY", SecretAccessKey: "x"}}),
			wantStatus: 403, wantCode: "InvalidAccessKeyId"},
		{name: "s3 skew", opts: s3put(signOpts{}), now: signTime.Add(16 * time.Minute), wantStatus: 403, wantCode: "RequestTimeTooSkewed",
			wantMsg: "The difference between the request time and the current time is too large."},
		{name: "s3 tampered body", opts: s3put(signOpts{after: func(r *http.Request) {
			b := []byte("OBJECT bytes")
			r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
		}}), wantStatus: 400, wantCode: "XAmzContentSHA256Mismatch",
			wantMsg: "The provided 'x-amz-content-sha256' header does not match what was computed."},
		{name: "s3 tampered signed header", opts: s3put(signOpts{after: func(r *http.Request) { r.Header.Set("X-Amz-Meta-Color", "red") }}),
			wantStatus: 403, wantCode: "SignatureDoesNotMatch"},
		{name: "s3 unsigned amz header", opts: s3put(signOpts{after: func(r *http.Request) { r.Header.Set("X-Amz-Acl", "public-read") }}),
			wantStatus: 403, wantCode: "AccessDenied", wantMsg: msgHeadersNotSigned + ": x-amz-acl"},
		{name: "s3 missing content sha", opts: s3put(signOpts{header: map[string]string{}}),
			wantStatus: 400, wantCode: "InvalidRequest", wantMsg: "Missing required header for this request: x-amz-content-sha256"},
		{name: "s3 missing authorization", opts: s3put(signOpts{after: func(r *http.Request) { r.Header.Del("Authorization") }}),
			wantStatus: 403, wantCode: "AccessDenied", wantMsg: "Access Denied"},
		{name: "s3 malformed credential", opts: s3put(signOpts{after: func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "/us-east-1/s3/", "/s3/", 1))
		}}), wantStatus: 400, wantCode: "AuthorizationHeaderMalformed"},
		{name: "s3 sigv2 refused", opts: s3put(signOpts{after: func(r *http.Request) {
			r.Header.Set("Authorization", "AWS "+testAKID+":frJIUN8DYpKDtOLCwo//yllqDzg=")
		}}), wantStatus: 400, wantCode: "InvalidRequest",
			wantMsg: "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := newClock(signTime)
			if !tc.now.IsZero() {
				clock.Set(tc.now)
			}
			srv := newServer(t, newTestVerifier(t, clock))
			got := do(t, srv.Client(), signedRequest(t, srv.URL, tc.opts))
			checkReply(t, got, tc.wantStatus, tc.wantCode)
			if tc.wantMsg != "" && got.Message != tc.wantMsg {
				t.Fatalf("got message %q, want %q", got.Message, tc.wantMsg)
			}
			if tc.wantStatus == 200 {
				if got.Principal != testPrincipal || got.Service != tc.opts.service || got.Region != "us-east-1" {
					t.Fatalf("got principal %q service %q region %q, want %q %q us-east-1", got.Principal, got.Service, got.Region, testPrincipal, tc.opts.service)
				}
				if want := hexSHA256(tc.opts.body); got.BodySHA256 != want {
					t.Fatalf("handler read body with sha256 %s, want %s (body not restored)", got.BodySHA256, want)
				}
			}
		})
	}
}

func TestPresignedForm(t *testing.T) {
	presign := func(t *testing.T, base, method, path, rawQuery, service string, expires time.Duration, at time.Time, s3 bool) *http.Request {
		t.Helper()
		u := base + path
		if rawQuery != "" {
			u += "?" + rawQuery
		}
		req, err := http.NewRequest(method, u, nil)
		if err != nil {
			t.Fatal(err)
		}
		q := req.URL.Query()
		q.Set("X-Amz-Expires", strconv.FormatInt(int64(expires/time.Second), 10))
		req.URL.RawQuery = q.Encode()
		ph := UnsignedPayload
		if !s3 {
			ph = emptySHA256
		}
		signer := v4.NewSigner(func(so *v4.SignerOptions) { so.DisableURIPathEscaping = s3 })
		signedURL, hdr, err := signer.PresignHTTP(context.Background(), testCreds, req, ph, service, "eu-west-1", at)
		if err != nil {
			t.Fatal(err)
		}
		out, err := http.NewRequest(method, signedURL, nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range hdr {
			if !strings.EqualFold(k, "Host") {
				out.Header[k] = v
			}
		}
		return out
	}
	tests := []struct {
		name       string
		service    string
		path       string
		query      string
		expires    time.Duration
		now        time.Time
		tamper     func(u *url.URL)
		wantStatus int
		wantCode   string
		wantMsg    string
	}{
		{name: "s3 get ok", service: "s3", path: "/bucket/a%20key/x.txt", query: "versionId=v1", expires: 15 * time.Minute, wantStatus: 200},
		{name: "s3 get ok near expiry", service: "s3", path: "/bucket/k", expires: time.Hour, now: signTime.Add(59 * time.Minute), wantStatus: 200},
		{name: "s3 get a week ahead ok", service: "s3", path: "/bucket/k", expires: MaxPresignExpiry, now: signTime.Add(6 * 24 * time.Hour), wantStatus: 200},
		{name: "s3 expired", service: "s3", path: "/bucket/k", expires: 15 * time.Minute, now: signTime.Add(16 * time.Minute),
			wantStatus: 403, wantCode: "AccessDenied", wantMsg: "Request has expired"},
		{name: "s3 not yet valid", service: "s3", path: "/bucket/k", expires: time.Hour, now: signTime.Add(-20 * time.Minute),
			wantStatus: 403, wantCode: "AccessDenied", wantMsg: "Request is not valid yet"},
		{name: "s3 expires over a week", service: "s3", path: "/bucket/k", expires: MaxPresignExpiry + time.Second,
			wantStatus: 400, wantCode: "AuthorizationQueryParametersError",
			wantMsg: "X-Amz-Expires must be less than a week (in seconds); that is, the given X-Amz-Expires must be less than 604800 seconds"},
		{name: "s3 tampered query", service: "s3", path: "/bucket/k", query: "versionId=v1", expires: time.Hour,
			tamper:     func(u *url.URL) { u.RawQuery = strings.Replace(u.RawQuery, "versionId=v1", "versionId=v2", 1) },
			wantStatus: 403, wantCode: "SignatureDoesNotMatch"},
		{name: "s3 tampered path", service: "s3", path: "/bucket/k", expires: time.Hour,
			tamper: func(u *url.URL) { u.Path = "/bucket/other" }, wantStatus: 403, wantCode: "SignatureDoesNotMatch"},
		{name: "s3 missing date", service: "s3", path: "/bucket/k", expires: time.Hour,
			tamper: func(u *url.URL) {
				q := u.Query()
				q.Del("X-Amz-Date")
				u.RawQuery = q.Encode()
			}, wantStatus: 400, wantCode: "AuthorizationQueryParametersError"},
		{name: "s3 wrong algorithm", service: "s3", path: "/bucket/k", expires: time.Hour,
			tamper: func(u *url.URL) {
				q := u.Query()
				q.Set("X-Amz-Algorithm", "AWS4-HMAC-SHA1")
				u.RawQuery = q.Encode()
			}, wantStatus: 400, wantCode: "AuthorizationQueryParametersError", wantMsg: `X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"`},
		{name: "dynamodb get ok", service: "dynamodb", path: "/", expires: time.Hour, wantStatus: 200},
		{name: "dynamodb expired", service: "dynamodb", path: "/", expires: time.Minute, now: signTime.Add(2 * time.Minute),
			wantStatus: 400, wantCode: "InvalidSignatureException", wantMsg: "Request has expired"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := newClock(signTime)
			if !tc.now.IsZero() {
				clock.Set(tc.now)
			}
			srv := newServer(t, newTestVerifier(t, clock))
			req := presign(t, srv.URL, http.MethodGet, tc.path, tc.query, tc.service, tc.expires, signTime, tc.service == "s3")
			if tc.tamper != nil {
				tc.tamper(req.URL)
			}
			got := do(t, srv.Client(), req)
			checkReply(t, got, tc.wantStatus, tc.wantCode)
			if tc.wantMsg != "" && got.Message != tc.wantMsg {
				t.Fatalf("got message %q, want %q", got.Message, tc.wantMsg)
			}
			if tc.wantStatus == 200 && (!got.Presigned || got.Region != "eu-west-1") {
				t.Fatalf("got presigned %v region %q, want true eu-west-1", got.Presigned, got.Region)
			}
		})
	}
}

func TestBothAuthForms(t *testing.T) {
	clock := newClock(signTime)
	srv := newServer(t, newTestVerifier(t, clock))
	req := signedRequest(t, srv.URL, signOpts{method: http.MethodGet, path: "/bucket/k", service: "s3", s3: true,
		rawQuery: "X-Amz-Algorithm=AWS4-HMAC-SHA256", header: map[string]string{"X-Amz-Content-Sha256": emptySHA256}})
	checkReply(t, do(t, srv.Client(), req), 400, "InvalidArgument")
}

func TestLookupFailureIsInternal(t *testing.T) {
	broken := errors.New("key store unavailable")
	v, err := New(Config{
		Lookup: func(context.Context, string) (Credential, error) { return Credential{}, broken },
		Now:    newClock(signTime).Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	req := signedRequest(t, "http://meridian.test", signOpts{method: http.MethodPost, path: "/", service: "dynamodb", body: []byte("{}")})
	_, err = v.Verify(req)
	e := asError(t, err)
	if e.Kind != KindInternal || e.Status != 500 || e.Code != "InternalFailure" || !errors.Is(err, broken) {
		t.Fatalf("got %v (kind %v, status %d), want an internal error wrapping the lookup failure", err, e.Kind, e.Status)
	}
	if got := ForService(err, "s3"); got.Code != "InternalError" || got.Status != 500 {
		t.Fatalf("got S3 rendering %s/%d, want InternalError/500", got.Code, got.Status)
	}
}

func TestRequireService(t *testing.T) {
	res := &Result{Service: "dynamodb"}
	if err := res.RequireService("dynamodb"); err != nil {
		t.Fatalf("got %v, want nil", err)
	}
	err := res.RequireService("s3")
	e := asError(t, err)
	if e.Kind != KindWrongService || e.Code != "AuthorizationHeaderMalformed" {
		t.Fatalf("got kind %v code %s, want wrong-service AuthorizationHeaderMalformed", e.Kind, e.Code)
	}
	if j := ForService(err, "secretsmanager"); j.Code != "InvalidSignatureException" {
		t.Fatalf("got JSON code %s, want InvalidSignatureException", j.Code)
	}
}

func TestConfigValidate(t *testing.T) {
	lookup := keys(nil)
	tests := []struct {
		name    string
		cfg     Config
		wantErr bool
	}{
		{"zero value needs lookup", Config{}, true},
		{"defaults", Config{Lookup: lookup}, false},
		{"negative skew", Config{Lookup: lookup, MaxSkew: -time.Second}, true},
		{"negative body", Config{Lookup: lookup, MaxBody: -1}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			if (err != nil) != tc.wantErr {
				t.Fatalf("got err %v, want error %v", err, tc.wantErr)
			}
		})
	}
}

func TestMaxBody(t *testing.T) {
	clock := newClock(signTime)
	v, err := New(Config{Lookup: keys(map[string]Credential{testAKID: {SecretAccessKey: testSecret}}), Now: clock.Now, MaxBody: 16})
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"TableName":"a-table-name-longer-than-sixteen"}`)
	req := signedRequest(t, "http://meridian.test", signOpts{method: http.MethodPost, path: "/", service: "dynamodb", body: body})
	_, err = v.Verify(req)
	if e := asError(t, err); e.Kind != KindBodyTooLarge || e.Status != http.StatusRequestEntityTooLarge {
		t.Fatalf("got %v, want body-too-large with status 413", err)
	}
}

// TestRotatedSecret: a key's secret changed after requests were verified
// with the old one (whose signing key the verifier keeps): requests signed
// with the old secret are refused, those with the new one accepted.
func TestRotatedSecret(t *testing.T) {
	secret := testSecret
	v, err := New(Config{
		Lookup: func(context.Context, string) (Credential, error) { return Credential{SecretAccessKey: secret}, nil },
		Now:    newClock(signTime).Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	get := func(creds aws.Credentials) error {
		req := signedRequest(t, "http://meridian.test", signOpts{method: http.MethodPost, path: "/", service: "dynamodb", body: []byte("{}"), creds: creds})
		_, err := v.Verify(req)
		return err
	}
	if err := get(testCreds); err != nil {
		t.Fatalf("with the current secret: %v", err)
	}
	secret = "a-rotated-secret"
	if err := get(testCreds); err == nil || asError(t, err).Kind != KindSignatureMismatch {
		t.Fatalf("signed with the old secret after rotation: got %v, want a signature mismatch", err)
	}
	if err := get(aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: secret}); err != nil {
		t.Fatalf("signed with the new secret: %v", err)
	}
}
