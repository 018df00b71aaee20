package iam

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meridian-platform/meridian/internal/sigv4"
	"github.com/meridian-platform/meridian/internal/store"
)

func openStore(t *testing.T, dir string) *store.Store {
	t.Helper()
	s, err := store.Open(store.Config{Dir: dir, Region: "us-east"})
	if err != nil {
		t.Fatalf("opening store: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func masterKeyFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "keys", "master.key")
	if err := EnsureMasterKey(p); err != nil {
		t.Fatalf("EnsureMasterKey: %v", err)
	}
	return p
}

func newKeys(t *testing.T, st Store, master string, mod func(*Config)) *Keys {
	t.Helper()
	cfg := Config{Store: st, MasterKeyFile: master}
	if mod != nil {
		mod(&cfg)
	}
	k, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return k
}

func TestEnsureMasterKey(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "keys", "master.key")
	if err := EnsureMasterKey(p); err != nil {
		t.Fatalf("creating: %v", err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("mode: got %04o, want 0600", got)
	}
	if fi.Size() != MasterKeySize {
		t.Errorf("size: got %d, want %d", fi.Size(), MasterKeySize)
	}
	if di, _ := os.Stat(filepath.Dir(p)); di.Mode().Perm() != 0o700 {
		t.Errorf("directory mode: got %04o, want 0700", di.Mode().Perm())
	}
	first, _ := os.ReadFile(p)
	if err := EnsureMasterKey(p); err != nil {
		t.Fatalf("second call: %v", err)
	}
	if again, _ := os.ReadFile(p); !bytes.Equal(first, again) {
		t.Fatal("second call replaced an existing master key")
	}

	tests := []struct {
		name    string
		content []byte
		mode    os.FileMode
		want    string
	}{
		{"group readable", first, 0o640, "has permissions 0640, more open than 0600"},
		{"world readable", first, 0o644, "chmod 600"},
		{"too short", first[:16], 0o600, "holds 16 bytes, want exactly 32"},
		{"too long", append(bytes.Clone(first), '\n'), 0o600, "holds 33 bytes, want exactly 32"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "master.key")
			if err := os.WriteFile(p, tc.content, tc.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(p, tc.mode); err != nil { // beat the umask
				t.Fatal(err)
			}
			err := EnsureMasterKey(p)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
			if got, _ := os.ReadFile(p); !bytes.Equal(got, tc.content) {
				t.Fatal("a refused master key file was changed")
			}
		})
	}
	t.Run("directory", func(t *testing.T) {
		err := EnsureMasterKey(t.TempDir())
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Fatalf("got %v, want a not-a-regular-file error", err)
		}
	})
}

func TestEnsureMasterKeyConcurrent(t *testing.T) {
	p := filepath.Join(t.TempDir(), "master.key")
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() { errs[i] = EnsureMasterKey(p) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("caller %d: %v", i, err)
		}
	}
	if ents, _ := os.ReadDir(filepath.Dir(p)); len(ents) != 1 {
		t.Errorf("got %d directory entries, want only the key (temporary files removed)", len(ents))
	}
}

var (
	bootstrapID     = regexp.MustCompile(`^AKIA[A-Z2-7]{16}$`)
	bootstrapSecret = regexp.MustCompile(`^[A-Za-z0-9+/]{40}$`)
)

