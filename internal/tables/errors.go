package tables

import (
	"errors"
	"fmt"

	"github.com/meridian-platform/meridian/internal/tables/attr"
)

// DynamoDB error codes an Engine returns in Error.Code. The adapter sends
// Code as the error type ("__type") and Message as the message; every code is
// a client error (HTTP 400) except CodeInternal (HTTP 500).
const (
	CodeValidation             = "ValidationException"
	CodeResourceNotFound       = "ResourceNotFoundException"
	CodeResourceInUse          = "ResourceInUseException"
	CodeConditionalCheckFailed = "ConditionalCheckFailedException"
	CodeTransactionCanceled    = "TransactionCanceledException"
	CodeLimitExceeded          = "LimitExceededException"
	CodeInternal               = "InternalServerError"
)

// Cancellation reason codes of a TransactionCanceledException.
const (
	ReasonNone                   = "None"
	ReasonConditionalCheckFailed = "ConditionalCheckFailed"
	ReasonValidation             = "ValidationError"
)

// Error is every failure an Engine reports to a client: a DynamoDB error
// code and message, plus the payload some codes carry. Use errors.As to get
// it; anything else an Engine returns is an internal error.
type Error struct {
	// Code is the DynamoDB error type, one of the Code* constants.
	Code string
	// Message is DynamoDB's message text.
	Message string
	// Item is the item as it was, for a ConditionalCheckFailedException of a
	// request that asked ReturnValuesOnConditionCheckFailure ALL_OLD (nil
	// when the item did not exist or was not asked for).
	Item attr.Item
	// CancellationReasons has one entry per action of a cancelled
	// transaction, in request order (TransactionCanceledException only).
	CancellationReasons []CancellationReason
	// Err is the underlying cause, if any (internal errors).
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Code + ": " + e.Message + ": " + e.Err.Error()
	}
	return e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// CancellationReason says why one action of a transaction did or did not
// cancel it. Code is ReasonNone for actions that were fine.
type CancellationReason struct {
	Code    string
	Message string
	// Item is the item as it was, for ReasonConditionalCheckFailed when the
	// action asked ReturnValuesOnConditionCheckFailure ALL_OLD.
	Item attr.Item
}

// DynamoDB's messages.
const (
	msgNotFound            = "Requested resource not found"
	msgConditionFailed     = "The conditional request failed"
	msgKeySchema           = "The provided key element does not match the schema"
	msgInvalidPrefix       = "One or more parameter values were invalid: "
	msgItemTooLarge        = "Item size has exceeded the maximum allowed size"
	msgUpdateTooLarge      = "Item size to update has exceeded the maximum allowed size"
	msgTransactionCanceled = "Transaction cancelled, please refer cancellation reasons for specific reasons"
)

func validationf(format string, args ...any) *Error {
	return &Error{Code: CodeValidation, Message: fmt.Sprintf(format, args...)}
}

func notFound() *Error { return &Error{Code: CodeResourceNotFound, Message: msgNotFound} }

func tableNotFound(name string) *Error {
	return &Error{Code: CodeResourceNotFound, Message: msgNotFound + ": Table: " + name + " not found"}
}

func internal(err error) *Error {
	return &Error{Code: CodeInternal, Message: "Internal server error", Err: err}
}

// asError converts err to an *Error: validation errors of attr and expr
// become ValidationExceptions with their message, *Error stays as is and
// anything else is an internal error.
func asError(err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var v *attr.ValidationError
	if errors.As(err, &v) {
		return &Error{Code: CodeValidation, Message: v.Msg}
	}
	return internal(err)
}
