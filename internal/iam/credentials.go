package iam

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// AccessKey is an access key pair and the principal it authenticates.
type AccessKey struct {
	// ID is the access key ID, such as "AKIAIOSFODNN7EXAMPLE".
	ID string
	// Secret is the secret access key.
	Secret string
	// Principal names the identity the key belongs to ("admin" for the
	// bootstrap key). Policies attach to principals in a later issue.
	Principal string
}

// String shows the key without its secret, so that a logged AccessKey leaks
// nothing.
func (k AccessKey) String() string {
	return fmt.Sprintf("access key %s (principal %q)", k.ID, k.Principal)
}

// Generated key shapes, as AWS's: a 20-character ID starting with AKIA and a
// 40-character secret.
const (
	idPrefix        = "AKIA"
	idLength        = 20
	secretLength    = 40
	idAlphabet      = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	secretAlphabet  = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	maxIDLength     = 128
	maxSecretLength = 128
)

// NewAccessKey generates a random access key for principal.
func NewAccessKey(principal string) (AccessKey, error) {
	id, err := randomString(idAlphabet, idLength-len(idPrefix))
	if err != nil {
		return AccessKey{}, err
	}
	secret, err := randomString(secretAlphabet, secretLength)
	if err != nil {
		return AccessKey{}, err
	}
	return AccessKey{ID: idPrefix + id, Secret: secret, Principal: principal}, nil
}

// randomString draws n characters uniformly from alphabet, whose length
// divides 256.
func randomString(alphabet string, n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generating access key: %w", err)
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b), nil
}

// Validate says what is wrong with k as a key to store.
func (k AccessKey) Validate() error {
	var errs []error
	switch {
	case len(k.ID) < 16 || len(k.ID) > maxIDLength:
		errs = append(errs, fmt.Errorf("access key ID %q must be 16 to %d characters long", k.ID, maxIDLength))
	case strings.IndexFunc(k.ID, func(r rune) bool { return !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') }) >= 0:
		errs = append(errs, fmt.Errorf("access key ID %q may hold only upper-case letters and digits", k.ID))
	}
	switch {
	case k.Secret == "" || len(k.Secret) > maxSecretLength:
		errs = append(errs, fmt.Errorf("secret access key of access key %s must be 1 to %d characters long", k.ID, maxSecretLength))
	case strings.IndexFunc(k.Secret, func(r rune) bool { return r <= ' ' || r > '~' }) >= 0:
		errs = append(errs, fmt.Errorf("secret access key of access key %s may hold only printable ASCII characters without spaces", k.ID))
	}
	if k.Principal == "" {
		errs = append(errs, fmt.Errorf("access key %s has no principal", k.ID))
	}
	return errors.Join(errs...)
}

// Profiles is the contents of an AWS shared-credentials file: profile name
// to (lower-cased) setting name to value.
type Profiles map[string]map[string]string

// ParseCredentials reads an AWS shared-credentials file: "[profile]"
// headers, "name = value" settings, blank lines and comment lines starting
// with '#' or ';'. Setting names are case-insensitive. Errors name the line.
func ParseCredentials(data []byte) (Profiles, error) {
	out := Profiles{}
	var cur map[string]string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if n == 1 {
			line = strings.TrimPrefix(line, "\ufeff")
		}
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
			continue
		case line[0] == '[':
			end := strings.IndexByte(line, ']')
			if end < 0 {
				return nil, fmt.Errorf("line %d: profile header %q has no closing ']'", n, line)
			}
			if rest := strings.TrimSpace(line[end+1:]); rest != "" && rest[0] != '#' && rest[0] != ';' {
				return nil, fmt.Errorf("line %d: unexpected %q after profile header", n, rest)
			}
			name := strings.TrimSpace(line[1:end])
			if name == "" {
				return nil, fmt.Errorf("line %d: empty profile name", n)
			}
			if out[name] == nil {
				out[name] = map[string]string{}
			}
			cur = out[name]
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				return nil, fmt.Errorf("line %d: expected \"name = value\" or \"[profile]\", found %q", n, truncate(line))
			}
			k = strings.ToLower(strings.TrimSpace(k))
			if k == "" {
				return nil, fmt.Errorf("line %d: setting without a name", n)
			}
			if cur == nil {
				return nil, fmt.Errorf("line %d: setting %q comes before any [profile] header", n, k)
			}
			cur[k] = strings.TrimSpace(v)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading credentials: %w", err)
	}
	return out, nil
}

