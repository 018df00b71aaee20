package sigv4

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// The example of AWS's "Signature Calculations for the Authorization Header:
// Transferring Payload in Multiple Chunks (Chunked Upload)" and of its
// "Signature calculations for trailing headers" companion: 66560 bytes of 'a'
// in chunks of 65536, 1024 and 0 bytes, signed with the documentation's
// example keys on 2013-05-24.
const (
	exampleAKID   = "AKIAIOSFODNN7EXAMPLE"
	exampleSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	exampleDate   = "20130524T000000Z"
	exampleScope  = "20130524/us-east-1/s3/aws4_request"
)

var exampleTime = time.Date(2013, 5, 24, 0, 0, 0, 0, time.UTC)

type awsExample struct {
	name          string
	payload       string
	signedHeaders string
	seed          string
	chunkSigs     [3]string
	trailer       string // trailing lines after the final chunk, before the last CRLF
	header        map[string]string
}

var awsExamples = []awsExample{
	{
		name:          "chunked upload",
		payload:       StreamingSignedPayload,
		signedHeaders: "content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class",
		seed:          "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9",
		chunkSigs: [3]string{
			"ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
			"0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
			"b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
		},
	},
	{
		name:          "chunked upload with trailing checksum",
		payload:       StreamingSignedPayloadTrail,
		signedHeaders: "content-encoding;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class;x-amz-trailer",
		seed:          "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e",
		chunkSigs: [3]string{
			"b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2",
			"1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7",
			"2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992",
		},
		trailer: "x-amz-checksum-crc32c:sOO8/Q==\r\n" +
			"x-amz-trailer-signature:d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435\r\n",
		header: map[string]string{"X-Amz-Trailer": "x-amz-checksum-crc32c"},
	},
}

func (ex awsExample) body() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "10000;chunk-signature=%s\r\n%s\r\n", ex.chunkSigs[0], strings.Repeat("a", 65536))
	fmt.Fprintf(&b, "400;chunk-signature=%s\r\n%s\r\n", ex.chunkSigs[1], strings.Repeat("a", 1024))
	fmt.Fprintf(&b, "0;chunk-signature=%s\r\n%s\r\n", ex.chunkSigs[2], ex.trailer)
	return b.Bytes()
}

func (ex awsExample) request(t *testing.T, base string, body []byte) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, base+"/examplebucket/chunkObject.txt", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "s3.amazonaws.com"
	req.Header.Set("X-Amz-Date", exampleDate)
	req.Header.Set("X-Amz-Storage-Class", "REDUCED_REDUNDANCY")
	req.Header.Set("X-Amz-Content-Sha256", ex.payload)
	req.Header.Set("Content-Encoding", "aws-chunked")
	req.Header.Set("X-Amz-Decoded-Content-Length", "66560")
	for k, v := range ex.header {
		req.Header.Set(k, v)
	}
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+exampleAKID+"/"+exampleScope+
		",SignedHeaders="+ex.signedHeaders+",Signature="+ex.seed)
	return req
}

// TestAWSChunkedExamples replays AWS's published examples against a real
// listener: the seed signature proves the canonical request, the chunk and
// trailer signatures prove the chain, and the CRC32C proves the checksum.
func TestAWSChunkedExamples(t *testing.T) {
	want := hexSHA256(bytes.Repeat([]byte("a"), 66560))
	for _, ex := range awsExamples {
		t.Run(ex.name, func(t *testing.T) {
			srv := newServer(t, newTestVerifier(t, newClock(exampleTime.Add(time.Minute))))
			body := ex.body()
			if ex.payload == StreamingSignedPayload && len(body) != 66824 {
				t.Fatalf("got encoded length %d, want the documented 66824", len(body))
			}
			got := do(t, srv.Client(), ex.request(t, srv.URL, body))
			checkReply(t, got, 200, "")
			if got.BodySHA256 != want || got.BodyLen != 66560 || got.ContentLen != 66560 {
				t.Fatalf("handler read %d bytes (sha256 %s, content-length %d), want 66560 bytes of 'a'", got.BodyLen, got.BodySHA256, got.ContentLen)
			}
			if got.ContentEnc != "" {
				t.Fatalf("got Content-Encoding %q, want aws-chunked removed", got.ContentEnc)
			}
			if ex.trailer != "" && got.Trailer["x-amz-checksum-crc32c"] != "sOO8/Q==" {
				t.Fatalf("got trailer %v, want x-amz-checksum-crc32c sOO8/Q==", got.Trailer)
			}
		})
		t.Run(ex.name+" with a corrupted byte", func(t *testing.T) {
			srv := newServer(t, newTestVerifier(t, newClock(exampleTime)))
			body := ex.body()
			i := bytes.Index(body, []byte("\r\naaaa")) + 1000
			body[i] = 'b'
			checkReply(t, do(t, srv.Client(), ex.request(t, srv.URL, body)), 403, "SignatureDoesNotMatch")
		})
	}
}

