package compute

import "testing"

func FuzzParsePortRange(f *testing.F) {
	for _, s := range []string{"20000-29999", "8080", " 1 - 65535 ", "0-1", "3-2", "-", "99999999999999999999-1", "a-b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParsePortRange(s)
		if err != nil {
			return
		}
		if r.First < 1 || r.Last > 65535 || r.First > r.Last {
			t.Fatalf("ParsePortRange(%q) accepted %v", s, r)
		}
		if again, err := ParsePortRange(r.String()); err != nil || again != r {
			t.Fatalf("ParsePortRange(%q) = %v does not round-trip: %v, %v", s, r, again, err)
		}
	})
}
