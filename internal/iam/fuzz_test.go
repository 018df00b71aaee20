package iam

import (
	"reflect"
	"testing"
)

// FuzzParseCredentials: the shared-credentials parser never panics, and what
// it accepts formats to text that parses back to the same profiles.
func FuzzParseCredentials(f *testing.F) {
	for _, s := range []string{
		"[meridian]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n",
		"# c\n[a] ; c\nk=v\n\n[b]\nK = v = w\n",
		"[a\n", "k=v\n", "[]\n", "\ufeff[x]\r\nk = v\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParseCredentials(data)
		if err != nil {
			return
		}
		q, err := ParseCredentials(p.Format())
		if err != nil {
			t.Fatalf("formatted profiles do not parse: %v\n%s", err, p.Format())
		}
		if !reflect.DeepEqual(p, q) {
			t.Fatalf("round trip:\ngot  %q\nwant %q", q, p)
		}
	})
}
