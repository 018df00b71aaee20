package attr

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cockroachdb/apd/v3"
)

// DynamoDB's number limits.
const (
	// MaxDigits is the most significant digits a Number may have.
	MaxDigits = 38
	// MaxAdjustedExponent is the largest exponent of a Number written in
	// scientific notation with one digit before the point (9.99…E+125).
	MaxAdjustedExponent = 125
	// MinAdjustedExponent is the smallest such exponent (1E-130).
	MinAdjustedExponent = -130
)

// Number is an exact decimal number within DynamoDB's limits: zero, or a
// magnitude from 1E-130 to 9.9999999999999999999999999999999999999E+125 with
// at most 38 significant digits. Its zero value is the number 0.
//
// A Number is held normalized (no leading or trailing zeros in the
// coefficient, no negative zero), so two Numbers are equal exactly when they
// are == and Number may be used as a map key.
type Number struct {
	neg    bool
	digits string // coefficient digits, no leading or trailing '0'; "" for zero
	exp    int32  // value = ±digits × 10^exp
}

// ParseNumber parses the text of a DynamoDB N value: an optional sign,
// decimal digits with an optional point, and an optional exponent
// ("-1.5", "+.5e3", "7E-2"). It rejects everything else (spaces, hex, NaN,
// Infinity) and numbers outside DynamoDB's range or precision, with
// DynamoDB's messages in a *ValidationError.
func ParseNumber(s string) (Number, error) {
	if s == "" {
		return Number{}, invalid(msgNumberInvalid)
	}
	bad := func() (Number, error) { return Number{}, invalid(msgNumberInvalid + ": " + s) }
	i := 0
	neg := false
	if s[i] == '+' || s[i] == '-' {
		neg = s[i] == '-'
		i++
	}
	intStart := i
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	intPart := s[intStart:i]
	fracPart := ""
	if i < len(s) && s[i] == '.' {
		i++
		fracStart := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		fracPart = s[fracStart:i]
	}
	if intPart == "" && fracPart == "" {
		return bad()
	}
	var exp int64
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		expNeg := false
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			expNeg = s[i] == '-'
			i++
		}
		expStart := i
		for ; i < len(s) && isDigit(s[i]); i++ {
			// Saturate: any exponent this large is out of range anyway,
			// whatever the length of the coefficient.
			if exp < 1<<40 {
				exp = exp*10 + int64(s[i]-'0')
			}
		}
		if i == expStart {
			return bad()
		}
		if expNeg {
			exp = -exp
		}
	}
	if i != len(s) {
		return bad()
	}
	return makeNumber(neg, intPart+fracPart, exp-int64(len(fracPart)))
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// makeNumber normalizes ±digits × 10^exp and checks DynamoDB's limits.
// digits holds only '0'-'9'.
func makeNumber(neg bool, digits string, exp int64) (Number, error) {
	digits = strings.TrimLeft(digits, "0")
	if digits == "" {
		return Number{}, nil
	}
	trimmed := strings.TrimRight(digits, "0")
	exp += int64(len(digits) - len(trimmed))
	digits = trimmed
	if len(digits) > MaxDigits {
		return Number{}, invalid(msgNumberDigits)
	}
	adj := exp + int64(len(digits)) - 1
	if adj > MaxAdjustedExponent {
		return Number{}, invalid(msgNumberOverflow)
	}
	if adj < MinAdjustedExponent {
		return Number{}, invalid(msgNumberUnderflow)
	}
	return Number{neg: neg, digits: digits, exp: int32(exp)}, nil //nolint:gosec // G115: adj, hence exp, was bounded above
}

// MustParseNumber is ParseNumber for constants in code and tests; it panics
// on invalid input.
func MustParseNumber(s string) Number {
	n, err := ParseNumber(s)
	if err != nil {
		panic(fmt.Sprintf("attr.MustParseNumber(%q): %v", s, err))
	}
	return n
}

