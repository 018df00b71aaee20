// Package s3api serves the S3 REST protocol (path-style and virtual-hosted
// requests, XML bodies, SigV4 in the header and presigned forms, aws-chunked
// uploads with trailing checksums) over the object engine in internal/s3, so
// that programs written with the AWS SDKs' S3 clients work against a
// Meridian region unchanged.
//
// Every failure, whatever its source (SigV4, XML decoding, the engine), is
// rendered through the one table in errors.go as S3's XML error document
// (Code, Message, Resource, RequestId) with S3's HTTP status.
//
// It also answers the peers' internal fetch of a version's bytes (GET
// /?x-meridian-object=<id>), signed like any other request.
//
// The API port (internal/awsapi) mounts a Handler for requests that are not
// DynamoDB's; nothing else imports it.
package s3api
