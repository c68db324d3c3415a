package http

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/apikey"
	"github.com/lethe-privacy/lethe/audit"
	"github.com/lethe-privacy/lethe/consent"
	"github.com/lethe-privacy/lethe/keyring"
	"github.com/lethe-privacy/lethe/store/sqlite"
)

// testConfig is the privacy config the tests run against: two consent
// purposes (one honouring GPC) and one contract purpose.
func testConfig() *lethe.Config {
	return &lethe.Config{
		Controller: lethe.Controller{
			Name: "Example Shop GmbH", Contact: "privacy@example.com",
			DPO: &lethe.Contact{Name: "Jane Roe", Email: "dpo@example.com"},
		},
		Jurisdiction: lethe.GDPR,
		Purposes: []lethe.Purpose{
			{
				ID: "marketing_email", Name: "Marketing e-mails", LawfulBasis: lethe.BasisConsent,
				PolicyVersion: "2026-03", AlsoAccept: []string{"2025-11"},
				ConsentMaxAge: lethe.Duration{Days: 395}, Retention: lethe.Duration{Months: 24},
				Categories: []string{"contact.email"},
				Recipients: []lethe.Recipient{{Name: "Mailer Inc", Country: "US", Safeguard: "SCC"}},
			},
			{
				ID: "ad_personalisation", Name: "Personalised ads", LawfulBasis: lethe.BasisConsent,
				PolicyVersion: "2026-03", GPC: true, Categories: []string{"online.identifier"},
			},
			{
				ID: "order_fulfilment", Name: "Shipping orders", LawfulBasis: lethe.BasisContract,
				Categories: []string{"contact.address"}, Retention: lethe.Duration{Months: 120},
			},
		},
	}
}

// syncBuffer collects log output written from server goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testEnv is a server over a real SQLite store and keyring, listening on
// loopback, with one API key per role.
type testEnv struct {
	t       testing.TB
	server  *Server
	http    *httptest.Server
	store   lethe.Store
	dbPath  string
	keyring *keyring.Keyring
	ledger  *consent.Ledger
	keys    *apikey.Service
	audit   *audit.Log
	logs    *syncBuffer
	tokens  map[string]string // read, write, audit, admin, revoked
	ready   func(context.Context) error
}

type envOption func(*Options)

func newTestEnv(t testing.TB, opts ...envOption) *testEnv {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "lethe.db")
	store, err := sqlite.Open(ctx, sqlite.Options{Path: dbPath})
	if err != nil {
		t.Fatalf("open sqlite store: %v", err)
	}
	t.Cleanup(func() { store.Close() })
	secrets, err := keyring.GenerateSecrets()
	if err != nil {
		t.Fatalf("generate secrets: %v", err)
	}
	kr := keyring.New(store, secrets, keyring.Options{})
	signer := secrets.Signer()
	if signer == nil {
		t.Fatal("generated secrets hold no signing key")
	}
	ledger, err := consent.New(ctx, consent.Options{Config: testConfig(), Store: store, Sealer: kr})
	if err != nil {
		t.Fatalf("new ledger: %v", err)
	}
	t.Cleanup(func() { ledger.Close() })
	keys, err := apikey.New(ctx, store, apikey.Options{})
	if err != nil {
		t.Fatalf("new api key service: %v", err)
	}
	t.Cleanup(func() { keys.Close() })
	alog := audit.New(store, signer, audit.Options{})

	e := &testEnv{t: t, dbPath: dbPath, keyring: kr, store: store, ledger: ledger, keys: keys, audit: alog, logs: &syncBuffer{}, tokens: map[string]string{}}
	o := Options{
		Ledger:   ledger,
		Audit:    alog,
		Store:    store,
		APIKeys:  keys,
		Ready:    func(ctx context.Context) error { return e.readyCheck(ctx) },
		Logger:   slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Registry: prometheus.NewRegistry(),
		Version:  "test",
	}
	for _, f := range opts {
		f(&o)
	}
	e.server, err = NewServer(o)
	if err != nil {
		t.Fatalf("new server: %v", err)
	}
	e.http = httptest.NewServer(e.server.Handler())
	t.Cleanup(e.http.Close)

	for role, scopes := range map[string][]lethe.Scope{
		"read":    {lethe.ScopeConsentRead},
		"write":   {lethe.ScopeConsentWrite},
		"audit":   {lethe.ScopeAuditRead},
		"admin":   {lethe.ScopeAdmin},
		"revoked": {lethe.ScopeAdmin},
	} {
		k, token, err := keys.Create(ctx, "test-"+role, scopes, "test")
		if err != nil {
			t.Fatalf("create %s key: %v", role, err)
		}
		if role == "revoked" {
			if err := keys.Revoke(ctx, k.ID, "test"); err != nil {
				t.Fatalf("revoke key: %v", err)
			}
		}
		e.tokens[role] = token
	}
	return e
}

func (e *testEnv) readyCheck(ctx context.Context) error {
	if e.ready != nil {
		return e.ready(ctx)
	}
	return e.store.Ping(ctx)
}

// response is what a test request got back.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode response %d %s: %v", r.status, r.body, err)
	}
}

// problem decodes a problem response after checking its content type.
func (r response) problem(t testing.TB) Problem {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type = %q, want application/problem+json (status %d, body %s)", ct, r.status, r.body)
	}
	var p Problem
	r.json(t, &p)
	if p.Status != r.status {
		t.Errorf("problem status %d, response status %d", p.Status, r.status)
	}
	return p
}

// do sends a request. body is sent as is when it is a string or []byte, and
// JSON-encoded otherwise; headers are name, value pairs.
func (e *testEnv) do(method, path, role string, body any, headers ...string) response {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatalf("encode body: %v", err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.http.URL+path, rd)
	if err != nil {
		e.t.Fatalf("new request: %v", err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if role != "" {
		req.Header.Set("Authorization", "Bearer "+e.tokens[role])
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := e.http.Client().Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatalf("read response: %v", err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

// grant is a consent form granting (or withdrawing) purposes.
func grant(subject string, granted bool, purposes ...string) map[string]any {
	choices := make([]map[string]any, len(purposes))
	for i, p := range purposes {
		choices[i] = map[string]any{"purpose": p, "granted": granted}
	}
	return map[string]any{
		"subject_id":     subject,
		"policy_version": "2026-03",
		"mechanism":      "signup_form_v3",
		"evidence": map[string]any{
			"ip": "203.0.113.7", "user_agent": "Mozilla/5.0", "locale": "de-DE",
			"notice_text": "We would like to send you offers.",
		},
		"purposes": choices,
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
