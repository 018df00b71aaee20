package sigv4

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // SHA-1 is an S3 checksum algorithm, not used for security.
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"io"
	"net/http"
	"strconv"
	"strings"
)

const (
	minChunkSize   = 8 << 10 // every signed chunk but the last carries at least this much
	lineBufferSize = 4 << 10 // longest chunk header or trailer line
	maxTrailers    = 16
	crc64NVMEPoly  = 0x9a6c9329ac4bc9b5
	chunkAlgorithm = "AWS4-HMAC-SHA256-PAYLOAD"
	trailerAlgo    = "AWS4-HMAC-SHA256-TRAILER"
	trailerSigName = "x-amz-trailer-signature"
)

// checksumAlgorithm maps a trailing checksum header to its S3 name and hash.
func checksumAlgorithm(header string) (string, func() hash.Hash, bool) {
	switch header {
	case "x-amz-checksum-crc32":
		return "CRC32", func() hash.Hash { return crc32.NewIEEE() }, true
	case "x-amz-checksum-crc32c":
		return "CRC32C", func() hash.Hash { return crc32.New(crc32.MakeTable(crc32.Castagnoli)) }, true
	case "x-amz-checksum-crc64nvme":
		return "CRC64NVME", func() hash.Hash { return crc64.New(crc64.MakeTable(crc64NVMEPoly)) }, true
	case "x-amz-checksum-sha1":
		return "SHA1", sha1.New, true
	case "x-amz-checksum-sha256":
		return "SHA256", sha256.New, true
	}
	return "", nil, false
}

// streamConfig is what installChunked needs from the verified request.
type streamConfig struct {
	payload string // the STREAMING-* marker
	key     []byte // signing key
	amzDate string
	scope   string
	seed    string // the request signature
}

// installChunked replaces r.Body with an aws-chunked decoder and returns the
// decoded length.
func installChunked(r *http.Request, sc streamConfig) (int64, error) {
	dl := r.Header.Get("X-Amz-Decoded-Content-Length")
	want, err := strconv.ParseInt(dl, 10, 64)
	if err != nil || want < 0 {
		return 0, errMissingDecodedLength("s3")
	}
	opts := chunkOptions{
		signed:     sc.payload != StreamingUnsignedPayloadTrail,
		trailer:    sc.payload != StreamingSignedPayload,
		key:        sc.key,
		amzDate:    sc.amzDate,
		scope:      sc.scope,
		seed:       sc.seed,
		decodedLen: want,
	}
	if opts.trailer {
		declared := r.Header.Get("X-Amz-Trailer")
		if declared == "" {
			return 0, errInvalidChecksum("The x-amz-trailer header is required with " + sc.payload + ".")
		}
		for name := range strings.SplitSeq(declared, ",") {
			name = strings.ToLower(strings.TrimSpace(name))
			if _, _, ok := checksumAlgorithm(name); !ok || opts.checksum != "" {
				return 0, errInvalidChecksum("The value specified in the x-amz-trailer header is not supported")
			}
			opts.checksum = name
		}
		r.Trailer = http.Header{}
		r.Trailer[http.CanonicalHeaderKey(opts.checksum)] = nil
		opts.trailerOut = r.Trailer
	}
	body := io.Reader(http.NoBody)
	var closer io.Closer = http.NoBody
	if r.Body != nil {
		body, closer = r.Body, r.Body
	}
	r.Body = readCloser{newChunkDecoder(body, opts), closer}
	r.ContentLength = want
	if ce := r.Header.Values("Content-Encoding"); len(ce) > 0 {
		var keep []string
		for _, v := range ce {
			for enc := range strings.SplitSeq(v, ",") {
				if enc = strings.TrimSpace(enc); enc != "" && !strings.EqualFold(enc, "aws-chunked") {
					keep = append(keep, enc)
				}
			}
		}
		if len(keep) == 0 {
			r.Header.Del("Content-Encoding")
		} else {
			r.Header.Set("Content-Encoding", strings.Join(keep, ","))
		}
	}
	return want, nil
}

// chunkOptions configures a chunkDecoder.
type chunkOptions struct {
	signed     bool // chunks carry chunk-signature=
	trailer    bool // trailing headers follow the final chunk
	key        []byte
	amzDate    string
	scope      string
	seed       string
	decodedLen int64
	checksum   string      // declared trailing checksum header, lowercase
	trailerOut http.Header // receives the trailing headers at the end, if set
}

type chunkState int

const (
	stHeader chunkState = iota
	stData
	stDataEnd
)

