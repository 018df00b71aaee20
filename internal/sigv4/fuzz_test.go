package sigv4

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func FuzzParseAuthorization(f *testing.F) {
	f.Add("AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/dynamodb/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc")
	f.Add("AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/s3/aws4_request,SignedHeaders=host,Signature=00")
	f.Add("AWS4-HMAC-SHA256 Credential AKID/20240101/us-east-1/s3/aws4_request")
	f.Add("AWS AKID:c2lnbmF0dXJl")
	f.Add("AWS4-HMAC-SHA256 ,,,=,Credential=,Signature==")
	f.Fuzz(func(t *testing.T, v string) {
		h, err := parseAuthorization(v)
		if err != nil {
			var pe *authParseError
			if !errors.As(err, &pe) || pe.json == "" || pe.s3 == "" {
				t.Fatalf("got error %v without both renderings", err)
			}
			return
		}
		if h.credential == "" || h.signedHeaders == "" || h.signature == "" {
			t.Fatalf("parsed %q into %+v with an empty component", v, h)
		}
		if !strings.HasPrefix(v, algorithm) {
			t.Fatalf("accepted %q without the %s prefix", v, algorithm)
		}
		if names, err := parseSignedHeaders(h.signedHeaders); err == nil && strings.Join(names, ";") != h.signedHeaders {
			t.Fatalf("signed headers %q did not round-trip: %v", h.signedHeaders, names)
		}
	})
}

func FuzzParseCredential(f *testing.F) {
	f.Add("AKID/20240101/us-east-1/dynamodb/aws4_request")
	f.Add("AKID/20240230/us-east-1/s3/aws4_request")
	f.Add("/20240101/us-east-1/s3/aws4_request")
	f.Add("AKID/20240101//s3/aws4_request")
	f.Add("AKID/2024010/us-east-1/s3/aws4_requesx")
	f.Fuzz(func(t *testing.T, s string) {
		sc, err := parseCredential(s)
		if err != nil {
			var se *scopeError
			if !errors.As(err, &se) || se.json == "" || se.s3 == "" {
				t.Fatalf("got error %v without both renderings", err)
			}
			return
		}
		if got := sc.accessKeyID + "/" + sc.String(); got != s {
			t.Fatalf("credential %q round-tripped to %q", s, got)
		}
		if _, err := time.Parse(scopeDateFmt, sc.date); err != nil {
			t.Fatalf("accepted date %q: %v", sc.date, err)
		}
	})
}

// FuzzChunkDecoder feeds arbitrary bytes to the aws-chunked decoder in every
// mode: it must not panic, must end, must never hand out more than the
// declared length, and must hand out exactly that much when it succeeds.
func FuzzChunkDecoder(f *testing.F) {
	data := testData(20_000)
	for _, m := range []struct{ signed, trailer bool }{{true, false}, {true, true}, {false, true}} {
		enc := testEncoder(m.signed, m.trailer)
		f.Add(enc.encode(data[:100], 64), m.signed, m.trailer, uint16(100))
		f.Add(enc.encode(data, 9000), m.signed, m.trailer, uint16(len(data)))
	}
	f.Add([]byte("3\r\nabc\r\n0\r\nx-amz-checksum-crc32c:AAAAAA==\r\n\r\n"), false, true, uint16(3))
	f.Fuzz(func(t *testing.T, body []byte, signed, trailer bool, declared uint16) {
		if !signed && !trailer {
			trailer = true // no such mode: unsigned streaming always has a trailer
		}
		enc := testEncoder(signed, trailer)
		if !trailer {
			enc.checksum = ""
		}
		d := decoderFor(body, enc, int(declared))
		var out bytes.Buffer
		n, err := io.Copy(&out, io.LimitReader(d, int64(declared)+1))
		if n > int64(declared) {
			t.Fatalf("decoded %d bytes, more than the declared %d", n, declared)
		}
		if err != nil {
			asError(t, err)
			return
		}
		// A nil error means the decoder returned io.EOF (the limit is only
		// reached past the declared length, which failed above).
		if n != int64(declared) {
			t.Fatalf("decoded %d bytes without error, want the declared %d", n, declared)
		}
	})
}

// FuzzVerify sends arbitrary Authorization headers, query strings and bodies
// through Verify: every failure must be an *Error.
func FuzzVerify(f *testing.F) {
	f.Add("AWS4-HMAC-SHA256 Credential=AKIDMERIDIANTEST/20240101/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=00",
		"", "/bucket/key", "STREAMING-UNSIGNED-PAYLOAD-TRAILER", []byte("0\r\n\r\n"))
	f.Add("", "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDMERIDIANTEST%2F20240101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20240101T000000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=00",
		"/bucket/a%20b", "", []byte(nil))
	f.Add("AWS4-HMAC-SHA256 Credential=AKIDMERIDIANTEST/20240101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=00",
		"a=b&c", "/./a/../b//", "", []byte("{}"))
	v, err := New(Config{
		Lookup:  keys(map[string]Credential{testAKID: {SecretAccessKey: testSecret}}),
		Now:     newClock(signTime).Now,
		MaxBody: 1 << 16,
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, authz, rawQuery, path, contentSHA string, body []byte) {
		u := &url.URL{Scheme: "http", Host: "meridian.test", RawQuery: rawQuery}
		if p, err := url.PathUnescape(path); err == nil {
			u.Path = p
		}
		req := &http.Request{Method: http.MethodPut, URL: u, Host: u.Host, Header: http.Header{},
			Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body))}
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		req.Header.Set("X-Amz-Date", "20240101T000000Z")
		req.Header.Set("X-Amz-Decoded-Content-Length", "0")
		req.Header.Set("X-Amz-Trailer", "x-amz-checksum-crc32")
		if contentSHA != "" {
			req.Header.Set("X-Amz-Content-Sha256", contentSHA)
		}
		if _, err := v.Verify(req); err != nil {
			e := asError(t, err)
			if e.Code == "" || e.Message == "" || e.Status < 400 {
				t.Fatalf("got incomplete error %+v", e)
			}
			for _, svc := range []string{"s3", "dynamodb"} {
				if r := ForService(err, svc); r.Code == "" || r.Status < 400 {
					t.Fatalf("got incomplete %s rendering %+v", svc, r)
				}
			}
		}
	})
}
