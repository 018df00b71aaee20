package attr

import (
	"bytes"
	"cmp"
	"math/rand/v2"
	"strings"
	"testing"
)

func randKeyValue(r *rand.Rand, k Kind) Value {
	switch k {
	case KindS:
		return Value{Kind: KindS, S: randString(r)}
	case KindB:
		return Value{Kind: KindB, B: []byte(randString(r))}
	}
	return Value{Kind: KindN, N: randNumber(r)}
}

func mustKey(t testing.TB, v Value) []byte {
	t.Helper()
	b, err := EncodeKey(v)
	if err != nil {
		t.Fatalf("EncodeKey(%+v): %v", v, err)
	}
	return b
}

func TestKeyOrderMatchesCompare(t *testing.T) {
	r := newRand(t)
	for _, k := range []Kind{KindS, KindN, KindB} {
		t.Run(k.String(), func(t *testing.T) {
			for range 20000 {
				a, b := randKeyValue(r, k), randKeyValue(r, k)
				want, ok := Compare(a, b)
				if !ok {
					t.Fatalf("Compare(%+v, %+v) not ok", a, b)
				}
				ea, eb := mustKey(t, a), mustKey(t, b)
				if got := bytes.Compare(ea, eb); got != want {
					t.Fatalf("order of %+v and %+v: encodings %x, %x compare %d, want %d", a, b, ea, eb, got, want)
				}
				back, err := DecodeKey(k, ea)
				if err != nil || !Equal(back, a) {
					t.Fatalf("DecodeKey(%v, %x): got %+v, %v; want %+v", k, ea, back, err, a)
				}
			}
		})
	}
}

func TestNumberKeyOrderEdges(t *testing.T) {
	// Ascending numerically.
	nums := []string{
		"-9.9999999999999999999999999999999999999E+125", "-1e125", "-10", "-9.5", "-9", "-1.01", "-1.001", "-1",
		"-0.12", "-0.1", "-1e-130", "0", "1e-130", "1.1e-130", "0.1", "0.101", "0.12", "1", "1.0000000000000000000000000000000000001", "1.001", "1.01", "9", "9.5", "10",
		"11", "99", "100", "1e125", "9.9999999999999999999999999999999999999E+125",
	}
	var prev []byte
	for i, s := range nums {
		b := mustKey(t, Value{Kind: KindN, N: MustParseNumber(s)})
		if i > 0 && bytes.Compare(prev, b) >= 0 {
			t.Errorf("key(%s)=%x does not sort after key(%s)=%x", s, b, nums[i-1], prev)
		}
		prev = b
	}
}

func TestCompositeKeyOrder(t *testing.T) {
	r := newRand(t)
	type pair struct{ h, s Value }
	for _, kinds := range [][2]Kind{{KindS, KindS}, {KindB, KindN}, {KindN, KindS}, {KindS, KindB}} {
		t.Run(kinds[0].String()+"+"+kinds[1].String(), func(t *testing.T) {
			for range 10000 {
				a := pair{randKeyValue(r, kinds[0]), randKeyValue(r, kinds[1])}
				b := pair{randKeyValue(r, kinds[0]), randKeyValue(r, kinds[1])}
				if r.IntN(3) == 0 {
					b.h = a.h
				}
				enc := func(p pair) []byte {
					k, err := AppendKeyPart(nil, p.h)
					if err != nil {
						t.Fatal(err)
					}
					k, err = AppendKeyPart(k, p.s)
					if err != nil {
						t.Fatal(err)
					}
					return k
				}
				ch, _ := Compare(a.h, b.h)
				cs, _ := Compare(a.s, b.s)
				want := cmp.Or(ch, cs)
				ea, eb := enc(a), enc(b)
				if got := bytes.Compare(ea, eb); got != want {
					t.Fatalf("composite %+v vs %+v: got %d, want %d (%x vs %x)", a, b, got, want, ea, eb)
				}
				h, rest, err := DecodeKeyPart(kinds[0], ea)
				if err != nil {
					t.Fatal(err)
				}
				s, err := DecodeKey(kinds[1], rest)
				if err != nil || !Equal(h, a.h) || !Equal(s, a.s) {
					t.Fatalf("decoding composite %x: got %+v %+v %v, want %+v", ea, h, s, err, a)
				}
			}
		})
	}
}

func TestKeyPrefix(t *testing.T) {
	r := newRand(t)
	for range 20000 {
		v, p := randString(r), randString(r)
		if r.IntN(2) == 0 && len(v) > 0 {
			p = v[:r.IntN(len(v))]
		}
		prefix, err := AppendKeyPrefix(nil, Value{Kind: KindS, S: p})
		if err != nil {
			t.Fatal(err)
		}
		key := mustKey(t, Value{Kind: KindS, S: v})
		if got, want := bytes.HasPrefix(key, prefix), strings.HasPrefix(v, p); got != want {
			t.Fatalf("begins_with(%q, %q): encoded prefix match %v, want %v", v, p, got, want)
		}
	}
	if _, err := AppendKeyPrefix(nil, Value{Kind: KindN}); err == nil {
		t.Errorf("AppendKeyPrefix(N): got nil error, want error")
	}
}

func TestKeyErrors(t *testing.T) {
	for _, v := range []Value{{Kind: KindBOOL}, {Kind: KindNULL}, {Kind: KindSS, SS: []string{"a"}}, {}} {
		if b, err := EncodeKey(v); err == nil {
			t.Errorf("EncodeKey(%v): got %x, want error", v.Kind, b)
		}
	}
	tests := []struct {
		name string
		kind Kind
		in   []byte
	}{
		{"S no terminator", KindS, []byte("abc")},
		{"S dangling escape", KindS, []byte{'a', 0}},
		{"S bad escape", KindS, []byte{'a', 0, 7}},
		{"S trailing", KindS, []byte{'a', 0, 1, 'x'}},
		{"N empty", KindN, nil},
		{"N bad sign", KindN, []byte{9}},
		{"N no exponent", KindN, []byte{keyPos}},
		{"N no terminator", KindN, []byte{keyPos, 130, 0x20}},
		{"N no digits", KindN, []byte{keyPos, 130, 0}},
		{"N bad nibble", KindN, []byte{keyPos, 130, 0xB0, 0}},
		{"N zero high nibble", KindN, []byte{keyPos, 130, 0x02, 0}},
		{"N trailing zero digit", KindN, []byte{keyPos, 130, 0x21, 0}},
		{"N leading zero digit", KindN, []byte{keyPos, 130, 0x12, 0}},
		{"N padding mid-number", KindN, []byte{keyPos, 130, 0x20, 0x22, 0}},
		{"N too many digits", KindN, append(append([]byte{keyPos, 130}, bytes.Repeat([]byte{0x22}, 20)...), 0)},
		{"N bad kind", KindBOOL, []byte{keyZero}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if v, err := DecodeKey(tt.kind, tt.in); err == nil {
				t.Errorf("DecodeKey(%v, %x): got %+v, want error", tt.kind, tt.in, v)
			}
		})
	}
}
