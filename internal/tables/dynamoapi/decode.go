package dynamoapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/meridian-platform/meridian/internal/tables/attr"
	"github.com/meridian-platform/meridian/internal/tables/expr"
)

// decode reads a request document into v. An empty body counts as {}.
func decode(data []byte, v any) error {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		data = []byte("{}")
	}
	if data[0] != '{' {
		return serializationf("Start of structure or map not found: the request body must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		var (
			ve *attr.ValidationError
			se *attr.SerializationError
			te *json.UnmarshalTypeError
			re *requestError
		)
		if errors.As(err, &ve) || errors.As(err, &se) || errors.As(err, &te) || errors.As(err, &re) {
			return err
		}
		return serializationf("Malformed JSON: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return serializationf("Unexpected data after the request's JSON object")
	}
	return nil
}

// violations collects DynamoDB's "N validation errors detected" constraint
// failures of one request.
type violations struct {
	msgs []string
}

func (v *violations) add(value, path, constraint string) {
	v.msgs = append(v.msgs, fmt.Sprintf("Value %s at '%s' failed to satisfy constraint: %s", value, path, constraint))
}

func (v *violations) null(path string) { v.add("null", path, "Member must not be null") }

// required records path as null unless present.
func (v *violations) required(path string, present bool) {
	if !present {
		v.null(path)
	}
}

// tableNamePattern is DynamoDB's pattern for table and index names.
const tableNamePattern = "[a-zA-Z0-9_.-]+"

func (v *violations) name(path, name string, maxLen int) {
	switch {
	case name == "":
		v.null(path)
	case len(name) < 3:
		v.add(quote(name), path, "Member must have length greater than or equal to 3")
	case len(name) > maxLen:
		v.add(quote(name), path, fmt.Sprintf("Member must have length less than or equal to %d", maxLen))
	case !validName(name):
		v.add(quote(name), path, "Member must satisfy regular expression pattern: "+tableNamePattern)
	}
}

func (v *violations) tableName(path, name string) { v.name(path, name, 255) }

func validName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

func (v *violations) atLeast(path string, n *int64, min int64) {
	if n != nil && *n < min {
		v.add(quote(fmt.Sprint(*n)), path, fmt.Sprintf("Member must have value greater than or equal to %d", min))
	}
}

func (v *violations) atMost(path string, n *int64, max int64) {
	if n != nil && *n > max {
		v.add(quote(fmt.Sprint(*n)), path, fmt.Sprintf("Member must have value less than or equal to %d", max))
	}
}

func (v *violations) err() error {
	switch len(v.msgs) {
	case 0:
		return nil
	case 1:
		return validationf("1 validation error detected: %s", v.msgs[0])
	}
	return validationf("%d validation errors detected: %s", len(v.msgs), strings.Join(v.msgs, "; "))
}

func quote(s string) string { return "'" + s + "'" }

// legacy names the legacy (pre-expression) parameters of a request and the
// expression parameter that replaces each.
type legacy struct {
	AttributesToGet     json.RawMessage `json:"AttributesToGet"`
	Expected            json.RawMessage `json:"Expected"`
	ConditionalOperator json.RawMessage `json:"ConditionalOperator"`
	AttributeUpdates    json.RawMessage `json:"AttributeUpdates"`
	KeyConditions       json.RawMessage `json:"KeyConditions"`
	QueryFilter         json.RawMessage `json:"QueryFilter"`
	ScanFilter          json.RawMessage `json:"ScanFilter"`
}

// check refuses any legacy parameter present, naming what to use instead.
func (l *legacy) check() error {
	for _, p := range []struct {
		name    string
		raw     json.RawMessage
		instead string
	}{
		{"AttributesToGet", l.AttributesToGet, "ProjectionExpression"},
		{"Expected", l.Expected, "ConditionExpression"},
		{"ConditionalOperator", l.ConditionalOperator, "ConditionExpression or FilterExpression with AND/OR"},
		{"AttributeUpdates", l.AttributeUpdates, "UpdateExpression"},
		{"KeyConditions", l.KeyConditions, "KeyConditionExpression"},
		{"QueryFilter", l.QueryFilter, "FilterExpression"},
		{"ScanFilter", l.ScanFilter, "FilterExpression"},
	} {
		if len(p.raw) > 0 && string(p.raw) != "null" {
			return validationf("The legacy parameter %s is not supported by Meridian; use %s instead", p.name, p.instead)
		}
	}
	return nil
}

// exprParams are a request's ExpressionAttributeNames and Values.
type exprParams struct {
	ExpressionAttributeNames  map[string]string          `json:"ExpressionAttributeNames"`
	ExpressionAttributeValues map[string]json.RawMessage `json:"ExpressionAttributeValues"`
}

// env builds the request's expression environment; uses says whether the
// request has any expression.
func (p *exprParams) env(uses bool) (*expr.Env, error) {
	if p.ExpressionAttributeNames != nil && len(p.ExpressionAttributeNames) == 0 {
		return nil, validationf("ExpressionAttributeNames must not be empty")
	}
	if p.ExpressionAttributeValues != nil && len(p.ExpressionAttributeValues) == 0 {
		return nil, validationf("ExpressionAttributeValues must not be empty")
	}
	if !uses && p.ExpressionAttributeNames != nil {
		return nil, validationf("ExpressionAttributeNames can only be specified when using expressions")
	}
	if !uses && p.ExpressionAttributeValues != nil {
		return nil, validationf("ExpressionAttributeValues can only be specified when using expressions")
	}
	var values map[string]attr.Value
	if p.ExpressionAttributeValues != nil {
		values = make(map[string]attr.Value, len(p.ExpressionAttributeValues))
		keys := make([]string, 0, len(p.ExpressionAttributeValues))
		for k := range p.ExpressionAttributeValues {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			var v attr.Value
			if err := v.UnmarshalJSON(p.ExpressionAttributeValues[k]); err != nil {
				var ve *attr.ValidationError
				if errors.As(err, &ve) {
					return nil, validationf("ExpressionAttributeValues contains invalid value: %s for key %s", ve.Msg, k)
				}
				return nil, err
			}
			if v.Kind == 0 {
				return nil, validationf("ExpressionAttributeValues contains invalid value: Supplied AttributeValue is empty, must contain exactly one of the supported datatypes for key %s", k)
			}
			values[k] = v
		}
	}
	return expr.NewEnv(p.ExpressionAttributeNames, values), nil
}

// condition parses an optional ConditionExpression.
func condition(env *expr.Env, src *string) (*expr.Condition, error) {
	if src == nil {
		return nil, nil
	}
	return env.ParseCondition(*src)
}

// filter parses an optional FilterExpression.
func filter(env *expr.Env, src *string) (*expr.Condition, error) {
	if src == nil {
		return nil, nil
	}
	return env.ParseFilter(*src)
}

// projection parses an optional ProjectionExpression.
func projection(env *expr.Env, src *string) (expr.Projection, error) {
	if src == nil {
		return nil, nil
	}
	return env.ParseProjection(*src)
}