// chunkDecoder decodes aws-chunked framing as it streams, verifying the chunk
// signature chain, the trailing checksum and the trailer signature. Its
// memory is one line buffer, whatever the body's size.
type chunkDecoder struct {
	opts      chunkOptions
	br        *bufio.Reader
	state     chunkState
	remaining int64  // bytes left in the current chunk
	size      int64  // size of the current chunk
	prevSize  int64  // size of the previous data chunk, -1 before the first
	sig       string // the current chunk's claimed signature
	prev      string // previous signature in the chain
	chunkHash hash.Hash
	sum       hash.Hash // trailing checksum over the decoded payload
	sumName   string
	decoded   int64
	err       error
}

func newChunkDecoder(r io.Reader, opts chunkOptions) *chunkDecoder {
	d := &chunkDecoder{
		opts:     opts,
		br:       bufio.NewReaderSize(r, lineBufferSize),
		prevSize: -1,
		prev:     opts.seed,
	}
	if opts.signed {
		d.chunkHash = sha256.New()
	}
	if opts.checksum != "" {
		d.sumName, d.sum, _ = algorithmHash(opts.checksum)
	}
	return d
}

func algorithmHash(header string) (string, hash.Hash, bool) {
	name, mk, ok := checksumAlgorithm(header)
	if !ok {
		return "", nil, false
	}
	return name, mk(), true
}

func (d *chunkDecoder) fail(e *Error) (int, error) {
	d.err = e
	return 0, e
}

func (d *chunkDecoder) Read(p []byte) (int, error) {
	for {
		if d.err != nil {
			return 0, d.err
		}
		switch d.state {
		case stData:
			if len(p) == 0 {
				return 0, nil
			}
			q := p
			if int64(len(q)) > d.remaining {
				q = q[:d.remaining]
			}
			n, err := d.br.Read(q)
			if n > 0 {
				if d.chunkHash != nil {
					d.chunkHash.Write(q[:n])
				}
				if d.sum != nil {
					d.sum.Write(q[:n])
				}
				d.remaining -= int64(n)
				d.decoded += int64(n)
				if d.remaining == 0 {
					d.state = stDataEnd
				}
				return n, nil
			}
			if err != nil {
				return d.fail(truncated(err))
			}
		case stDataEnd:
			if err := d.expectCRLF(); err != nil {
				return d.fail(err)
			}
			if d.opts.signed {
				if err := d.verifyChunk(); err != nil {
					return d.fail(err)
				}
			}
			d.state = stHeader
		case stHeader:
			if err := d.readHeader(); err != nil {
				return d.fail(err)
			}
			if d.size == 0 {
				if err := d.finish(); err != nil {
					return d.fail(err)
				}
				d.err = io.EOF
				return 0, io.EOF
			}
			d.state = stData
		}
	}
}

// truncated reports the underlying body ending (or failing) mid-frame.
func truncated(err error) *Error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errIncompleteBody("The aws-chunked body ended before its final chunk.")
	}
	return bodyReadError(err)
}

// readLine returns the next CRLF-terminated line without its CRLF.
func (d *chunkDecoder) readLine() (string, *Error) {
	line, err := d.br.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return "", errIncompleteBody("An aws-chunked header line is too long.")
		}
		return "", truncated(err)
	}
	if len(line) < 2 || line[len(line)-2] != '\r' {
		return "", errIncompleteBody("An aws-chunked line does not end in CRLF.")
	}
	return string(line[:len(line)-2]), nil
}

func (d *chunkDecoder) expectCRLF() *Error {
	var b [2]byte
	if _, err := io.ReadFull(d.br, b[:]); err != nil {
		return truncated(err)
	}
	if b != [2]byte{'\r', '\n'} {
		return errIncompleteBody("Chunk data is longer than its declared size.")
	}
	return nil
}

// readHeader parses "SIZE;chunk-signature=SIG" (signed) or "SIZE" (unsigned).
func (d *chunkDecoder) readHeader() *Error {
	line, e := d.readLine()
	if e != nil {
		return e
	}
	sizeStr, ext, hasExt := strings.Cut(line, ";")
	if d.opts.signed {
		sig, ok := strings.CutPrefix(ext, "chunk-signature=")
		if !hasExt || !ok || sig == "" {
			return errIncompleteBody("A signed aws-chunked header lacks chunk-signature.")
		}
		d.sig = sig
	} else if hasExt {
		return errIncompleteBody("An unsigned aws-chunked header carries an extension.")
	}
	size, ok := parseChunkSize(sizeStr)
	if !ok {
		return errIncompleteBody("An aws-chunked header has an invalid size.")
	}
	if d.opts.signed && size > 0 && d.prevSize >= 0 && d.prevSize < minChunkSize {
		return errInvalidChunkSize()
	}
	if size > d.opts.decodedLen-d.decoded {
		return errIncompleteBody("The chunks carry more bytes than x-amz-decoded-content-length.")
	}
	d.size, d.remaining = size, size
	if size > 0 {
		d.prevSize = size
	}
	if d.chunkHash != nil {
		d.chunkHash.Reset()
	}
	return nil
}

