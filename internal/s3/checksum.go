package s3

import (
	"crypto/md5"  //nolint:gosec // MD5 is S3's ETag and Content-MD5, not used for security.
	"crypto/sha1" //nolint:gosec // SHA-1 is an S3 checksum algorithm, not used for security.
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"io"
	"strings"
)

// Checksum algorithms, by their S3 names.
const (
	AlgCRC32     = "CRC32"
	AlgCRC32C    = "CRC32C"
	AlgCRC64NVME = "CRC64NVME"
	AlgSHA1      = "SHA1"
	AlgSHA256    = "SHA256"
)

// Algorithms lists the supported checksum algorithms.
var Algorithms = []string{AlgCRC32, AlgCRC32C, AlgCRC64NVME, AlgSHA1, AlgSHA256}

var (
	castagnoli = crc32.MakeTable(crc32.Castagnoli)
	nvme       = crc64.MakeTable(0x9a6c9329ac4bc9b5)
)

// NewHash returns a hash for an S3 checksum algorithm (case-insensitive), or
// nil for an unknown one.
func NewHash(alg string) hash.Hash {
	switch strings.ToUpper(alg) {
	case AlgCRC32:
		return crc32.NewIEEE()
	case AlgCRC32C:
		return crc32.New(castagnoli)
	case AlgCRC64NVME:
		return crc64.New(nvme)
	case AlgSHA1:
		return sha1.New() //nolint:gosec // an S3 checksum
	case AlgSHA256:
		return sha256.New()
	}
	return nil
}

// ChecksumHeader is the response and request header of an algorithm.
func ChecksumHeader(alg string) string { return "x-amz-checksum-" + strings.ToLower(alg) }

// digester hashes a stream with MD5 (the ETag), CRC64NVME (the engine's own
// integrity check, also used by replication) and any requested algorithms.
type digester struct {
	md5  hash.Hash
	crc  hash.Hash64
	algs map[string]hash.Hash
	n    int64
}

func newDigester(algs ...string) *digester {
	d := &digester{md5: md5.New(), crc: crc64.New(nvme), algs: map[string]hash.Hash{}} //nolint:gosec // ETag
	for _, a := range algs {
		a = strings.ToUpper(a)
		if a == "" || d.algs[a] != nil {
			continue
		}
		if h := NewHash(a); h != nil {
			d.algs[a] = h
		}
	}
	return d
}

func (d *digester) Write(p []byte) (int, error) {
	_, _ = d.md5.Write(p) // hashes never fail
	_, _ = d.crc.Write(p)
	for _, h := range d.algs {
		h.Write(p)
	}
	d.n += int64(len(p))
	return len(p), nil
}

func (d *digester) etag() string { return hexString(d.md5.Sum(nil)) }

func (d *digester) crcHex() string {
	return hexString(binary.BigEndian.AppendUint64(nil, d.crc.Sum64()))
}

// sums returns the requested checksums, base64 as S3 shows them.
func (d *digester) sums() map[string]string {
	if len(d.algs) == 0 {
		return nil
	}
	out := make(map[string]string, len(d.algs))
	for a, h := range d.algs {
		out[a] = base64.StdEncoding.EncodeToString(h.Sum(nil))
	}
	return out
}

const hexDigits = "0123456789abcdef"

func hexString(b []byte) string {
	out := make([]byte, 2*len(b))
	for i, c := range b {
		out[2*i], out[2*i+1] = hexDigits[c>>4], hexDigits[c&15]
	}
	return string(out)
}

// crcReader computes the CRC64NVME and length of what passes through.
type crcReader struct {
	r   io.Reader
	crc hash.Hash64
	n   int64
}

func (c *crcReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	_, _ = c.crc.Write(p[:n]) // hashes never fail
	c.n += int64(n)
	return n, err
}
