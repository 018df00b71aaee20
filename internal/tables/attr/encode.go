package attr

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// encodingVersion is the first byte of every EncodeItem and EncodeValue
// output. A decoder refuses versions it does not know.
const encodingVersion = 1

// maxDecodeDepth bounds M/L nesting when decoding stored bytes. It is looser
// than MaxNesting so stored data is never unreadable, and tight enough that
// hostile input cannot exhaust the stack.
const maxDecodeDepth = 4 * MaxNesting

// errTruncated is returned for input that ends inside a value.
var errTruncated = errors.New("unexpected end of input")

// EncodeItem returns the canonical binary form of an item for storage: a
// version byte, then the attributes in byte order of their names. Set
// members are written sorted and without duplicates, so items that are
// Equal encode to identical bytes. It panics on a Value with an invalid
// Kind, which no decoder produces.
func EncodeItem(it Item) []byte {
	return appendMap([]byte{encodingVersion}, it)
}

// DecodeItem decodes the output of EncodeItem. It accepts only canonical
// encodings (sorted names and set members, normalized numbers within
// DynamoDB's limits, no trailing bytes), so a successful decode re-encodes
// to the same bytes. Corrupt input yields an error, never a panic.
func DecodeItem(b []byte) (Item, error) {
	rest, err := checkVersion(b)
	if err != nil {
		return nil, err
	}
	d := decoder{buf: rest}
	m, err := d.mapBody(0)
	if err != nil {
		return nil, fmt.Errorf("decoding item at byte %d: %w", len(b)-len(d.buf), err)
	}
	if len(d.buf) != 0 {
		return nil, fmt.Errorf("decoding item: %d trailing bytes", len(d.buf))
	}
	return m, nil
}

// EncodeValue returns the canonical binary form of one value, with the same
// rules as EncodeItem.
func EncodeValue(v Value) []byte {
	return appendValue([]byte{encodingVersion}, v)
}

// DecodeValue decodes the output of EncodeValue, with the same rules as
// DecodeItem.
func DecodeValue(b []byte) (Value, error) {
	rest, err := checkVersion(b)
	if err != nil {
		return Value{}, err
	}
	d := decoder{buf: rest}
	v, err := d.value(0)
	if err != nil {
		return Value{}, fmt.Errorf("decoding value at byte %d: %w", len(b)-len(d.buf), err)
	}
	if len(d.buf) != 0 {
		return Value{}, fmt.Errorf("decoding value: %d trailing bytes", len(d.buf))
	}
	return v, nil
}

func checkVersion(b []byte) ([]byte, error) {
	if len(b) == 0 {
		return nil, errors.New("decoding attributes: empty input")
	}
	if b[0] != encodingVersion {
		return nil, fmt.Errorf("decoding attributes: unknown encoding version %d", b[0])
	}
	return b[1:], nil
}

func appendMap(dst []byte, m map[string]Value) []byte {
	names := make([]string, 0, len(m))
	for name := range m {
		names = append(names, name)
	}
	slices.Sort(names)
	dst = binary.AppendUvarint(dst, uint64(len(names)))
	for _, name := range names {
		dst = appendBytes(dst, name)
		dst = appendValue(dst, m[name])
	}
	return dst
}

func appendBytes[S string | []byte](dst []byte, s S) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func appendValue(dst []byte, v Value) []byte {
	if !v.Kind.Valid() {
		panic(fmt.Sprintf("attr: encoding a Value with invalid kind %v", v.Kind))
	}
	dst = append(dst, byte(v.Kind))
	switch v.Kind {
	case KindS:
		dst = appendBytes(dst, v.S)
	case KindN:
		dst = appendNumber(dst, v.N)
	case KindB:
		dst = appendBytes(dst, v.B)
	case KindBOOL:
		if v.BOOL {
			dst = append(dst, 1)
		} else {
			dst = append(dst, 0)
		}
	case KindNULL:
	case KindM:
		dst = appendMap(dst, v.M)
	case KindL:
		dst = binary.AppendUvarint(dst, uint64(len(v.L)))
		for _, e := range v.L {
			dst = appendValue(dst, e)
		}
	case KindSS:
		ss := slices.Clone(v.SS)
		slices.Sort(ss)
		ss = slices.Compact(ss)
		dst = binary.AppendUvarint(dst, uint64(len(ss)))
		for _, s := range ss {
			dst = appendBytes(dst, s)
		}
	case KindNS:
		ns := slices.Clone(v.NS)
		slices.SortFunc(ns, Number.Cmp)
		ns = slices.Compact(ns)
		dst = binary.AppendUvarint(dst, uint64(len(ns)))
		for _, n := range ns {
			dst = appendNumber(dst, n)
		}
	case KindBS:
		bs := slices.Clone(v.BS)
		slices.SortFunc(bs, bytes.Compare)
		bs = slices.CompactFunc(bs, bytes.Equal)
		dst = binary.AppendUvarint(dst, uint64(len(bs)))
		for _, b := range bs {
			dst = appendBytes(dst, b)
		}
	}
	return dst
}

