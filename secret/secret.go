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
	"sync"
	"sync/atomic"
)

// KeySize is the length of an AES-256 key.
const KeySize = 32

const version byte = 1

// ErrWrongKey means a sealed value cannot be opened with any key of the keyring: the key is
// missing, wrong, or the value was altered.
var ErrWrongKey = errors.New("secret: value cannot be opened with the configured key (wrong or missing key?)")

// Keyring seals with its current key and opens with any key it holds. A keyring read from a
// key file follows that file: when a value names a key it does not hold, it reads the file
// again, so a running gateway picks up a rotation without a restart.
type Keyring struct {
	set  atomic.Pointer[keySet]
	file string
	mu   sync.Mutex // serialises reloads
}

type keySet struct {
	current string
	aeads   map[string]cipher.AEAD
}

func newKeySet(keys [][]byte) (*keySet, error) {
	ks := &keySet{aeads: map[string]cipher.AEAD{}}
	for i, raw := range keys {
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
			ks.current = id
		}
		ks.aeads[id] = aead
	}
	if len(keys) == 0 {
		return nil, errors.New("secret: no key")
	}
	return ks, nil
}

// KeyID derives the public id of a key: it identifies, it does not reveal.
func KeyID(key []byte) string {
	sum := sha256.Sum256(append([]byte("gateway-key-id:"), key...))
	return hex.EncodeToString(sum[:4])
}

// NewKeyring makes a keyring whose current key is key; older keys may follow, for opening only.
func NewKeyring(key []byte, older ...[]byte) (*Keyring, error) {
	ks, err := newKeySet(append([][]byte{key}, older...))
	if err != nil {
		return nil, err
	}
	k := &Keyring{}
	k.set.Store(ks)
	return k, nil
}

// OpenKeyFile reads a keyring from file: one key a line, the current key first.
func OpenKeyFile(file string) (*Keyring, error) {
	keys, err := ReadKeyFile(file)
	if err != nil {
		return nil, err
	}
	k, err := NewKeyring(keys[0], keys[1:]...)
	if err != nil {
		return nil, err
	}
	k.file = file
	return k, nil
}

// Reload reads the key file again; a keyring not read from a file is left as it is.
func (k *Keyring) Reload() error {
	if k.file == "" {
		return nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	keys, err := ReadKeyFile(k.file)
	if err != nil {
		return err
	}
	ks, err := newKeySet(keys)
	if err != nil {
		return err
	}
	k.set.Store(ks)
	return nil
}

// ReadKeyFile returns the keys of a key file, the current one first.
func ReadKeyFile(file string) ([][]byte, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var keys [][]byte
	for i, line := range strings.Split(string(raw), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, err := ParseKey(line)
		if err != nil {
			return nil, fmt.Errorf("key file %s line %d: %w", file, i+1, err)
		}
		keys = append(keys, key)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("key file %s holds no key", file)
	}
	return keys, nil
}

// WriteKeyFile replaces file with keys (current first), atomically and with mode 0600.
func WriteKeyFile(file string, keys ...[]byte) error {
	var b strings.Builder
	b.WriteString("# PIN encryption keys: the first seals, the others only open. Keep this file secret.\n")
	for _, k := range keys {
		b.WriteString(hex.EncodeToString(k) + "\n")
	}
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, file)
}

// NewKey returns a fresh random key.
func NewKey() []byte {
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		panic("secret: no randomness: " + err.Error())
	}
	return key
}

// CurrentID is the id of the key that seals.
func (k *Keyring) CurrentID() string { return k.set.Load().current }

// Holds reports whether the keyring can open values sealed under key id.
func (k *Keyring) Holds(id string) bool {
	_, ok := k.set.Load().aeads[id]
	return ok
}

// Seal encrypts plain; aad binds the value to its place (a PIN's serial, say) so that a sealed
// value copied to another row does not open there.
func (k *Keyring) Seal(plain, aad []byte) []byte {
	ks := k.set.Load()
	aead := ks.aeads[ks.current]
	id := []byte(ks.current)
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
	aead, ok := k.set.Load().aeads[id]
	if !ok && k.file != "" {
		// A rotation may have added the key since the file was read.
		if err := k.Reload(); err == nil {
			aead, ok = k.set.Load().aeads[id]
		}
	}
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

// LoadKeyring returns the keyring given in envValue (one key) if set, else the one in file.
// When neither exists and create is true, it writes file (mode 0600) with a new random key;
// created says it did.
func LoadKeyring(envValue, file string, create bool) (k *Keyring, created bool, err error) {
	if envValue != "" {
		key, err := ParseKey(envValue)
		if err != nil {
			return nil, false, fmt.Errorf("GATEWAY_PIN_KEY: %w", err)
		}
		k, err = NewKeyring(key)
		return k, false, err
	}
	k, err = OpenKeyFile(file)
	if err == nil || !errors.Is(err, os.ErrNotExist) || !create {
		return k, false, err
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return nil, false, err
	}
	if err := WriteKeyFile(file, NewKey()); err != nil {
		return nil, false, err
	}
	k, err = OpenKeyFile(file)
	return k, err == nil, err
}

// Reseal returns v sealed under the current key, and whether it had to change.
func (k *Keyring) Reseal(v, aad []byte) ([]byte, bool, error) {
	id, err := SealedKeyID(v)
	if err != nil {
		return nil, false, err
	}
	if id == k.CurrentID() {
		return v, false, nil
	}
	plain, err := k.Open(v, aad)
	if err != nil {
		return nil, false, err
	}
	return k.Seal(plain, aad), true, nil
}