func TestEnsureBootstrapCredentials(t *testing.T) {
	p := filepath.Join(t.TempDir(), "dir", "credentials")
	k, err := EnsureBootstrapCredentials(p, "meridian")
	if err != nil {
		t.Fatalf("creating: %v", err)
	}
	if !bootstrapID.MatchString(k.ID) || !bootstrapSecret.MatchString(k.Secret) || k.Principal != AdminPrincipal {
		t.Fatalf("got key %q / secret of %d characters / principal %q, want AKIA+16, 40, admin", k.ID, len(k.Secret), k.Principal)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode: got %04o, want 0600", fi.Mode().Perm())
	}
	data, _ := os.ReadFile(p)
	want := "[meridian]\naws_access_key_id = " + k.ID + "\naws_secret_access_key = " + k.Secret + "\n"
	if string(data) != want {
		t.Errorf("file:\ngot  %q\nwant %q", data, want)
	}
	again, err := EnsureBootstrapCredentials(p, "meridian")
	if err != nil || again != k {
		t.Fatalf("second call: got %v, %v; want the same key", again, err)
	}

	// Another profile is added, the existing one kept.
	other, err := EnsureBootstrapCredentials(p, "second")
	if err != nil {
		t.Fatalf("adding a profile: %v", err)
	}
	if other.ID == k.ID {
		t.Fatal("a new profile got the existing key")
	}
	if got, err := ReadCredentials(p, "meridian"); err != nil || got != k {
		t.Fatalf("after adding a profile: got %v, %v; want the original key", got, err)
	}

	t.Run("too open", func(t *testing.T) {
		if err := os.Chmod(p, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := EnsureBootstrapCredentials(p, "meridian")
		if err == nil || !strings.Contains(err.Error(), "more open than 0600") {
			t.Fatalf("got %v, want a permissions error", err)
		}
	})
	t.Run("incomplete profile", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "credentials")
		if err := os.WriteFile(p, []byte("[meridian]\naws_access_key_id = AKIAAAAAAAAAAAAAAAAA\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := EnsureBootstrapCredentials(p, "meridian")
		if err == nil || !strings.Contains(err.Error(), "needs both aws_access_key_id and aws_secret_access_key") {
			t.Fatalf("got %v, want an incomplete-profile error", err)
		}
	})
}

func TestParseCredentials(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Profiles
		wantErr string
	}{
		{
			name: "aws cli file",
			in:   "\ufeff# comment\n[default]\naws_access_key_id=AKIDEXAMPLE\n  AWS_Secret_Access_Key =  s/e+c=ret  \n\n; other\n[meridian] # note\nregion = us-east\n",
			want: Profiles{"default": {"aws_access_key_id": "AKIDEXAMPLE", "aws_secret_access_key": "s/e+c=ret"}, "meridian": {"region": "us-east"}},
		},
		{name: "empty", in: "", want: Profiles{}},
		{name: "crlf", in: "[a]\r\nk = v\r\n", want: Profiles{"a": {"k": "v"}}},
		{name: "setting before profile", in: "k = v\n", wantErr: `line 1: setting "k" comes before any [profile] header`},
		{name: "unclosed header", in: "[a]\n[b\n", wantErr: `line 2: profile header "[b" has no closing ']'`},
		{name: "empty header", in: "[ ]\n", wantErr: "line 1: empty profile name"},
		{name: "no equals", in: "[a]\nwJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n", wantErr: `line 2: expected "name = value" or "[profile]", found "wJalrXUtnFEMI/K7MDENG/bP..."`},
		{name: "no name", in: "[a]\n= v\n", wantErr: "line 2: setting without a name"},
		{name: "junk after header", in: "[a] b\n", wantErr: `line 1: unexpected "b" after profile header`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseCredentials([]byte(tc.in))
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("got error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestKeysRoundTrip(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st := openStore(t, dir)
	var logs bytes.Buffer
	master := masterKeyFile(t)
	keys := newKeys(t, st, master, func(c *Config) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	ak, err := NewAccessKey("arn:meridian:iam::user/alice")
	if err != nil {
		t.Fatal(err)
	}
	if err := keys.Put(ctx, ak); err != nil {
		t.Fatalf("Put: %v", err)
	}
	got, err := keys.Lookup(ctx, ak.ID)
	if err != nil {
		t.Fatalf("Lookup: %v", err)
	}
	if want := (sigv4.Credential{SecretAccessKey: ak.Secret, Principal: ak.Principal}); got != want {
		t.Fatalf("Lookup: got %+v, want %+v", got, want)
	}
	// A fresh Keys (no cache) decrypts from the store.
	if got, err := newKeys(t, st, master, nil).Lookup(ctx, ak.ID); err != nil || got.SecretAccessKey != ak.Secret {
		t.Fatalf("uncached Lookup: got %+v, %v", got, err)
	}

	if _, err := keys.Lookup(ctx, "AKIANOSUCHKEY0000000"); !errors.Is(err, sigv4.ErrUnknownKey) {
		t.Fatalf("unknown key: got %v, want ErrUnknownKey", err)
	}
	if _, err := keys.Lookup(ctx, ""); !errors.Is(err, sigv4.ErrUnknownKey) {
		t.Fatalf("empty key: got %v, want ErrUnknownKey", err)
	}

	raw, err := st.Get(storeKey(ak.ID))
	if err != nil || raw == nil {
		t.Fatalf("reading the stored record: %v", err)
	}
	if bytes.Contains(raw.Base.Doc, []byte(ak.Secret)) {
		t.Fatal("the stored record holds the secret in the clear")
	}
	if !bytes.Contains(raw.Base.Doc, []byte(keys.MasterKeyID())) {
		t.Errorf("the stored record %s does not name master key %s", raw.Base.Doc, keys.MasterKeyID())
	}
	if strings.Contains(logs.String(), ak.Secret) {
		t.Fatal("the log holds the secret")
	}
	if !strings.Contains(logs.String(), ak.ID) {
		t.Errorf("the log does not mention storing %s: %s", ak.ID, logs.String())
	}
	if strings.Contains(ak.String(), ak.Secret) {
		t.Fatal("AccessKey.String shows the secret")
	}

	// Nothing on disk holds the secret in the clear: not Pebble's WAL,
	// tables or change log.
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte(ak.Secret)) {
			t.Errorf("%s holds the secret in the clear", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestWrongMasterKey(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	keys := newKeys(t, st, masterKeyFile(t), nil)
	ak, _ := NewAccessKey("admin")
	if err := keys.Put(ctx, ak); err != nil {
		t.Fatal(err)
	}
	other := newKeys(t, st, masterKeyFile(t), nil)
	_, err := other.Lookup(ctx, ak.ID)
	if err == nil || errors.Is(err, sigv4.ErrUnknownKey) {
		t.Fatalf("got %v, want a decryption failure that is not 'unknown key'", err)
	}
	for _, want := range []string{ak.ID, keys.MasterKeyID(), other.MasterKeyID(), "same master key file"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if strings.Contains(err.Error(), ak.Secret) {
		t.Fatal("the error holds the secret")
	}
}

func TestTamperedRecord(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	master := masterKeyFile(t)
	keys := newKeys(t, st, master, nil)
	alice, _ := NewAccessKey("alice")
	bob, _ := NewAccessKey("bob")
	for _, ak := range []AccessKey{alice, bob} {
		if err := keys.Put(ctx, ak); err != nil {
			t.Fatal(err)
		}
	}
	rewrite := func(id string, doc []byte) {
		if _, err := st.Apply(ctx, store.Mutation{Key: storeKey(id), Put: doc}); err != nil {
			t.Fatal(err)
		}
	}
	aliceDoc := mustGet(t, st, alice.ID)
	tests := []struct {
		name string
		id   string
		doc  []byte
	}{
		{"principal changed", alice.ID, bytes.Replace(aliceDoc, []byte(`"principal":"alice"`), []byte(`"principal":"admin"`), 1)},
		{"record moved to another key", bob.ID, bytes.Replace(aliceDoc, []byte(alice.ID), []byte(bob.ID), 1)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rewrite(tc.id, tc.doc)
			_, err := newKeys(t, st, master, nil).Lookup(ctx, tc.id)
			if err == nil || !strings.Contains(err.Error(), "authentication failed") {
				t.Fatalf("got %v, want an authentication failure", err)
			}
		})
	}
}

func mustGet(t *testing.T, st *store.Store, id string) []byte {
	t.Helper()
	s, err := st.Get(storeKey(id))
	if err != nil || s == nil {
		t.Fatalf("reading %s: %v", id, err)
	}
	return s.Base.Doc
}

func TestBootstrap(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	keys := newKeys(t, st, masterKeyFile(t), nil)
	creds := filepath.Join(t.TempDir(), "credentials")
	ak, err := EnsureBootstrapCredentials(creds, "meridian")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		got, err := keys.Bootstrap(ctx, creds, "meridian")
		if err != nil || got != ak {
			t.Fatalf("Bootstrap #%d: got %v, %v; want %v", i+1, got, err, ak)
		}
	}
	if cred, err := keys.Lookup(ctx, ak.ID); err != nil || cred.SecretAccessKey != ak.Secret || cred.Principal != AdminPrincipal {
		t.Fatalf("Lookup after Bootstrap: got %+v, %v", cred, err)
	}
	before := mustGet(t, st, ak.ID)
	if _, err := keys.Bootstrap(ctx, creds, "meridian"); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, mustGet(t, st, ak.ID)) {
		t.Error("a repeated Bootstrap rewrote the stored key")
	}

	// The file now disagrees with the cluster.
	changed := Profiles{"meridian": {"aws_access_key_id": ak.ID, "aws_secret_access_key": strings.Repeat("x", 40)}}
	if err := os.WriteFile(creds, changed.Format(), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := keys.Bootstrap(ctx, creds, "meridian"); err == nil || !strings.Contains(err.Error(), "different secret") {
		t.Fatalf("got %v, want a different-secret error", err)
	}
	if _, err := keys.Bootstrap(ctx, creds, "nosuch"); err == nil || !strings.Contains(err.Error(), "no profile [nosuch]") {
		t.Fatalf("got %v, want a missing-profile error", err)
	}
}

func TestLookupCache(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	master := masterKeyFile(t)
	now := time.Unix(1_700_000_000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	cachedKeys := newKeys(t, st, master, func(c *Config) { c.Now = clock; c.CacheTTL = time.Minute })
	writer := newKeys(t, st, master, nil) // another node writing the same store
	ak, _ := NewAccessKey("alice")
	if err := writer.Put(ctx, ak); err != nil {
		t.Fatal(err)
	}
	if _, err := cachedKeys.Lookup(ctx, ak.ID); err != nil {
		t.Fatal(err)
	}
	rotated := ak
	rotated.Secret = strings.Repeat("r", 40)
	if err := writer.Put(ctx, rotated); err != nil {
		t.Fatal(err)
	}
	if got, _ := cachedKeys.Lookup(ctx, ak.ID); got.SecretAccessKey != ak.Secret {
		t.Fatalf("within the TTL: got secret %q, want the cached one", got.SecretAccessKey)
	}
	mu.Lock()
	now = now.Add(time.Minute)
	mu.Unlock()
	if got, _ := cachedKeys.Lookup(ctx, ak.ID); got.SecretAccessKey != rotated.Secret {
		t.Fatalf("after the TTL: got secret %q, want the new one", got.SecretAccessKey)
	}
	// A Put through the same Keys is visible at once.
	if err := cachedKeys.Put(ctx, ak); err != nil {
		t.Fatal(err)
	}
	if got, _ := cachedKeys.Lookup(ctx, ak.ID); got.SecretAccessKey != ak.Secret {
		t.Fatalf("after a local Put: got secret %q, want %q", got.SecretAccessKey, ak.Secret)
	}
}

func TestConfigErrors(t *testing.T) {
	st := openStore(t, t.TempDir())
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no store", Config{MasterKeyFile: "x"}, "Store is required"},
		{"no master key", Config{Store: st}, "MasterKeyFile is required"},
		{"missing master key", Config{Store: st, MasterKeyFile: filepath.Join(t.TempDir(), "nope")}, "no such file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
	t.Run("bad key", func(t *testing.T) {
		k := newKeys(t, st, masterKeyFile(t), nil)
		err := k.Put(context.Background(), AccessKey{ID: "short", Secret: "has space", Principal: ""})
		for _, want := range []string{"16 to 128 characters", "without spaces", "no principal"} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("got %v, want it to mention %q", err, want)
			}
		}
	})
}