// truncate shortens a line quoted in an error, which might hold a secret
// someone mistyped: only its start is shown.
func truncate(s string) string {
	if len(s) > 24 {
		return s[:24] + "..."
	}
	return s
}

// Format writes p in the shared-credentials format, profiles and settings
// in name order; ParseCredentials reads it back to an equal Profiles.
func (p Profiles) Format() []byte {
	var b bytes.Buffer
	names := make([]string, 0, len(p))
	for name := range p {
		names = append(names, name)
	}
	sort.Strings(names)
	for i, name := range names {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "[%s]\n", name)
		keys := make([]string, 0, len(p[name]))
		for k := range p[name] {
			keys = append(keys, k)
		}
		// aws_access_key_id sorts before aws_secret_access_key, as people
		// expect to read them.
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, "%s = %s\n", k, p[name][k])
		}
	}
	return b.Bytes()
}

// Key returns the access key of profile, with principal "admin".
func (p Profiles) Key(profile string) (AccessKey, error) {
	s, ok := p[profile]
	if !ok {
		return AccessKey{}, fmt.Errorf("no profile [%s]", profile)
	}
	k := AccessKey{ID: s["aws_access_key_id"], Secret: s["aws_secret_access_key"], Principal: AdminPrincipal}
	if k.ID == "" || k.Secret == "" {
		return AccessKey{}, fmt.Errorf("profile [%s] needs both aws_access_key_id and aws_secret_access_key", profile)
	}
	if err := k.Validate(); err != nil {
		return AccessKey{}, fmt.Errorf("profile [%s]: %w", profile, err)
	}
	return k, nil
}

// AdminPrincipal is the principal of the bootstrap access key.
const AdminPrincipal = "admin"

// ReadCredentials returns the access key of profile in the shared-credentials
// file at path. The file must be readable by its owner only.
func ReadCredentials(path, profile string) (AccessKey, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return AccessKey{}, fmt.Errorf("credentials: %w", err)
	}
	if err := checkPrivate("credentials file", path, fi); err != nil {
		return AccessKey{}, fmt.Errorf("credentials: %w", err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return AccessKey{}, fmt.Errorf("credentials: %w", err)
	}
	p, err := ParseCredentials(data)
	if err != nil {
		return AccessKey{}, fmt.Errorf("credentials: %s: %w", path, err)
	}
	k, err := p.Key(profile)
	if err != nil {
		return AccessKey{}, fmt.Errorf("credentials: %s: %w", path, err)
	}
	return k, nil
}

// EnsureBootstrapCredentials makes sure the shared-credentials file at path
// (mode 0600) holds a [profile] with an access key, generating a new key
// and creating the file (or adding the profile to it) when needed, and
// returns the profile's key with principal "admin". An existing key is
// returned unchanged.
func EnsureBootstrapCredentials(path, profile string) (AccessKey, error) {
	if path == "" || profile == "" {
		return AccessKey{}, errors.New("credentials: a file path and a profile name are required")
	}
	if strings.ContainsAny(profile, "[]\n\r") {
		return AccessKey{}, fmt.Errorf("credentials: profile name %q may not contain brackets or line breaks", profile)
	}
	k, err := ReadCredentials(path, profile)
	if err == nil {
		return k, nil
	}
	p := Profiles{}
	switch _, statErr := os.Stat(path); {
	case errors.Is(statErr, fs.ErrNotExist):
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return AccessKey{}, fmt.Errorf("credentials: creating directory: %w", err)
		}
	case statErr != nil:
		return AccessKey{}, fmt.Errorf("credentials: %w", statErr)
	default:
		// The file exists: add the profile only if the file is otherwise
		// sound and just lacks it.
		data, rerr := os.ReadFile(path)
		if rerr != nil {
			return AccessKey{}, fmt.Errorf("credentials: %w", rerr)
		}
		var perr error
		if p, perr = ParseCredentials(data); perr != nil || p[profile] != nil {
			return AccessKey{}, err
		}
		if fi, _ := os.Stat(path); fi != nil && checkPrivate("credentials file", path, fi) != nil {
			return AccessKey{}, err
		}
	}
	k, err = NewAccessKey(AdminPrincipal)
	if err != nil {
		return AccessKey{}, fmt.Errorf("credentials: %w", err)
	}
	p[profile] = map[string]string{"aws_access_key_id": k.ID, "aws_secret_access_key": k.Secret}
	if err := replaceFile(path, p.Format()); err != nil {
		return AccessKey{}, fmt.Errorf("credentials: %w", err)
	}
	return k, nil
}

// Profile is the profile Meridian's own credentials files use.
const Profile = "meridian"
