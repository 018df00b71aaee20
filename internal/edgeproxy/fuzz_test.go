package edgeproxy

import (
	"net/http"
	"testing"
)

// FuzzCookieValue checks the proxy's allocation-free Cookie parser against
// net/http's: whenever net/http finds the affinity cookie with a value that
// could be a region ID, the proxy must find the same value.
func FuzzCookieValue(f *testing.F) {
	for _, s := range []string{
		"meridian-region=us-east",
		"a=1; meridian-region=eu-west; b=2",
		`meridian-region="ap-south"`,
		"meridian-region=; meridian-region=x",
		"meridian-region=a b; meridian-region=c",
		"meridian-regionx=1;meridian-region=y",
		"  meridian-region = z ",
		";;;",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		got, ok := cookieValue(line, DefaultAffinityCookie)
		if ok && !validCookieValue(got) {
			t.Fatalf("cookieValue(%q) = %q, not a possible region ID", line, got)
		}
		r := &http.Request{Header: http.Header{"Cookie": {line}}}
		c, err := r.Cookie(DefaultAffinityCookie)
		if err != nil || c.Value == "" || !validCookieValue(c.Value) {
			return
		}
		if got != c.Value {
			t.Fatalf("cookieValue(%q) = %q, %v; net/http reads %q", line, got, ok, c.Value)
		}
	})
}