// chunkEncoder writes aws-chunked bodies the way S3 clients do, for tests.
type chunkEncoder struct {
	signed, trailer bool
	key             []byte
	amzDate, scope  string
	seed            string
	checksum        string // trailing checksum header
	checksumValue   string // overrides the computed checksum
	corruptChunk    int    // 1-based index of a chunk whose signature is wrong
	corruptTrailer  bool   // wrong trailer signature
	extraTrailer    string // an extra trailing line
}

func (e chunkEncoder) encode(data []byte, chunkSize int) []byte {
	var b bytes.Buffer
	prev := e.seed
	sign := func(sts string) string { return hexString(hmacSHA256(e.key, sts)) }
	n := 0
	for off := 0; ; {
		end := min(off+chunkSize, len(data))
		chunk := data[off:end]
		off = end
		n++
		fmt.Fprintf(&b, "%x", len(chunk))
		if e.signed {
			sig := sign(chunkAlgorithm + "\n" + e.amzDate + "\n" + e.scope + "\n" + prev + "\n" + emptySHA256 + "\n" + hexSHA256(chunk))
			prev = sig
			if n == e.corruptChunk {
				sig = strings.Repeat("0", 64)
			}
			fmt.Fprintf(&b, ";chunk-signature=%s", sig)
		}
		b.WriteString("\r\n")
		if len(chunk) == 0 {
			break
		}
		b.Write(chunk)
		b.WriteString("\r\n")
	}
	if e.trailer {
		value := e.checksumValue
		if value == "" {
			_, h, _ := algorithmHash(e.checksum)
			h.Write(data)
			value = base64.StdEncoding.EncodeToString(h.Sum(nil))
		}
		line := e.checksum + ":" + value + "\n"
		if e.extraTrailer != "" {
			line += e.extraTrailer + "\n"
		}
		b.WriteString(strings.ReplaceAll(line, "\n", "\r\n"))
		if e.signed {
			sig := sign(trailerAlgo + "\n" + e.amzDate + "\n" + e.scope + "\n" + prev + "\n" + hexSHA256([]byte(line)))
			if e.corruptTrailer {
				sig = strings.Repeat("f", 64)
			}
			fmt.Fprintf(&b, "%s:%s\r\n", trailerSigName, sig)
		}
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

// chunkedRequest signs an aws-chunked PUT with the SDK signer, then encodes
// the body with the resulting seed signature.
func chunkedRequest(t *testing.T, base, payload string, data []byte, chunkSize int, enc chunkEncoder, header map[string]string) *http.Request {
	t.Helper()
	enc.signed = payload != StreamingUnsignedPayloadTrail
	enc.trailer = payload != StreamingSignedPayload
	enc.amzDate = signTime.Format(amzDateFormat)
	enc.scope = "20240101/us-east-1/s3/aws4_request"
	enc.key = signingKey(testSecret, scope{date: "20240101", region: "us-east-1", service: "s3"})
	enc.seed = strings.Repeat("0", 64)
	size := len(enc.encode(data, chunkSize))

	req, err := http.NewRequest(http.MethodPut, base+"/bucket/big.bin", bytes.NewReader(make([]byte, size)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Amz-Content-Sha256", payload)
	req.Header.Set("Content-Encoding", "aws-chunked")
	req.Header.Set("X-Amz-Decoded-Content-Length", strconv.Itoa(len(data)))
	if enc.trailer {
		req.Header.Set("X-Amz-Trailer", enc.checksum)
	}
	for k, v := range header {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	if err := signer.SignHTTP(context.Background(), testCreds, req, payload, "s3", "us-east-1", signTime); err != nil {
		t.Fatal(err)
	}
	_, seed, ok := strings.Cut(req.Header.Get("Authorization"), "Signature=")
	if !ok {
		t.Fatalf("no signature in %q", req.Header.Get("Authorization"))
	}
	enc.seed = seed
	body := enc.encode(data, chunkSize)
	if len(body) != size {
		t.Fatalf("encoded length changed from %d to %d", size, len(body))
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	return req
}

func testData(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

func TestChunkedUploads(t *testing.T) {
	data := testData(200_000)
	tests := []struct {
		name       string
		payload    string
		checksum   string
		chunkSize  int
		enc        chunkEncoder
		header     map[string]string
		wantStatus int
		wantCode   string
		wantMsg    string
	}{
		{name: "signed", payload: StreamingSignedPayload, chunkSize: 64 << 10, wantStatus: 200},
		{name: "signed one chunk", payload: StreamingSignedPayload, chunkSize: 1 << 20, wantStatus: 200},
		{name: "signed trailer crc32c", payload: StreamingSignedPayloadTrail, checksum: "x-amz-checksum-crc32c", chunkSize: 64 << 10, wantStatus: 200},
		{name: "signed trailer sha256", payload: StreamingSignedPayloadTrail, checksum: "x-amz-checksum-sha256", chunkSize: 8 << 10, wantStatus: 200},
		{name: "unsigned trailer crc32", payload: StreamingUnsignedPayloadTrail, checksum: "x-amz-checksum-crc32", chunkSize: 64 << 10, wantStatus: 200},
		{name: "unsigned trailer sha1", payload: StreamingUnsignedPayloadTrail, checksum: "x-amz-checksum-sha1", chunkSize: 1000, wantStatus: 200},
		{name: "unsigned trailer crc64nvme", payload: StreamingUnsignedPayloadTrail, checksum: "x-amz-checksum-crc64nvme", chunkSize: 64 << 10, wantStatus: 200},
		{name: "unsigned trailer wrong crc32", payload: StreamingUnsignedPayloadTrail, checksum: "x-amz-checksum-crc32", chunkSize: 64 << 10,
			enc: chunkEncoder{checksumValue: "AAAAAA=="}, wantStatus: 400, wantCode: "BadDigest",
			wantMsg: "The CRC32 you specified did not match the calculated checksum."},
		{name: "signed trailer wrong crc32c", payload: StreamingSignedPayloadTrail, checksum: "x-amz-checksum-crc32c", chunkSize: 64 << 10,
			enc: chunkEncoder{checksumValue: "AAAAAA=="}, wantStatus: 400, wantCode: "BadDigest"},
		{name: "trailer checksum not base64", payload: StreamingUnsignedPayloadTrail, checksum: "x-amz-checksum-sha256", chunkSize: 64 << 10,
			enc: chunkEncoder{checksumValue: "not base64!"}, wantStatus: 400, wantCode: "InvalidRequest"},
		{name: "undeclared trailer", payload: StreamingUnsignedPayloadTrail, checksum: "x-amz-checksum-crc32", chunkSize: 64 << 10,
			enc: chunkEncoder{extraTrailer: "x-amz-checksum-sha1:AAAA"}, wantStatus: 400, wantCode: "InvalidRequest"},
		{name: "bad first chunk signature", payload: StreamingSignedPayload, chunkSize: 64 << 10, enc: chunkEncoder{corruptChunk: 1},
			wantStatus: 403, wantCode: "SignatureDoesNotMatch"},
		{name: "bad final chunk signature", payload: StreamingSignedPayloadTrail, checksum: "x-amz-checksum-crc32", chunkSize: 64 << 10,
			enc: chunkEncoder{corruptChunk: 5}, wantStatus: 403, wantCode: "SignatureDoesNotMatch"},
		{name: "bad trailer signature", payload: StreamingSignedPayloadTrail, checksum: "x-amz-checksum-crc32", chunkSize: 64 << 10,
			enc: chunkEncoder{corruptTrailer: true}, wantStatus: 403, wantCode: "SignatureDoesNotMatch"},
		{name: "signed chunk under 8 KiB", payload: StreamingSignedPayload, chunkSize: 4096, wantStatus: 403, wantCode: "InvalidChunkSizeError"},
		{name: "decoded length too large", payload: StreamingSignedPayload, chunkSize: 64 << 10,
			header: map[string]string{"X-Amz-Decoded-Content-Length": "200001"}, wantStatus: 400, wantCode: "IncompleteBody"},
		{name: "decoded length too small", payload: StreamingSignedPayload, chunkSize: 64 << 10,
			header: map[string]string{"X-Amz-Decoded-Content-Length": "199999"}, wantStatus: 400, wantCode: "IncompleteBody"},
		{name: "decoded length missing", payload: StreamingSignedPayload, chunkSize: 64 << 10,
			header: map[string]string{"X-Amz-Decoded-Content-Length": ""}, wantStatus: 411, wantCode: "MissingContentLength"},
		{name: "unsupported trailer", payload: StreamingUnsignedPayloadTrail, checksum: "x-amz-checksum-md5", chunkSize: 64 << 10,
			wantStatus: 400, wantCode: "InvalidRequest", wantMsg: "The value specified in the x-amz-trailer header is not supported"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, newTestVerifier(t, newClock(signTime)))
			enc := tc.enc
			enc.checksum = tc.checksum
			if tc.checksum == "x-amz-checksum-md5" {
				enc.checksumValue = "AAAA"
			}
			got := do(t, srv.Client(), chunkedRequest(t, srv.URL, tc.payload, data, tc.chunkSize, enc, tc.header))
			checkReply(t, got, tc.wantStatus, tc.wantCode)
			if tc.wantMsg != "" && got.Message != tc.wantMsg {
				t.Fatalf("got message %q, want %q", got.Message, tc.wantMsg)
			}
			if tc.wantStatus != 200 {
				return
			}
			if want := hexSHA256(data); got.BodySHA256 != want || got.BodyLen != len(data) || got.DecodedSize != int64(len(data)) {
				t.Fatalf("handler read %d bytes sha256 %s (decoded size %d), want %d bytes sha256 %s", got.BodyLen, got.BodySHA256, got.DecodedSize, len(data), want)
			}
			if tc.checksum != "" {
				_, h, _ := algorithmHash(tc.checksum)
				h.Write(data)
				if want := base64.StdEncoding.EncodeToString(h.Sum(nil)); got.Trailer[tc.checksum] != want {
					t.Fatalf("got trailer %v, want %s: %s", got.Trailer, tc.checksum, want)
				}
			}
		})
	}
}

// decoderFor returns a decoder over body with the options chunkedRequest uses.
func decoderFor(body []byte, enc chunkEncoder, decodedLen int) *chunkDecoder {
	return newChunkDecoder(bytes.NewReader(body), chunkOptions{
		signed: enc.signed, trailer: enc.trailer, key: enc.key, amzDate: enc.amzDate, scope: enc.scope,
		seed: enc.seed, decodedLen: int64(decodedLen), checksum: enc.checksum,
	})
}

func testEncoder(signed, trailer bool) chunkEncoder {
	return chunkEncoder{
		signed: signed, trailer: trailer, checksum: "x-amz-checksum-crc32c",
		key:     signingKey("secret", scope{date: "20240101", region: "us-east-1", service: "s3"}),
		amzDate: "20240101T000000Z", scope: "20240101/us-east-1/s3/aws4_request", seed: strings.Repeat("ab", 32),
	}
}

func TestChunkDecoderTruncated(t *testing.T) {
	data := testData(40_000)
	for _, mode := range []struct {
		name            string
		signed, trailer bool
	}{{"signed", true, false}, {"signed trailer", true, true}, {"unsigned trailer", false, true}} {
		enc := testEncoder(mode.signed, mode.trailer)
		if !mode.trailer {
			enc.checksum = ""
		}
		body := enc.encode(data, 16<<10)
		t.Run(mode.name+" whole", func(t *testing.T) {
			got, err := io.ReadAll(iotest.OneByteReader(decoderFor(body, enc, len(data))))
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("got %d bytes, err %v; want %d bytes, no error", len(got), err, len(data))
			}
		})
		cuts := []int{0, 1, 5, 80, 16 << 10, len(body) / 2, len(body) - 40, len(body) - 3, len(body) - 2, len(body) - 1}
		for _, cut := range cuts {
			t.Run(fmt.Sprintf("%s cut at %d", mode.name, cut), func(t *testing.T) {
				_, err := io.Copy(io.Discard, decoderFor(body[:cut], enc, len(data)))
				if e := asError(t, err); e.Kind != KindIncompleteBody || e.S3().Code != "IncompleteBody" {
					t.Fatalf("got %v, want IncompleteBody", err)
				}
			})
		}
		t.Run(mode.name+" trailing garbage", func(t *testing.T) {
			_, err := io.Copy(io.Discard, decoderFor(append(bytes.Clone(body), 'x'), enc, len(data)))
			if e := asError(t, err); e.Kind != KindIncompleteBody {
				t.Fatalf("got %v, want IncompleteBody", err)
			}
		})
	}
}

func TestChunkDecoderMalformed(t *testing.T) {
	enc := testEncoder(false, true)
	tests := []struct {
		name string
		body string
		want Kind
	}{
		{"size not hex", "zz\r\n", KindIncompleteBody},
		{"negative size", "-1\r\n", KindIncompleteBody},
		{"size too long", "00000000000000001\r\n", KindIncompleteBody},
		{"bare LF", "3\nabc\r\n", KindIncompleteBody},
		{"data longer than size", "3\r\nabcd\r\n", KindIncompleteBody},
		{"extension on unsigned chunk", "3;chunk-signature=00\r\nabc\r\n", KindIncompleteBody},
		{"header line too long", strings.Repeat("0", 5000) + "\r\n", KindIncompleteBody},
		{"more than declared", "10\r\n0123456789abcdef\r\n", KindIncompleteBody},
		{"trailer without colon", "3\r\nabc\r\n0\r\nx-amz-checksum-crc32c\r\n\r\n", KindIncompleteBody},
		{"missing trailer", "3\r\nabc\r\n0\r\n\r\n", KindIncompleteBody},
		{"trailer signature on unsigned", "3\r\nabc\r\n0\r\nx-amz-trailer-signature:00\r\n\r\n", KindIncompleteBody},
		{"undeclared trailer names", "3\r\nabc\r\n0\r\n" + strings.Repeat("x-a:b\r\n", 20) + "\r\n", KindInvalidChecksum},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := io.Copy(io.Discard, decoderFor([]byte(tc.body), enc, 3))
			if e := asError(t, err); e.Kind != tc.want {
				t.Fatalf("got %v (kind %v), want kind %v", err, e.Kind, tc.want)
			}
		})
	}
}

// endlessChunks streams an unsigned-trailer aws-chunked body of n chunks
// without holding it in memory.
type endlessChunks struct {
	chunk   []byte
	left    int
	pending []byte
}

func (e *endlessChunks) Read(p []byte) (int, error) {
	if len(e.pending) == 0 {
		switch {
		case e.left > 0:
			e.pending = e.chunk
			e.left--
		case e.left == 0:
			e.pending = []byte("0\r\nx-amz-checksum-sha256:" + base64.StdEncoding.EncodeToString(make([]byte, 32)) + "\r\n\r\n")
			e.left = -1
		default:
			return 0, io.EOF
		}
	}
	n := copy(p, e.pending)
	e.pending = e.pending[n:]
	return n, nil
}

// TestChunkDecoderMemoryBounded decodes 64 MiB while watching allocation: the
// decoder must not hold the body.
func TestChunkDecoderMemoryBounded(t *testing.T) {
	const chunkSize, chunks = 64 << 10, 1024
	chunk := append([]byte(fmt.Sprintf("%x\r\n", chunkSize)), append(testData(chunkSize), '\r', '\n')...)
	src := &endlessChunks{chunk: chunk, left: chunks}
	d := newChunkDecoder(src, chunkOptions{trailer: true, decodedLen: chunkSize * chunks, checksum: "x-amz-checksum-sha256"})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	buf := make([]byte, 32<<10)
	n, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{d}, buf)
	runtime.ReadMemStats(&after)
	if n != chunkSize*chunks {
		t.Fatalf("decoded %d bytes, want %d", n, chunkSize*chunks)
	}
	// The trailing checksum is deliberately wrong: the whole body was read.
	if e := asError(t, err); e.Kind != KindBadDigest {
		t.Fatalf("got %v, want BadDigest at the end", err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 4<<20 {
		t.Fatalf("decoding 64 MiB allocated %d bytes, want under 4 MiB", grew)
	}
}

func TestCRC64NVMECheckValue(t *testing.T) {
	_, h, _ := algorithmHash("x-amz-checksum-crc64nvme")
	h.Write([]byte("123456789"))
	if got, want := fmt.Sprintf("%x", h.Sum(nil)), "ae8b14860a799888"; got != want {
		t.Fatalf("got CRC-64/NVME %s, want %s", got, want)
	}
}
