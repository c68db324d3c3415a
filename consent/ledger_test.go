package consent_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/audit"
	"github.com/lethe-privacy/lethe/consent"
	"github.com/lethe-privacy/lethe/internal/testenv"
	"github.com/lethe-privacy/lethe/keyring"
	"github.com/lethe-privacy/lethe/store/postgres"
	"github.com/lethe-privacy/lethe/store/sqlite"
)

func testConfig() *lethe.Config {
	return &lethe.Config{
		Controller:   lethe.Controller{Name: "Example Shop GmbH", Contact: "privacy@example.com", PrivacyNoticeURL: "https://example.com/privacy"},
		Jurisdiction: lethe.GDPR,
		Purposes: []lethe.Purpose{
			{ID: "marketing_email", LawfulBasis: lethe.BasisConsent, PolicyVersion: "2026-03", AlsoAccept: []string{"2025-09"},
				ConsentMaxAge: lethe.Duration{Months: 13}, GPC: true, Categories: []string{"contact.email"}},
			{ID: "personalised_ads", LawfulBasis: lethe.BasisConsent, PolicyVersion: "2026-03", GPC: true,
				Recipients: []lethe.Recipient{{Name: "Ads Inc", Country: "US", Safeguard: "scc"}}},
			{ID: "analytics", LawfulBasis: lethe.BasisConsent, PolicyVersion: "2026-03"},
			{ID: "order_fulfilment", LawfulBasis: lethe.BasisContract},
		},
	}
}

// fixture is a ledger on a real store with a keyring and an audit log.
type fixture struct {
	store  lethe.Store
	keys   *keyring.Keyring
	audit  *audit.Log
	ledger *consent.Ledger
	now    *time.Time
	mu     *sync.Mutex
}

func (f fixture) advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	*f.now = f.now.Add(d)
}

