package attr

import (
	"strings"
	"testing"
)

func TestSizeOf(t *testing.T) {
	n := MustParseNumber
	tests := []struct {
		name string
		v    Value
		want int
	}{
		{"string", Value{Kind: KindS, S: "héllo"}, 6},
		{"empty string", Value{Kind: KindS}, 0},
		{"binary", Value{Kind: KindB, B: []byte{1, 2, 3}}, 3},
		{"bool", Value{Kind: KindBOOL}, 1},
		{"null", Value{Kind: KindNULL}, 1},
		{"zero", Value{Kind: KindN}, 1},
		{"one digit", Value{Kind: KindN, N: n("7")}, 2},
		{"two digits", Value{Kind: KindN, N: n("27")}, 2},
		{"three digits", Value{Kind: KindN, N: n("123")}, 3},
		{"trailing zeros free", Value{Kind: KindN, N: n("1000000")}, 2},
		{"point splits a pair", Value{Kind: KindN, N: n("1.5")}, 3},
		{"fraction pair", Value{Kind: KindN, N: n("0.15")}, 2},
		{"38 digits", Value{Kind: KindN, N: n(strings.Repeat("9", 38))}, 20},
		{"38 digits odd alignment", Value{Kind: KindN, N: n("9." + strings.Repeat("9", 37))}, 21},
		{"empty list", Value{Kind: KindL}, 3},
		{"list", Value{Kind: KindL, L: []Value{{Kind: KindS, S: "ab"}, {Kind: KindNULL}}}, 3 + (1 + 2) + (1 + 1)},
		{"map", Value{Kind: KindM, M: map[string]Value{"k": {Kind: KindS, S: "ab"}}}, 3 + 1 + 1 + 2},
		{"string set", Value{Kind: KindSS, SS: []string{"a", "bc"}}, 3},
		{"number set", Value{Kind: KindNS, NS: []Number{n("1"), n("1.5")}}, 2 + 3},
		{"binary set", Value{Kind: KindBS, BS: [][]byte{{1}, {1, 2}}}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SizeOf(tt.v); got != tt.want {
				t.Errorf("SizeOf: got %d, want %d", got, tt.want)
			}
		})
	}
}

func TestSize(t *testing.T) {
	it := Item{
		"id":   {Kind: KindS, S: "abc"},                 // 2 + 3
		"n":    {Kind: KindN, N: MustParseNumber("42")}, // 1 + 2
		"flag": {Kind: KindBOOL, BOOL: true},            // 4 + 1
	}
	if got, want := Size(it), 13; got != want {
		t.Errorf("Size: got %d, want %d", got, want)
	}
	big := Item{"a": {Kind: KindS, S: strings.Repeat("x", MaxItemSize)}}
	if Size(big) <= MaxItemSize {
		t.Errorf("Size of a 400 KiB string plus name: got %d, want more than %d", Size(big), MaxItemSize)
	}
}
