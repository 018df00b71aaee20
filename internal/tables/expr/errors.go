package expr

import (
	"fmt"

	"github.com/meridian-platform/meridian/internal/tables/attr"
)

// Kind names the request parameter an expression came from. DynamoDB puts it
// at the front of its messages ("Invalid ConditionExpression: ...").
type Kind uint8

// The expression parameters of the DynamoDB API.
const (
	KindCondition Kind = iota + 1
	KindFilter
	KindKeyCondition
	KindProjection
	KindUpdate
)

// String returns the request parameter name, e.g. "ConditionExpression".
func (k Kind) String() string {
	switch k {
	case KindCondition:
		return "ConditionExpression"
	case KindFilter:
		return "FilterExpression"
	case KindKeyCondition:
		return "KeyConditionExpression"
	case KindProjection:
		return "ProjectionExpression"
	case KindUpdate:
		return "UpdateExpression"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// MaxExpressionLength is the longest expression string DynamoDB accepts, in
// bytes.
const MaxExpressionLength = 4096

// MaxPathDepth is the deepest document path DynamoDB accepts (elements of a
// path after the first).
const MaxPathDepth = 32

// MaxInOperands is the most operands the right side of IN may have.
const MaxInOperands = 100

// DynamoDB's messages for errors found when an update is applied to an item.
const (
	MsgMissingAttribute = "The provided expression refers to an attribute that does not exist in the item"
	MsgIncorrectType    = "An operand in the update expression has an incorrect data type"
	MsgInvalidPath      = "The document path provided in the update expression is invalid for update"
)

// invalidf returns a ValidationError for an expression of kind k:
// "Invalid <k>: <message>".
func invalidf(k Kind, format string, args ...any) error {
	return &attr.ValidationError{Msg: "Invalid " + k.String() + ": " + fmt.Sprintf(format, args...)}
}

// validation returns a ValidationError carrying msg unchanged.
func validation(msg string) error {
	return &attr.ValidationError{Msg: msg}
}
