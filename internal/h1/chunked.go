package h1

import (
	"bufio"
	"bytes"
	"errors"
	"net/textproto"
)

// chunkScan finds the end of a chunked body (RFC 9112 §7.1) in the bytes
// an event loop relays as they are: chunk sizes, extensions and trailer
// fields pass through; only where the body ends is decided here, by
// net/http's rules, so that a client reading the relayed body with net/http
// finds the same end, and a body net/http would refuse is refused: size
// lines end with CRLF and have no other CR, hex digits (at most 15) then
// optional whitespace or an extension after ';', under 4096 bytes; the
// trailer section ends with CRLF CRLF within 4096 bytes (net/http looks
// that far for it) and is checked with net/textproto, as net/http reads it.
//
// The trailer section is held back until it is whole and checked (held,
// then section): a body broken off inside it must not reach the client as
// one that ended.
type chunkScan struct {
	st   uint8
	n    int64  // data bytes left in the chunk
	line []byte // the size line, or the trailer section, read so far
	held int    // bytes of the last scan's that went into the trailer section
}

const (
	chLine    = iota // in a size line
	chData           // in a chunk's data
	chDataCR         // after the data: CR expected
	chDataLF         // LF expected
	chTrailer        // in the trailer section
	chEnd            // after the body
)

// maxChunkLine is net/http's bound on a size line, maxTrailer on the
// trailer section (its reader's buffer).
const (
	maxChunkLine = 4096
	maxTrailer   = 4096
)

var errChunked = errors.New("malformed chunked encoding")

// scan reads p, returning how many of its bytes belong to the body and
// whether the body ends with them.
func (c *chunkScan) scan(p []byte) (int, bool, error) {
	i := 0
	c.held = 0
	for i < len(p) {
		switch c.st {
		case chLine, chTrailer:
			j := bytes.IndexByte(p[i:], '\n')
			if j < 0 {
				j = len(p) - i - 1
			}
			c.line = append(c.line, p[i:i+j+1]...)
			i += j + 1
			if c.st == chTrailer {
				c.held += j + 1
			}
			if c.st == chLine && len(c.line) > maxChunkLine+1 || len(c.line) > maxTrailer {
				return i, false, errChunked
			}
			if c.line[len(c.line)-1] != '\n' {
				continue
			}
			if c.st == chLine {
				if !c.sizeLine() {
					return i, false, errChunked
				}
				continue
			}
			if end, ok := c.trailerEnd(); end {
				c.st = chEnd
				if !ok {
					return i, false, errChunked
				}
				return i, true, nil
			}
		case chData:
			k := min(int64(len(p)-i), c.n)
			c.n -= k
			i += int(k)
			if c.n == 0 {
				c.st = chDataCR
			}
		case chDataCR, chDataLF:
			want := byte('\r')
			if c.st == chDataLF {
				want = '\n'
			}
			if p[i] != want {
				return i, false, errChunked
			}
			i++
			if c.st == chDataCR {
				c.st = chDataLF
			} else {
				c.st = chLine
			}
		case chEnd:
			return i, true, nil
		}
	}
	return len(p), c.st == chEnd, nil
}

// sizeLine takes the size line in c.line (ending with LF).
func (c *chunkScan) sizeLine() bool {
	l := c.line
	c.line = c.line[:0]
	if len(l) < 2 || bytes.IndexByte(l, '\r') != len(l)-2 {
		return false // a bare LF, or a CR inside
	}
	l = l[:len(l)-2]
	if len(l) >= maxChunkLine {
		return false
	}
	for len(l) > 0 && (l[len(l)-1] == ' ' || l[len(l)-1] == '\t') {
		l = l[:len(l)-1]
	}
	l, _, _ = bytes.Cut(l, []byte(";"))
	if len(l) == 0 || len(l) > 15 {
		return false
	}
	var n int64
	for _, b := range l {
		v, ok := hexVal(b)
		if !ok {
			return false
		}
		n = n<<4 | int64(v)
	}
	c.n = n
	if n == 0 {
		c.st = chTrailer
	} else {
		c.st = chData
	}
	return true
}

// section is the trailer section once scan has ended the body.
func (c *chunkScan) section() []byte { return c.line }

// trailerEnd reports whether the trailer section in c.line (ending with
// LF) is whole, and then whether net/http would take it.
func (c *chunkScan) trailerEnd() (end, ok bool) {
	l := c.line
	last := l[:len(l)-1]
	if i := bytes.LastIndexByte(last, '\n'); i >= 0 {
		last = last[i+1:]
	}
	if len(last) > 1 || len(last) == 1 && last[0] != '\r' {
		return false, false // a field line: more to come
	}
	if len(l) == len(last)+1 {
		// No field: net/http takes only CRLF (a lone LF at the end of
		// what it has is an "unexpected EOF reading trailer").
		return true, bytes.Equal(l, []byte("\r\n"))
	}
	if !bytes.HasSuffix(l, []byte("\r\n\r\n")) {
		return true, false // net/http looks for CRLF CRLF
	}
	br := bufio.NewReader(bytes.NewReader(l))
	_, err := textproto.NewReader(br).ReadMIMEHeader()
	return true, err == nil && br.Buffered() == 0
}

func hexVal(b byte) (byte, bool) {
	switch {
	case '0' <= b && b <= '9':
		return b - '0', true
	case 'a' <= b && b <= 'f':
		return b - 'a' + 10, true
	case 'A' <= b && b <= 'F':
		return b - 'A' + 10, true
	}
	return 0, false
}
