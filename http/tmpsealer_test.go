package http

// Temporary stand-in for keyring until it lands; deleted then.

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"

	"github.com/lethe-privacy/lethe"
)

type tmpSealer struct{ key [32]byte }

func (s *tmpSealer) SubjectRef(id lethe.Identity) (lethe.SubjectRef, error) {
	n, err := id.Normalise()
	if err != nil {
		return lethe.SubjectRef{}, err
	}
	m := hmac.New(sha256.New, s.key[:])
	m.Write([]byte(string(n.Type) + ":" + n.Value))
	return lethe.SubjectRef(m.Sum(nil)), nil
}

func (s *tmpSealer) aead() cipher.AEAD {
	b, _ := aes.NewCipher(s.key[:])
	g, _ := cipher.NewGCM(b)
	return g
}

func (s *tmpSealer) Encrypt(_ context.Context, ref lethe.SubjectRef, plaintext, ad []byte) ([]byte, error) {
	nonce := make([]byte, 12)
	rand.Read(nonce)
	return s.aead().Seal(nonce, nonce, plaintext, append(ref[:], ad...)), nil
}

func (s *tmpSealer) Decrypt(_ context.Context, ref lethe.SubjectRef, ct, ad []byte) ([]byte, error) {
	if len(ct) < 12 {
		return nil, errors.New("short")
	}
	return s.aead().Open(nil, ct[:12], ct[12:], append(ref[:], ad...))
}
