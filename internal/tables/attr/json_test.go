package attr

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestUnmarshalJSONValues(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Value
	}{
		{"string", `{"S":"x"}`, Value{Kind: KindS, S: "x"}},
		{"empty string", `{"S":""}`, Value{Kind: KindS, S: ""}},
		{"escaped string", `{"S":"a\"\u00e9\n"}`, Value{Kind: KindS, S: "a\"é\n"}},
		{"number canonicalized", `{"N":"1.50"}`, Value{Kind: KindN, N: MustParseNumber("1.5")}},
		{"binary", `{"B":"AAEC/w=="}`, Value{Kind: KindB, B: []byte{0, 1, 2, 255}}},
		{"empty binary", `{"B":""}`, Value{Kind: KindB, B: []byte{}}},
		{"bool", `{"BOOL":false}`, Value{Kind: KindBOOL}},
		{"null", `{"NULL":true}`, Value{Kind: KindNULL}},
		{"other members null", `{"S":"x","N":null,"BOOL":null}`, Value{Kind: KindS, S: "x"}},
		{"unknown member ignored", `{"S":"x","Q":5}`, Value{Kind: KindS, S: "x"}},
		{"map", `{"M":{"a":{"N":"1"},"b":{"L":[]}}}`, Value{Kind: KindM, M: map[string]Value{
			"a": {Kind: KindN, N: MustParseNumber("1")},
			"b": {Kind: KindL, L: []Value{}},
		}}},
		{"list", `{"L":[{"S":"a"},{"NULL":true}]}`, Value{Kind: KindL, L: []Value{{Kind: KindS, S: "a"}, {Kind: KindNULL}}}},
		{"string set", `{"SS":["b","a",""]}`, Value{Kind: KindSS, SS: []string{"b", "a", ""}}},
		{"number set", `{"NS":["1","1.5"]}`, Value{Kind: KindNS, NS: []Number{MustParseNumber("1"), MustParseNumber("1.5")}}},
		{"binary set", `{"BS":["YQ==","Yg=="]}`, Value{Kind: KindBS, BS: [][]byte{[]byte("a"), []byte("b")}}},
		{"whitespace", " {\"S\" : \"x\" } ", Value{Kind: KindS, S: "x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got Value
			if err := json.Unmarshal([]byte(tt.in), &got); err != nil {
				t.Fatalf("Unmarshal(%s): got error %v, want %+v", tt.in, err, tt.want)
			}
			if !Equal(got, tt.want) {
				t.Errorf("Unmarshal(%s): got %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestUnmarshalJSONErrors(t *testing.T) {
	deep := strings.Repeat(`{"L":[`, MaxNesting+1) + `{"S":"x"}` + strings.Repeat(`]}`, MaxNesting+1)
	tests := []struct {
		name          string
		in            string
		want          string
		serialization bool
	}{
		{name: "empty", in: `{}`, want: msgEmptyValue},
		{name: "all null", in: `{"S":null}`, want: msgEmptyValue},
		{name: "unknown only", in: `{"X":"a"}`, want: msgEmptyValue},
		{name: "two types", in: `{"S":"a","N":"1"}`, want: msgMultipleTypes},
		{name: "NULL false", in: `{"NULL":false}`, want: "One or more parameter values were invalid: Null attribute value types must have the value of true"},
		{name: "empty SS", in: `{"SS":[]}`, want: "One or more parameter values were invalid: An string set  may not be empty"},
		{name: "empty NS", in: `{"NS":[]}`, want: "One or more parameter values were invalid: An number set  may not be empty"},
		{name: "empty BS", in: `{"BS":[]}`, want: "One or more parameter values were invalid: Binary sets should not be empty"},
		{name: "duplicate SS", in: `{"SS":["a","a"]}`, want: "One or more parameter values were invalid: Input collection [a, a] contains duplicates."},
		{name: "duplicate NS by value", in: `{"NS":["1","1.0"]}`, want: "One or more parameter values were invalid: Input collection [1, 1.0] contains duplicates."},
		{name: "duplicate BS", in: `{"BS":["Yg==","Yg=="]}`, want: "One or more parameter values were invalid: Input collection [Yg==, Yg==]of type BS contains duplicates."},
		{name: "bad number", in: `{"N":"abc"}`, want: "The parameter cannot be converted to a numeric value: abc"},
		{name: "empty number", in: `{"N":""}`, want: "The parameter cannot be converted to a numeric value"},
		{name: "bad number in set", in: `{"NS":["1","b"]}`, want: "The parameter cannot be converted to a numeric value: b"},
		{name: "number too precise", in: `{"N":"123456789012345678901234567890123456789"}`, want: msgNumberDigits},
		{name: "nested bad number", in: `{"M":{"a":{"L":[{"N":"1e126"}]}}}`, want: msgNumberOverflow},
		{name: "nested empty", in: `{"L":[{}]}`, want: msgEmptyValue},
		{name: "too deep", in: deep, want: msgNestingTooDeep},
		{name: "N as JSON number", in: `{"N":123}`, want: "NUMBER_VALUE cannot be converted to String", serialization: true},
		{name: "S as JSON decimal", in: `{"S":34.56}`, want: "DECIMAL_VALUE cannot be converted to String", serialization: true},
		{name: "S as true", in: `{"S":true}`, want: "TRUE_VALUE cannot be converted to String", serialization: true},
		{name: "S as array", in: `{"S":[]}`, want: "Unrecognized collection type class java.lang.String", serialization: true},
		{name: "S as object", in: `{"S":{}}`, want: "Start of structure or map found where not expected", serialization: true},
		{name: "BOOL as string", in: `{"BOOL":"true"}`, want: "Unexpected token received from parser", serialization: true},
		{name: "BOOL as number", in: `{"BOOL":1}`, want: "NUMBER_VALUE cannot be converted to Boolean", serialization: true},
		{name: "B bad length", in: `{"B":"23456"}`, want: "Base64 encoded length is expected a multiple of 4 bytes but found: 5", serialization: true},
		{name: "B bad char", in: `{"B":"+/+="}`, want: "Invalid last non-pad Base64 character dectected", serialization: true},
		{name: "B as number", in: `{"B":5}`, want: "only base-64-encoded strings are convertible to bytes", serialization: true},
		{name: "L as string", in: `{"L":"x"}`, want: "Unexpected field type", serialization: true},
		{name: "M as array", in: `{"M":[]}`, want: "Unrecognized collection type java.util.Map<java.lang.String, com.amazonaws.dynamodb.v20120810.AttributeValue>", serialization: true},
		{name: "value as string", in: `"x"`, want: "Unexpected value type in payload", serialization: true},
		{name: "value as array", in: `[]`, want: "Unrecognized collection type class com.amazonaws.dynamodb.v20120810.AttributeValue", serialization: true},
		{name: "shape error wins over two types", in: `{"S":"a","N":1}`, want: "NUMBER_VALUE cannot be converted to String", serialization: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v Value
			err := v.UnmarshalJSON([]byte(tt.in))
			if err == nil {
				t.Fatalf("UnmarshalJSON(%s): got %+v, want error %q", tt.in, v, tt.want)
			}
			if tt.serialization {
				var se *SerializationError
				if !errors.As(err, &se) {
					t.Fatalf("got error %v (%T), want *SerializationError", err, err)
				}
				if se.Msg != tt.want {
					t.Errorf("got %q, want %q", se.Msg, tt.want)
				}
				return
			}
			if got := validationMsg(t, err); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNestingLimit(t *testing.T) {
	ok := strings.Repeat(`{"M":{"n":`, MaxNesting) + `{"S":"leaf"}` + strings.Repeat(`}}`, MaxNesting)
	var v Value
	if err := json.Unmarshal([]byte(ok), &v); err != nil {
		t.Errorf("%d nested maps: got error %v, want success", MaxNesting, err)
	}
}

// The error must survive encoding/json so the API adapter can map it.
func TestUnmarshalErrorThroughRequestStruct(t *testing.T) {
	var req struct {
		TableName string
		Item      Item
	}
	err := json.Unmarshal([]byte(`{"TableName":"t","Item":{"a":{"SS":[]}}}`), &req)
	if got := validationMsg(t, err); got != msgEmptySS {
		t.Errorf("got %q, want %q", got, msgEmptySS)
	}
}

func TestMarshalJSON(t *testing.T) {
	it := Item{
		"s":  {Kind: KindS, S: "q\"\x01\u2028é\xff"},
		"n":  {Kind: KindN, N: MustParseNumber("1e2")},
		"b":  {Kind: KindB, B: []byte{0xff}},
		"t":  {Kind: KindBOOL, BOOL: true},
		"z":  {Kind: KindNULL},
		"m":  {Kind: KindM, M: map[string]Value{"y": {Kind: KindNULL}, "x": {Kind: KindBOOL}}},
		"l":  {Kind: KindL, L: []Value{{Kind: KindS, S: "a"}}},
		"ss": {Kind: KindSS, SS: []string{"a"}},
		"ns": {Kind: KindNS, NS: []Number{MustParseNumber("-0.50")}},
		"bs": {Kind: KindBS, BS: [][]byte{{1}}},
	}
	got, err := json.Marshal(it)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"b":{"B":"/w=="},"bs":{"BS":["AQ=="]},"l":{"L":[{"S":"a"}]},` +
		`"m":{"M":{"x":{"BOOL":false},"y":{"NULL":true}}},"n":{"N":"100"},"ns":{"NS":["-0.5"]},` +
		`"s":{"S":"q\"\u0001\u2028é\ufffd"},"ss":{"SS":["a"]},"t":{"BOOL":true},"z":{"NULL":true}}`
	if string(got) != want {
		t.Errorf("Marshal:\ngot  %s\nwant %s", got, want)
	}
	if _, err := json.Marshal(Value{}); err == nil {
		t.Errorf("Marshal(zero Value): got nil error, want an invalid kind error")
	}
}

func TestJSONRoundTrip(t *testing.T) {
	r := newRand(t)
	for range 2000 {
		// Strings from the generator may hold invalid UTF-8, which JSON
		// cannot carry; replace them with valid text.
		it := Item(validUTF8Value(Value{Kind: KindM, M: randItem(r)}).M)
		data, err := json.Marshal(it)
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		var back Item
		if err := json.Unmarshal(data, &back); err != nil {
			t.Fatalf("Unmarshal(%s): %v", data, err)
		}
		if !Equal(Value{Kind: KindM, M: it}, Value{Kind: KindM, M: back}) {
			t.Fatalf("round trip of %s: got %+v, want %+v", data, back, it)
		}
		again, _ := json.Marshal(back)
		if !bytes.Equal(again, data) {
			t.Fatalf("re-marshal: got %s, want %s", again, data)
		}
	}
}

func validUTF8Value(v Value) Value {
	fix := func(s string) string { return strings.ToValidUTF8(s, "?") }
	switch v.Kind {
	case KindS:
		v.S = fix(v.S)
	case KindSS:
		set := map[string]bool{}
		var ss []string
		for _, s := range v.SS {
			if s = fix(s); !set[s] {
				set[s] = true
				ss = append(ss, s)
			}
		}
		v.SS = ss
	case KindM:
		m := map[string]Value{}
		for k, e := range v.M {
			m[fix(k)] = validUTF8Value(e)
		}
		v.M = m
	case KindL:
		l := make([]Value, len(v.L))
		for i, e := range v.L {
			l[i] = validUTF8Value(e)
		}
		v.L = l
	}
	return v
}
