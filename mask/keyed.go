package mask

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"sync"

	"github.com/lethe-privacy/lethe"
)

// keyed computes HMAC-SHA256 digests under one key. It is safe for
// concurrent use: HMAC states are pooled, not shared.
type keyed struct {
	pool sync.Pool
}

// newKeyed returns a keyed for the strategy named name, refusing a key
// shorter than MinKeySize.
func newKeyed(name string, key []byte) (*keyed, error) {
	if len(key) < MinKeySize {
		return nil, lethe.Errorf(lethe.EINVALID,
			"masking strategy %s needs a key of at least %d bytes (the mask key), got %d bytes", name, MinKeySize, len(key))
	}
	key = append([]byte(nil), key...)
	k := &keyed{}
	k.pool.New = func() any { return hmac.New(sha256.New, key) }
	return k, nil
}

// sum returns HMAC-SHA256(key, domain || data), where domain is empty for
// the hmac strategy (so that its output is the plain HMAC of the value,
// which anyone holding the key can recompute) and "fake.<kind>\x00" for
// fake.*, so that each kind draws from its own digest.
func (k *keyed) sum(domain string, data []byte) [sha256.Size]byte {
	h := k.pool.Get().(hash.Hash)
	h.Reset()
	h.Write([]byte(domain))
	h.Write(data)
	var out [sha256.Size]byte
	h.Sum(out[:0])
	k.pool.Put(h)
	return out
}

// hmacMask writes the lower-case hex HMAC-SHA256 of the value under the
// key: strategy hmac.
type hmacMask struct{ *keyed }

// hmacLen is the length of hmac's output: 64 hex digits.
const hmacLen = 2 * sha256.Size

func (hmacMask) Name() string              { return nameHMAC }
func (hmacMask) Constant() (any, bool)     { return nil, false }
func (hmacMask) PreservesUniqueness() bool { return true }
func (m hmacMask) Fits(col lethe.ColumnSchema) error {
	return fitError(nameHMAC, col, m.misfit(col))
}

// Apply takes text (string or []byte) and returns its 64 hex digits in
// the same type. The value is hashed exactly as stored: case and spaces
// count.
func (m hmacMask) Apply(v any) (any, error) {
	s, isBytes, ok := text(v)
	switch {
	case v == nil:
		return nil, nil
	case !ok:
		return nil, cannotMask(nameHMAC, v, "hmac writes text; choose null or fixed:<value> for other types")
	case s == "":
		return asInput("", isBytes), nil
	}
	sum := m.sum("", []byte(s))
	out := make([]byte, hmacLen)
	hex.Encode(out, sum[:])
	if isBytes {
		return out, nil
	}
	return string(out), nil
}

func (hmacMask) misfit(col lethe.ColumnSchema) misfit {
	return textMisfit(nameHMAC, col, hmacLen, "64 characters")
}
