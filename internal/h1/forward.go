package h1

import (
	"maps"
	"net"
	"net/http"
	"strings"

	"github.com/meridian-platform/meridian/internal/traceparent"
)

// What a proxy does to the headers of what it passes on, shared by the
// regional balancer and the edge proxy.

// hopHeaders are removed in both directions (RFC 9110 §7.6.1; Http2-Settings
// belongs to an h2c upgrade, RFC 7540 §3.2.1).
var hopHeaders = [...]string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade", "Http2-Settings"}

// RemoveHopHeaders deletes the hop-by-hop headers from h, and the ones its
// Connection header names.
func RemoveHopHeaders(h http.Header) {
	for _, v := range h["Connection"] {
		for f := range strings.SplitSeq(v, ",") {
			if f = http.CanonicalHeaderKey(strings.TrimSpace(f)); f != "" {
				delete(h, f)
			}
		}
	}
	for _, k := range hopHeaders {
		delete(h, k)
	}
}

// RemoveResponseHopHeaders is RemoveHopHeaders(resp.Header) for a
// response from a Pool whose Header has not been added to: it costs
// little when the response's head had no hop-by-hop field, or only a
// Connection field saying keep-alive (as nginx and Node.js send).
func RemoveResponseHopHeaders(resp *http.Response) {
	b, ok := resp.Body.(*upBody)
	switch {
	case !ok || b.hop == hopAny:
		RemoveHopHeaders(resp.Header)
	case b.hop == hopConnection:
		delete(resp.Header, "Connection")
	}
}

// hopFields says which hop-by-hop fields a head parsed by fastResponse
// had; the zero value (also that of a head net/http parsed) is hopAny.
type hopFields uint8

const (
	hopAny        hopFields = iota // any, or not known
	hopNone                        // none
	hopConnection                  // only Connection, naming keep-alive or close
)

// ResponseHeader is the header map a proxy answers with to relay resp, a
// response from a Pool: resp's hop-by-hop fields removed; resp.Header itself
// when w can take it (TakeHeader), else w's with resp's fields copied in;
// and an empty Content-Type where resp had none, so that nothing sniffs one.
func ResponseHeader(w http.ResponseWriter, resp *http.Response) http.Header {
	RemoveResponseHopHeaders(resp)
	h := resp.Header
	if !TakeHeader(w, h) {
		h = w.Header()
		maps.Copy(h, resp.Header)
	}
	if _, ok := h["Content-Type"]; !ok {
		h["Content-Type"] = nil
	}
	return h
}

// ForwardHeaders prepares the headers of r, which the caller owns, to be
// sent on: hop-by-hop headers removed; the client appended to
// X-Forwarded-For; X-Forwarded-Proto and X-Forwarded-Host set; a valid W3C
// traceparent kept, else a new trace started (and a tracestate dropped);
// and no User-Agent added where the client sent none.
func ForwardHeaders(r *http.Request) {
	h := r.Header
	RemoveHopHeaders(h)
	client, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		client = r.RemoteAddr
	}
	if prior := h["X-Forwarded-For"]; len(prior) > 0 {
		client = strings.Join(prior, ", ") + ", " + client
	}
	proto := "http"
	if r.TLS != nil {
		proto = "https"
	}
	// One backing array for the added values (each slice capped at its
	// one element, so an append elsewhere copies rather than overwrites).
	vals := make([]string, 4)
	vals[0], vals[1], vals[2] = client, proto, r.Host
	h["X-Forwarded-For"] = vals[0:1:1]
	h["X-Forwarded-Proto"] = vals[1:2:2]
	h["X-Forwarded-Host"] = vals[2:3:3]
	if tp := h["Traceparent"]; len(tp) != 1 || !traceparent.Valid(tp[0]) {
		vals[3] = traceparent.New()
		h["Traceparent"] = vals[3:4:4]
		delete(h, "Tracestate") // state belongs to the trace being replaced
	}
	if _, ok := h["User-Agent"]; !ok {
		h["User-Agent"] = nil // a nil value: Request.Write adds none either
	}
}

// Idempotent reports whether a request with this method may be sent again
// after a failure (RFC 9110 §9.2.2).
func Idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace,
		http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}
