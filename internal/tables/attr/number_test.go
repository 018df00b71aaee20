package attr

import (
	"math/big"
	"strings"
	"testing"
)

func TestParseNumberCanonical(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"0", "0"},
		{"-0", "0"},
		{"0.0", "0"},
		{"+0e-5", "0"},
		{"0e1000", "0"},
		{"0e99999999999999999999", "0"},
		{"1.50", "1.5"},
		{"1e2", "100"},
		{"1E+2", "100"},
		{"+3", "3"},
		{"5.", "5"},
		{".123", "0.123"},
		{"-.5", "-0.5"},
		{"0001.23", "1.23"},
		{"1e+5", "100000"},
		{"-7.1234", "-7.1234"},
		{"-17e5", "-1700000"},
		{"12.5e-3", "0.0125"},
		{"1000", "1000"},
		{"100.000", "100"},
		{"-17.4E37", "-174" + strings.Repeat("0", 36)},
		{"1e125", "1" + strings.Repeat("0", 125)},
		{"1e-130", "0." + strings.Repeat("0", 129) + "1"},
		{"-1e-130", "-0." + strings.Repeat("0", 129) + "1"},
		{"9.9999999999999999999999999999999999999E+125", "99999999999999999999999999999999999999" + strings.Repeat("0", 88)},
		{"3.1415926535897932384626433832795028841", "3.1415926535897932384626433832795028841"},
		{"31415926535897932384626433832795028841e30", "31415926535897932384626433832795028841" + strings.Repeat("0", 30)},
		// Trailing zeros are not significant digits.
		{"1" + strings.Repeat("0", 60), "1" + strings.Repeat("0", 60)},
		{"1." + strings.Repeat("0", 60), "1"},
		{"1.00000000000000007629769841092E+50", "100000000000000007629769841092" + strings.Repeat("0", 21)},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			n, err := ParseNumber(tt.in)
			if err != nil {
				t.Fatalf("ParseNumber(%q): got error %v, want %q", tt.in, err, tt.want)
			}
			if got := n.String(); got != tt.want {
				t.Errorf("ParseNumber(%q).String(): got %q, want %q", tt.in, got, tt.want)
			}
			again, err := ParseNumber(n.String())
			if err != nil || again != n {
				t.Errorf("reparsing %q: got %v, %v; want the same number", n.String(), again, err)
			}
		})
	}
}

