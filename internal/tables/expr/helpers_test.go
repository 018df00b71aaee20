package expr

import (
	"errors"
	"testing"

	"github.com/meridian-platform/meridian/internal/tables/attr"
)

func sv(s string) attr.Value  { return attr.Value{Kind: attr.KindS, S: s} }
func nv(s string) attr.Value  { return attr.Value{Kind: attr.KindN, N: attr.MustParseNumber(s)} }
func bv(s string) attr.Value  { return attr.Value{Kind: attr.KindB, B: []byte(s)} }
func boolv(b bool) attr.Value { return attr.Value{Kind: attr.KindBOOL, BOOL: b} }
func nullv() attr.Value       { return attr.Value{Kind: attr.KindNULL} }
func lv(vs ...attr.Value) attr.Value {
	return attr.Value{Kind: attr.KindL, L: vs}
}
func mv(kv map[string]attr.Value) attr.Value { return attr.Value{Kind: attr.KindM, M: kv} }
func ssv(ss ...string) attr.Value            { return attr.Value{Kind: attr.KindSS, SS: ss} }
func nsv(ns ...string) attr.Value {
	v := attr.Value{Kind: attr.KindNS}
	for _, n := range ns {
		v.NS = append(v.NS, attr.MustParseNumber(n))
	}
	return v
}
func bsv(bs ...string) attr.Value {
	v := attr.Value{Kind: attr.KindBS}
	for _, b := range bs {
		v.BS = append(v.BS, []byte(b))
	}
	return v
}

// testNames and testValues are the placeholders the tests and fuzzers
// parse against.
func testNames() map[string]string {
	return map[string]string{
		"#a": "a", "#c": "c", "#st": "status", "#dot": "a.b", "#idx": "[3]", "#k": "k",
	}
}

func testValues() map[string]attr.Value {
	return map[string]attr.Value{
		":s": sv("hello"), ":s2": sv("he"), ":x": sv("x"),
		":n": nv("5"), ":n2": nv("10"), ":one": nv("1"),
		":b": bv("hi"), ":bool": boolv(true), ":null": nullv(),
		":l": lv(nv("1")), ":m": mv(map[string]attr.Value{"k": sv("v")}),
		":ss": ssv("x", "y"), ":ns": nsv("1", "2"), ":bs": bsv("a"),
		":tS": sv("S"), ":tN": sv("N"), ":tBad": sv("XX"),
	}
}

func testEnv() *Env { return NewEnv(testNames(), testValues()) }

// errMsg returns the DynamoDB message of a validation error, or the plain
// text of any other error, or "" for nil.
func errMsg(err error) string {
	if err == nil {
		return ""
	}
	var ve *attr.ValidationError
	if errors.As(err, &ve) {
		return ve.Msg
	}
	return "not a ValidationError: " + err.Error()
}

func mustCondition(t *testing.T, src string) *Condition {
	t.Helper()
	c, err := testEnv().ParseCondition(src)
	if err != nil {
		t.Fatalf("ParseCondition(%q): %v", src, err)
	}
	return c
}
