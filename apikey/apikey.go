package apikey

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lethe-privacy/lethe"
)

const prefix = "lethe_"

var (
	b32    = base32.StdEncoding.WithPadding(base32.NoPadding)
	nameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
)

// Options configures a Service.
type Options struct {
	// Clock defaults to lethe.SystemClock.
	Clock lethe.Clock
	// CacheTTL bounds how long a successful authentication is remembered.
	// Defaults to 30s. Used only when the store implements lethe.ChangeFeed;
	// any change reported by the feed empties the cache.
	CacheTTL time.Duration
}

// Service manages API keys. It is safe for concurrent use.
type Service struct {
	store lethe.Store
	clock lethe.Clock
	ttl   time.Duration

	mu    sync.Mutex
	cache map[[32]byte]cached // by SHA-256 of the whole token; nil when not caching
	stop  context.CancelFunc
	done  chan struct{}
}

type cached struct {
	key     lethe.APIKey
	expires time.Time
}

// New returns a Service.
func New(ctx context.Context, store lethe.Store, opts Options) (*Service, error) {
	s := &Service{store: store, clock: cmp.Or[lethe.Clock](opts.Clock, lethe.SystemClock{}), ttl: cmp.Or(opts.CacheTTL, 30*time.Second)}
	if feed, ok := store.(lethe.ChangeFeed); ok {
		fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		changes, err := feed.SubjectChanges(fctx)
		if err != nil {
			cancel()
			return nil, fmt.Errorf("apikey: subscribe to changes: %w", err)
		}
		s.cache, s.stop, s.done = map[[32]byte]cached{}, cancel, make(chan struct{})
		go func() {
			defer close(s.done)
			for ref := range changes {
				if ref.IsZero() {
					s.purge()
				}
			}
		}()
	}
	return s, nil
}

// Close stops following the store's changes.
func (s *Service) Close() error {
	if s.stop != nil {
		s.stop()
		<-s.done
	}
	return nil
}

func (s *Service) purge() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cache != nil {
		clear(s.cache)
	}
}

// ParseScopes reads a comma-separated scope list, refusing unknown scopes.
func ParseScopes(list string) ([]lethe.Scope, error) {
	var out []lethe.Scope
	for _, part := range strings.Split(list, ",") {
		sc := lethe.Scope(strings.TrimSpace(part))
		if sc == "" {
			continue
		}
		if !slices.Contains(lethe.Scopes, sc) {
			names := make([]string, len(lethe.Scopes))
			for i, k := range lethe.Scopes {
				names[i] = string(k)
			}
			return nil, lethe.FieldErrorf("scopes", "unknown scope %q; known scopes: %s", sc, strings.Join(names, ", "))
		}
		if !slices.Contains(out, sc) {
			out = append(out, sc)
		}
	}
	if len(out) == 0 {
		return nil, lethe.FieldErrorf("scopes", "at least one scope is required")
	}
	return out, nil
}

// Create makes a key and returns it with its token, which is shown once and
// never stored. The creation is audited with the key id, name and scopes.
func (s *Service) Create(ctx context.Context, name string, scopes []lethe.Scope, actor string) (lethe.APIKey, string, error) {
	if !nameRe.MatchString(name) {
		return lethe.APIKey{}, "", lethe.FieldErrorf("name", "a key name is 1-64 letters, digits, '.', '_' or '-'")
	}
	if len(scopes) == 0 {
		return lethe.APIKey{}, "", lethe.FieldErrorf("scopes", "at least one scope is required")
	}
	var idb [8]byte
	var secret [32]byte
	if _, err := rand.Read(idb[:]); err != nil {
		return lethe.APIKey{}, "", fmt.Errorf("generate key id: %w", err)
	}
	if _, err := rand.Read(secret[:]); err != nil {
		return lethe.APIKey{}, "", fmt.Errorf("generate key secret: %w", err)
	}
	id := "k" + hex.EncodeToString(idb[:])
	sec := strings.ToLower(b32.EncodeToString(secret[:]))
	sum := sha256.Sum256([]byte(sec))
	k := lethe.APIKey{ID: id, Name: name, Scopes: scopes, Hash: sum[:], CreatedAt: s.clock.Now().UTC().Truncate(time.Microsecond)}
	scopeNames := make([]string, len(scopes))
	for i, sc := range scopes {
		scopeNames[i] = string(sc)
	}
	err := s.store.APIKeyCreate(ctx, k, lethe.AuditRecord{
		Actor: actor, Action: "apikey.created", Object: id,
		Details: map[string]string{"name": name, "scopes": strings.Join(scopeNames, ",")},
	})
	if err != nil {
		return lethe.APIKey{}, "", fmt.Errorf("create api key: %w", err)
	}
	return k, prefix + id + "_" + sec, nil
}

var errUnauthorized = lethe.Errorf(lethe.EUNAUTHORIZED, "missing, unknown or revoked API key; send Authorization: Bearer lethe_...")

// Authenticate returns the key a token belongs to, or EUNAUTHORIZED for a
// malformed, unknown or revoked token (the same answer for each, so the
// response tells an attacker nothing).
func (s *Service) Authenticate(ctx context.Context, token string) (lethe.APIKey, error) {
	rest, ok := strings.CutPrefix(token, prefix)
	if !ok || len(token) > 200 {
		return lethe.APIKey{}, errUnauthorized
	}
	id, sec, ok := strings.Cut(rest, "_")
	if !ok || id == "" || sec == "" {
		return lethe.APIKey{}, errUnauthorized
	}
	whole := sha256.Sum256([]byte(token))
	now := s.clock.Now()
	if s.cache != nil {
		s.mu.Lock()
		c, hit := s.cache[whole]
		s.mu.Unlock()
		if hit && now.Before(c.expires) {
			return c.key, nil
		}
	}
	k, err := s.store.APIKeyGet(ctx, id)
	if err != nil {
		if lethe.ErrorCode(err) == lethe.ENOTFOUND {
			return lethe.APIKey{}, errUnauthorized
		}
		return lethe.APIKey{}, fmt.Errorf("authenticate api key: %w", err)
	}
	sum := sha256.Sum256([]byte(sec))
	if subtle.ConstantTimeCompare(sum[:], k.Hash) != 1 || k.RevokedAt != nil {
		return lethe.APIKey{}, errUnauthorized
	}
	if s.cache != nil {
		s.mu.Lock()
		if len(s.cache) > 10_000 {
			clear(s.cache)
		}
		s.cache[whole] = cached{key: k, expires: now.Add(s.ttl)}
		s.mu.Unlock()
	}
	return k, nil
}

// List returns every key, revoked ones included, without secrets.
func (s *Service) List(ctx context.Context) ([]lethe.APIKey, error) {
	keys, err := s.store.APIKeyList(ctx)
	if err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	return keys, nil
}

// Revoke revokes a key by id (ENOTFOUND); revoking twice is harmless. The
// local cache is emptied at once; other processes learn through the feed.
func (s *Service) Revoke(ctx context.Context, id, actor string) error {
	err := s.store.APIKeyRevoke(ctx, id, s.clock.Now().UTC().Truncate(time.Microsecond), lethe.AuditRecord{
		Actor: actor, Action: "apikey.revoked", Object: id,
	})
	s.purge()
	if err != nil {
		var le *lethe.Error
		if errors.As(err, &le) && le.Code == lethe.ENOTFOUND {
			return lethe.Errorf(lethe.ENOTFOUND, "no API key with id %q", truncate(id))
		}
		return fmt.Errorf("revoke api key: %w", err)
	}
	return nil
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
