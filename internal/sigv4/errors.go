package sigv4

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Kind says what went wrong, independent of the protocol family that reports
// it. Adapters that need to branch (for example to allow anonymous reads of a
// public resource on KindMissingAuth) compare Kind, never Code.
type Kind int

// The kinds of verification failure.
const (
	KindInternal              Kind = iota // the key lookup failed for a reason other than ErrUnknownKey
	KindMissingAuth                       // no Authorization header and no X-Amz-* query authentication
	KindUnknownKey                        // the access key ID is not known
	KindSignatureMismatch                 // a request, chunk or trailer signature does not match
	KindTimeSkewed                        // the signing time is too far from the server clock
	KindMalformedAuth                     // the Authorization header or credential scope is malformed
	KindMalformedQuery                    // the presigned query parameters are malformed
	KindExpired                           // a presigned request is past X-Amz-Date + X-Amz-Expires
	KindNotYetValid                       // a presigned request is dated in the future beyond the allowed skew
	KindHeadersNotSigned                  // host, or (S3) an x-amz-* header, is not among the signed headers
	KindUnsupported                       // an authorization mechanism or payload option this server does not support
	KindWrongService                      // the credential scope names another service than the endpoint
	KindContentSHA256Mismatch             // the body does not hash to x-amz-content-sha256
	KindMissingContentSHA256              // S3 request without x-amz-content-sha256
	KindInvalidContentSHA256              // x-amz-content-sha256 is neither a hash nor a known marker
	KindBodyTooLarge                      // the body exceeds Config.MaxBody where it must be buffered
	KindMissingDecodedLength              // aws-chunked request without a valid x-amz-decoded-content-length
	KindIncompleteBody                    // the aws-chunked body is truncated, malformed or of the wrong length
	KindInvalidChunkSize                  // a signed chunk other than the last is smaller than 8 KiB
	KindBadDigest                         // the trailing checksum does not match the decoded body
	KindInvalidChecksum                   // the trailing checksum value or algorithm is not valid
)

var kindNames = [...]string{
	KindInternal:              "internal",
	KindMissingAuth:           "missing-auth",
	KindUnknownKey:            "unknown-key",
	KindSignatureMismatch:     "signature-mismatch",
	KindTimeSkewed:            "time-skewed",
	KindMalformedAuth:         "malformed-auth",
	KindMalformedQuery:        "malformed-query",
	KindExpired:               "expired",
	KindNotYetValid:           "not-yet-valid",
	KindHeadersNotSigned:      "headers-not-signed",
	KindUnsupported:           "unsupported",
	KindWrongService:          "wrong-service",
	KindContentSHA256Mismatch: "content-sha256-mismatch",
	KindMissingContentSHA256:  "missing-content-sha256",
	KindInvalidContentSHA256:  "invalid-content-sha256",
	KindBodyTooLarge:          "body-too-large",
	KindMissingDecodedLength:  "missing-decoded-length",
	KindIncompleteBody:        "incomplete-body",
	KindInvalidChunkSize:      "invalid-chunk-size",
	KindBadDigest:             "bad-digest",
	KindInvalidChecksum:       "invalid-checksum",
}

func (k Kind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Error is a verification failure as an AWS API reports it: Code is the error
// code (the JSON protocols' __type, S3's <Code>), Message the human text and
// Status the HTTP status. Every error that Verify returns, and every error
// that a body it installed returns from Read, is an *Error. Its Code, Message
// and Status are rendered for the protocol family of the request's credential
// scope (JSON when it has none); JSON, S3 and ForService render it for a
// family the caller chooses.
type Error struct {
	Code    string
	Message string
	Status  int
	Kind    Kind

	json, s3 rendering
	cause    error
}

type rendering struct {
	code, message string
	status        int
}

func (e *Error) Error() string {
	if e.cause != nil {
		return fmt.Sprintf("sigv4: %s: %s: %v", e.Code, e.Message, e.cause)
	}
	return fmt.Sprintf("sigv4: %s: %s", e.Code, e.Message)
}

// Unwrap returns the underlying cause, such as the key lookup's error.
func (e *Error) Unwrap() error { return e.cause }

// JSON returns e rendered for the AWS JSON protocols (DynamoDB, Secrets
// Manager): Code is the bare exception name for __type.
func (e *Error) JSON() *Error { return e.as(e.json) }

// S3 returns e rendered for the S3 REST protocol: Code goes in <Code>.
func (e *Error) S3() *Error { return e.as(e.s3) }

func (e *Error) as(r rendering) *Error {
	c := *e
	c.Code, c.Message, c.Status = r.code, r.message, r.status
	return &c
}

// ForService renders any error from Verify, or from reading a body Verify
// installed, for the protocol family of service ("s3" for S3 REST, anything
// else for the JSON protocols). An error that is not an *Error becomes an
// internal error of that family. It returns nil for a nil error.
func ForService(err error, service string) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if !errors.As(err, &e) {
		e = errInternal(err)
	}
	if isS3(service) {
		return e.S3()
	}
	return e.JSON()
}

func isS3(service string) bool { return service == "s3" }

