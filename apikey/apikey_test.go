package apikey_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/apikey"
	"github.com/lethe-privacy/lethe/store/sqlite"
)

func newService(t *testing.T, path string) (*apikey.Service, lethe.Store) {
	t.Helper()
	ctx := context.Background()
	s, err := sqlite.Open(ctx, sqlite.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	svc, err := apikey.New(ctx, s, apikey.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	return svc, s
}

func TestCreateAuthenticateRevoke(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "lethe.db")
	svc, store := newService(t, path)
	k, token, err := svc.Create(ctx, "ops", []lethe.Scope{lethe.ScopeConsentRead}, "test")
	if err != nil {
		t.Fatal(err)
	}
	got, err := svc.Authenticate(ctx, token)
	if err != nil || got.ID != k.ID || !got.Allows(lethe.ScopeConsentRead) || got.Allows(lethe.ScopeConsentWrite) {
		t.Fatalf("authenticate: %+v, %v", got, err)
	}
	// The secret is not stored: nothing in the key record contains it.
	stored, err := store.APIKeyGet(ctx, k.ID)
	if err != nil {
		t.Fatal(err)
	}
	secret := token[strings.LastIndexByte(token, '_')+1:]
	if strings.Contains(string(stored.Hash), secret) || len(stored.Hash) != 32 {
		t.Fatalf("stored key holds more than a SHA-256: %x", stored.Hash)
	}
	bad := []string{"", "lethe_", "Bearer " + token, token + "x", strings.Replace(token, secret, strings.Repeat("a", len(secret)), 1),
		"lethe_knope_" + secret, "lethe_" + k.ID, strings.Repeat("x", 500)}
	for _, b := range bad {
		if _, err := svc.Authenticate(ctx, b); lethe.ErrorCode(err) != lethe.EUNAUTHORIZED {
			t.Fatalf("token %.20q...: %v, want EUNAUTHORIZED", b, err)
		}
	}
	// Revocation through another process (a second service on the same
	// database, as the CLI next to a running server) reaches the cache.
	other, _ := newService(t, path)
	if err := other.Revoke(ctx, k.ID, "test"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := svc.Authenticate(ctx, token)
		if lethe.ErrorCode(err) == lethe.EUNAUTHORIZED {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("revoked key still authenticates 10s later: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := svc.Revoke(ctx, "knope", "test"); lethe.ErrorCode(err) != lethe.ENOTFOUND {
		t.Fatalf("revoke unknown: %v", err)
	}
	// Creation and revocation are audited, without the secret.
	var actions []string
	err = store.AuditEntries(ctx, 0, 100, func(e lethe.AuditEntry) error {
		actions = append(actions, e.Action+":"+e.Object)
		for _, v := range e.Details {
			if strings.Contains(v, secret) {
				t.Fatal("audit details hold the secret")
			}
		}
		return nil
	})
	if err != nil || strings.Join(actions, ",") != "apikey.created:"+k.ID+",apikey.revoked:"+k.ID {
		t.Fatalf("audit: %v, %v", actions, err)
	}
}

func TestParseScopes(t *testing.T) {
	cases := []struct {
		in   string
		want string
		err  bool
	}{
		{"admin", "admin", false},
		{"consent:read, consent:write,consent:read", "consent:read,consent:write", false},
		{"", "", true},
		{"root", "", true},
	}
	for _, c := range cases {
		got, err := apikey.ParseScopes(c.in)
		if (err != nil) != c.err {
			t.Fatalf("%q: err %v", c.in, err)
		}
		var s []string
		for _, g := range got {
			s = append(s, string(g))
		}
		if strings.Join(s, ",") != c.want {
			t.Fatalf("%q: got %v want %s", c.in, s, c.want)
		}
	}
}

func TestCreateRefusesBadInput(t *testing.T) {
	svc, _ := newService(t, filepath.Join(t.TempDir(), "lethe.db"))
	for _, name := range []string{"", "has space", strings.Repeat("n", 65), "-lead"} {
		if _, _, err := svc.Create(context.Background(), name, []lethe.Scope{lethe.ScopeAdmin}, "test"); lethe.ErrorCode(err) != lethe.EINVALID {
			t.Fatalf("name %q: %v", name, err)
		}
	}
	if _, _, err := svc.Create(context.Background(), "ok", nil, "test"); lethe.ErrorCode(err) != lethe.EINVALID {
		t.Fatalf("no scopes: %v", err)
	}
}
