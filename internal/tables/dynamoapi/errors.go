package dynamoapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/meridian-platform/meridian/internal/sigv4"
	"github.com/meridian-platform/meridian/internal/tables"
	"github.com/meridian-platform/meridian/internal/tables/attr"
)

// Error codes the adapter itself produces (the engine's are tables.Code*).
const (
	codeSerialization       = "SerializationException"
	codeUnknownOperation    = "UnknownOperationException"
	codeValidation          = tables.CodeValidation
	codeInternal            = tables.CodeInternal
	codeRequestTooLarge     = "RequestEntityTooLarge"
	codeTransactionCanceled = tables.CodeTransactionCanceled
)

// requestError is a failure found by the adapter: the code and message go
// to the client as they are.
type requestError struct {
	code string
	msg  string
}

func (e *requestError) Error() string { return e.code + ": " + e.msg }

func serializationf(format string, args ...any) error {
	return &requestError{code: codeSerialization, msg: fmt.Sprintf(format, args...)}
}

func validationf(format string, args ...any) error {
	return &requestError{code: codeValidation, msg: fmt.Sprintf(format, args...)}
}

// apiError is a failure as the wire shows it.
type apiError struct {
	Code    string
	Message string
	Status  int
	// Item is the old item of a ConditionalCheckFailedException.
	Item attr.Item
	// Reasons are a TransactionCanceledException's CancellationReasons.
	Reasons []tables.CancellationReason
	// Internal marks a server fault, whose cause is logged and not shown.
	Internal bool
}

// toAPIError is the one table from every error the adapter meets to the
// DynamoDB error code, message and HTTP status the client sees.
func toAPIError(err error) *apiError {
	var (
		se  *sigv4.Error
		te  *tables.Error
		re  *requestError
		ve  *attr.ValidationError
		ser *attr.SerializationError
		jse *json.SyntaxError
		jte *json.UnmarshalTypeError
	)
	var e *apiError
	switch {
	case errors.As(err, &se):
		r := sigv4.ForService(se, "dynamodb")
		e = &apiError{Code: r.Code, Message: r.Message, Status: r.Status}
	case errors.As(err, &te):
		e = &apiError{Code: te.Code, Message: te.Message, Item: te.Item, Reasons: te.CancellationReasons}
		if te.Code == codeTransactionCanceled && !strings.Contains(te.Message, "[") {
			e.Message = te.Message + " " + reasonList(te.CancellationReasons)
		}
	case errors.As(err, &re):
		e = &apiError{Code: re.code, Message: re.msg}
	case errors.As(err, &ve):
		e = &apiError{Code: codeValidation, Message: ve.Msg}
	case errors.As(err, &ser):
		e = &apiError{Code: codeSerialization, Message: ser.Msg}
	case errors.As(err, &jse):
		e = &apiError{Code: codeSerialization, Message: "Malformed JSON: " + jse.Error()}
	case errors.As(err, &jte):
		e = &apiError{Code: codeSerialization, Message: typeErrorMessage(jte)}
	default:
		e = &apiError{Code: codeInternal, Message: "Internal server error"}
	}
	if e.Status == 0 {
		e.Status = statusOf(e.Code)
	}
	e.Internal = e.Status >= 500
	return e
}

// statusOf is the HTTP status of a DynamoDB error code: 400 for every
// client error, as DynamoDB.
func statusOf(code string) int {
	switch code {
	case codeInternal, "InternalFailure":
		return http.StatusInternalServerError
	case "ServiceUnavailable":
		return http.StatusServiceUnavailable
	case codeRequestTooLarge:
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusBadRequest
}

// typeNamespace is the namespace DynamoDB puts before an error code in
// "__type": the Coral framework's for protocol, authentication and
// validation errors, DynamoDB's own for the rest.
func typeNamespace(code string) string {
	switch code {
	case codeValidation:
		return "com.amazon.coral.validate#"
	case codeSerialization, codeUnknownOperation, "MissingAuthenticationTokenException",
		"UnrecognizedClientException", "InvalidSignatureException", "IncompleteSignatureException",
		"AccessDeniedException", "InternalFailure", codeRequestTooLarge:
		return "com.amazon.coral.service#"
	}
	return "com.amazonaws.dynamodb.v20120810#"
}

// reasonList is the "[ConditionalCheckFailed, None]" DynamoDB appends to a
// TransactionCanceledException's message.
func reasonList(rs []tables.CancellationReason) string {
	codes := make([]string, len(rs))
	for i, r := range rs {
		codes[i] = r.Code
	}
	return "[" + strings.Join(codes, ", ") + "]"
}

// typeErrorMessage words a JSON member of the wrong type as DynamoDB's
// (Jackson-based) parser does.
func typeErrorMessage(e *json.UnmarshalTypeError) string {
	token := map[string]string{
		"string": "STRING_VALUE", "number": "NUMBER_VALUE", "bool": "VALUE_TRUE_OR_FALSE",
		"array": "START_ARRAY", "object": "START_OBJECT",
	}[e.Value]
	if strings.HasPrefix(e.Value, "number ") {
		token = "NUMBER_VALUE"
	}
	if token == "" {
		token = strings.ToUpper(e.Value)
	}
	switch token {
	case "START_OBJECT":
		return "Start of structure or map found where not expected."
	case "START_ARRAY":
		return "Start of list found where not expected"
	}
	target := "a " + goTypeName(e.Type.String())
	if e.Field != "" {
		return fmt.Sprintf("%s can not be converted to %s (at %s)", token, target, e.Field)
	}
	return fmt.Sprintf("%s can not be converted to %s", token, target)
}

func goTypeName(t string) string {
	switch {
	case t == "string":
		return "String"
	case strings.HasPrefix(t, "int"), strings.HasPrefix(t, "uint"):
		return "Integer"
	case t == "bool" || t == "*bool":
		return "Boolean"
	case strings.HasPrefix(t, "map"), strings.HasPrefix(t, "struct"), strings.HasPrefix(t, "*"):
		return "structure"
	case strings.HasPrefix(t, "[]"):
		return "list"
	}
	return t
}

// errorDocument is DynamoDB's JSON error body. DynamoDB capitalizes the
// message member of TransactionCanceledException only.
type errorDocument struct {
	Type                string                   `json:"__type"`
	Message             string                   `json:"message,omitempty"`
	CapitalMessage      string                   `json:"Message,omitempty"`
	CancellationReasons []cancellationReasonJSON `json:",omitempty"`
	Item                attr.Item                `json:",omitempty"`
}

// body renders e as DynamoDB's JSON error document.
func (e *apiError) body() []byte {
	doc := errorDocument{Type: typeNamespace(e.Code) + e.Code, Item: e.Item}
	if e.Code == codeTransactionCanceled {
		doc.CapitalMessage = e.Message
		doc.CancellationReasons = make([]cancellationReasonJSON, len(e.Reasons))
		for i, r := range e.Reasons {
			doc.CancellationReasons[i] = cancellationReasonJSON{Code: r.Code, Message: r.Message, Item: r.Item}
		}
	} else {
		doc.Message = e.Message
	}
	b, err := marshal(doc)
	if err != nil {
		// Items from the engine always encode; this is a broken invariant.
		panic(fmt.Sprintf("dynamoapi: encoding error document: %v", err))
	}
	return b
}

type cancellationReasonJSON struct {
	Code    string    `json:"Code"`
	Message string    `json:"Message,omitempty"`
	Item    attr.Item `json:"Item,omitempty"`
}

// marshal encodes v as DynamoDB does: no HTML escaping of '<', '>', '&'.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
