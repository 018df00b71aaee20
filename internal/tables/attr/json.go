package attr

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// MaxNesting is how many levels of M and L DynamoDB allows inside one
// attribute value.
const MaxNesting = 32

// UnmarshalJSON decodes v from DynamoDB's JSON form ({"S":"x"}, {"N":"1"},
// {"M":{...}}, ...). It accepts exactly what DynamoDB accepts: one data type
// per value (members set to null count as absent, unknown members are
// ignored as the AWS JSON protocol does), numbers within DynamoDB's limits,
// non-empty sets without duplicates, NULL only as true, and at most
// MaxNesting levels of M and L. Errors are *SerializationError for JSON of
// the wrong shape and *ValidationError for values DynamoDB refuses. The JSON
// literal null leaves v unchanged.
func (v *Value) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	if string(data) == "null" {
		return nil
	}
	val, err := decodeJSONValue(data, 0)
	if err != nil {
		return err
	}
	*v = val
	return nil
}

// UnmarshalJSON decodes an item: a JSON object of attribute names to values
// in DynamoDB's JSON form, with the rules of Value.UnmarshalJSON. The JSON
// literal null leaves the item unchanged.
func (it *Item) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	if string(data) == "null" {
		return nil
	}
	m, err := decodeJSONMap(data, 0)
	if err != nil {
		return err
	}
	*it = m
	return nil
}

// decodeJSONMap decodes a JSON object of names to attribute values whose
// containers are at the given depth.
func decodeJSONMap(data []byte, depth int) (map[string]Value, error) {
	if len(data) == 0 || data[0] != '{' {
		if len(data) > 0 && data[0] == '[' {
			return nil, malformed("Unrecognized collection type java.util.Map<java.lang.String, com.amazonaws.dynamodb.v20120810.AttributeValue>")
		}
		return nil, malformed(msgUnexpectedField)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, malformed(fmt.Sprintf("malformed JSON object: %v", err))
	}
	m := make(map[string]Value, len(raw))
	for name, r := range raw {
		if isJSONNull(r) {
			continue
		}
		val, err := decodeJSONValue(r, depth)
		if err != nil {
			return nil, err
		}
		m[name] = val
	}
	return m, nil
}

func isJSONNull(r json.RawMessage) bool { return string(bytes.TrimSpace(r)) == "null" }

// decodeJSONValue decodes one AttributeValue; depth is the number of M/L
// containers around it.
func decodeJSONValue(data []byte, depth int) (Value, error) {
	if len(data) == 0 || data[0] != '{' {
		if len(data) > 0 && data[0] == '[' {
			return Value{}, malformed("Unrecognized collection type class com.amazonaws.dynamodb.v20120810.AttributeValue")
		}
		return Value{}, malformed(msgUnexpectedValue)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return Value{}, malformed(fmt.Sprintf("malformed JSON object: %v", err))
	}
	var (
		out   Value
		count int
	)
	// Members are examined in Kind order so the first problem reported
	// is deterministic.
	for k := KindS; k <= KindBS; k++ {
		r, ok := raw[k.String()]
		if !ok || isJSONNull(r) {
			continue
		}
		count++
		if count > 1 {
			// Keep checking the shape of later members: DynamoDB
			// reports a shape error before a validation error.
			if _, err := decodeJSONMember(k, r, depth); err != nil {
				return Value{}, err
			}
			continue
		}
		val, err := decodeJSONMember(k, r, depth)
		if err != nil {
			return Value{}, err
		}
		out = val
	}
	switch count {
	case 0:
		return Value{}, invalid(msgEmptyValue)
	case 1:
	default:
		return Value{}, invalid(msgMultipleTypes)
	}
	return out, nil
}

// decodeJSONMember decodes the member of an AttributeValue for kind k.
func decodeJSONMember(k Kind, r json.RawMessage, depth int) (Value, error) {
	r = bytes.TrimSpace(r)
	switch k {
	case KindS:
		s, err := jsonString(r)
		if err != nil {
			return Value{}, err
		}
		return Value{Kind: KindS, S: s}, nil
	case KindN:
		s, err := jsonString(r)
		if err != nil {
			return Value{}, err
		}
		n, err := ParseNumber(s)
		if err != nil {
			return Value{}, err
		}
		return Value{Kind: KindN, N: n}, nil
	case KindB:
		b, err := jsonBlob(r)
		if err != nil {
			return Value{}, err
		}
		return Value{Kind: KindB, B: b}, nil
	case KindBOOL, KindNULL:
		b, err := jsonBool(r)
		if err != nil {
			return Value{}, err
		}
		if k == KindNULL {
			if !b {
				return Value{}, invalid(msgNullNotTrue)
			}
			return Value{Kind: KindNULL}, nil
		}
		return Value{Kind: KindBOOL, BOOL: b}, nil
	case KindM:
		if depth >= MaxNesting {
			return Value{}, invalid(msgNestingTooDeep)
		}
		m, err := decodeJSONMap(r, depth+1)
		if err != nil {
			return Value{}, err
		}
		return Value{Kind: KindM, M: m}, nil
	case KindL:
		if depth >= MaxNesting {
			return Value{}, invalid(msgNestingTooDeep)
		}
		elems, err := jsonArray(r)
		if err != nil {
			return Value{}, err
		}
		l := make([]Value, 0, len(elems))
		for _, e := range elems {
			val, err := decodeJSONValue(bytes.TrimSpace(e), depth+1)
			if err != nil {
				return Value{}, err
			}
			l = append(l, val)
		}
		return Value{Kind: KindL, L: l}, nil
	case KindSS:
		return decodeJSONStringSet(r)
	case KindNS:
		return decodeJSONNumberSet(r)
	case KindBS:
		return decodeJSONBinarySet(r)
	}
	return Value{}, fmt.Errorf("decoding attribute value: unhandled kind %v", k)
}