// newError builds an *Error rendered for the family of service.
func newError(k Kind, service string, json, s3 rendering, cause error) *Error {
	e := &Error{Kind: k, json: json, s3: s3, cause: cause}
	r := json
	if isS3(service) {
		r = s3
	}
	e.Code, e.Message, e.Status = r.code, r.message, r.status
	return e
}

// The exact texts AWS returns, where AWS's text is fixed.
const (
	msgInvalidSignature = "The request signature we calculated does not match the signature you provided. " +
		"Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
	msgS3SignatureDoesNotMatch = "The request signature we calculated does not match the signature you provided. " +
		"Check your key and signing method."
	msgIncompleteBody   = "You did not provide the number of bytes specified by the Content-Length HTTP header."
	msgHeadersNotSigned = "There were headers present in the request which were not signed"
)

func errInternal(cause error) *Error { return errInternalFor("", cause) }

func errInternalFor(service string, cause error) *Error {
	return newError(KindInternal, service,
		rendering{"InternalFailure", "The request processing has failed because of an unknown error, exception or failure.", http.StatusInternalServerError},
		rendering{"InternalError", "We encountered an internal error. Please try again.", http.StatusInternalServerError},
		cause)
}

func errMissingAuth() *Error {
	return newError(KindMissingAuth, "",
		rendering{"MissingAuthenticationTokenException", "Request is missing Authentication Token", http.StatusBadRequest},
		rendering{"AccessDenied", "Access Denied", http.StatusForbidden}, nil)
}

func errUnknownKey(service string, cause error) *Error {
	return newError(KindUnknownKey, service,
		rendering{"UnrecognizedClientException", "The security token included in the request is invalid.", http.StatusBadRequest},
		rendering{"InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.", http.StatusForbidden}, cause)
}

func errSignatureMismatch(service string) *Error {
	return newError(KindSignatureMismatch, service,
		rendering{"InvalidSignatureException", msgInvalidSignature, http.StatusBadRequest},
		rendering{"SignatureDoesNotMatch", msgS3SignatureDoesNotMatch, http.StatusForbidden}, nil)
}

const skewStamp = "20060102T150405Z"

// errTimeSkewed reports a signing time outside [now-skew, now+skew] in AWS's
// words: "Signature expired: X is now earlier than Y (NOW - 15 min.)" or
// "Signature not yet current: X is still later than Y (NOW + 15 min.)".
func errTimeSkewed(service string, signed, now time.Time, skew time.Duration) *Error {
	var msg string
	mins := int64(skew / time.Minute)
	if signed.Before(now) {
		msg = fmt.Sprintf("Signature expired: %s is now earlier than %s (%s - %d min.)",
			signed.UTC().Format(skewStamp), now.Add(-skew).UTC().Format(skewStamp), now.UTC().Format(skewStamp), mins)
	} else {
		msg = fmt.Sprintf("Signature not yet current: %s is still later than %s (%s + %d min.)",
			signed.UTC().Format(skewStamp), now.Add(skew).UTC().Format(skewStamp), now.UTC().Format(skewStamp), mins)
	}
	return newError(KindTimeSkewed, service,
		rendering{"InvalidSignatureException", msg, http.StatusBadRequest},
		rendering{"RequestTimeTooSkewed", "The difference between the request time and the current time is too large.", http.StatusForbidden}, nil)
}

// errMalformedAuth reports a malformed Authorization header: jsonMsg is the
// IncompleteSignatureException text, s3Detail follows S3's "The authorization
// header is malformed; " prefix.
func errMalformedAuth(service, jsonMsg, s3Detail string) *Error {
	return newError(KindMalformedAuth, service,
		rendering{"IncompleteSignatureException", jsonMsg, http.StatusBadRequest},
		rendering{"AuthorizationHeaderMalformed", "The authorization header is malformed; " + s3Detail, http.StatusBadRequest}, nil)
}

// errInvalidScope reports a well-formed credential whose scope is wrong (date,
// terminator, service). JSON services call that an invalid signature.
func errInvalidScope(service string, presigned bool, jsonMsg, s3Detail string) *Error {
	s3 := rendering{"AuthorizationHeaderMalformed", "The authorization header is malformed; " + s3Detail, http.StatusBadRequest}
	if presigned {
		s3 = rendering{"AuthorizationQueryParametersError", "Error parsing the X-Amz-Credential parameter; " + s3Detail, http.StatusBadRequest}
	}
	return newError(KindMalformedAuth, service,
		rendering{"InvalidSignatureException", jsonMsg, http.StatusBadRequest}, s3, nil)
}

func errMalformedQuery(service, msg string) *Error {
	return newError(KindMalformedQuery, service,
		rendering{"IncompleteSignatureException", msg, http.StatusBadRequest},
		rendering{"AuthorizationQueryParametersError", msg, http.StatusBadRequest}, nil)
}

func errExpired(service string) *Error {
	return newError(KindExpired, service,
		rendering{"InvalidSignatureException", "Request has expired", http.StatusBadRequest},
		rendering{"AccessDenied", "Request has expired", http.StatusForbidden}, nil)
}

