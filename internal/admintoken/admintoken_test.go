package admintoken

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEnsureCreatesOnceAndReads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "admin-token")
	tok, err := Ensure(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(tok) != 64 {
		t.Fatalf("token %q: want 64 hex characters", tok)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", fi.Mode().Perm())
	}
	again, err := Ensure(path)
	if err != nil || again != tok {
		t.Fatalf("second Ensure: %q, %v; want the same token", again, err)
	}
	for name, content := range map[string]string{"empty": "", "short": "abc\n", "two lines": strings.Repeat("a", 40) + "\n" + strings.Repeat("b", 40)} {
		bad := filepath.Join(t.TempDir(), "bad")
		if err := os.WriteFile(bad, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Read(bad); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("%s: got %v, want an error naming the file", name, err)
		}
		if _, err := Ensure(bad); err == nil {
			t.Errorf("%s: Ensure replaced or accepted a bad file", name)
		}
	}
}

func TestGuard(t *testing.T) {
	tok := strings.Repeat("t", 40)
	reached := 0
	h := Guard(tok, http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached++ }))
	for _, tc := range []struct {
		name, method, auth string
		want               int
		passes             bool
	}{
		{"read without token", http.MethodGet, "", 200, true},
		{"head without token", http.MethodHead, "", 200, true},
		{"write without token", http.MethodPut, "", 401, false},
		{"write with wrong token", http.MethodPost, "Bearer " + strings.Repeat("x", 40), 403, false},
		{"write with another scheme", http.MethodDelete, "Basic " + tok, 401, false},
		{"write with the token", http.MethodPut, "Bearer " + tok, 200, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := reached
			r := httptest.NewRequest(tc.method, "/admin/kv/a/b", nil)
			if tc.auth != "" {
				r.Header.Set("Authorization", tc.auth)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tc.want || (reached > before) != tc.passes {
				t.Fatalf("got %d (handler reached: %v), want %d (%v): %s", w.Code, reached > before, tc.want, tc.passes, w.Body)
			}
			if !tc.passes && !strings.Contains(w.Body.String(), `"error"`) {
				t.Fatalf("refusal without a JSON error: %q", w.Body)
			}
		})
	}
	if Guard("", http.NotFoundHandler()) == nil {
		t.Fatal("an empty token must pass everything through")
	}
}
