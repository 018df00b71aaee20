package attr

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/big"
	"testing"
)

func FuzzParseNumber(f *testing.F) {
	for _, s := range []string{"0", "-0", "1.50", "1e2", "+.5e-3", "1e126", "1e-131", "abc", "", "9.9999999999999999999999999999999999999E+125", "123456789012345678901234567890123456789", "1e99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseNumber(s)
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("ParseNumber(%q): got %T error, want *ValidationError", s, err)
			}
			return
		}
		// The canonical text must reparse to the same number, and agree
		// in value with an independent parser.
		again, err := ParseNumber(n.String())
		if err != nil || again != n {
			t.Fatalf("reparse of %q (from %q): got %v, %v", n.String(), s, again, err)
		}
		want, ok := new(big.Rat).SetString(s)
		if !ok {
			// big.Rat refuses huge exponents, which only a zero
			// coefficient can carry within DynamoDB's range.
			if !n.IsZero() {
				t.Fatalf("ParseNumber accepted %q as %s, which big.Rat rejects", s, n)
			}
			return
		}
		got, _ := new(big.Rat).SetString(n.String())
		if got.Cmp(want) != 0 {
			t.Fatalf("ParseNumber(%q) = %s, want value %s", s, n, want.RatString())
		}
	})
}

func FuzzUnmarshalJSON(f *testing.F) {
	for _, s := range []string{
		`{"S":"x"}`, `{"N":"1.5"}`, `{"B":"AAE="}`, `{"BOOL":true}`, `{"NULL":true}`,
		`{"M":{"a":{"L":[{"SS":["a","b"]},{"NS":["1","2"]},{"BS":["AA=="]}]}}}`,
		`{"S":"a","N":"1"}`, `{}`, `{"NS":["1","1.0"]}`, `[]`, `"x"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var v Value
		err := v.UnmarshalJSON(data)
		if err != nil {
			var ve *ValidationError
			var se *SerializationError
			if !errors.As(err, &ve) && !errors.As(err, &se) {
				t.Fatalf("UnmarshalJSON(%q): got %T error %v, want a typed error", data, err, err)
			}
			return
		}
		if !v.Kind.Valid() {
			if string(bytes.TrimSpace(data)) == "null" {
				return
			}
			t.Fatalf("UnmarshalJSON(%q): success with invalid kind", data)
		}
		out, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("Marshal after Unmarshal(%q): %v", data, err)
		}
		var back Value
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("re-Unmarshal(%s): %v", out, err)
		}
		if !Equal(v, back) {
			t.Fatalf("round trip of %q via %s: got %+v, want %+v", data, out, back, v)
		}
		// The storage encoding must accept whatever the wire accepts.
		if dv, err := DecodeValue(EncodeValue(v)); err != nil || !Equal(dv, v) {
			t.Fatalf("storage round trip of %+v: got %+v, %v", v, dv, err)
		}
	})
}

func FuzzDecodeItem(f *testing.F) {
	f.Add(EncodeItem(Item{}))
	f.Add(EncodeItem(Item{
		"a": {Kind: KindS, S: "x"},
		"n": {Kind: KindNS, NS: []Number{MustParseNumber("-1.5"), MustParseNumber("1e100")}},
		"m": {Kind: KindM, M: map[string]Value{"l": {Kind: KindL, L: []Value{{Kind: KindBS, BS: [][]byte{{0}, {1}}}, {Kind: KindBOOL, BOOL: true}}}}},
	}))
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0x7f})
	f.Fuzz(func(t *testing.T, b []byte) {
		it, err := DecodeItem(b)
		if err != nil {
			return
		}
		if again := EncodeItem(it); !bytes.Equal(again, b) {
			t.Fatalf("DecodeItem(%x) re-encodes to %x", b, again)
		}
	})
}

func FuzzDecodeKey(f *testing.F) {
	for _, v := range []Value{
		{Kind: KindS, S: "a\x00b"},
		{Kind: KindB, B: []byte{0, 0xff}},
		{Kind: KindN, N: MustParseNumber("-123.45")},
		{Kind: KindN, N: MustParseNumber("1e-130")},
		{Kind: KindN},
	} {
		b, _ := EncodeKey(v)
		f.Add(uint8(v.Kind), b)
	}
	f.Fuzz(func(t *testing.T, kind uint8, b []byte) {
		v, err := DecodeKey(Kind(kind), b)
		if err != nil {
			return
		}
		again, err := EncodeKey(v)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("DecodeKey(%d, %x) = %+v re-encodes to %x, %v", kind, b, v, again, err)
		}
	})
}