// Number storage form: a sign byte (0 zero, 1 positive, 2 negative); for
// non-zero numbers then the exponent as a zigzag varint and the digits as a
// length and packed BCD, high nibble first, padded with a zero nibble.
const (
	numZero = 0
	numPos  = 1
	numNeg  = 2
)

func appendNumber(dst []byte, n Number) []byte {
	switch n.Sign() {
	case 0:
		return append(dst, numZero)
	case 1:
		dst = append(dst, numPos)
	default:
		dst = append(dst, numNeg)
	}
	dst = binary.AppendVarint(dst, int64(n.exp))
	dst = binary.AppendUvarint(dst, uint64(len(n.digits)))
	for i := 0; i < len(n.digits); i += 2 {
		hi := n.digits[i] - '0'
		var lo byte
		if i+1 < len(n.digits) {
			lo = n.digits[i+1] - '0'
		}
		dst = append(dst, hi<<4|lo)
	}
	return dst
}

// decoder reads the storage form; every method checks bounds.
type decoder struct {
	buf []byte
}

func (d *decoder) byte() (byte, error) {
	if len(d.buf) == 0 {
		return 0, errTruncated
	}
	c := d.buf[0]
	d.buf = d.buf[1:]
	return c, nil
}

// count reads a length or element count; each element takes at least one
// byte, so a count larger than what remains is corrupt (and is refused
// before anything is allocated for it).
func (d *decoder) count() (int, error) {
	n, err := d.uvarint()
	if err != nil {
		return 0, err
	}
	if n > uint64(len(d.buf)) {
		return 0, fmt.Errorf("length %d exceeds the %d bytes left", n, len(d.buf))
	}
	return int(n), nil //nolint:gosec // G115: n was checked against the bytes left above
}

// uvarint reads a minimally encoded unsigned varint, so each length has one
// encoding.
func (d *decoder) uvarint() (uint64, error) {
	n, k := binary.Uvarint(d.buf)
	if k <= 0 || k != len(binary.AppendUvarint(nil, n)) {
		return 0, errors.New("malformed varint")
	}
	d.buf = d.buf[k:]
	return n, nil
}

func (d *decoder) bytes() ([]byte, error) {
	n, err := d.count()
	if err != nil {
		return nil, err
	}
	b := d.buf[:n:n]
	d.buf = d.buf[n:]
	return b, nil
}

func (d *decoder) mapBody(depth int) (map[string]Value, error) {
	n, err := d.count()
	if err != nil {
		return nil, err
	}
	m := make(map[string]Value, n)
	var prev string
	for i := range n {
		name, err := d.bytes()
		if err != nil {
			return nil, err
		}
		if i > 0 && strings.Compare(string(name), prev) <= 0 {
			return nil, fmt.Errorf("attribute name %q out of order", name)
		}
		prev = string(name)
		v, err := d.value(depth)
		if err != nil {
			return nil, fmt.Errorf("attribute %q: %w", name, err)
		}
		m[prev] = v
	}
	return m, nil
}

