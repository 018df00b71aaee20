package attr

import (
	"errors"
	"fmt"
)

// Key encoding. A key part is self-delimiting and byte order of encodings
// equals DynamoDB's order of values (Compare), so a composite key built as
// AppendKeyPart(AppendKeyPart(nil, hash), rangeValue) sorts by hash value
// first, then range value, and no encoded part is a prefix of another
// encoded part of the same kind.
//
// S and B: the bytes with 0x00 escaped as 0x00 0xFF, then the terminator
// 0x00 0x01.
//
// N: a sign byte (0x01 negative, 0x02 zero, 0x03 positive). A non-zero
// number continues with its adjusted exponent plus 130 as one byte (the
// range -130..125 fits exactly), then its digits two per byte as nibbles
// digit+1 (a lone last digit is padded with nibble 0), then the terminator
// 0x00. For negative numbers every byte after the sign byte is inverted and
// the terminator is 0xFF, so larger magnitudes sort first.
const (
	keyNeg  = 0x01
	keyZero = 0x02
	keyPos  = 0x03

	keyEscape     = 0x00
	keyEscapedNul = 0xFF
	keyEnd        = 0x01
)

// EncodeKey returns the order-preserving encoding of a key attribute value
// (S, N or B). It is AppendKeyPart(nil, v).
func EncodeKey(v Value) ([]byte, error) {
	return AppendKeyPart(nil, v)
}

// DecodeKey decodes the output of EncodeKey for a value of the given kind;
// b must hold exactly one encoded part.
func DecodeKey(kind Kind, b []byte) (Value, error) {
	v, rest, err := DecodeKeyPart(kind, b)
	if err != nil {
		return Value{}, err
	}
	if len(rest) != 0 {
		return Value{}, fmt.Errorf("decoding %v key: %d trailing bytes", kind, len(rest))
	}
	return v, nil
}

// AppendKeyPart appends the order-preserving, self-delimiting encoding of a
// key attribute value (S, N or B) to dst. Emptiness and key size limits are
// the caller's to check; this only refuses kinds that cannot be keys.
func AppendKeyPart(dst []byte, v Value) ([]byte, error) {
	switch v.Kind {
	case KindS:
		return appendEscaped(dst, v.S, true), nil
	case KindB:
		return appendEscaped(dst, v.B, true), nil
	case KindN:
		return appendKeyNumber(dst, v.N), nil
	}
	return dst, fmt.Errorf("encoding key: a key attribute must be S, N or B, not %v", v.Kind)
}

// AppendKeyPrefix appends the encoding of an S or B value without its
// terminator: the encodings of exactly the values that begin with v (in
// DynamoDB's begins_with sense) start with these bytes. It is for prefix
// scans over the last part of a key.
func AppendKeyPrefix(dst []byte, v Value) ([]byte, error) {
	switch v.Kind {
	case KindS:
		return appendEscaped(dst, v.S, false), nil
	case KindB:
		return appendEscaped(dst, v.B, false), nil
	}
	return dst, fmt.Errorf("encoding key prefix: begins_with applies to S or B, not %v", v.Kind)
}

func appendEscaped[S string | []byte](dst []byte, s S, terminate bool) []byte {
	for i := 0; i < len(s); i++ {
		if s[i] == keyEscape {
			dst = append(dst, keyEscape, keyEscapedNul)
		} else {
			dst = append(dst, s[i])
		}
	}
	if terminate {
		dst = append(dst, keyEscape, keyEnd)
	}
	return dst
}

func appendKeyNumber(dst []byte, n Number) []byte {
	if n.digits == "" {
		return append(dst, keyZero)
	}
	var flip byte
	if n.neg {
		flip = 0xFF
		dst = append(dst, keyNeg)
	} else {
		dst = append(dst, keyPos)
	}
	adj := int(n.exp) + len(n.digits) - 1
	dst = append(dst, byte(adj-MinAdjustedExponent)^flip) //nolint:gosec // G115: adj is in [MinAdjustedExponent, MaxAdjustedExponent], a span of 256
	for i := 0; i < len(n.digits); i += 2 {
		hi := n.digits[i] - '0' + 1
		var lo byte
		if i+1 < len(n.digits) {
			lo = n.digits[i+1] - '0' + 1
		}
		dst = append(dst, (hi<<4|lo)^flip)
	}
	return append(dst, flip) // terminator: 0x00, or 0xFF when negative
}

// DecodeKeyPart decodes one key part of the given kind from the front of b
// and returns the value and the bytes after it.
func DecodeKeyPart(kind Kind, b []byte) (Value, []byte, error) {
	switch kind {
	case KindS, KindB:
		raw, rest, err := unescape(b)
		if err != nil {
			return Value{}, nil, fmt.Errorf("decoding %v key: %w", kind, err)
		}
		if kind == KindS {
			return Value{Kind: KindS, S: string(raw)}, rest, nil
		}
		return Value{Kind: KindB, B: raw}, rest, nil
	case KindN:
		n, rest, err := decodeKeyNumber(b)
		if err != nil {
			return Value{}, nil, fmt.Errorf("decoding N key: %w", err)
		}
		return Value{Kind: KindN, N: n}, rest, nil
	}
	return Value{}, nil, fmt.Errorf("decoding key: a key attribute must be S, N or B, not %v", kind)
}

func unescape(b []byte) ([]byte, []byte, error) {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] != keyEscape {
			out = append(out, b[i])
			continue
		}
		if i+1 == len(b) {
			return nil, nil, errTruncated
		}
		switch b[i+1] {
		case keyEscapedNul:
			out = append(out, 0)
			i++
		case keyEnd:
			return out, b[i+2:], nil
		default:
			return nil, nil, fmt.Errorf("invalid escape 0x00 0x%02x", b[i+1])
		}
	}
	return nil, nil, errors.New("missing terminator")
}

func decodeKeyNumber(b []byte) (Number, []byte, error) {
	if len(b) == 0 {
		return Number{}, nil, errTruncated
	}
	var flip byte
	switch b[0] {
	case keyZero:
		return Number{}, b[1:], nil
	case keyPos:
	case keyNeg:
		flip = 0xFF
	default:
		return Number{}, nil, fmt.Errorf("invalid sign byte 0x%02x", b[0])
	}
	if len(b) < 2 {
		return Number{}, nil, errTruncated
	}
	adj := int(b[1]^flip) + MinAdjustedExponent
	digits := make([]byte, 0, MaxDigits)
	i := 2
	for ; ; i++ {
		if i == len(b) {
			return Number{}, nil, errors.New("missing terminator")
		}
		c := b[i] ^ flip
		if c == 0 {
			i++
			break
		}
		if len(digits) >= MaxDigits {
			return Number{}, nil, errors.New("more than 38 digits")
		}
		hi, lo := c>>4, c&0xF
		if hi == 0 || hi > 10 || lo > 10 {
			return Number{}, nil, fmt.Errorf("invalid digit byte 0x%02x", c)
		}
		digits = append(digits, '0'+hi-1)
		if lo == 0 {
			// A padded lone digit must be the last.
			if i+1 >= len(b) || b[i+1]^flip != 0 {
				return Number{}, nil, errors.New("padding nibble before the last digit")
			}
			continue
		}
		digits = append(digits, '0'+lo-1)
	}
	if len(digits) == 0 || digits[0] == '0' || digits[len(digits)-1] == '0' {
		return Number{}, nil, errors.New("digits not normalized")
	}
	n, err := makeNumber(flip != 0, string(digits), int64(adj-len(digits)+1))
	if err != nil {
		return Number{}, nil, err
	}
	return n, b[i:], nil
}
