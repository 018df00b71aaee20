// Package dynamoapi serves the DynamoDB JSON protocol (awsJson1_0, POST with
// X-Amz-Target "DynamoDB_20120810.<Operation>") over a table engine
// (internal/tables), so that the AWS SDKs and CLI work against a Meridian
// region unchanged.
//
// A Handler authenticates every request with SigV4, decodes the request
// JSON into the engine's Go types with DynamoDB's SerializationException and
// ValidationException texts, parses all of a request's expressions against
// one expr.Env (so unused ExpressionAttributeNames and Values are reported
// as DynamoDB does), calls the engine and renders the result in DynamoDB's
// response shapes, with the x-amzn-RequestId and X-Amz-Crc32 headers the
// SDKs expect. Every failure, whatever its source (SigV4, JSON decoding,
// expression parsing, the engine), is rendered through one table of error
// codes in errors.go.
//
// The region node mounts a Handler on its API port for requests whose
// X-Amz-Target starts with "DynamoDB_20120810."; nothing else imports it.
package dynamoapi
