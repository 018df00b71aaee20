package iam

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// MasterKeySize is the size of the cluster master key in bytes (AES-256).
const MasterKeySize = 32

// masterKey is the loaded cluster master key.
type masterKey struct {
	id  string // public fingerprint recorded with every sealed data key
	key []byte
}

// masterKeyID is a fingerprint of a master key that reveals nothing useful
// about it: a truncated SHA-256 under a domain-separation prefix.
func masterKeyID(key []byte) string {
	h := sha256.New()
	h.Write([]byte("meridian master key id\x00"))
	h.Write(key)
	return "mk-" + hex.EncodeToString(h.Sum(nil)[:8])
}

// EnsureMasterKey creates the master key file at path, with 32 random bytes
// and mode 0600 (its directory 0700), unless it exists. An existing file must
// be a regular file of exactly 32 bytes that its owner alone may read; any
// other is refused with an error that says how to fix it, and is left alone.
// Creation is atomic: concurrent callers end up with the same key.
func EnsureMasterKey(path string) error {
	if path == "" {
		return errors.New("master key: no file path configured")
	}
	if _, err := readMasterKey(path); !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("master key: creating directory %s: %w", dir, err)
	}
	key := make([]byte, MasterKeySize)
	if _, err := rand.Read(key); err != nil {
		return fmt.Errorf("master key: generating: %w", err)
	}
	if err := createExclusive(path, key); err != nil {
		if errors.Is(err, fs.ErrExist) {
			_, err := readMasterKey(path)
			return err
		}
		return fmt.Errorf("master key: %w", err)
	}
	return nil
}

// createExclusive writes data to path with mode 0600 unless path exists
// (fs.ErrExist). Readers never see a partly written file: the data is
// written and synced under a temporary name and hard-linked into place.
func createExclusive(path string, data []byte) error {
	return placeFile(path, data, func(tmp string) error {
		if err := os.Link(tmp, path); err != nil {
			if errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("creating %s: %w", path, fs.ErrExist)
			}
			return fmt.Errorf("creating %s: %w", path, err)
		}
		return nil
	})
}

// replaceFile atomically writes data to path with mode 0600.
func replaceFile(path string, data []byte) error {
	return placeFile(path, data, func(tmp string) error {
		if err := os.Rename(tmp, path); err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
		return nil
	})
}

// placeFile writes data, mode 0600 and synced, to a temporary file beside
// path, lets place move it to path, and syncs the directory.
func placeFile(path string, data []byte, place func(tmp string) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("creating temporary file: %w", err)
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	if err := tmp.Chmod(0o600); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("restricting %s: %w", tmp.Name(), err)
	}
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("writing %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("syncing %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", tmp.Name(), err)
	}
	if err := place(tmp.Name()); err != nil {
		return err
	}
	syncDir(filepath.Dir(path))
	return nil
}

// syncDir makes a new directory entry durable, where the OS allows.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	_ = d.Close()
}

// checkPrivate refuses a file that is not a regular file or that anyone but
// its owner may read or write.
func checkPrivate(what, path string, fi fs.FileInfo) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s %s is not a regular file", what, path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("%s %s has permissions %04o, more open than 0600; it holds a secret, so restrict it (chmod 600 %s) or remove it to have a new one created",
			what, path, perm, path)
	}
	return nil
}

// readMasterKey loads and checks the master key file. A missing file is an
// error wrapping fs.ErrNotExist.
func readMasterKey(path string) (*masterKey, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("master key: %w", err)
	}
	if err := checkPrivate("master key file", path, fi); err != nil {
		return nil, fmt.Errorf("master key: %w", err)
	}
	key, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("master key: %w", err)
	}
	if len(key) != MasterKeySize {
		return nil, fmt.Errorf("master key: %s holds %d bytes, want exactly %d (a raw AES-256 key); it is not a Meridian master key",
			path, len(key), MasterKeySize)
	}
	return &masterKey{id: masterKeyID(key), key: key}, nil
}