func decodeJSONStringSet(r json.RawMessage) (Value, error) {
	elems, err := jsonArray(r)
	if err != nil {
		return Value{}, err
	}
	ss := make([]string, 0, len(elems))
	for _, e := range elems {
		s, err := jsonString(bytes.TrimSpace(e))
		if err != nil {
			return Value{}, err
		}
		ss = append(ss, s)
	}
	if len(ss) == 0 {
		return Value{}, invalid(msgEmptySS)
	}
	if hasDuplicates(ss, func(s string) string { return s }) {
		return Value{}, invalid(msgInvalidPrefix + "Input collection [" + strings.Join(ss, ", ") + "] contains duplicates.")
	}
	return Value{Kind: KindSS, SS: ss}, nil
}

func decodeJSONNumberSet(r json.RawMessage) (Value, error) {
	elems, err := jsonArray(r)
	if err != nil {
		return Value{}, err
	}
	texts := make([]string, 0, len(elems))
	for _, e := range elems {
		s, err := jsonString(bytes.TrimSpace(e))
		if err != nil {
			return Value{}, err
		}
		texts = append(texts, s)
	}
	if len(texts) == 0 {
		return Value{}, invalid(msgEmptyNS)
	}
	ns := make([]Number, 0, len(texts))
	for _, s := range texts {
		n, err := ParseNumber(s)
		if err != nil {
			return Value{}, err
		}
		ns = append(ns, n)
	}
	// Duplicates are by value: "1" and "1.0" are the same member.
	if hasDuplicates(ns, func(n Number) Number { return n }) {
		return Value{}, invalid(msgInvalidPrefix + "Input collection [" + strings.Join(texts, ", ") + "] contains duplicates.")
	}
	return Value{Kind: KindNS, NS: ns}, nil
}

func decodeJSONBinarySet(r json.RawMessage) (Value, error) {
	elems, err := jsonArray(r)
	if err != nil {
		return Value{}, err
	}
	bs := make([][]byte, 0, len(elems))
	texts := make([]string, 0, len(elems))
	for _, e := range elems {
		e = bytes.TrimSpace(e)
		b, err := jsonBlob(e)
		if err != nil {
			return Value{}, err
		}
		bs = append(bs, b)
		s, _ := jsonString(e) // already known to be a string
		texts = append(texts, s)
	}
	if len(bs) == 0 {
		return Value{}, invalid(msgEmptyBS)
	}
	if hasDuplicates(bs, func(b []byte) string { return string(b) }) {
		return Value{}, invalid(msgInvalidPrefix + "Input collection [" + strings.Join(texts, ", ") + "]of type BS contains duplicates.")
	}
	return Value{Kind: KindBS, BS: bs}, nil
}

func hasDuplicates[E any, K comparable](es []E, key func(E) K) bool {
	seen := make(map[K]struct{}, len(es))
	for _, e := range es {
		k := key(e)
		if _, dup := seen[k]; dup {
			return true
		}
		seen[k] = struct{}{}
	}
	return false
}

// jsonKindName names a JSON token the way DynamoDB's deserializer does in
// its "X cannot be converted to Y" messages.
func jsonKindName(r []byte) string {
	switch {
	case len(r) == 0:
		return "UNKNOWN_VALUE"
	case r[0] == 't':
		return "TRUE_VALUE"
	case r[0] == 'f':
		return "FALSE_VALUE"
	case r[0] == '"':
		return "STRING_VALUE"
	case bytes.ContainsAny(r, ".eE"):
		return "DECIMAL_VALUE"
	}
	return "NUMBER_VALUE"
}

func jsonString(r []byte) (string, error) {
	if len(r) == 0 {
		return "", malformed(msgUnexpectedField)
	}
	switch r[0] {
	case '"':
		var s string
		if err := json.Unmarshal(r, &s); err != nil {
			return "", malformed(fmt.Sprintf("malformed JSON string: %v", err))
		}
		return s, nil
	case '[':
		return "", malformed("Unrecognized collection type class java.lang.String")
	case '{':
		return "", malformed(msgStartOfMap)
	}
	return "", malformed(jsonKindName(r) + " cannot be converted to String")
}