func TestParseNumberErrors(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"", msgNumberInvalid},
		{"abc", msgNumberInvalid + ": abc"},
		{"dog", msgNumberInvalid + ": dog"},
		{"-dog", msgNumberInvalid + ": -dog"},
		{"NaN", msgNumberInvalid + ": NaN"},
		{"-NaN", msgNumberInvalid + ": -NaN"},
		{"Infinity", msgNumberInvalid + ": Infinity"},
		{"-Infinity", msgNumberInvalid + ": -Infinity"},
		{" 1", msgNumberInvalid + ":  1"},
		{"1 ", msgNumberInvalid + ": 1 "},
		{".", msgNumberInvalid + ": ."},
		{"-", msgNumberInvalid + ": -"},
		{"+", msgNumberInvalid + ": +"},
		{"e5", msgNumberInvalid + ": e5"},
		{"1e", msgNumberInvalid + ": 1e"},
		{"1e+", msgNumberInvalid + ": 1e+"},
		{"1.2.3", msgNumberInvalid + ": 1.2.3"},
		{"1+2", msgNumberInvalid + ": 1+2"},
		{"--1", msgNumberInvalid + ": --1"},
		{"0x10", msgNumberInvalid + ": 0x10"},
		{"1_000", msgNumberInvalid + ": 1_000"},
		{"١", msgNumberInvalid + ": ١"},
		{"123456789012345678901234567890123456789", msgNumberDigits},
		{"-1.23456789012345678901234567890123456789", msgNumberDigits},
		{"3.14159265358979323846264338327950288419", msgNumberDigits},
		{"314159265358979323846264338327950288419e30", msgNumberDigits},
		{"1e126", msgNumberOverflow},
		{"-1e126", msgNumberOverflow},
		{"11e125", msgNumberOverflow},
		{"1e99999999999999999999999", msgNumberOverflow},
		{"1e-131", msgNumberUnderflow},
		{"-1e-131", msgNumberUnderflow},
		{"0.9e-130", msgNumberUnderflow},
		{"1e-99999999999999999999999", msgNumberUnderflow},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			n, err := ParseNumber(tt.in)
			if err == nil {
				t.Fatalf("ParseNumber(%q): got %v, want error %q", tt.in, n, tt.want)
			}
			if got := validationMsg(t, err); got != tt.want {
				t.Errorf("ParseNumber(%q): got error %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestNumberArithmetic(t *testing.T) {
	tests := []struct {
		name    string
		a, b    string
		sub     bool
		want    string
		wantErr string
	}{
		{name: "plus one", a: "1", b: "10000000000000000000000", want: "10000000000000000000001"},
		{name: "minus one", a: "10000000000000000000000", b: "1", sub: true, want: "9999999999999999999999"},
		{name: "decimal", a: "0.1", b: "0.2", want: "0.3"},
		{name: "cancel", a: "-1.5", b: "1.5", want: "0"},
		{name: "self minus", a: "1e-130", b: "1e-130", sub: true, want: "0"},
		{name: "carry to 39th place", a: "99999999999999999999999999999999999999", b: "1", want: "1" + strings.Repeat("0", 38)},
		{name: "38 digits exact", a: "1234567890123456789012345678901234567", b: "0.8", want: "1234567890123456789012345678901234567.8"},
		{name: "max plus zero", a: "9.9999999999999999999999999999999999999E+125", b: "0", want: "99999999999999999999999999999999999999" + strings.Repeat("0", 88)},
		{name: "overflow", a: "9e125", b: "9e125", wantErr: msgNumberOverflow},
		{name: "overflow by subtraction", a: "9e125", b: "-9e125", sub: true, wantErr: msgNumberOverflow},
		{name: "negative overflow", a: "-9e125", b: "9e125", sub: true, wantErr: msgNumberOverflow},
		// DynamoDB reports an inexact sum as an overflow.
		{name: "inexact", a: "1e50", b: "1", wantErr: msgNumberOverflow},
		{name: "inexact subtraction", a: "1e50", b: "1", sub: true, wantErr: msgNumberOverflow},
		{name: "inexact small", a: "1", b: "1e-50", wantErr: msgNumberOverflow},
		{name: "underflow", a: "1.5e-130", b: "1.4e-130", sub: true, wantErr: msgNumberUnderflow},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := MustParseNumber(tt.a), MustParseNumber(tt.b)
			var got Number
			var err error
			if tt.sub {
				got, err = a.Sub(b)
			} else {
				got, err = a.Add(b)
			}
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("got %v, want error %q", got, tt.wantErr)
				}
				if msg := validationMsg(t, err); msg != tt.wantErr {
					t.Errorf("got error %q, want %q", msg, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want %s", err, tt.want)
			}
			if got.String() != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

// ratOf is an independent reference for a Number's value.
func ratOf(t testing.TB, n Number) *big.Rat {
	t.Helper()
	r, ok := new(big.Rat).SetString(n.String())
	if !ok {
		t.Fatalf("big.Rat cannot parse %q", n.String())
	}
	return r
}

func TestNumberCmpAndAddMatchReference(t *testing.T) {
	r := newRand(t)
	for range 5000 {
		a, b := randNumber(r), randNumber(r)
		ra, rb := ratOf(t, a), ratOf(t, b)
		if got, want := a.Cmp(b), ra.Cmp(rb); got != want {
			t.Fatalf("Cmp(%s, %s): got %d, want %d", a, b, got, want)
		}
		sum, err := a.Add(b)
		want := new(big.Rat).Add(ra, rb)
		if err == nil {
			if ratOf(t, sum).Cmp(want) != 0 {
				t.Fatalf("%s + %s: got %s, want %s", a, b, sum, want.FloatString(140))
			}
		} else if _, perr := ParseNumber(want.FloatString(300)); perr == nil && want.IsInt() {
			t.Fatalf("%s + %s: got error %v, but the exact sum %s is representable", a, b, err, want.FloatString(0))
		}
		diff, err := a.Sub(b)
		if err == nil && ratOf(t, diff).Cmp(new(big.Rat).Sub(ra, rb)) != 0 {
			t.Fatalf("%s - %s: got %s", a, b, diff)
		}
	}
}

func TestNumberSignNeg(t *testing.T) {
	tests := []struct {
		in       string
		sign     int
		neg      string
		zeroWant bool
	}{
		{"0", 0, "0", true},
		{"-2.5", -1, "2.5", false},
		{"7", 1, "-7", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			n := MustParseNumber(tt.in)
			if got := n.Sign(); got != tt.sign {
				t.Errorf("Sign: got %d, want %d", got, tt.sign)
			}
			if got := n.Neg().String(); got != tt.neg {
				t.Errorf("Neg: got %s, want %s", got, tt.neg)
			}
			if got := n.IsZero(); got != tt.zeroWant {
				t.Errorf("IsZero: got %v, want %v", got, tt.zeroWant)
			}
		})
	}
}

func TestNumberZeroValueIsZero(t *testing.T) {
	var n Number
	if n.String() != "0" || n != MustParseNumber("-0.000") {
		t.Errorf("zero Number: got %q, want 0 equal to parsed -0.000", n.String())
	}
}
