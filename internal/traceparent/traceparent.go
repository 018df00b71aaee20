// Package traceparent validates and starts W3C trace context headers, for
// the proxies that pass a request's trace on (the regional load balancer
// and the edge) or start one. It imports nothing of Meridian's.
package traceparent

import (
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"strings"
)

// Valid checks a W3C trace context header (version 00 layout):
// 2 hex version (not ff), 32 hex trace id, 16 hex parent id, 2 hex flags,
// ids not all zero. Later versions may append fields after a dash.
func Valid(s string) bool {
	if len(s) < 55 || (len(s) > 55 && (s[0:2] == "00" || s[55] != '-')) {
		return false
	}
	if s[2] != '-' || s[35] != '-' || s[52] != '-' {
		return false
	}
	if !lowerHex(s[0:2]) || s[0:2] == "ff" || !lowerHex(s[3:35]) || !lowerHex(s[36:52]) || !lowerHex(s[53:55]) {
		return false
	}
	return strings.Trim(s[3:35], "0") != "" && strings.Trim(s[36:52], "0") != ""
}

func lowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// New starts a trace: random trace and parent ids, sampled. The ids need to
// be unique, not secret, and must not repeat across proxies in one process,
// so they come from the runtime's generator, not a seeded one.
func New() string {
	var b [24]byte
	for {
		a, c, d := rand.Uint64(), rand.Uint64(), rand.Uint64() //nolint:gosec // G404: trace ids must be unique, not secret (see above)
		binary.LittleEndian.PutUint64(b[0:], a)
		binary.LittleEndian.PutUint64(b[8:], c)
		binary.LittleEndian.PutUint64(b[16:], d)
		if a|c != 0 && d != 0 {
			break
		}
	}
	var s [55]byte
	copy(s[:], "00-")
	hex.Encode(s[3:35], b[:16])
	s[35] = '-'
	hex.Encode(s[36:52], b[16:])
	copy(s[52:], "-01")
	return string(s[:])
}
