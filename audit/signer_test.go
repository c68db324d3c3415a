package audit_test

import (
	"bytes"
	"crypto/ed25519"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/audit"
)

func testKey(seed byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
}

func testSigner(t testing.TB, seed byte) *audit.Signer {
	t.Helper()
	s, err := audit.NewSigner("lethe-test", testKey(seed))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestNewSignerRejects(t *testing.T) {
	for _, tc := range []struct {
		name    string
		keyName string
		key     ed25519.PrivateKey
	}{
		{"empty name", "", testKey(1)},
		{"space in name", "lethe audit", testKey(1)},
		{"plus in name", "lethe+audit", testKey(1)},
		{"short key", "lethe", testKey(1)[:32]},
		{"no key", "lethe", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := audit.NewSigner(tc.keyName, tc.key)
			if lethe.ErrorCode(err) != lethe.EINVALID {
				t.Fatalf("err = %v, want EINVALID", err)
			}
		})
	}
}

func TestVerifierKeyIsNoteFormat(t *testing.T) {
	s := testSigner(t, 1)
	v, err := note.NewVerifier(s.VerifierKey())
	if err != nil {
		t.Fatalf("VerifierKey %q is not a note verifier key: %v", s.VerifierKey(), err)
	}
	if v.Name() != "lethe-test" || s.Name() != "lethe-test" {
		t.Errorf("name = %q/%q", v.Name(), s.Name())
	}
	// The key is the ed25519 public key of the private key given.
	want, err := note.NewEd25519VerifierKey("lethe-test", testKey(1).Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	if s.VerifierKey() != want {
		t.Errorf("VerifierKey = %s, want %s", s.VerifierKey(), want)
	}
	if testSigner(t, 2).VerifierKey() == s.VerifierKey() {
		t.Error("two keys give the same verifier key")
	}
}