// String returns the number as DynamoDB returns it: plain decimal notation
// with no exponent, no leading zeros before the point except a single "0",
// no trailing zeros after it, no point for integers, and "0" for zero
// ("1.50" → "1.5", "1e2" → "100", "-0" → "0", "0.0" → "0").
func (n Number) String() string {
	if n.digits == "" {
		return "0"
	}
	var b strings.Builder
	nd := len(n.digits)
	b.Grow(nd + 4 + abs32(n.exp))
	if n.neg {
		b.WriteByte('-')
	}
	switch {
	case n.exp >= 0:
		b.WriteString(n.digits)
		for range n.exp {
			b.WriteByte('0')
		}
	case int(-n.exp) < nd:
		point := nd + int(n.exp)
		b.WriteString(n.digits[:point])
		b.WriteByte('.')
		b.WriteString(n.digits[point:])
	default:
		b.WriteString("0.")
		for range int(-n.exp) - nd {
			b.WriteByte('0')
		}
		b.WriteString(n.digits)
	}
	return b.String()
}

func abs32(x int32) int {
	if x < 0 {
		return int(-x)
	}
	return int(x)
}

// Sign returns -1, 0 or +1.
func (n Number) Sign() int {
	switch {
	case n.digits == "":
		return 0
	case n.neg:
		return -1
	}
	return 1
}

// IsZero reports whether n is 0.
func (n Number) IsZero() bool { return n.digits == "" }

// Neg returns -n.
func (n Number) Neg() Number {
	if n.digits != "" {
		n.neg = !n.neg
	}
	return n
}

// Cmp compares n and m numerically, returning -1, 0 or +1.
func (n Number) Cmp(m Number) int {
	sn, sm := n.Sign(), m.Sign()
	if sn != sm {
		if sn < sm {
			return -1
		}
		return 1
	}
	if sn == 0 {
		return 0
	}
	c := cmpMagnitude(n, m)
	if sn < 0 {
		return -c
	}
	return c
}

// cmpMagnitude compares |n| and |m|, both non-zero.
func cmpMagnitude(n, m Number) int {
	an := int(n.exp) + len(n.digits)
	am := int(m.exp) + len(m.digits)
	if an != am {
		if an < am {
			return -1
		}
		return 1
	}
	// Same adjusted exponent: the digit strings, compared as decimal
	// fractions, decide; normalized digits have no trailing zeros, so a
	// proper prefix is the smaller.
	return cmpStrings(n.digits, m.digits)
}

// Add returns n+m exactly, or a *ValidationError with DynamoDB's message if
// the sum is out of range or needs more than 38 significant digits (which
// DynamoDB, and so Add, reports as "Number overflow").
func (n Number) Add(m Number) (Number, error) { return n.arith(m, false) }

// Sub returns n-m exactly, with the same errors as Add.
func (n Number) Sub(m Number) (Number, error) { return n.arith(m, true) }

func (n Number) arith(m Number, sub bool) (Number, error) {
	ctx := apd.Context{
		Precision:   MaxDigits,
		MaxExponent: apd.MaxExponent,
		MinExponent: apd.MinExponent,
		Rounding:    apd.RoundHalfEven,
	}
	x, y := n.decimal(), m.decimal()
	var z apd.Decimal
	var cond apd.Condition
	var err error
	if sub {
		cond, err = ctx.Sub(&z, &x, &y)
	} else {
		cond, err = ctx.Add(&z, &x, &y)
	}
	if err != nil {
		return Number{}, fmt.Errorf("decimal arithmetic on %s and %s: %w", n, m, err)
	}
	if cond.Inexact() {
		// The exact result needs more than 38 digits. DynamoDB reports
		// this as an overflow (observed: 1e50 + 1), not with its
		// "more than 38 significant digits" message, unless even the
		// rounded result is below the range.
		if _, rerr := fromDecimal(&z); rerr != nil {
			return Number{}, rerr
		}
		return Number{}, invalid(msgNumberOverflow)
	}
	return fromDecimal(&z)
}

// decimal converts n to an apd.Decimal.
func (n Number) decimal() apd.Decimal {
	var d apd.Decimal
	if n.digits == "" {
		return d
	}
	if _, ok := d.Coeff.SetString(n.digits, 10); !ok {
		panic("attr: Number holds non-digit coefficient " + n.digits)
	}
	d.Exponent = n.exp
	d.Negative = n.neg
	return d
}

// fromDecimal converts a finite apd result to a Number, checking limits.
func fromDecimal(d *apd.Decimal) (Number, error) {
	if d.Form != apd.Finite {
		return Number{}, errors.New("decimal arithmetic produced a non-finite result")
	}
	digits := d.Coeff.String()
	return makeNumber(d.Negative, digits, int64(d.Exponent))
}
