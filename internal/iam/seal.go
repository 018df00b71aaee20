package iam

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
)

// dataKeySize is the size of each access key's data key (AES-256).
const dataKeySize = 32

// errOpen is what a failed AES-GCM open means to an operator.
var errOpen = errors.New("authentication failed: wrong key or tampered ciphertext")

// seal encrypts plaintext with AES-256-GCM under key, binding aad; the
// result is nonce || ciphertext || tag.
func seal(key, plaintext, aad []byte) ([]byte, error) {
	g, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, g.NonceSize(), g.NonceSize()+len(plaintext)+g.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("generating nonce: %w", err)
	}
	return g.Seal(nonce, nonce, plaintext, aad), nil
}

// open reverses seal.
func open(key, sealed, aad []byte) ([]byte, error) {
	g, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	if len(sealed) < g.NonceSize()+g.Overhead() {
		return nil, fmt.Errorf("ciphertext of %d bytes is too short", len(sealed))
	}
	pt, err := g.Open(nil, sealed[:g.NonceSize()], sealed[g.NonceSize():], aad)
	if err != nil {
		return nil, errOpen
	}
	return pt, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("aes: %w", err)
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		return nil, fmt.Errorf("gcm: %w", err)
	}
	return g, nil
}

// Additional authenticated data binds each ciphertext to its place: a
// sealed data key or secret cannot be moved to another access key, another
// principal or (for the data key) another master key without failing to open.
func dataKeyAAD(accessKeyID, masterID string) []byte {
	return []byte("meridian/iam/data-key\x00" + accessKeyID + "\x00" + masterID)
}

func secretAAD(accessKeyID, principal string) []byte {
	return []byte("meridian/iam/secret\x00" + accessKeyID + "\x00" + principal)
}

// envelope is an access key's secret under envelope encryption.
type envelope struct {
	MasterKeyID   string
	SealedDataKey []byte
	SealedSecret  []byte
}

// sealSecret encrypts secret under a fresh data key sealed by master.
func sealSecret(master *masterKey, accessKeyID, principal, secret string) (envelope, error) {
	dk := make([]byte, dataKeySize)
	if _, err := rand.Read(dk); err != nil {
		return envelope{}, fmt.Errorf("generating data key: %w", err)
	}
	defer clear(dk)
	sdk, err := seal(master.key, dk, dataKeyAAD(accessKeyID, master.id))
	if err != nil {
		return envelope{}, fmt.Errorf("sealing data key: %w", err)
	}
	ss, err := seal(dk, []byte(secret), secretAAD(accessKeyID, principal))
	if err != nil {
		return envelope{}, fmt.Errorf("encrypting secret: %w", err)
	}
	return envelope{MasterKeyID: master.id, SealedDataKey: sdk, SealedSecret: ss}, nil
}

// openSecret decrypts what sealSecret produced.
func openSecret(master *masterKey, accessKeyID, principal string, env envelope) (string, error) {
	if env.MasterKeyID != master.id {
		return "", fmt.Errorf("its data key is sealed with master key %s, but this node's master key is %s: every node needs the same master key file",
			env.MasterKeyID, master.id)
	}
	dk, err := open(master.key, env.SealedDataKey, dataKeyAAD(accessKeyID, master.id))
	if err != nil {
		return "", fmt.Errorf("opening data key with master key %s: %w", master.id, err)
	}
	defer clear(dk)
	secret, err := open(dk, env.SealedSecret, secretAAD(accessKeyID, principal))
	if err != nil {
		return "", fmt.Errorf("decrypting secret: %w", err)
	}
	return string(secret), nil
}
