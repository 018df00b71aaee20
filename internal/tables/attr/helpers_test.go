package attr

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// newRand returns a seeded source and logs the seed so a failure can be
// replayed.
func newRand(t testing.TB) *rand.Rand {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	t.Logf("random seed %d", seed)
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

// randNumber returns a random valid Number, biased towards interesting
// shapes: small integers, long coefficients, extreme exponents.
func randNumber(r *rand.Rand) Number {
	if r.IntN(20) == 0 {
		return Number{}
	}
	nd := 1 + r.IntN(MaxDigits)
	if r.IntN(2) == 0 {
		nd = 1 + r.IntN(3)
	}
	var b strings.Builder
	b.WriteByte(byte('1' + r.IntN(9)))
	for i := 1; i < nd; i++ {
		b.WriteByte(byte('0' + r.IntN(10)))
	}
	adj := MinAdjustedExponent + r.IntN(MaxAdjustedExponent-MinAdjustedExponent+1)
	if r.IntN(2) == 0 {
		adj = r.IntN(11) - 5
	}
	n, err := makeNumber(r.IntN(2) == 0, b.String(), int64(adj-nd+1))
	if err != nil {
		panic(err) // the generator is wrong
	}
	return n
}

// randString returns a short random string over a small alphabet that
// includes 0x00, 0x01, 0xFF and multi-byte UTF-8, so prefixes and escapes
// are exercised.
func randString(r *rand.Rand) string {
	alphabet := []string{"\x00", "\x01", "a", "b", "\xff", "é", "€", "z"}
	var b strings.Builder
	for range r.IntN(6) {
		b.WriteString(alphabet[r.IntN(len(alphabet))])
	}
	return b.String()
}

// randValue returns a random valid Value nested at most depth levels.
func randValue(r *rand.Rand, depth int) Value {
	k := Kind(1 + r.IntN(int(KindBS)))
	if depth <= 0 && (k == KindM || k == KindL) {
		k = KindS
	}
	switch k {
	case KindS:
		return Value{Kind: KindS, S: randString(r)}
	case KindN:
		return Value{Kind: KindN, N: randNumber(r)}
	case KindB:
		return Value{Kind: KindB, B: []byte(randString(r))}
	case KindBOOL:
		return Value{Kind: KindBOOL, BOOL: r.IntN(2) == 0}
	case KindNULL:
		return Value{Kind: KindNULL}
	case KindM:
		m := map[string]Value{}
		for range r.IntN(4) {
			m[randString(r)] = randValue(r, depth-1)
		}
		return Value{Kind: KindM, M: m}
	case KindL:
		var l []Value
		for range r.IntN(4) {
			l = append(l, randValue(r, depth-1))
		}
		return Value{Kind: KindL, L: l}
	case KindSS:
		set := map[string]bool{}
		for range 1 + r.IntN(4) {
			set[randString(r)] = true
		}
		v := Value{Kind: KindSS}
		for s := range set {
			v.SS = append(v.SS, s)
		}
		return v
	case KindNS:
		set := map[Number]bool{}
		for range 1 + r.IntN(4) {
			set[randNumber(r)] = true
		}
		v := Value{Kind: KindNS}
		for n := range set {
			v.NS = append(v.NS, n)
		}
		return v
	default:
		set := map[string]bool{}
		for range 1 + r.IntN(4) {
			set[randString(r)] = true
		}
		v := Value{Kind: KindBS}
		for s := range set {
			v.BS = append(v.BS, []byte(s))
		}
		return v
	}
}

func randItem(r *rand.Rand) Item {
	it := Item{}
	for range r.IntN(6) {
		it[randString(r)+"n"] = randValue(r, 3)
	}
	return it
}

// validationMsg returns the message of a *ValidationError, or "" and fails
// the test if err is not one.
func validationMsg(t *testing.T, err error) string {
	t.Helper()
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("got error %v (%T), want a *ValidationError", err, err)
	}
	return ve.Msg
}
