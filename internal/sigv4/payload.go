package sigv4

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"slices"
)

type payloadKind int

const (
	modeComputed  payloadKind = iota // no x-amz-content-sha256: hash the body (JSON protocols)
	modeUnsigned                     // UNSIGNED-PAYLOAD
	modeHex                          // a hex SHA-256 to check against the body
	modeStreaming                    // one of the STREAMING-* markers (aws-chunked)
)

// payloadMode decides the canonical request's payload line from
// x-amz-content-sha256.
func payloadMode(r *http.Request, s3, presigned bool) (string, payloadKind, error) {
	service := "dynamodb"
	if s3 {
		service = "s3"
	}
	hv := r.Header.Get("X-Amz-Content-Sha256")
	switch {
	case hv == "":
		if !s3 {
			return "", modeComputed, nil
		}
		if presigned {
			return UnsignedPayload, modeUnsigned, nil
		}
		return "", 0, errMissingContentSHA256(service)
	case hv == UnsignedPayload:
		return hv, modeUnsigned, nil
	case isHexSHA256(hv):
		return hv, modeHex, nil
	case s3 && (hv == StreamingSignedPayload || hv == StreamingSignedPayloadTrail || hv == StreamingUnsignedPayloadTrail):
		return hv, modeStreaming, nil
	}
	return "", 0, errInvalidContentSHA256(service)
}

func isHexSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func hexString(b []byte) string { return hex.EncodeToString(b) }

func sortStrings(s []string) { slices.Sort(s) }

// hashingBody passes an S3 body through while hashing it, and at the end
// returns XAmzContentSHA256Mismatch instead of io.EOF if the hash differs from
// x-amz-content-sha256.
type hashingBody struct {
	rc   io.ReadCloser
	h    hash.Hash
	want string
	err  error
}

func newHashingBody(rc io.ReadCloser, want string) *hashingBody {
	return &hashingBody{rc: rc, h: sha256.New(), want: want}
}

func (b *hashingBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	n, err := b.rc.Read(p)
	b.h.Write(p[:n])
	switch {
	case err == nil:
	case errors.Is(err, io.EOF):
		if got := hex.EncodeToString(b.h.Sum(nil)); got != b.want {
			b.err = errContentSHA256Mismatch("s3", b.want, got)
		} else {
			b.err = io.EOF
		}
	default:
		b.err = bodyReadError(err)
	}
	return n, b.err
}

func (b *hashingBody) Close() error { return b.rc.Close() }

// bodyReadError turns a failure of the underlying body (the client went away,
// the connection broke) into an IncompleteBody *Error that wraps it.
func bodyReadError(err error) *Error {
	e := errIncompleteBody("")
	e.cause = fmt.Errorf("reading request body: %w", err)
	return e
}
