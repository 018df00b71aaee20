// Package codec holds the binary encoding primitives shared by everything
// Meridian writes to disk or sends to peers: varints, length-prefixed bytes and
// strings, with a bounds-checked reader that reports corruption as an error and
// never panics. Higher layers (the store's records and states, the replication
// messages) define their own versioned layouts on top of it.
package codec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// ErrCorrupt is wrapped by every decoding error.
var ErrCorrupt = errors.New("corrupt encoding")

// AppendUvarint appends v as an unsigned varint.
func AppendUvarint(b []byte, v uint64) []byte { return binary.AppendUvarint(b, v) }

// AppendVarint appends v as a signed varint.
func AppendVarint(b []byte, v int64) []byte { return binary.AppendVarint(b, v) }

// AppendBytes appends p with a length prefix.
func AppendBytes(b, p []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(p)))
	return append(b, p...)
}

// AppendString appends s with a length prefix.
func AppendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// Reader decodes what the Append functions wrote. The first error sticks:
// later reads return zero values, and Err reports it.
type Reader struct {
	buf []byte
	off int
	err error
}

// NewReader reads from b.
func NewReader(b []byte) *Reader { return &Reader{buf: b} }

// Err is the first decoding error, if any.
func (r *Reader) Err() error { return r.err }

// Len is the number of unread bytes.
func (r *Reader) Len() int { return len(r.buf) - r.off }

func (r *Reader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s at offset %d", ErrCorrupt, what, r.off)
	}
}

// Byte reads one byte.
func (r *Reader) Byte() byte {
	if r.err != nil {
		return 0
	}
	if r.off >= len(r.buf) {
		r.fail("truncated byte")
		return 0
	}
	c := r.buf[r.off]
	r.off++
	return c
}

// Uvarint reads an unsigned varint.
func (r *Reader) Uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.buf[r.off:])
	if n <= 0 {
		r.fail("bad varint")
		return 0
	}
	r.off += n
	return v
}

// Uvarint32 reads an unsigned varint written from a uint32. A larger value
// is corruption, reported as such rather than truncated.
func (r *Reader) Uvarint32() uint32 {
	v := r.Uvarint()
	if v > math.MaxUint32 {
		r.fail(fmt.Sprintf("value %d does not fit in 32 bits", v))
		return 0
	}
	return uint32(v)
}

// Varint reads a signed varint.
func (r *Reader) Varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.buf[r.off:])
	if n <= 0 {
		r.fail("bad varint")
		return 0
	}
	r.off += n
	return v
}

// Count reads a collection length and checks it against the bytes left, given
// that each element takes at least minSize bytes, so a corrupt length cannot
// make the caller allocate without bound.
func (r *Reader) Count(minSize int) int {
	n := r.Uvarint()
	if r.err != nil {
		return 0
	}
	if minSize < 1 {
		minSize = 1
	}
	if n > uint64(r.Len()/minSize) { //nolint:gosec // G115: Len is never negative
		r.fail(fmt.Sprintf("count %d exceeds remaining input", n))
		return 0
	}
	return int(n) //nolint:gosec // G115: n was checked against Len above
}

// Bytes reads a length-prefixed byte slice. The result aliases the input.
func (r *Reader) Bytes() []byte {
	n := r.Uvarint()
	if r.err != nil {
		return nil
	}
	if n > uint64(r.Len()) { //nolint:gosec // G115: Len is never negative
		r.fail(fmt.Sprintf("length %d exceeds remaining input", n))
		return nil
	}
	m := int(n) //nolint:gosec // G115: n was checked against Len above
	p := r.buf[r.off : r.off+m : r.off+m]
	r.off += m
	return p
}

// String reads a length-prefixed string.
func (r *Reader) String() string { return string(r.Bytes()) }

// Done reports an error if input is left over or a read failed.
func (r *Reader) Done() error {
	if r.err == nil && r.off != len(r.buf) {
		r.fail(fmt.Sprintf("%d trailing bytes", len(r.buf)-r.off))
	}
	return r.err
}
