package attr

import (
	"bytes"
	"testing"
)

func TestEncodeItemRoundTrip(t *testing.T) {
	r := newRand(t)
	for range 3000 {
		it := randItem(r)
		b := EncodeItem(it)
		back, err := DecodeItem(b)
		if err != nil {
			t.Fatalf("DecodeItem(EncodeItem(%+v)): %v", it, err)
		}
		if !Equal(Value{Kind: KindM, M: it}, Value{Kind: KindM, M: back}) {
			t.Fatalf("round trip: got %+v, want %+v", back, it)
		}
		if again := EncodeItem(back); !bytes.Equal(again, b) {
			t.Fatalf("re-encode: got %x, want %x", again, b)
		}
		v := randValue(r, 3)
		vb := EncodeValue(v)
		vback, err := DecodeValue(vb)
		if err != nil || !Equal(v, vback) {
			t.Fatalf("value round trip of %+v: got %+v, %v", v, vback, err)
		}
	}
}

func TestEncodeItemDeterministic(t *testing.T) {
	a := Item{
		"ss": {Kind: KindSS, SS: []string{"b", "a", "c"}},
		"ns": {Kind: KindNS, NS: []Number{MustParseNumber("10"), MustParseNumber("-1"), MustParseNumber("1.5")}},
		"bs": {Kind: KindBS, BS: [][]byte{{2}, {1}}},
		"m":  {Kind: KindM, M: map[string]Value{"y": {Kind: KindNULL}, "x": {Kind: KindS, S: "x"}}},
	}
	b := Item{
		"m":  {Kind: KindM, M: map[string]Value{"x": {Kind: KindS, S: "x"}, "y": {Kind: KindNULL}}},
		"bs": {Kind: KindBS, BS: [][]byte{{1}, {2}}},
		"ns": {Kind: KindNS, NS: []Number{MustParseNumber("1.50"), MustParseNumber("1e1"), MustParseNumber("-1")}},
		"ss": {Kind: KindSS, SS: []string{"c", "a", "b"}},
	}
	if ea, eb := EncodeItem(a), EncodeItem(b); !bytes.Equal(ea, eb) {
		t.Errorf("equal items: got encodings %x and %x, want identical", ea, eb)
	}
	if ea, eb := EncodeItem(Item{"a": {Kind: KindS, S: "1"}}), EncodeItem(Item{"a": {Kind: KindN, N: MustParseNumber("1")}}); bytes.Equal(ea, eb) {
		t.Errorf("S 1 and N 1: got identical encodings %x, want different", ea)
	}
}

func TestDecodeItemRejectsCorruption(t *testing.T) {
	valid := EncodeItem(Item{
		"a": {Kind: KindS, S: "hello"},
		"b": {Kind: KindNS, NS: []Number{MustParseNumber("1"), MustParseNumber("2.5")}},
		"c": {Kind: KindL, L: []Value{{Kind: KindM, M: map[string]Value{"k": {Kind: KindBOOL, BOOL: true}}}}},
	})
	t.Run("every truncation", func(t *testing.T) {
		for n := range len(valid) {
			if it, err := DecodeItem(valid[:n]); err == nil {
				t.Errorf("DecodeItem(first %d of %d bytes): got %+v, want error", n, len(valid), it)
			}
		}
	})
	t.Run("every single-byte change", func(t *testing.T) {
		// Must never panic; whatever decodes must re-encode canonically.
		for i := range valid {
			for _, x := range []byte{0x00, 0x01, 0x7f, 0x80, 0xff} {
				b := bytes.Clone(valid)
				b[i] = x
				it, err := DecodeItem(b)
				if err == nil && !bytes.Equal(EncodeItem(it), b) {
					t.Errorf("byte %d set to %#x: decoded to %+v, which re-encodes differently", i, x, it)
				}
			}
		}
	})
	tests := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"unknown version", []byte{9, 0}},
		{"trailing bytes", append(bytes.Clone(valid), 0)},
		{"names out of order", []byte{1, 2, 1, 'b', byte(KindNULL), 1, 'a', byte(KindNULL)}},
		{"duplicate names", []byte{1, 2, 1, 'a', byte(KindNULL), 1, 'a', byte(KindNULL)}},
		{"huge count", []byte{1, 0xff, 0xff, 0xff, 0xff, 0x0f}},
		{"bad kind", []byte{1, 1, 1, 'a', 0}},
		{"bad bool", []byte{1, 1, 1, 'a', byte(KindBOOL), 2}},
		{"set out of order", []byte{1, 1, 1, 'a', byte(KindSS), 2, 1, 'b', 1, 'a'}},
		{"set duplicate", []byte{1, 1, 1, 'a', byte(KindSS), 2, 1, 'a', 1, 'a'}},
		{"number trailing zero digit", []byte{1, 1, 1, 'a', byte(KindN), numPos, 0, 2, 0x10}},
		{"number leading zero digit", []byte{1, 1, 1, 'a', byte(KindN), numPos, 0, 2, 0x01}},
		{"number bad nibble", []byte{1, 1, 1, 'a', byte(KindN), numPos, 0, 1, 0xA0}},
		{"number nonzero padding", []byte{1, 1, 1, 'a', byte(KindN), numPos, 0, 1, 0x11}},
		{"number too many digits", []byte{1, 1, 1, 'a', byte(KindN), numPos, 0, 39}},
		{"number out of range", []byte{1, 1, 1, 'a', byte(KindN), numPos, 0xfe, 0x03, 1, 0x10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if it, err := DecodeItem(tt.in); err == nil {
				t.Errorf("DecodeItem(%x): got %+v, want error", tt.in, it)
			}
		})
	}
}

func TestDecodeDepthBounded(t *testing.T) {
	// A list nested far deeper than any valid item.
	var b []byte
	b = append(b, encodingVersion)
	for range 100000 {
		b = append(b, byte(KindL), 1)
	}
	b = append(b, byte(KindNULL))
	if _, err := DecodeValue(b); err == nil {
		t.Errorf("DecodeValue(100000 nested lists): got nil error, want nesting error")
	}
}