func errNotYetValid(service string) *Error {
	return newError(KindNotYetValid, service,
		rendering{"InvalidSignatureException", "Request is not valid yet", http.StatusBadRequest},
		rendering{"AccessDenied", "Request is not valid yet", http.StatusForbidden}, nil)
}

func errHostNotSigned(service string) *Error {
	return newError(KindHeadersNotSigned, service,
		rendering{"IncompleteSignatureException", "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.", http.StatusBadRequest},
		rendering{"AccessDenied", msgHeadersNotSigned + ": host", http.StatusForbidden}, nil)
}

func errHeadersNotSigned(service, names string) *Error {
	return newError(KindHeadersNotSigned, service,
		rendering{"IncompleteSignatureException", msgHeadersNotSigned + ": " + names, http.StatusBadRequest},
		rendering{"AccessDenied", msgHeadersNotSigned + ": " + names, http.StatusForbidden}, nil)
}

// errSigV2 refuses Signature Version 2 ("AWS AKID:sig"), which only S3 ever
// accepted; it is answered in S3's words.
func errSigV2(jsonMsg string) *Error {
	return newError(KindUnsupported, "s3",
		rendering{"IncompleteSignatureException", jsonMsg, http.StatusBadRequest},
		rendering{"InvalidRequest", "The authorization mechanism you have provided is not supported. Please use " + algorithm + ".", http.StatusBadRequest}, nil)
}

func errWrongService(got, want string) *Error {
	return newError(KindWrongService, want,
		rendering{"InvalidSignatureException", fmt.Sprintf("Credential should be scoped to correct service: '%s'. ", want), http.StatusBadRequest},
		rendering{"AuthorizationHeaderMalformed", fmt.Sprintf("The authorization header is malformed; incorrect service \"%s\". This endpoint belongs to \"%s\".", got, want), http.StatusBadRequest}, nil)
}

func errContentSHA256Mismatch(service, client, computed string) *Error {
	return newError(KindContentSHA256Mismatch, service,
		rendering{"InvalidSignatureException", msgInvalidSignature, http.StatusBadRequest},
		rendering{"XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header does not match what was computed.", http.StatusBadRequest},
		fmt.Errorf("client computed %s, server computed %s", client, computed))
}

func errMissingContentSHA256(service string) *Error {
	msg := "Missing required header for this request: x-amz-content-sha256"
	return newError(KindMissingContentSHA256, service,
		rendering{"IncompleteSignatureException", msg, http.StatusBadRequest},
		rendering{"InvalidRequest", msg, http.StatusBadRequest}, nil)
}

func errInvalidContentSHA256(service string) *Error {
	msg := "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, " +
		"STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, or a valid sha256 value."
	return newError(KindInvalidContentSHA256, service,
		rendering{"InvalidSignatureException", msg, http.StatusBadRequest},
		rendering{"InvalidArgument", msg, http.StatusBadRequest}, nil)
}

func errBodyTooLarge(service string, limit int64) *Error {
	msg := fmt.Sprintf("The request body exceeds the maximum of %d bytes that can be verified.", limit)
	return newError(KindBodyTooLarge, service,
		rendering{"RequestEntityTooLarge", msg, http.StatusRequestEntityTooLarge},
		rendering{"EntityTooLarge", msg, http.StatusBadRequest}, nil)
}

func errMissingDecodedLength(service string) *Error {
	msg := "You must provide a valid x-amz-decoded-content-length HTTP header with an aws-chunked payload."
	return newError(KindMissingDecodedLength, service,
		rendering{"ValidationException", msg, http.StatusBadRequest},
		rendering{"MissingContentLength", msg, http.StatusLengthRequired}, nil)
}

// The remaining errors concern aws-chunked bodies, which only S3 accepts; their
// JSON rendering is a generic ValidationException.

func errIncompleteBody(detail string) *Error {
	msg := msgIncompleteBody
	if detail != "" {
		msg = msgIncompleteBody + " " + detail
	}
	return newError(KindIncompleteBody, "s3",
		rendering{"ValidationException", msg, http.StatusBadRequest},
		rendering{"IncompleteBody", msg, http.StatusBadRequest}, nil)
}

func errInvalidChunkSize() *Error {
	msg := "Only the last chunk is allowed to have a size less than 8192 bytes"
	return newError(KindInvalidChunkSize, "s3",
		rendering{"ValidationException", msg, http.StatusBadRequest},
		rendering{"InvalidChunkSizeError", msg, http.StatusForbidden}, nil)
}

func errChunkSignature() *Error {
	return errSignatureMismatch("s3")
}

func errBadDigest(algorithm string) *Error {
	msg := fmt.Sprintf("The %s you specified did not match the calculated checksum.", algorithm)
	return newError(KindBadDigest, "s3",
		rendering{"ValidationException", msg, http.StatusBadRequest},
		rendering{"BadDigest", msg, http.StatusBadRequest}, nil)
}

func errInvalidChecksum(msg string) *Error {
	return newError(KindInvalidChecksum, "s3",
		rendering{"ValidationException", msg, http.StatusBadRequest},
		rendering{"InvalidRequest", msg, http.StatusBadRequest}, nil)
}
