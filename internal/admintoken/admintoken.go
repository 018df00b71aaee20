// Package admintoken guards the state-changing endpoints of Meridian's admin
// ports (region nodes and edges: raw store writes, instance-group specs,
// chaos faults, cache invalidations) with a bearer token, as Consul's and
// Nomad's ACL tokens guard their HTTP APIs.
//
// The token is a random secret in a file of mode 0600 that `meridian up`
// creates in its data directory (topology: secrets.admin_token_file); every
// node and edge reads it at start, and the CLI commands that change a
// running deployment send it as `Authorization: Bearer <token>`. Reads (GET
// and HEAD: health, readiness, metrics, status, health verdicts) stay open
// to monitoring. Without a configured file nothing is guarded (a topology
// written by hand for one trusted host).
//
// It imports nothing of Meridian's.
package admintoken

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
)

// minLen is the shortest token accepted: 128 bits in hex.
const minLen = 32

// Ensure returns the token in path, creating the file (mode 0600, 256
// random bits in hex) if it does not exist.
func Ensure(path string) (string, error) {
	if tok, err := Read(path); err == nil || !errors.Is(err, os.ErrNotExist) {
		return tok, err
	}
	var b [32]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	tok := hex.EncodeToString(b[:])
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("admin token: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) { // created meanwhile by another process
			return Read(path)
		}
		return "", fmt.Errorf("admin token: %w", err)
	}
	_, err = f.WriteString(tok + "\n")
	if serr := f.Sync(); err == nil {
		err = serr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
		return "", fmt.Errorf("admin token: writing %s: %w", path, err)
	}
	return tok, nil
}

// Read returns the token in path. A file that is empty, too short or has
// more than one line is an error naming the file.
func Read(path string) (string, error) {
	b, err := os.ReadFile(path) //nolint:gosec // the operator's own configured path
	if err != nil {
		return "", fmt.Errorf("admin token: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if len(tok) < minLen || strings.ContainsAny(tok, " \t\r\n") {
		return "", fmt.Errorf("admin token: %s must hold one token of at least %d characters on one line", path, minLen)
	}
	return tok, nil
}

// Set makes r carry token.
func Set(r *http.Request, token string) {
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
}

// Guard passes GET and HEAD requests to next, and other methods only when
// they carry token; the rest get 401 (no or a malformed Authorization
// header) or 403 (a wrong token), as JSON. An empty token guards nothing.
func Guard(token string, next http.Handler) http.Handler {
	if token == "" {
		return next
	}
	want := []byte(token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			next.ServeHTTP(w, r)
			return
		}
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		switch {
		case !ok || got == "":
			w.Header().Set("WWW-Authenticate", `Bearer realm="meridian-admin"`)
			deny(w, http.StatusUnauthorized, "this admin endpoint changes state and needs the admin token: Authorization: Bearer <token> (the token is in the file secrets.admin_token_file names; `meridian up` writes it to <data dir>/admin-token)")
		case subtle.ConstantTimeCompare([]byte(got), want) != 1:
			deny(w, http.StatusForbidden, "the admin token is not this deployment's")
		default:
			next.ServeHTTP(w, r)
		}
	})
}

func deny(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // the message shows <token> to a human
	_ = enc.Encode(map[string]string{"error": msg})
}

// FromFile is Read for a configured path, and "" (nothing guarded) when
// path is empty.
func FromFile(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	return Read(path)
}
