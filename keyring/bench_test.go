package keyring_test

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"path/filepath"
	"testing"
	"time"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/keyring"
)

// Reproduce with:
//
//	go test ./keyring/ -run '^$' -bench . -benchmem
//
// Each benchmark reports its time as a ratio to a baseline measured in the
// same run: the bare primitive it is built on.

// measure returns the mean time of one call of fn over about d.
func measure(d time.Duration, fn func()) time.Duration {
	n := 0
	start := time.Now()
	for time.Since(start) < d {
		for range 100 {
			fn()
		}
		n += 100
	}
	return time.Since(start) / time.Duration(n)
}

func BenchmarkSubjectRef(b *testing.B) {
	st := openSQLite(b, filepath.Join(b.TempDir(), "lethe.db"))
	secrets := testSecrets(b)
	k := keyring.New(st, secrets, keyring.Options{})
	id := lethe.Identity{Type: lethe.IdentityEmail, Value: "jane.doe@example.com"}
	// Baseline: a fresh HMAC-SHA256 of the same bytes, the naive way.
	msg := []byte("email:jane.doe@example.com")
	base := measure(200*time.Millisecond, func() {
		m := hmac.New(sha256.New, secrets.RefKey[:])
		m.Write(msg)
		m.Sum(nil)
	})
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		if _, err := k.SubjectRef(id); err != nil {
			b.Fatal(err)
		}
	}
	per := time.Since(start) / time.Duration(max(b.N, 1))
	b.ReportMetric(float64(per)/float64(base), "x_fresh_hmac")
}

func benchmarkAEAD(b *testing.B, decrypt bool, opts keyring.Options) {
	ctx := context.Background()
	st := openSQLite(b, filepath.Join(b.TempDir(), "lethe.db"))
	k := newKeyring(b, st, testSecrets(b), opts)
	ref := ref(b, k, "jane")
	plain := make([]byte, 256)
	ad := []byte("consent-event")
	ct, err := k.Encrypt(ctx, ref, plain, ad)
	if err != nil {
		b.Fatal(err)
	}
	// Baseline: AES-256-GCM with a key already expanded, no store.
	var key [32]byte
	rand.Read(key[:])
	block, _ := aes.NewCipher(key[:])
	gcm, _ := cipher.NewGCM(block)
	nonce := make([]byte, gcm.NonceSize())
	sealed := gcm.Seal(nil, nonce, plain, ad)
	base := measure(200*time.Millisecond, func() {
		if decrypt {
			gcm.Open(nil, nonce, sealed, ad)
		} else {
			rand.Read(nonce)
			gcm.Seal(nil, nonce, plain, ad)
		}
	})
	b.ReportAllocs()
	b.SetBytes(int64(len(plain)))
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		if decrypt {
			_, err = k.Decrypt(ctx, ref, ct, ad)
		} else {
			_, err = k.Encrypt(ctx, ref, plain, ad)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	per := time.Since(start) / time.Duration(max(b.N, 1))
	b.ReportMetric(float64(per)/float64(base), "x_bare_gcm")
}

func BenchmarkEncrypt(b *testing.B) {
	b.Run("cached", func(b *testing.B) { benchmarkAEAD(b, false, keyring.Options{CacheKeys: true}) })
	b.Run("uncached", func(b *testing.B) { benchmarkAEAD(b, false, keyring.Options{}) })
}

func BenchmarkDecrypt(b *testing.B) {
	b.Run("cached", func(b *testing.B) { benchmarkAEAD(b, true, keyring.Options{CacheKeys: true}) })
	b.Run("uncached", func(b *testing.B) { benchmarkAEAD(b, true, keyring.Options{}) })
}
