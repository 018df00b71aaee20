// Package expr parses and evaluates DynamoDB expressions: condition and
// filter expressions, key condition expressions, projection expressions and
// update expressions, with ExpressionAttributeNames (#n) and
// ExpressionAttributeValues (:v) substituted and validated as DynamoDB does,
// and with DynamoDB's ValidationException messages.
//
// The lexer and the recursive-descent parsers are hand-written. Parsing
// happens against an Env, which holds one request's names and values and
// records which of them the request's expressions use, so that the caller
// can report unused ones across all expressions of the request
// (Env.CheckUnused).
//
// A parsed Update exposes its actions (SET, REMOVE, ADD, DELETE) as a list,
// so that the table engine can store numeric ADD as a per-region counter and
// set ADD/DELETE as add-wins set operations instead of applying them blindly.
//
// Errors that DynamoDB reports as ValidationException are *attr.ValidationError
// values whose Msg is DynamoDB's message text.
//
// It has no I/O and no package-level mutable state. It is imported by the
// table engine (internal/tables) and the DynamoDB API adapter
// (internal/tables/dynamoapi); it imports only internal/tables/attr.
package expr