func (d *decoder) value(depth int) (Value, error) {
	tag, err := d.byte()
	if err != nil {
		return Value{}, err
	}
	k := Kind(tag)
	switch k {
	case KindS:
		b, err := d.bytes()
		if err != nil {
			return Value{}, err
		}
		return Value{Kind: KindS, S: string(b)}, nil
	case KindN:
		n, err := d.number()
		if err != nil {
			return Value{}, err
		}
		return Value{Kind: KindN, N: n}, nil
	case KindB:
		b, err := d.bytes()
		if err != nil {
			return Value{}, err
		}
		return Value{Kind: KindB, B: slices.Clone(b)}, nil
	case KindBOOL:
		c, err := d.byte()
		if err != nil {
			return Value{}, err
		}
		if c > 1 {
			return Value{}, fmt.Errorf("invalid boolean byte %d", c)
		}
		return Value{Kind: KindBOOL, BOOL: c == 1}, nil
	case KindNULL:
		return Value{Kind: KindNULL}, nil
	case KindM, KindL:
		if depth >= maxDecodeDepth {
			return Value{}, errors.New("nesting too deep")
		}
		if k == KindM {
			m, err := d.mapBody(depth + 1)
			if err != nil {
				return Value{}, err
			}
			return Value{Kind: KindM, M: m}, nil
		}
		n, err := d.count()
		if err != nil {
			return Value{}, err
		}
		l := make([]Value, 0, n)
		for range n {
			e, err := d.value(depth + 1)
			if err != nil {
				return Value{}, err
			}
			l = append(l, e)
		}
		return Value{Kind: KindL, L: l}, nil
	case KindSS:
		n, err := d.count()
		if err != nil {
			return Value{}, err
		}
		ss := make([]string, 0, n)
		for i := range n {
			b, err := d.bytes()
			if err != nil {
				return Value{}, err
			}
			if i > 0 && strings.Compare(string(b), ss[i-1]) <= 0 {
				return Value{}, errors.New("string set members out of order")
			}
			ss = append(ss, string(b))
		}
		return Value{Kind: KindSS, SS: ss}, nil
	case KindNS:
		n, err := d.count()
		if err != nil {
			return Value{}, err
		}
		ns := make([]Number, 0, n)
		for i := range n {
			x, err := d.number()
			if err != nil {
				return Value{}, err
			}
			if i > 0 && x.Cmp(ns[i-1]) <= 0 {
				return Value{}, errors.New("number set members out of order")
			}
			ns = append(ns, x)
		}
		return Value{Kind: KindNS, NS: ns}, nil
	case KindBS:
		n, err := d.count()
		if err != nil {
			return Value{}, err
		}
		bs := make([][]byte, 0, n)
		for i := range n {
			b, err := d.bytes()
			if err != nil {
				return Value{}, err
			}
			if i > 0 && bytes.Compare(b, bs[i-1]) <= 0 {
				return Value{}, errors.New("binary set members out of order")
			}
			bs = append(bs, slices.Clone(b))
		}
		return Value{Kind: KindBS, BS: bs}, nil
	}
	return Value{}, fmt.Errorf("unknown type tag %d", tag)
}

func (d *decoder) number() (Number, error) {
	sign, err := d.byte()
	if err != nil {
		return Number{}, err
	}
	switch sign {
	case numZero:
		return Number{}, nil
	case numPos, numNeg:
	default:
		return Number{}, fmt.Errorf("invalid number sign byte %d", sign)
	}
	exp, k := binary.Varint(d.buf)
	if k <= 0 || k != len(binary.AppendVarint(nil, exp)) {
		return Number{}, errors.New("malformed number exponent")
	}
	d.buf = d.buf[k:]
	nd, err := d.uvarint()
	if err != nil {
		return Number{}, err
	}
	if nd == 0 || nd > MaxDigits {
		return Number{}, fmt.Errorf("number digit count %d out of range", nd)
	}
	nb := int(nd+1) / 2
	if len(d.buf) < nb {
		return Number{}, errTruncated
	}
	digits := make([]byte, 0, nd)
	for i := range int(nd) {
		c := d.buf[i/2]
		if i%2 == 0 {
			c >>= 4
		} else {
			c &= 0xF
		}
		if c > 9 {
			return Number{}, fmt.Errorf("invalid number digit %d", c)
		}
		digits = append(digits, '0'+c)
	}
	if nd%2 == 1 && d.buf[nb-1]&0xF != 0 {
		return Number{}, errors.New("non-zero number padding")
	}
	d.buf = d.buf[nb:]
	if exp < MinAdjustedExponent-MaxDigits || exp > MaxAdjustedExponent {
		return Number{}, fmt.Errorf("number exponent %d out of range", exp)
	}
	n, err := makeNumber(sign == numNeg, string(digits), exp)
	if err != nil {
		return Number{}, fmt.Errorf("stored number: %w", err)
	}
	if len(n.digits) != int(nd) {
		return Number{}, errors.New("number digits not normalized")
	}
	return n, nil
}
