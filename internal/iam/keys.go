package iam

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/meridian-platform/meridian/internal/sigv4"
	"github.com/meridian-platform/meridian/internal/store"
)

// KeySpace is the store space holding access keys, one item per access key
// ID (the item's Hash).
const KeySpace = "_iam:keys"

// Store is what Keys needs of the replicated store; *store.Store has it.
type Store interface {
	Get(k store.Key) (*store.State, error)
	Apply(ctx context.Context, muts ...store.Mutation) (store.Commit, error)
}

// Config configures Keys. Store and MasterKeyFile are required.
type Config struct {
	// Store is the node's replicated store.
	Store Store
	// MasterKeyFile is the cluster master key (see EnsureMasterKey); every
	// node must have the same one.
	MasterKeyFile string
	// Logger (default: discard).
	Logger *slog.Logger
	// CacheTTL is how long a decrypted key is reused before it is read from
	// the store again, which bounds how long a key changed in another region
	// keeps working here with its old secret. Default 30s.
	CacheTTL time.Duration
	// CacheSize is the most keys cached. Default 1024.
	CacheSize int
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Defaults.
const (
	DefaultCacheTTL  = 30 * time.Second
	DefaultCacheSize = 1024
)

// Validate says what is wrong with c.
func (c Config) Validate() error {
	var errs []error
	if c.Store == nil {
		errs = append(errs, errors.New("iam: config: Store is required"))
	}
	if c.MasterKeyFile == "" {
		errs = append(errs, errors.New("iam: config: MasterKeyFile is required"))
	}
	if c.CacheTTL < 0 {
		errs = append(errs, fmt.Errorf("iam: config: CacheTTL %v is negative", c.CacheTTL))
	}
	if c.CacheSize < 0 {
		errs = append(errs, fmt.Errorf("iam: config: CacheSize %d is negative", c.CacheSize))
	}
	return errors.Join(errs...)
}

// Keys stores access keys in the replicated store and looks them up for
// SigV4. It is safe for concurrent use.
type Keys struct {
	store  Store
	master *masterKey
	log    *slog.Logger
	ttl    time.Duration
	size   int
	now    func() time.Time

	mu    sync.Mutex
	cache map[string]cached
}

type cached struct {
	cred    sigv4.Credential
	expires time.Time
}

// New loads the master key and returns Keys over cfg.Store.
func New(cfg Config) (*Keys, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	mk, err := readMasterKey(cfg.MasterKeyFile)
	if err != nil {
		return nil, fmt.Errorf("iam: %w", err)
	}
	k := &Keys{store: cfg.Store, master: mk, log: cfg.Logger, ttl: cfg.CacheTTL, size: cfg.CacheSize, now: cfg.Now, cache: map[string]cached{}}
	if k.log == nil {
		k.log = slog.New(slog.DiscardHandler)
	}
	k.log = k.log.With("component", "iam")
	if k.ttl == 0 {
		k.ttl = DefaultCacheTTL
	}
	if k.size == 0 {
		k.size = DefaultCacheSize
	}
	if k.now == nil {
		k.now = time.Now
	}
	return k, nil
}

// MasterKeyID is the fingerprint of the loaded master key, recorded with
// every key sealed under it. It is not secret.
func (k *Keys) MasterKeyID() string { return k.master.id }

// record is the stored form of an access key (JSON). Only the envelope's
// ciphertexts carry the secret.
type record struct {
	Version       int       `json:"version"`
	AccessKeyID   string    `json:"access_key_id"`
	Principal     string    `json:"principal"`
	Created       time.Time `json:"created"`
	MasterKeyID   string    `json:"master_key_id"`
	SealedDataKey []byte    `json:"sealed_data_key"`
	SealedSecret  []byte    `json:"sealed_secret"`
}

const recordVersion = 1

func storeKey(id string) store.Key { return store.Key{Space: KeySpace, Hash: []byte(id)} }

// Put stores ak (replacing any key with its ID, in every region once
// replicated).
func (k *Keys) Put(ctx context.Context, ak AccessKey) error {
	if err := ak.Validate(); err != nil {
		return fmt.Errorf("iam: storing key: %w", err)
	}
	env, err := sealSecret(k.master, ak.ID, ak.Principal, ak.Secret)
	if err != nil {
		return fmt.Errorf("iam: storing access key %s: %w", ak.ID, err)
	}
	doc, err := json.Marshal(record{
		Version: recordVersion, AccessKeyID: ak.ID, Principal: ak.Principal, Created: k.now().UTC(),
		MasterKeyID: env.MasterKeyID, SealedDataKey: env.SealedDataKey, SealedSecret: env.SealedSecret,
	})
	if err != nil {
		return fmt.Errorf("iam: encoding access key %s: %w", ak.ID, err)
	}
	if _, err := k.store.Apply(ctx, store.Mutation{Key: storeKey(ak.ID), Put: doc}); err != nil {
		return fmt.Errorf("iam: storing access key %s: %w", ak.ID, err)
	}
	k.mu.Lock()
	delete(k.cache, ak.ID)
	k.mu.Unlock()
	k.log.InfoContext(ctx, "access key stored", "access_key_id", ak.ID, "principal", ak.Principal, "master_key_id", env.MasterKeyID)
	return nil
}

// Lookup returns the secret and principal of access key id, or an error
// wrapping sigv4.ErrUnknownKey if there is none. It is a sigv4 Config.Lookup.
func (k *Keys) Lookup(_ context.Context, id string) (sigv4.Credential, error) {
	now := k.now()
	k.mu.Lock()
	c, ok := k.cache[id]
	k.mu.Unlock()
	if ok && now.Before(c.expires) {
		return c.cred, nil
	}
	cred, err := k.load(id)
	if err != nil {
		return sigv4.Credential{}, err
	}
	k.mu.Lock()
	if len(k.cache) >= k.size {
		// Drop expired entries, or everything if none has expired: a
		// full cache only costs store reads until it refills.
		for cid, e := range k.cache {
			if !now.Before(e.expires) {
				delete(k.cache, cid)
			}
		}
		if len(k.cache) >= k.size {
			clear(k.cache)
		}
	}
	k.cache[id] = cached{cred: cred, expires: now.Add(k.ttl)}
	k.mu.Unlock()
	return cred, nil
}

// load reads and decrypts access key id from the store.
func (k *Keys) load(id string) (sigv4.Credential, error) {
	if id == "" || len(id) > maxIDLength {
		return sigv4.Credential{}, fmt.Errorf("iam: access key %q: %w", id, sigv4.ErrUnknownKey)
	}
	st, err := k.store.Get(storeKey(id))
	if err != nil {
		return sigv4.Credential{}, fmt.Errorf("iam: reading access key %s: %w", id, err)
	}
	if st == nil || !st.Exists() || st.Base.Deleted || len(st.Base.Doc) == 0 {
		return sigv4.Credential{}, fmt.Errorf("iam: access key %s: %w", id, sigv4.ErrUnknownKey)
	}
	var rec record
	if err := json.Unmarshal(st.Base.Doc, &rec); err != nil {
		return sigv4.Credential{}, fmt.Errorf("iam: decoding stored access key %s: %w", id, err)
	}
	if rec.Version != recordVersion || rec.AccessKeyID != id {
		return sigv4.Credential{}, fmt.Errorf("iam: stored access key %s: unexpected record (version %d, id %q)", id, rec.Version, rec.AccessKeyID)
	}
	secret, err := openSecret(k.master, id, rec.Principal, envelope{
		MasterKeyID: rec.MasterKeyID, SealedDataKey: rec.SealedDataKey, SealedSecret: rec.SealedSecret,
	})
	if err != nil {
		return sigv4.Credential{}, fmt.Errorf("iam: decrypting access key %s: %w", id, err)
	}
	return sigv4.Credential{SecretAccessKey: secret, Principal: rec.Principal}, nil
}

// Bootstrap stores the access key of profile in the shared-credentials file
// (see EnsureBootstrapCredentials) as principal "admin", unless the store
// already holds it. Every region node may call it at start; it is
// idempotent. A stored key with the same ID but another secret is an error:
// the file and the cluster disagree.
func (k *Keys) Bootstrap(ctx context.Context, credentialsFile, profile string) (AccessKey, error) {
	ak, err := ReadCredentials(credentialsFile, profile)
	if err != nil {
		return AccessKey{}, fmt.Errorf("iam: bootstrap: %w", err)
	}
	cred, err := k.load(ak.ID)
	switch {
	case err == nil && cred.SecretAccessKey == ak.Secret:
		return ak, nil
	case err == nil:
		return AccessKey{}, fmt.Errorf("iam: bootstrap: access key %s from %s is already stored with a different secret; restore the original credentials file or remove profile [%s] from it to have a new key made",
			ak.ID, credentialsFile, profile)
	case !errors.Is(err, sigv4.ErrUnknownKey):
		return AccessKey{}, fmt.Errorf("iam: bootstrap: %w", err)
	}
	if err := k.Put(ctx, ak); err != nil {
		return AccessKey{}, fmt.Errorf("iam: bootstrap: %w", err)
	}
	return ak, nil
}