func parseChunkSize(s string) (int64, bool) {
	if s == "" || len(s) > 16 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 16, 64)
	return n, err == nil
}

// verifyChunk checks the current chunk's signature and advances the chain.
func (d *chunkDecoder) verifyChunk() *Error {
	sts := chunkAlgorithm + "\n" + d.opts.amzDate + "\n" + d.opts.scope + "\n" + d.prev + "\n" +
		emptySHA256 + "\n" + hexString(d.chunkHash.Sum(nil))
	want := hexString(hmacSHA256(d.opts.key, sts))
	if !hmac.Equal([]byte(want), []byte(d.sig)) {
		return errChunkSignature()
	}
	d.prev = want
	return nil
}

// finish handles everything after the zero-length chunk header.
func (d *chunkDecoder) finish() *Error {
	if d.opts.signed {
		if err := d.verifyChunk(); err != nil {
			return err
		}
	}
	if d.decoded != d.opts.decodedLen {
		return errIncompleteBody("The decoded body is shorter than x-amz-decoded-content-length.")
	}
	if !d.opts.trailer {
		if line, err := d.readLine(); err != nil {
			return err
		} else if line != "" {
			return errIncompleteBody("The final aws-chunked chunk is not followed by CRLF.")
		}
		return d.expectEnd()
	}
	got := map[string]string{}
	var canon strings.Builder
	var trailerSig string
	for n := 0; ; n++ {
		line, err := d.readLine()
		if err != nil {
			return err
		}
		if line == "" {
			break
		}
		if n >= maxTrailers || trailerSig != "" {
			return errIncompleteBody("The aws-chunked trailer is malformed.")
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			return errIncompleteBody("An aws-chunked trailer line has no colon.")
		}
		name, value = strings.ToLower(strings.TrimSpace(name)), strings.TrimSpace(value)
		if name == trailerSigName {
			if !d.opts.signed || value == "" {
				return errIncompleteBody("The aws-chunked trailer has an unexpected signature.")
			}
			trailerSig = value
			continue
		}
		if name != d.opts.checksum {
			return errInvalidChecksum("The trailing header " + strconv.Quote(truncate(name, 64)) + " was not declared in x-amz-trailer.")
		}
		if _, dup := got[name]; dup {
			return errInvalidChecksum("The trailing header " + strconv.Quote(name) + " appears twice.")
		}
		got[name] = value
		canon.WriteString(name + ":" + value + "\n")
	}
	if d.opts.signed {
		if trailerSig == "" {
			return errIncompleteBody("The aws-chunked trailer lacks x-amz-trailer-signature.")
		}
		sts := trailerAlgo + "\n" + d.opts.amzDate + "\n" + d.opts.scope + "\n" + d.prev + "\n" +
			sha256Hex([]byte(canon.String()))
		want := hexString(hmacSHA256(d.opts.key, sts))
		if !hmac.Equal([]byte(want), []byte(trailerSig)) {
			return errChunkSignature()
		}
	}
	value, ok := got[d.opts.checksum]
	if !ok {
		return errIncompleteBody("The aws-chunked trailer lacks the declared " + d.opts.checksum + ".")
	}
	if d.sum != nil {
		raw, err := base64.StdEncoding.DecodeString(value)
		if err != nil || len(raw) != d.sum.Size() {
			return errInvalidChecksum("Value for " + d.opts.checksum + " trailing header is invalid.")
		}
		if !bytes.Equal(raw, d.sum.Sum(nil)) {
			return errBadDigest(d.sumName)
		}
	}
	if err := d.expectEnd(); err != nil {
		return err
	}
	if d.opts.trailerOut != nil {
		for name, v := range got {
			d.opts.trailerOut[http.CanonicalHeaderKey(name)] = []string{v}
		}
	}
	return nil
}

// expectEnd requires the body to end after the final CRLF.
func (d *chunkDecoder) expectEnd() *Error {
	var b [1]byte
	n, err := d.br.Read(b[:])
	for n == 0 && err == nil {
		n, err = d.br.Read(b[:])
	}
	if n > 0 {
		return errIncompleteBody("The aws-chunked body continues after its final chunk.")
	}
	if !errors.Is(err, io.EOF) {
		return bodyReadError(err)
	}
	return nil
}
