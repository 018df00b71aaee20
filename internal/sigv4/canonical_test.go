package sigv4

import (
	"errors"
	"net/http"
	"net/url"
	"testing"
	"time"
)

func TestCanonicalURI(t *testing.T) {
	tests := []struct {
		name, raw string
		s3        bool
		want      string
	}{
		{"root", "", false, "/"},
		{"dynamodb root", "/", false, "/"},
		{"double encoded", "/a%20b/c", false, "/a%2520b/c"},
		{"dot segments removed", "/a/./b/../c", false, "/a/c"},
		{"empty segments removed", "//a//b/", false, "/a/b/"},
		{"dotdot above root", "/../a", false, "/a"},
		{"s3 single encoded", "/bucket/a%20b", true, "/bucket/a%20b"},
		{"s3 keeps dot segments", "/bucket/./a/../b", true, "/bucket/./a/../b"},
		{"s3 keeps empty segments", "/bucket//a", true, "/bucket//a"},
		{"s3 encodes sub-delims", "/bucket/a+b=c!", true, "/bucket/a%2Bb%3Dc%21"},
		{"s3 encoded slash stays in segment", "/bucket/a%2Fb", true, "/bucket/a%2Fb"},
		{"s3 unicode", "/bucket/%E2%82%AC", true, "/bucket/%E2%82%AC"},
		{"s3 tilde unreserved", "/bucket/%7Ea", true, "/bucket/~a"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u, err := url.Parse("http://h" + tc.raw)
			if err != nil {
				t.Fatal(err)
			}
			if got := canonicalURI(u, tc.s3); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestCanonicalQuery(t *testing.T) {
	tests := []struct {
		name, raw, skip, want string
	}{
		{"empty", "", "", ""},
		{"sorted by name then value", "b=2&a=2&a=1", "", "a=1&a=2&b=2"},
		{"valueless parameter", "acl", "", "acl="},
		{"sorted after encoding", "k=a-b&k=a%2Fb", "", "k=a%2Fb&k=a-b"},
		{"space and plus", "q=a+b&r=a%20b&s=a%2Bb", "", "q=a%20b&r=a%20b&s=a%2Bb"},
		{"reserved encoded", "prefix=a/b&x=%7E", "", "prefix=a%2Fb&x=~"},
		{"signature skipped", "X-Amz-Signature=abc&X-Amz-Date=1", "X-Amz-Signature", "X-Amz-Date=1"},
		{"semicolon kept", "a=b;c", "", "a=b%3Bc"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := canonicalQuery(tc.raw, tc.skip); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestTrimAll(t *testing.T) {
	tests := []struct{ in, want string }{
		{"  a   b  c ", "a b c"},
		{"plain", "plain"},
		{"\ta", "a"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			if got := trimAll(tc.in); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestErrorRenderings checks that every error has a code, message and status
// in both families, and that ForService picks the family.
func TestErrorRenderings(t *testing.T) {
	now := time.Date(2024, 1, 1, 0, 30, 0, 0, time.UTC)
	errs := []*Error{
		errInternal(errors.New("x")), errMissingAuth(), errUnknownKey("s3", nil), errSignatureMismatch("s3"),
		errTimeSkewed("s3", signTime, now, 15*time.Minute), errMalformedAuth("", "j", "s"),
		errInvalidScope("", true, "j", "s"), errMalformedQuery("", "m"), errExpired(""), errNotYetValid(""),
		errHostNotSigned(""), errHeadersNotSigned("", "x-amz-acl"), errSigV2("m"),
		errWrongService("s3", "dynamodb"), errContentSHA256Mismatch("", "a", "b"), errMissingContentSHA256(""),
		errInvalidContentSHA256(""), errBodyTooLarge("", 1), errMissingDecodedLength(""), errIncompleteBody(""),
		errInvalidChunkSize(), errBadDigest("CRC32"), errInvalidChecksum("m"),
	}
	for _, e := range errs {
		t.Run(e.Kind.String()+" "+e.Code, func(t *testing.T) {
			for _, r := range []*Error{e.JSON(), e.S3()} {
				if r.Code == "" || r.Message == "" || r.Status < 400 || r.Status > 599 {
					t.Fatalf("got incomplete rendering %q %q %d", r.Code, r.Message, r.Status)
				}
				if r.Kind != e.Kind {
					t.Fatalf("got kind %v after rendering, want %v", r.Kind, e.Kind)
				}
			}
			if got, want := ForService(e, "s3").Code, e.s3.code; got != want {
				t.Fatalf("ForService s3: got %q, want %q", got, want)
			}
			if got, want := ForService(e, "secretsmanager").Code, e.json.code; got != want {
				t.Fatalf("ForService secretsmanager: got %q, want %q", got, want)
			}
		})
	}
	if ForService(nil, "s3") != nil {
		t.Fatal("got an error for nil, want nil")
	}
	if got := ForService(errors.New("boom"), "s3"); got.Code != "InternalError" || got.Status != http.StatusInternalServerError {
		t.Fatalf("got %s/%d for a foreign error, want InternalError/500", got.Code, got.Status)
	}
}
