package secret_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/prepaidgw/gateway/secret"
)

func key(b byte) []byte { return bytes.Repeat([]byte{b}, secret.KeySize) }

func TestSealOpen(t *testing.T) {
	k, _ := secret.NewKeyring(key(1))
	sealed := k.Seal([]byte("1234-5678-9012"), []byte("serial-1"))
	if bytes.Contains(sealed, []byte("1234-5678-9012")) {
		t.Fatal("sealed value holds the PIN")
	}
	got, err := k.Open(sealed, []byte("serial-1"))
	if err != nil || string(got) != "1234-5678-9012" {
		t.Fatalf("open: %q %v", got, err)
	}
	if _, err := k.Open(sealed, []byte("serial-2")); !errors.Is(err, secret.ErrWrongKey) {
		t.Fatalf("opened under another serial: %v", err)
	}
	other, _ := secret.NewKeyring(key(2))
	if _, err := other.Open(sealed, []byte("serial-1")); !errors.Is(err, secret.ErrWrongKey) {
		t.Fatalf("opened with the wrong key: %v", err)
	}
	// A keyring holding the old key as well opens what the old key sealed.
	rotated, _ := secret.NewKeyring(key(2), key(1))
	if got, err := rotated.Open(sealed, []byte("serial-1")); err != nil || string(got) != "1234-5678-9012" {
		t.Fatalf("rotation keyring: %q %v", got, err)
	}
	if id, _ := secret.SealedKeyID(rotated.Seal([]byte("x"), nil)); id != secret.KeyID(key(2)) {
		t.Fatal("rotation keyring does not seal with the new key")
	}
}

func TestLoadKeyring(t *testing.T) {
	file := filepath.Join(t.TempDir(), "pin.key")
	if _, _, err := secret.LoadKeyring("", file, false); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing key file without create: %v", err)
	}
	k1, created, err := secret.LoadKeyring("", file, true)
	if err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	if st, _ := os.Stat(file); st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v", st.Mode())
	}
	k2, created, err := secret.LoadKeyring("", file, true)
	if err != nil || created || k2.CurrentID() != k1.CurrentID() {
		t.Fatal("second start did not read the same key")
	}
	if _, _, err := secret.LoadKeyring("not-a-key", file, true); err == nil {
		t.Fatal("accepted a malformed key")
	}
}

// A running keyring opens a value sealed under a key that a rotation added to its file.
func TestKeyringFollowsItsFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "pin.key")
	old := key(1)
	if err := secret.WriteKeyFile(file, old); err != nil {
		t.Fatal(err)
	}
	running, err := secret.OpenKeyFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := secret.WriteKeyFile(file, key(2), old); err != nil {
		t.Fatal(err)
	}
	rotator, _ := secret.OpenKeyFile(file)
	sealed := rotator.Seal([]byte("pin"), nil)
	if got, err := running.Open(sealed, nil); err != nil || string(got) != "pin" {
		t.Fatalf("running keyring after rotation: %q %v", got, err)
	}
	if running.CurrentID() != secret.KeyID(key(2)) {
		t.Fatal("running keyring still seals with the old key")
	}
}
