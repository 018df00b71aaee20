package s3

import "fmt"

// Error is a failure the client caused or must know about, with the S3 error
// code it maps to. The wire adapter maps codes to HTTP statuses in one table.
type Error struct {
	Code    string
	Message string
	// Bucket, Key and VersionID name the resource, when the error has one.
	Bucket, Key, VersionID string
	// UploadID names a multipart upload (NoSuchUpload).
	UploadID string
	// DeleteMarker is set when the key's current version, or the version
	// addressed, is a delete marker (x-amz-delete-marker).
	DeleteMarker bool
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// S3 error codes the engine returns.
const (
	CodeNoSuchBucket            = "NoSuchBucket"
	CodeNoSuchKey               = "NoSuchKey"
	CodeNoSuchVersion           = "NoSuchVersion"
	CodeNoSuchUpload            = "NoSuchUpload"
	CodeBucketNotEmpty          = "BucketNotEmpty"
	CodeBucketAlreadyOwnedByYou = "BucketAlreadyOwnedByYou"
	CodeInvalidBucketName       = "InvalidBucketName"
	CodeKeyTooLong              = "KeyTooLongError"
	CodeInvalidArgument         = "InvalidArgument"
	CodeInvalidRequest          = "InvalidRequest"
	CodeBadDigest               = "BadDigest"
	CodeInvalidDigest           = "InvalidDigest"
	CodePreconditionFailed      = "PreconditionFailed"
	CodeEntityTooLarge          = "EntityTooLarge"
	CodeEntityTooSmall          = "EntityTooSmall"
	CodeInvalidPart             = "InvalidPart"
	CodeInvalidPartOrder        = "InvalidPartOrder"
	CodeIncompleteBody          = "IncompleteBody"
	CodeMalformedXML            = "MalformedXML"
	CodeMethodNotAllowed        = "MethodNotAllowed"
	CodeInvalidTag              = "InvalidTag"
	CodeNoSuchTagSet            = "NoSuchTagSet"
	CodeReplicationNotFound     = "ReplicationConfigurationNotFoundError"
	CodeMetadataTooLarge        = "MetadataTooLarge"
	CodeServiceUnavailable      = "ServiceUnavailable"
)

func errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

func noSuchBucket(bucket string) *Error {
	return &Error{Code: CodeNoSuchBucket, Message: "The specified bucket does not exist", Bucket: bucket}
}

func noSuchKey(bucket, key string) *Error {
	return &Error{Code: CodeNoSuchKey, Message: "The specified key does not exist.", Bucket: bucket, Key: key}
}

func noSuchVersion(bucket, key, vid string) *Error {
	return &Error{Code: CodeNoSuchVersion, Message: "The specified version does not exist.", Bucket: bucket, Key: key, VersionID: vid}
}

func noSuchUpload(bucket, key, id string) *Error {
	return &Error{Code: CodeNoSuchUpload, Message: "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.", Bucket: bucket, Key: key, UploadID: id}
}

func preconditionFailed(bucket, key string) *Error {
	return &Error{Code: CodePreconditionFailed, Message: "At least one of the pre-conditions you specified did not hold", Bucket: bucket, Key: key}
}
