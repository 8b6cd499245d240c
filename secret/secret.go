// Package secret seals small secrets (PINs, card numbers, first answers that hold a PIN) with
// AES-256-GCM under a key that lives outside the database. Each sealed value names the id of
// the key that sealed it, so a keyring holding old and new keys can open stock during rotation.
package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// KeySize is the length of an AES-256 key.
const KeySize = 32

const version byte = 1

// ErrWrongKey means a sealed value cannot be opened with any key of the keyring: the key is
// missing, wrong, or the value was altered.
var ErrWrongKey = errors.New("secret: value cannot be opened with the configured key (wrong or missing key?)")

// Keyring seals with its current key and opens with any key it holds.
type Keyring struct {
	current string
	aeads   map[string]cipher.AEAD
}

// KeyID derives the public id of a key: it identifies, it does not reveal.
func KeyID(key []byte) string {
	sum := sha256.Sum256(append([]byte("gateway-key-id:"), key...))
	return hex.EncodeToString(sum[:4])
}

// NewKeyring makes a keyring whose current key is key; older keys may follow, for opening only.
func NewKeyring(key []byte, older ...[]byte) (*Keyring, error) {
	k := &Keyring{aeads: map[string]cipher.AEAD{}}
	for i, raw := range append([][]byte{key}, older...) {
		if len(raw) != KeySize {
			return nil, fmt.Errorf("secret: key must be %d bytes, got %d", KeySize, len(raw))
		}
		block, err := aes.NewCipher(raw)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		id := KeyID(raw)
		if i == 0 {
			k.current = id
		}
		k.aeads[id] = aead
	}
	return k, nil
}

// CurrentID is the id of the key that seals.
func (k *Keyring) CurrentID() string { return k.current }

// Seal encrypts plain; aad binds the value to its place (a PIN's serial, say) so that a sealed
// value copied to another row does not open there.
func (k *Keyring) Seal(plain, aad []byte) []byte {
	aead := k.aeads[k.current]
	id := []byte(k.current)
	out := make([]byte, 0, 2+len(id)+aead.NonceSize()+len(plain)+aead.Overhead())
	out = append(out, version, byte(len(id)))
	out = append(out, id...)
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic("secret: no randomness: " + err.Error())
	}
	out = append(out, nonce...)
	return aead.Seal(out, nonce, plain, aad)
}

// SealedKeyID returns the id of the key that sealed v.
func SealedKeyID(v []byte) (string, error) {
	if len(v) < 2 || v[0] != version || len(v) < 2+int(v[1]) {
		return "", ErrWrongKey
	}
	return string(v[2 : 2+int(v[1])]), nil
}

// Open decrypts a value sealed by Seal with the same aad.
func (k *Keyring) Open(v, aad []byte) ([]byte, error) {
	id, err := SealedKeyID(v)
	if err != nil {
		return nil, err
	}
	aead, ok := k.aeads[id]
	if !ok {
		return nil, fmt.Errorf("%w: sealed under key %s, which is not loaded", ErrWrongKey, id)
	}
	rest := v[2+len(id):]
	if len(rest) < aead.NonceSize() {
		return nil, ErrWrongKey
	}
	plain, err := aead.Open(nil, rest[:aead.NonceSize()], rest[aead.NonceSize():], aad)
	if err != nil {
		return nil, ErrWrongKey
	}
	return plain, nil
}

// ParseKey accepts a key as 64 hex digits or standard base64 of 32 bytes.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if b, err := hex.DecodeString(s); err == nil && len(b) == KeySize {
		return b, nil
	}
	if b, err := base64.StdEncoding.DecodeString(s); err == nil && len(b) == KeySize {
		return b, nil
	}
	return nil, fmt.Errorf("secret: a key must be %d bytes as 64 hex digits or base64", KeySize)
}

// LoadOrCreateKey returns the key given in envValue if set, else the one in file, creating
// file (mode 0600) with a new random key if it does not exist; created says it was made now.
func LoadOrCreateKey(envValue, file string) (key []byte, created bool, err error) {
	if envValue != "" {
		key, err = ParseKey(envValue)
		return key, false, err
	}
	raw, err := os.ReadFile(file)
	if err == nil {
		key, err = ParseKey(string(raw))
		if err != nil {
			return nil, false, fmt.Errorf("key file %s: %w", file, err)
		}
		return key, false, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, false, err
	}
	key = make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, false, err
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return nil, false, err
	}
	if err := os.WriteFile(file, []byte(hex.EncodeToString(key)+"\n"), 0o600); err != nil {
		return nil, false, err
	}
	return key, true, nil
}
