package h1

import "testing"

func TestCodeLabel(t *testing.T) {
	for code, want := range map[int]string{0: "000", 99: "000", 100: "100", 200: "200", 599: "599", 600: "600", 999: "999", 1000: "000", -5: "000"} {
		if got := CodeLabel(code); got != want {
			t.Errorf("CodeLabel(%d): got %q, want %q", code, got, want)
		}
	}
}