func newFixture(t testing.TB, store lethe.Store, cfg *lethe.Config, secrets *keyring.Secrets) fixture {
	t.Helper()
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := lethe.ClockFunc(func() time.Time { mu.Lock(); defer mu.Unlock(); return now })
	k := keyring.New(store, secrets, keyring.Options{Clock: clock, CacheKeys: true, GuessNewSubjects: true})
	l, err := consent.New(context.Background(), consent.Options{Config: cfg, Store: store, Sealer: k, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return fixture{store: store, keys: k, audit: audit.New(store, secrets.Signer(), audit.Options{}), ledger: l, now: &now, mu: &mu}
}

func openSQLite(t testing.TB, path string) lethe.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), sqlite.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func openPostgres(t testing.TB, url string) lethe.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), postgres.Options{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func secrets(t testing.TB) *keyring.Secrets {
	t.Helper()
	s, _, err := keyring.LoadSecrets(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// stores runs fn once per store engine, each on a fresh database.
func stores(t *testing.T, fn func(t *testing.T, newStore func(t *testing.T) lethe.Store)) {
	t.Run("sqlite", func(t *testing.T) {
		fn(t, func(t *testing.T) lethe.Store { return openSQLite(t, filepath.Join(t.TempDir(), "lethe.db")) })
	})
	t.Run("postgres", func(t *testing.T) {
		fn(t, func(t *testing.T) lethe.Store { return openPostgres(t, testenv.PostgresSchema(t)) })
	})
}

func grant(subject string, purposes ...string) consent.RecordParams {
	p := consent.RecordParams{SubjectID: subject, PolicyVersion: "2026-03", Mechanism: "signup_form_v3", Source: "test",
		Evidence: lethe.ConsentEvidence{IP: "203.0.113.7", UserAgent: "Mozilla/5.0 (secret-agent)", NoticeText: "We e-mail you offers."}}
	for _, pur := range purposes {
		p.Purposes = append(p.Purposes, consent.PurposeChoice{Purpose: pur, Granted: true})
	}
	return p
}

func withdraw(subject string, purposes ...string) consent.RecordParams {
	p := consent.RecordParams{SubjectID: subject, Mechanism: "preference_center", Source: "test"}
	for _, pur := range purposes {
		p.Purposes = append(p.Purposes, consent.PurposeChoice{Purpose: pur, Granted: false})
	}
	return p
}

func mustRecord(t *testing.T, l *consent.Ledger, p consent.RecordParams) consent.RecordResult {
	t.Helper()
	r, err := l.Record(context.Background(), p)
	if err != nil {
		t.Fatalf("record: %v", err)
	}
	return r
}

func check(t *testing.T, l *consent.Ledger, subject, purpose string) lethe.ConsentDecision {
	t.Helper()
	d, err := l.Check(context.Background(), subject, purpose)
	if err != nil {
		t.Fatalf("check %s: %v", purpose, err)
	}
	return d
}

func TestDecisions(t *testing.T) {
	stores(t, func(t *testing.T, newStore func(t *testing.T) lethe.Store) {
		f := newFixture(t, newStore(t), testConfig(), secrets(t))
		l := f.ledger
		if d := check(t, l, "u-1", "marketing_email"); d.Allowed || d.Reason != lethe.ReasonNeverGiven {
			t.Fatalf("before any event: %+v", d)
		}
		res := mustRecord(t, l, grant("u-1", "marketing_email", "analytics"))
		if len(res.Events) != 2 || res.Events[0].Purpose != "marketing_email" || !res.Events[0].Granted {
			t.Fatalf("events: %+v", res.Events)
		}
		d := check(t, l, "u-1", "marketing_email")
		if !d.Allowed || d.Reason != lethe.ReasonGranted || d.EventID == nil || *d.EventID != res.Events[0].ID {
			t.Fatalf("after grant: %+v", d)
		}
		if d.ExpiresAt == nil || !d.ExpiresAt.Equal(time.Date(2027, 4, 10, 12, 0, 0, 0, time.UTC)) {
			t.Fatalf("expires_at = %v, want 13 months after the grant", d.ExpiresAt)
		}
		if d := check(t, l, "u-2", "marketing_email"); d.Allowed {
			t.Fatalf("another subject is allowed: %+v", d)
		}
		f.advance(time.Hour)
		mustRecord(t, l, withdraw("u-1", "marketing_email"))
		if d := check(t, l, "u-1", "marketing_email"); d.Allowed || d.Reason != lethe.ReasonWithdrawn {
			t.Fatalf("after withdrawal: %+v", d)
		}
		if d := check(t, l, "u-1", "analytics"); !d.Allowed {
			t.Fatalf("withdrawal of one purpose changed another: %+v", d)
		}
		if d := check(t, l, "u-1", "order_fulfilment"); !d.Allowed || d.Reason != "lawful_basis:contract" {
			t.Fatalf("contract purpose: %+v", d)
		}
		// Expiry: 13 months after the grant the analytics consent (no max
		// age) still holds, marketing was re-granted and then expires.
		mustRecord(t, l, grant("u-1", "marketing_email"))
		f.advance(400 * 24 * time.Hour)
		if d := check(t, l, "u-1", "marketing_email"); d.Allowed || d.Reason != lethe.ReasonExpired {
			t.Fatalf("after 13 months: %+v", d)
		}
		if d := check(t, l, "u-1", "analytics"); !d.Allowed {
			t.Fatalf("purpose without max age expired: %+v", d)
		}
		state, err := l.State(context.Background(), "u-1")
		if err != nil {
			t.Fatal(err)
		}
		var reasons []string
		for _, s := range state {
			reasons = append(reasons, s.Purpose+"="+string(s.Reason))
		}
		want := []string{"marketing_email=expired", "personalised_ads=never_given", "analytics=granted", "order_fulfilment=lawful_basis:contract"}
		if !slices.Equal(reasons, want) {
			t.Fatalf("state = %v, want %v", reasons, want)
		}
	})
}

func TestPolicyVersions(t *testing.T) {
	stores(t, func(t *testing.T, newStore func(t *testing.T) lethe.Store) {
		store := newStore(t)
		sec := secrets(t)
		f := newFixture(t, store, testConfig(), sec)
		old := grant("u-old", "marketing_email")
		old.PolicyVersion = "2025-09" // accepted through also_accept
		mustRecord(t, f.ledger, old)
		if d := check(t, f.ledger, "u-old", "marketing_email"); !d.Allowed || d.PolicyVersion != "2025-09" {
			t.Fatalf("also_accept version: %+v", d)
		}
		_, err := f.ledger.Record(context.Background(), func() consent.RecordParams {
			p := grant("u-x", "marketing_email")
			p.PolicyVersion = "2024-01"
			return p
		}())
		assertField(t, err, "policy_version", "not an accepted version")

		// The notice changes: 2026-09 is current and nothing older is
		// accepted, so earlier consents need renewal.
		cfg := testConfig()
		cfg.Purposes[0].PolicyVersion, cfg.Purposes[0].AlsoAccept = "2026-09", nil
		f2 := newFixture(t, store, cfg, sec)
		if d := check(t, f2.ledger, "u-old", "marketing_email"); d.Allowed || d.Reason != lethe.ReasonPolicyOutdated {
			t.Fatalf("after policy change: %+v", d)
		}
	})
}

func assertField(t *testing.T, err error, path, contains string) {
	t.Helper()
	var le *lethe.Error
	if !errors.As(err, &le) || le.Code != lethe.EINVALID {
		t.Fatalf("want EINVALID about %s, got %v", path, err)
	}
	for _, f := range le.Fields {
		if f.Path == path && strings.Contains(f.Message, contains) {
			return
		}
	}
	t.Fatalf("no field error %s containing %q in %v", path, contains, le.Fields)
}

func TestRecordRefusesBadInput(t *testing.T) {
	f := newFixture(t, openSQLite(t, filepath.Join(t.TempDir(), "lethe.db")), testConfig(), secrets(t))
	cases := []struct {
		name     string
		params   consent.RecordParams
		path     string
		contains string
	}{
		{"unknown purpose lists the valid ones", grant("u-1", "marketing_email", "newsletter"), "purposes[1].purpose", "declared purposes: marketing_email, personalised_ads, analytics, order_fulfilment"},
		{"non-consent purpose", grant("u-1", "order_fulfilment"), "purposes[0].purpose", "processed under contract; consent does not apply"},
		{"missing policy version", func() consent.RecordParams { p := grant("u-1", "analytics"); p.PolicyVersion = ""; return p }(), "policy_version", "required"},
		{"missing mechanism", func() consent.RecordParams { p := grant("u-1", "analytics"); p.Mechanism = ""; return p }(), "mechanism", "required"},
		{"empty subject", grant("  ", "analytics"), "subject_id", "empty"},
		{"no purposes", grant("u-1"), "purposes", "at least one"},
		{"duplicate purpose", grant("u-1", "analytics", "analytics"), "purposes[1].purpose", "twice"},
		{"bad jurisdiction", func() consent.RecordParams { p := grant("u-1", "analytics"); p.Jurisdiction = "mars"; return p }(), "jurisdiction", "not one of"},
		{"reserved mechanism", func() consent.RecordParams { p := grant("u-1", "analytics"); p.Mechanism = "gpc"; return p }(), "mechanism", "reserved"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := f.ledger.Record(context.Background(), c.params)
			assertField(t, err, c.path, c.contains)
		})
	}
	// Nothing of the refused forms reached the ledger: atomic per call.
	if d := check(t, f.ledger, "u-1", "marketing_email"); d.Reason != lethe.ReasonNeverGiven {
		t.Fatalf("a refused form was partly recorded: %+v", d)
	}
	head, err := f.store.AuditHead(context.Background())
	if err != nil || head.Size != 0 {
		t.Fatalf("audit head after refused forms = %+v, %v; want empty", head, err)
	}
	if _, err := f.ledger.Check(context.Background(), "u-1", "nope"); lethe.ErrorCode(err) != lethe.EINVALID {
		t.Fatalf("check of unknown purpose: %v", err)
	}
}

func TestGPC(t *testing.T) {
	f := newFixture(t, openSQLite(t, filepath.Join(t.TempDir(), "lethe.db")), testConfig(), secrets(t))
	mustRecord(t, f.ledger, grant("u-1", "marketing_email", "personalised_ads", "analytics"))
	f.advance(time.Minute)
	// A page load with Sec-GPC: 1 and an explicit choice for marketing: the
	// explicit choice stands, every other gpc purpose is opted out.
	p := grant("u-1", "marketing_email")
	p.Mechanism, p.GPC = "web", true
	res := mustRecord(t, f.ledger, p)
	var gpc []string
	for _, e := range res.Events {
		if e.Mechanism == "gpc" {
			if e.Granted {
				t.Fatalf("gpc event grants: %+v", e)
			}
			gpc = append(gpc, e.Purpose)
		}
	}
	if !slices.Equal(gpc, []string{"personalised_ads"}) {
		t.Fatalf("gpc opt-outs = %v, want [personalised_ads]", gpc)
	}
	if d := check(t, f.ledger, "u-1", "personalised_ads"); d.Allowed || d.Reason != lethe.ReasonWithdrawn {
		t.Fatalf("ads after GPC: %+v", d)
	}
	if d := check(t, f.ledger, "u-1", "marketing_email"); !d.Allowed {
		t.Fatalf("explicit grant lost to GPC: %+v", d)
	}
	if d := check(t, f.ledger, "u-1", "analytics"); !d.Allowed {
		t.Fatalf("non-gpc purpose touched by GPC: %+v", d)
	}
	// GPC alone, without any form.
	res = mustRecord(t, f.ledger, consent.RecordParams{SubjectID: "u-9", Mechanism: "web", Source: "test", GPC: true})
	if len(res.Events) != 2 {
		t.Fatalf("GPC alone recorded %d events, want 2", len(res.Events))
	}
}

func TestHistoryReceiptAndShred(t *testing.T) {
	stores(t, func(t *testing.T, newStore func(t *testing.T) lethe.Store) {
		ctx := context.Background()
		f := newFixture(t, newStore(t), testConfig(), secrets(t))
		g := mustRecord(t, f.ledger, grant("u-1", "marketing_email"))
		f.advance(time.Minute)
		mustRecord(t, f.ledger, withdraw("u-1", "marketing_email"))
		mustRecord(t, f.ledger, grant("u-2", "marketing_email"))

		hist, err := f.ledger.History(ctx, "u-1", "")
		if err != nil {
			t.Fatal(err)
		}
		if len(hist) != 2 || !hist[0].Granted || hist[1].Granted {
			t.Fatalf("history: %+v", hist)
		}
		if hist[0].Evidence == nil || hist[0].Evidence.IP != "203.0.113.7" || hist[0].Evidence.NoticeText != "We e-mail you offers." {
			t.Fatalf("evidence not decrypted: %+v", hist[0].Evidence)
		}
		r, err := f.ledger.Receipt(ctx, g.Events[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		if r.Version != "KI-CR-v1.1.0" || r.PIIPrincipalID != "u-1" || r.ConsentReceiptID != g.Events[0].ID.String() ||
			r.PIIControllers[0].PIIController != "Example Shop GmbH" || r.ISO27560.EventType != "given" || r.CollectionMethod != "signup_form_v3" ||
			r.PolicyURL != "https://example.com/privacy" || r.ISO27560.NoticeVersion != "2026-03" || r.Evidence == nil {
			t.Fatalf("receipt: %+v", r)
		}

		ref, err := f.ledger.SubjectRef("u-1")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.keys.Shred(ctx, ref, "test"); err != nil {
			t.Fatal(err)
		}
		hist, err = f.ledger.History(ctx, "u-1", "marketing_email")
		if err != nil {
			t.Fatal(err)
		}
		if len(hist) != 2 || hist[0].Evidence != nil || !hist[0].EvidenceErased || !hist[0].Granted || hist[0].PolicyVersion != "2026-03" {
			t.Fatalf("after shred the pseudonymous timeline must remain and the evidence read as erased: %+v", hist)
		}
		r, err = f.ledger.Receipt(ctx, g.Events[0].ID)
		if err != nil || r.PIIPrincipalID != "[erased]" || r.Evidence != nil {
			t.Fatalf("receipt after shred: %+v, %v", r, err)
		}
		// Another subject is untouched.
		h2, err := f.ledger.History(ctx, "u-2", "")
		if err != nil || len(h2) != 1 || h2[0].Evidence == nil {
			t.Fatalf("other subject after shred: %+v, %v", h2, err)
		}
		// The audit log still verifies: it commits to ciphertext.
		res, err := f.audit.Verify(ctx, audit.VerifyOptions{})
		if err != nil || !res.OK {
			t.Fatalf("audit after shred: %+v, %v", res, err)
		}
	})
}

func TestStoreHoldsNoPlaintext(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "lethe.db")
	f := newFixture(t, openSQLite(t, path), testConfig(), secrets(t))
	mustRecord(t, f.ledger, grant("subject-zq9", "marketing_email"))
	// Every audit entry's canonical bytes are what the log commits to:
	// none may hold the subject id or the evidence.
	err := f.store.AuditEntries(ctx, 0, 1<<62, func(e lethe.AuditEntry) error {
		b := audit.Canonical(e)
		for _, secret := range []string{"subject-zq9", "203.0.113.7", "secret-agent", "offers"} {
			if bytes.Contains(b, []byte(secret)) {
				return fmt.Errorf("audit entry %d holds %q", e.Seq, secret)
			}
		}
		if len(e.PayloadHash) != 32 {
			return fmt.Errorf("audit entry %d has no payload hash", e.Seq)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	f.store.Close()
	raw, err := readAll(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"subject-zq9", "203.0.113.7", "secret-agent"} {
		if bytes.Contains(raw, []byte(secret)) {
			t.Fatalf("database files hold %q in the clear", secret)
		}
	}
}

// TestCacheSeesOtherProcesses: two ledgers on one database (as the CLI next
// to a running server, or two API nodes) never answer from stale cache for
// long: the store's change feed drops what another process changed.
func TestCacheSeesOtherProcesses(t *testing.T) {
	sec := secrets(t)
	run := func(t *testing.T, a, b lethe.Store) {
		fa := newFixture(t, a, testConfig(), sec)
		fb := newFixture(t, b, testConfig(), sec)
		mustRecord(t, fa.ledger, grant("u-1", "marketing_email"))
		if d := check(t, fa.ledger, "u-1", "marketing_email"); !d.Allowed {
			t.Fatalf("a: %+v", d)
		}
		if d := check(t, fb.ledger, "u-1", "marketing_email"); !d.Allowed {
			t.Fatalf("b: %+v", d)
		}
		mustRecord(t, fb.ledger, withdraw("u-1", "marketing_email"))
		deadline := time.Now().Add(10 * time.Second)
		for {
			d := check(t, fa.ledger, "u-1", "marketing_email")
			if !d.Allowed && d.Reason == lethe.ReasonWithdrawn {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("ledger a still answers from stale cache 10s after another process's withdrawal: %+v", d)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "lethe.db")
		run(t, openSQLite(t, path), openSQLite(t, path))
	})
	t.Run("postgres", func(t *testing.T) {
		url := testenv.PostgresSchema(t)
		run(t, openPostgres(t, url), openPostgres(t, url))
	})
}

// keyReads counts the subject key reads a keyring makes.
type keyReads struct {
	lethe.Store
	n atomic.Int64
}

func (r *keyReads) SubjectKeyLatest(ctx context.Context, ref lethe.SubjectRef) (lethe.SubjectKey, error) {
	r.n.Add(1)
	return r.Store.SubjectKeyLatest(ctx, ref)
}

// With GuessNewSubjects, a subject the keyring has not seen costs no key
// read when it is new; when it is not (another keyring stored its key, or
// its keys were shredded), the store refuses the guess and the ledger
// seals again with the stored key, or the next generation.
func TestGuessedKeys(t *testing.T) {
	stores(t, func(t *testing.T, newStore func(t *testing.T) lethe.Store) {
		ctx := context.Background()
		store, sec := newStore(t), secrets(t)
		f := newFixture(t, store, testConfig(), sec)
		reads := &keyReads{Store: store}
		clock := lethe.ClockFunc(func() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return *f.now })
		other := keyring.New(reads, sec, keyring.Options{Clock: clock, GuessNewSubjects: true}) // no cache: every call misses
		l, err := consent.New(ctx, consent.Options{Config: testConfig(), Store: store, Sealer: other, Clock: clock})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()

		mustRecord(t, l, grant("fresh", "analytics"))
		if n := reads.n.Load(); n != 0 {
			t.Fatalf("a new subject's first consent read its key %d times, want 0", n)
		}
		mustRecord(t, f.ledger, grant("known", "analytics"))
		reads.n.Store(0)
		p := grant("known", "marketing_email")
		p.Evidence.Locale = "second"
		mustRecord(t, l, p) // guessed new, refused, sealed again with the stored key
		if n := reads.n.Load(); n != 1 {
			t.Fatalf("a known subject's consent read its key %d times, want 1 (after the refused guess)", n)
		}
		hist, err := f.ledger.History(ctx, "known", "")
		if err != nil || len(hist) != 2 || hist[1].Evidence == nil || hist[1].Evidence.Locale != "second" {
			t.Fatalf("history of the known subject: %+v, %v", hist, err)
		}

		ref, err := f.ledger.SubjectRef("fresh")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.keys.Shred(ctx, ref, "test"); err != nil {
			t.Fatal(err)
		}
		f.advance(time.Minute)
		mustRecord(t, l, grant("fresh", "marketing_email")) // generation 1 is taken: the next one
		if k, err := store.SubjectKeyLatest(ctx, ref); err != nil || k.Generation != 2 || k.Wrapped == nil {
			t.Fatalf("after shred and a new consent: latest key generation %d (%v), want an active generation 2", k.Generation, err)
		}
		hist, err = l.History(ctx, "fresh", "")
		if err != nil || len(hist) != 2 || !hist[0].EvidenceErased || hist[1].Evidence == nil {
			t.Fatalf("history after shred: %+v, %v", hist, err)
		}
		if res, err := f.audit.Verify(ctx, audit.VerifyOptions{}); err != nil || !res.OK {
			t.Fatalf("verify: %+v, %v", res, err)
		}
	})
}

// TestFirstRecordRace: a new subject's key is stored with its first
// events; first consents recorded at once for the same new subject by two
// processes all succeed, on one key, and every one's evidence opens.
// After a shred, the next consent stores the next key generation with it.
func TestFirstRecordRace(t *testing.T) {
	run := func(t *testing.T, a, b lethe.Store) {
		ctx := context.Background()
		sec := secrets(t)
		fa, fb := newFixture(t, a, testConfig(), sec), newFixture(t, b, testConfig(), sec)
		const n = 10
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			f := fa
			if i%2 == 1 {
				f = fb
			}
			wg.Go(func() {
				p := grant("newcomer", "analytics")
				p.Evidence.Locale = fmt.Sprint("attempt-", i)
				_, errs[i] = f.ledger.Record(ctx, p)
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("record %d: %v", i, err)
			}
		}
		ref, err := fa.ledger.SubjectRef("newcomer")
		if err != nil {
			t.Fatal(err)
		}
		if k, err := a.SubjectKeyLatest(ctx, ref); err != nil || k.Generation != 1 || k.Wrapped == nil {
			t.Fatalf("latest key = generation %d (%v), want one active generation 1", k.Generation, err)
		}
		hist, err := fa.ledger.History(ctx, "newcomer", "")
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, h := range hist {
			if h.Evidence == nil {
				t.Fatalf("event %s: evidence does not open", h.ID)
			}
			seen[h.Evidence.Locale] = true
		}
		if len(hist) != n || len(seen) != n {
			t.Fatalf("%d events with %d distinct evidences, want %d", len(hist), len(seen), n)
		}

		if _, err := fa.keys.Shred(ctx, ref, "test"); err != nil {
			t.Fatal(err)
		}
		fa.advance(time.Minute)
		mustRecord(t, fa.ledger, grant("newcomer", "marketing_email"))
		if k, err := a.SubjectKeyLatest(ctx, ref); err != nil || k.Generation != 2 || k.Wrapped == nil {
			t.Fatalf("latest key after shred and record = generation %d (%v), want an active generation 2", k.Generation, err)
		}
		// fa shredded: fb may serve its cached key until its change feed
		// tells it (SQLite polls), so read through fa.
		hist, err = fa.ledger.History(ctx, "newcomer", "")
		if err != nil || len(hist) != n+1 {
			t.Fatalf("history after shred: %d events, %v", len(hist), err)
		}
		for _, h := range hist {
			if erased := h.Purpose == "analytics"; h.EvidenceErased != erased || (h.Evidence == nil) != erased {
				t.Fatalf("event %s (%s): erased %v, evidence %v", h.ID, h.Purpose, h.EvidenceErased, h.Evidence)
			}
		}
		res, err := fa.audit.Verify(ctx, audit.VerifyOptions{})
		if err != nil || !res.OK {
			t.Fatalf("verify: %+v, %v", res, err)
		}
	}
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "lethe.db")
		run(t, openSQLite(t, path), openSQLite(t, path))
	})
	t.Run("postgres", func(t *testing.T) {
		url := testenv.PostgresSchema(t)
		run(t, openPostgres(t, url), openPostgres(t, url))
	})
}

// TestConcurrentWriters: 16 writers x 500 events lose nothing and the audit
// log still verifies.
func TestConcurrentWriters(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode")
	}
	stores(t, func(t *testing.T, newStore func(t *testing.T) lethe.Store) {
		ctx := context.Background()
		f := newFixture(t, newStore(t), testConfig(), secrets(t))
		const writers, perWriter = 16, 500
		var wg sync.WaitGroup
		errs := make(chan error, writers)
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range perWriter {
					p := grant(fmt.Sprintf("w%d-s%d", w, i%50), "analytics")
					p.Purposes[0].Granted = i%2 == 0
					if _, err := f.ledger.Record(ctx, p); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		head, err := f.store.AuditHead(ctx)
		if err != nil || head.Size != writers*perWriter {
			t.Fatalf("audit size = %d, %v; want %d", head.Size, err, writers*perWriter)
		}
		total := 0
		for w := range writers {
			for s := range 50 {
				ref, _ := f.ledger.SubjectRef(fmt.Sprintf("w%d-s%d", w, s))
				ev, err := f.store.ConsentHistory(ctx, ref, "")
				if err != nil {
					t.Fatal(err)
				}
				total += len(ev)
			}
		}
		if total != writers*perWriter {
			t.Fatalf("events stored = %d, want %d", total, writers*perWriter)
		}
		if _, err := f.audit.Checkpoint(ctx); err != nil {
			t.Fatal(err)
		}
		res, err := f.audit.Verify(ctx, audit.VerifyOptions{})
		if err != nil || !res.OK || res.Size != writers*perWriter {
			t.Fatalf("verify: %+v, %v", res, err)
		}
	})
}

// readAll returns the database file and its WAL, where recent pages live.
func readAll(path string) ([]byte, error) {
	var all []byte
	for _, p := range []string{path, path + "-wal"} {
		b, err := os.ReadFile(p)
		if err != nil && !os.IsNotExist(err) {
			return nil, err
		}
		all = append(all, b...)
	}
	return all, nil
}