func jsonBool(r []byte) (bool, error) {
	if len(r) == 0 {
		return false, malformed(msgUnexpectedField)
	}
	switch r[0] {
	case 't', 'f':
		var b bool
		if err := json.Unmarshal(r, &b); err != nil {
			return false, malformed(fmt.Sprintf("malformed JSON boolean: %v", err))
		}
		return b, nil
	case '"':
		return false, malformed("Unexpected token received from parser")
	case '[':
		return false, malformed("Unrecognized collection type class java.lang.Boolean")
	case '{':
		return false, malformed(msgStartOfMap)
	}
	return false, malformed(jsonKindName(r) + " cannot be converted to Boolean")
}

func jsonBlob(r []byte) ([]byte, error) {
	if len(r) == 0 {
		return nil, malformed(msgUnexpectedField)
	}
	switch r[0] {
	case '"':
	case '[':
		return nil, malformed("Unrecognized collection type class java.nio.ByteBuffer")
	case '{':
		return nil, malformed(msgStartOfMap)
	default:
		return nil, malformed("only base-64-encoded strings are convertible to bytes")
	}
	s, err := jsonString(r)
	if err != nil {
		return nil, err
	}
	if len(s)%4 != 0 {
		return nil, malformed(fmt.Sprintf("Base64 encoded length is expected a multiple of 4 bytes but found: %d", len(s)))
	}
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, malformed("Invalid last non-pad Base64 character dectected")
	}
	return b, nil
}

func jsonArray(r []byte) ([]json.RawMessage, error) {
	if len(r) == 0 {
		return nil, malformed(msgUnexpectedField)
	}
	switch r[0] {
	case '[':
	case '{':
		return nil, malformed(msgStartOfMap)
	default:
		return nil, malformed(msgUnexpectedField)
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(r, &elems); err != nil {
		return nil, malformed(fmt.Sprintf("malformed JSON array: %v", err))
	}
	for _, e := range elems {
		if isJSONNull(e) {
			return nil, malformed("Unexpected null element in list")
		}
	}
	return elems, nil
}

// MarshalJSON encodes v in DynamoDB's JSON form. Map members are written in
// sorted name order, set members in their stored order. It fails only for
// a Value whose Kind is invalid.
func (v Value) MarshalJSON() ([]byte, error) {
	return appendJSONValue(nil, v)
}

// MarshalJSON encodes the item as a JSON object of names to values in
// DynamoDB's JSON form, names sorted. A nil item encodes as {}.
func (it Item) MarshalJSON() ([]byte, error) {
	return appendJSONMap(nil, it)
}

func appendJSONMap(dst []byte, m map[string]Value) ([]byte, error) {
	names := make([]string, 0, len(m))
	for name := range m {
		names = append(names, name)
	}
	slices.Sort(names)
	dst = append(dst, '{')
	for i, name := range names {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, name)
		dst = append(dst, ':')
		var err error
		if dst, err = appendJSONValue(dst, m[name]); err != nil {
			return nil, fmt.Errorf("attribute %q: %w", name, err)
		}
	}
	return append(dst, '}'), nil
}

func appendJSONValue(dst []byte, v Value) ([]byte, error) {
	if !v.Kind.Valid() {
		return nil, fmt.Errorf("encoding attribute value: invalid kind %v", v.Kind)
	}
	dst = append(dst, '{')
	dst = appendJSONString(dst, v.Kind.String())
	dst = append(dst, ':')
	switch v.Kind {
	case KindS:
		dst = appendJSONString(dst, v.S)
	case KindN:
		dst = appendJSONString(dst, v.N.String())
	case KindB:
		dst = appendJSONBase64(dst, v.B)
	case KindBOOL:
		if v.BOOL {
			dst = append(dst, "true"...)
		} else {
			dst = append(dst, "false"...)
		}
	case KindNULL:
		dst = append(dst, "true"...)
	case KindM:
		var err error
		if dst, err = appendJSONMap(dst, v.M); err != nil {
			return nil, err
		}
	case KindL:
		dst = append(dst, '[')
		for i, e := range v.L {
			if i > 0 {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = appendJSONValue(dst, e); err != nil {
				return nil, fmt.Errorf("list element %d: %w", i, err)
			}
		}
		dst = append(dst, ']')
	case KindSS:
		dst = appendJSONArray(dst, v.SS, appendJSONString)
	case KindNS:
		dst = appendJSONArray(dst, v.NS, func(d []byte, n Number) []byte { return appendJSONString(d, n.String()) })
	case KindBS:
		dst = appendJSONArray(dst, v.BS, appendJSONBase64)
	}
	return append(dst, '}'), nil
}

func appendJSONArray[E any](dst []byte, es []E, appendOne func([]byte, E) []byte) []byte {
	dst = append(dst, '[')
	for i, e := range es {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendOne(dst, e)
	}
	return append(dst, ']')
}

func appendJSONBase64(dst, b []byte) []byte {
	dst = append(dst, '"')
	dst = base64.StdEncoding.AppendEncode(dst, b)
	return append(dst, '"')
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string. Invalid UTF-8 is replaced
// by U+FFFD, as encoding/json does, so the output is always valid JSON.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c >= 0x20:
				dst = append(dst, c)
			case c == '\n':
				dst = append(dst, '\\', 'n')
			case c == '\r':
				dst = append(dst, '\\', 'r')
			case c == '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
		default:
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}
