package attr

// MaxItemSize is DynamoDB's limit on the size of one item, as computed by
// Size.
const MaxItemSize = 400 * 1024

// Size returns the size of an item as DynamoDB meters it against the 400 KB
// limit: for each attribute, the UTF-8 length of its name plus SizeOf its
// value.
func Size(it Item) int {
	n := 0
	for name, v := range it {
		n += len(name) + SizeOf(v)
	}
	return n
}

// SizeOf returns the size of one value, without an attribute name, by
// DynamoDB's rules: S is its UTF-8 length, B its raw length, BOOL and NULL
// 1 byte, N one byte per base-100 digit pair plus one (DynamoDB's
// "approximately 1 byte per two significant digits plus 1"), M and L 3 bytes
// plus 1 byte and the size of each element (and a map element's name), and
// a set the sum of its members.
func SizeOf(v Value) int {
	switch v.Kind {
	case KindS:
		return len(v.S)
	case KindN:
		return numberSize(v.N)
	case KindB:
		return len(v.B)
	case KindBOOL, KindNULL:
		return 1
	case KindM:
		n := 3
		for name, e := range v.M {
			n += 1 + len(name) + SizeOf(e)
		}
		return n
	case KindL:
		n := 3
		for _, e := range v.L {
			n += 1 + SizeOf(e)
		}
		return n
	case KindSS:
		n := 0
		for _, s := range v.SS {
			n += len(s)
		}
		return n
	case KindNS:
		n := 0
		for _, x := range v.NS {
			n += numberSize(x)
		}
		return n
	case KindBS:
		n := 0
		for _, b := range v.BS {
			n += len(b)
		}
		return n
	}
	return 0
}

// numberSize is the stored size of a number: one byte of sign and exponent
// and one byte per base-100 digit (digits paired from the decimal point, so
// "1.5" takes two pairs, "15" one).
func numberSize(n Number) int {
	if n.digits == "" {
		return 1
	}
	lo := int(n.exp)                     // position of the last digit
	hi := int(n.exp) + len(n.digits) - 1 // position of the first digit
	return floorDiv2(hi) - floorDiv2(lo) + 2
}

func floorDiv2(x int) int {
	if x < 0 {
		return -((-x + 1) / 2)
	}
	return x / 2
}
