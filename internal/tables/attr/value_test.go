package attr

import "testing"

func TestKindString(t *testing.T) {
	want := []string{"Kind(0)", "S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS", "Kind(11)"}
	for k, w := range want {
		if got := Kind(k).String(); got != w {
			t.Errorf("Kind(%d).String(): got %q, want %q", k, got, w)
		}
	}
}

func TestEqual(t *testing.T) {
	n := MustParseNumber
	tests := []struct {
		name string
		a, b Value
		want bool
	}{
		{"same string", Value{Kind: KindS, S: "a"}, Value{Kind: KindS, S: "a"}, true},
		{"string vs number", Value{Kind: KindS, S: "1"}, Value{Kind: KindN, N: n("1")}, false},
		{"numbers by value", Value{Kind: KindN, N: n("1.50")}, Value{Kind: KindN, N: n("15e-1")}, true},
		{"binary", Value{Kind: KindB, B: []byte{1}}, Value{Kind: KindB, B: []byte{2}}, false},
		{"nil and empty binary", Value{Kind: KindB}, Value{Kind: KindB, B: []byte{}}, true},
		{"bool", Value{Kind: KindBOOL, BOOL: true}, Value{Kind: KindBOOL}, false},
		{"null", Value{Kind: KindNULL}, Value{Kind: KindNULL}, true},
		{"string set order", Value{Kind: KindSS, SS: []string{"a", "b"}}, Value{Kind: KindSS, SS: []string{"b", "a"}}, true},
		{"string set differs", Value{Kind: KindSS, SS: []string{"a", "b"}}, Value{Kind: KindSS, SS: []string{"a", "c"}}, false},
		{"number set order", Value{Kind: KindNS, NS: []Number{n("1"), n("2")}}, Value{Kind: KindNS, NS: []Number{n("2.0"), n("1")}}, true},
		{"binary set order", Value{Kind: KindBS, BS: [][]byte{{1}, {2}}}, Value{Kind: KindBS, BS: [][]byte{{2}, {1}}}, true},
		{"set sizes", Value{Kind: KindSS, SS: []string{"a"}}, Value{Kind: KindSS, SS: []string{"a", "b"}}, false},
		{"list order matters", Value{Kind: KindL, L: []Value{{Kind: KindNULL}, {Kind: KindS}}}, Value{Kind: KindL, L: []Value{{Kind: KindS}, {Kind: KindNULL}}}, false},
		{"map", Value{Kind: KindM, M: map[string]Value{"a": {Kind: KindNULL}}}, Value{Kind: KindM, M: map[string]Value{"a": {Kind: KindNULL}}}, true},
		{"map key differs", Value{Kind: KindM, M: map[string]Value{"a": {Kind: KindNULL}}}, Value{Kind: KindM, M: map[string]Value{"b": {Kind: KindNULL}}}, false},
		{"invalid kinds", Value{}, Value{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Equal(tt.a, tt.b); got != tt.want {
				t.Errorf("Equal: got %v, want %v", got, tt.want)
			}
			if got := Equal(tt.b, tt.a); got != tt.want {
				t.Errorf("Equal reversed: got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCompare(t *testing.T) {
	n := MustParseNumber
	tests := []struct {
		name   string
		a, b   Value
		want   int
		wantOK bool
	}{
		{"strings by bytes", Value{Kind: KindS, S: "B"}, Value{Kind: KindS, S: "a"}, -1, true},
		{"string prefix", Value{Kind: KindS, S: "ab"}, Value{Kind: KindS, S: "a"}, 1, true},
		{"utf8 bytes", Value{Kind: KindS, S: "\uffff"}, Value{Kind: KindS, S: "\U00010000"}, -1, true},
		{"numbers", Value{Kind: KindN, N: n("-10")}, Value{Kind: KindN, N: n("-9")}, -1, true},
		{"numbers equal", Value{Kind: KindN, N: n("1e2")}, Value{Kind: KindN, N: n("100.0")}, 0, true},
		{"binary unsigned", Value{Kind: KindB, B: []byte{0x80}}, Value{Kind: KindB, B: []byte{0x7f}}, 1, true},
		{"mixed kinds", Value{Kind: KindS, S: "1"}, Value{Kind: KindN, N: n("1")}, 0, false},
		{"bools unordered", Value{Kind: KindBOOL}, Value{Kind: KindBOOL}, 0, false},
		{"sets unordered", Value{Kind: KindSS, SS: []string{"a"}}, Value{Kind: KindSS, SS: []string{"a"}}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Compare(tt.a, tt.b)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("Compare: got %d, %v; want %d, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}
