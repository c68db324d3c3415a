package connectortest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
)

// hashMask stands in for package mask's computed strategies: each value
// becomes "anon-" and 12 hex digits of its hash. Its own outputs pass
// unchanged, so masking a row twice writes the same values.
type hashMask struct{ calls atomic.Int64 }

func (m *hashMask) Apply(v any) (any, error) {
	m.calls.Add(1)
	if v == nil {
		return nil, nil
	}
	return masked(fmt.Sprint(v)), nil
}

func (m *hashMask) Constant() (any, bool) { return nil, false }

// masked is what hashMask writes for s.
func masked(s string) string {
	if strings.HasPrefix(s, "anon-") {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	return "anon-" + hex.EncodeToString(sum[:6])
}

// constMask writes one value everywhere, as null, blank and fixed do.
type constMask struct{ value any }

func (m constMask) Apply(v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	return m.value, nil
}

func (m constMask) Constant() (any, bool) { return m.value, true }

// errMaskRefused is what failMask returns.
var errMaskRefused = errors.New("connectortest: the mask refuses")

// failMask fails on every value, to break a transaction half-way.
type failMask struct{}

func (failMask) Apply(any) (any, error) { return nil, errMaskRefused }
func (failMask) Constant() (any, bool)  { return nil, false }
