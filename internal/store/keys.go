package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
)

// On-disk layout (one Pebble instance per node):
//
//	'd' space 0x00 bucket(2) esc(hash) 0x00 0x01 esc(range)  item state
//	'l' origin 0x00 seq(8)                                    change record
//	'v' origin                                                applied sequence (version vector entry)
//	'h' bucket(2)                                             anti-entropy leaf digest
//	's' space                                                 keyspace marker
//	'm' name                                                  node metadata
//	'x' key                                                   local index entry (not replicated)
//
// esc escapes 0x00 as 0x00 0xff so that hash and range parts order correctly
// and one part cannot run into the next.
const (
	prefixData   = 'd'
	prefixLog    = 'l'
	prefixVV     = 'v'
	prefixLeaf   = 'h'
	prefixSpace  = 's'
	prefixMeta   = 'm'
	prefixIndex  = 'x'
	bucketBits   = 12
	NumBuckets   = 1 << bucketBits
	leafHashSize = 16
)

// Bucket is the anti-entropy bucket of a key: all keys with one Space and
// Hash share it.
func Bucket(space string, hash []byte) uint16 {
	var buf [128]byte
	in := append(append(append(buf[:0], space...), 0), hash...)
	sum := sha256.Sum256(in)
	return binary.BigEndian.Uint16(sum[:]) >> (16 - bucketBits)
}

func appendEscaped(b, p []byte) []byte {
	for _, c := range p {
		if c == 0 {
			b = append(b, 0, 0xff)
		} else {
			b = append(b, c)
		}
	}
	return append(b, 0, 1)
}

// readEscaped decodes one escaped part, returning it and the rest.
func readEscaped(b []byte) (part, rest []byte, err error) {
	var out []byte
	for i := 0; i < len(b); i++ {
		if b[i] != 0 {
			out = append(out, b[i])
			continue
		}
		if i+1 >= len(b) {
			return nil, nil, errors.New("truncated escape")
		}
		switch b[i+1] {
		case 0xff:
			out = append(out, 0)
			i++
		case 1:
			return out, b[i+2:], nil
		default:
			return nil, nil, fmt.Errorf("bad escape byte %#x", b[i+1])
		}
	}
	return nil, nil, errors.New("unterminated key part")
}

func spacePrefix(space string) []byte {
	b := make([]byte, 0, len(space)+2)
	b = append(b, prefixData)
	b = append(b, space...)
	return append(b, 0)
}

func bucketPrefix(space string, bucket uint16) []byte {
	return binary.BigEndian.AppendUint16(spacePrefix(space), bucket)
}

func hashPrefix(space string, hash []byte) []byte {
	return appendEscaped(bucketPrefix(space, Bucket(space, hash)), hash)
}

func dataKey(k Key) []byte {
	// The escaped parts are usually as long as the raw ones: one
	// allocation for the common case.
	b := make([]byte, 0, len(k.Space)+len(k.Hash)+len(k.Range)+8)
	b = append(b, prefixData)
	b = append(b, k.Space...)
	b = append(b, 0)
	b = binary.BigEndian.AppendUint16(b, Bucket(k.Space, k.Hash))
	b = appendEscaped(b, k.Hash)
	return appendEscaped(b, k.Range)
}

// dataKeyBucket is the bucket of a storage key written by dataKey.
func dataKeyBucket(b []byte) uint16 {
	i := 1 + bytes.IndexByte(b[1:], 0)
	return binary.BigEndian.Uint16(b[i+1:])
}

// decodeDataKey parses a storage key written by dataKey and checks that its
// bucket matches its hash.
func decodeDataKey(b []byte) (Key, uint16, error) {
	if len(b) == 0 || b[0] != prefixData {
		return Key{}, 0, errors.New("not an item key")
	}
	i := bytes.IndexByte(b[1:], 0)
	if i < 1 {
		return Key{}, 0, errors.New("item key has no keyspace")
	}
	k := Key{Space: string(b[1 : 1+i])}
	rest := b[2+i:]
	if len(rest) < 2 {
		return Key{}, 0, errors.New("item key has no bucket")
	}
	bucket := binary.BigEndian.Uint16(rest)
	var err error
	if k.Hash, rest, err = readEscaped(rest[2:]); err != nil {
		return Key{}, 0, fmt.Errorf("item key hash: %w", err)
	}
	if k.Range, rest, err = readEscaped(rest); err != nil {
		return Key{}, 0, fmt.Errorf("item key range: %w", err)
	}
	if len(rest) != 0 {
		return Key{}, 0, errors.New("item key has trailing bytes")
	}
	if Bucket(k.Space, k.Hash) != bucket {
		return Key{}, 0, errors.New("item key bucket does not match its hash")
	}
	return k, bucket, nil
}

func logPrefix(origin string) []byte {
	b := append([]byte{prefixLog}, origin...)
	return append(b, 0)
}

func logKey(origin string, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(logPrefix(origin), seq)
}

func vvKey(origin string) []byte { return append([]byte{prefixVV}, origin...) }

func leafKey(bucket uint16) []byte {
	return binary.BigEndian.AppendUint16([]byte{prefixLeaf}, bucket)
}

func spaceKey(space string) []byte { return append([]byte{prefixSpace}, space...) }

func indexKey(k []byte) []byte { return append([]byte{prefixIndex}, k...) }

func metaKey(name string) []byte { return append([]byte{prefixMeta}, name...) }

// prefixEnd is the first key after every key with prefix p.
func prefixEnd(p []byte) []byte {
	end := bytes.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] != 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// itemHash is an item's contribution to its bucket's digest.
func itemHash(storageKey, state []byte) [leafHashSize]byte {
	var buf [512]byte
	in := binary.AppendUvarint(buf[:0], uint64(len(storageKey)))
	in = append(append(in, storageKey...), state...)
	sum := sha256.Sum256(in)
	var out [leafHashSize]byte
	copy(out[:], sum[:])
	return out
}

func xorInto(dst *[leafHashSize]byte, src [leafHashSize]byte) {
	for i := range dst {
		dst[i] ^= src[i]
	}
}
