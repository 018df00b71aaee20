package attr

import (
	"bytes"
	"strconv"
)

// Kind is the DynamoDB data type of a Value. The zero Kind is invalid: a
// zero Value is not a valid attribute value.
type Kind uint8

// The DynamoDB data types.
const (
	KindS Kind = iota + 1
	KindN
	KindB
	KindBOOL
	KindNULL
	KindM
	KindL
	KindSS
	KindNS
	KindBS
)

// String returns the DynamoDB type descriptor ("S", "N", "BOOL", ...), or
// "Kind(n)" for an invalid kind.
func (k Kind) String() string {
	switch k {
	case KindS:
		return "S"
	case KindN:
		return "N"
	case KindB:
		return "B"
	case KindBOOL:
		return "BOOL"
	case KindNULL:
		return "NULL"
	case KindM:
		return "M"
	case KindL:
		return "L"
	case KindSS:
		return "SS"
	case KindNS:
		return "NS"
	case KindBS:
		return "BS"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Valid reports whether k is one of the ten DynamoDB data types.
func (k Kind) Valid() bool { return k >= KindS && k <= KindBS }

// Value is one DynamoDB attribute value. Kind says which one field holds the
// value; the others are zero. A BOOL is in BOOL; a NULL has no payload (it
// is always true on the wire). Set fields hold distinct members in no
// particular order.
type Value struct {
	Kind Kind
	S    string
	N    Number
	B    []byte
	BOOL bool
	M    map[string]Value
	L    []Value
	SS   []string
	NS   []Number
	BS   [][]byte
}

// Item is a DynamoDB item: attribute names to values.
type Item map[string]Value

// Equal reports whether a and b are the same DynamoDB value: same type and
// content, maps compared by key, lists in order and sets as sets (member
// order does not matter).
func Equal(a, b Value) bool {
	if a.Kind != b.Kind {
		return false
	}
	switch a.Kind {
	case KindS:
		return a.S == b.S
	case KindN:
		return a.N == b.N
	case KindB:
		return bytes.Equal(a.B, b.B)
	case KindBOOL:
		return a.BOOL == b.BOOL
	case KindNULL:
		return true
	case KindM:
		if len(a.M) != len(b.M) {
			return false
		}
		for k, av := range a.M {
			bv, ok := b.M[k]
			if !ok || !Equal(av, bv) {
				return false
			}
		}
		return true
	case KindL:
		if len(a.L) != len(b.L) {
			return false
		}
		for i := range a.L {
			if !Equal(a.L[i], b.L[i]) {
				return false
			}
		}
		return true
	case KindSS:
		return sameSet(a.SS, b.SS, func(s string) string { return s })
	case KindNS:
		return sameSet(a.NS, b.NS, func(n Number) Number { return n })
	case KindBS:
		return sameSet(a.BS, b.BS, func(b []byte) string { return string(b) })
	}
	return false
}

// sameSet reports whether a and b hold the same members, ignoring order and
// multiplicity of duplicates in the same way on both sides.
func sameSet[E any, K comparable](a, b []E, key func(E) K) bool {
	if len(a) != len(b) {
		return false
	}
	counts := make(map[K]int, len(a))
	for _, e := range a {
		counts[key(e)]++
	}
	for _, e := range b {
		k := key(e)
		if counts[k] == 0 {
			return false
		}
		counts[k]--
	}
	return true
}

// Compare orders two values of the same scalar type as DynamoDB does for
// comparisons and sort keys: S by UTF-8 bytes, N numerically, B bytewise
// (unsigned). It returns -1, 0 or +1 and ok=true; for any other pair
// (different kinds, or kinds without an order) it returns 0, false.
func Compare(a, b Value) (int, bool) {
	if a.Kind != b.Kind {
		return 0, false
	}
	switch a.Kind {
	case KindS:
		return cmpStrings(a.S, b.S), true
	case KindN:
		return a.N.Cmp(b.N), true
	case KindB:
		return bytes.Compare(a.B, b.B), true
	}
	return 0, false
}

func cmpStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
