package s3api

import (
	"encoding/xml"
	"errors"
	"net/http"

	"github.com/meridian-platform/meridian/internal/s3"
	"github.com/meridian-platform/meridian/internal/sigv4"
)

// Codes the adapter itself produces.
const (
	codeInvalidRange         = "InvalidRange"
	codeInternal             = "InternalError"
	codeMissingContentLength = "MissingContentLength"
	codeAccessDenied         = "AccessDenied"
)

// statuses is the one table from S3 error code to HTTP status.
var statuses = map[string]int{
	s3.CodeNoSuchBucket:            http.StatusNotFound,
	s3.CodeNoSuchKey:               http.StatusNotFound,
	s3.CodeNoSuchVersion:           http.StatusNotFound,
	s3.CodeNoSuchUpload:            http.StatusNotFound,
	s3.CodeNoSuchTagSet:            http.StatusNotFound,
	s3.CodeReplicationNotFound:     http.StatusNotFound,
	s3.CodeBucketNotEmpty:          http.StatusConflict,
	s3.CodeBucketAlreadyOwnedByYou: http.StatusConflict,
	s3.CodeInvalidBucketName:       http.StatusBadRequest,
	s3.CodeKeyTooLong:              http.StatusBadRequest,
	s3.CodeInvalidArgument:         http.StatusBadRequest,
	s3.CodeInvalidRequest:          http.StatusBadRequest,
	s3.CodeBadDigest:               http.StatusBadRequest,
	s3.CodeInvalidDigest:           http.StatusBadRequest,
	s3.CodePreconditionFailed:      http.StatusPreconditionFailed,
	s3.CodeEntityTooLarge:          http.StatusBadRequest,
	s3.CodeEntityTooSmall:          http.StatusBadRequest,
	s3.CodeInvalidPart:             http.StatusBadRequest,
	s3.CodeInvalidPartOrder:        http.StatusBadRequest,
	s3.CodeIncompleteBody:          http.StatusBadRequest,
	s3.CodeMalformedXML:            http.StatusBadRequest,
	s3.CodeMethodNotAllowed:        http.StatusMethodNotAllowed,
	s3.CodeInvalidTag:              http.StatusBadRequest,
	s3.CodeMetadataTooLarge:        http.StatusBadRequest,
	s3.CodeNotImplemented:          http.StatusNotImplemented,
	s3.CodeServiceUnavailable:      http.StatusServiceUnavailable,
	codeInvalidRange:               http.StatusRequestedRangeNotSatisfiable,
	codeMissingContentLength:       http.StatusLengthRequired,
	codeAccessDenied:               http.StatusForbidden,
	codeInternal:                   http.StatusInternalServerError,
}

// apiError is a failure as the wire shows it.
type apiError struct {
	Code, Message string
	Status        int
	Bucket, Key   string
	VersionID     string
	UploadID      string
	DeleteMarker  bool
	// Internal marks a server fault, whose cause is logged and not shown.
	Internal bool
	// Size is the object size of an InvalidRange.
	Size int64
}

// requestError is a failure the adapter finds in a request.
type requestError struct {
	code, msg string
	size      int64
}

func (e *requestError) Error() string { return e.code + ": " + e.msg }

func reqErr(code, msg string) error { return &requestError{code: code, msg: msg} }

// toAPIError maps every error the adapter meets to what the client sees.
func toAPIError(err error) *apiError {
	var (
		se *sigv4.Error
		ee *s3.Error
		re *requestError
		xe *xml.SyntaxError
	)
	var a *apiError
	switch {
	case errors.As(err, &se):
		r := sigv4.ForService(se, "s3")
		return &apiError{Code: r.Code, Message: r.Message, Status: r.Status, Internal: r.Kind == sigv4.KindInternal}
	case errors.As(err, &ee):
		a = &apiError{Code: ee.Code, Message: ee.Message, Bucket: ee.Bucket, Key: ee.Key, VersionID: ee.VersionID, UploadID: ee.UploadID, DeleteMarker: ee.DeleteMarker}
	case errors.As(err, &re):
		a = &apiError{Code: re.code, Message: re.msg, Size: re.size}
	case errors.As(err, &xe):
		a = &apiError{Code: s3.CodeMalformedXML, Message: "The XML you provided was not well-formed or did not validate against our published schema: " + xe.Msg}
	default:
		return &apiError{Code: codeInternal, Message: "We encountered an internal error. Please try again.", Status: http.StatusInternalServerError, Internal: true}
	}
	a.Status = statuses[a.Code]
	if a.Status == 0 {
		a.Status = http.StatusBadRequest
	}
	return a
}

// errorDoc is S3's XML error document.
type errorDoc struct {
	XMLName    xml.Name `xml:"Error"`
	Code       string   `xml:"Code"`
	Message    string   `xml:"Message"`
	BucketName string   `xml:"BucketName,omitempty"`
	Key        string   `xml:"Key,omitempty"`
	VersionID  string   `xml:"VersionId,omitempty"`
	UploadID   string   `xml:"UploadId,omitempty"`
	Size       int64    `xml:"ActualObjectSize,omitempty"`
	Resource   string   `xml:"Resource"`
	RequestID  string   `xml:"RequestId"`
	HostID     string   `xml:"HostId"`
}
