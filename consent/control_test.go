package consent_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/consent"
	"github.com/lethe-privacy/lethe/internal/testenv"
	"github.com/lethe-privacy/lethe/mail"
)

// controlConfig adds purposes of every basis the right to object knows.
func controlConfig() *lethe.Config {
	cfg := testConfig()
	cfg.Purposes = append(cfg.Purposes,
		lethe.Purpose{ID: "fraud_scoring", LawfulBasis: lethe.BasisLegitimateInterests},
		lethe.Purpose{ID: "census", LawfulBasis: lethe.BasisPublicTask},
		lethe.Purpose{ID: "postal_offers", LawfulBasis: lethe.BasisLegitimateInterests, DirectMarketing: true},
		lethe.Purpose{ID: "newsletter", LawfulBasis: lethe.BasisConsent, PolicyVersion: "2026-03", DirectMarketing: true},
		lethe.Purpose{ID: "tax_records", LawfulBasis: lethe.BasisLegalObligation},
	)
	return cfg
}

// controlFixture is a ledger with a real mail outbox on the same store.
func controlFixture(t *testing.T, store lethe.Store) (*consent.Ledger, *mail.Outbox, fixture) {
	t.Helper()
	f := newFixture(t, store, controlConfig(), secrets(t))
	clock := lethe.ClockFunc(func() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return *f.now })
	out, err := mail.New(mail.Options{Store: store, Sealer: f.keys, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	l, err := consent.New(context.Background(), consent.Options{Config: controlConfig(), Store: store, Sealer: f.keys, Mail: out, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l, out, f
}

func ref(t *testing.T, l *consent.Ledger, id string) lethe.SubjectRef {
	t.Helper()
	r, err := l.SubjectRef(id)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func wantReason(t *testing.T, l *consent.Ledger, subject, purpose string, allowed bool, reason lethe.ConsentReason) {
	t.Helper()
	d := check(t, l, subject, purpose)
	if d.Allowed != allowed || d.Reason != reason {
		t.Errorf("check %s for %s: allowed %t, reason %s; want %t, %s", purpose, subject, d.Allowed, d.Reason, allowed, reason)
	}
}

func auditActions(t *testing.T, s lethe.Store) []string {
	t.Helper()
	ctx := context.Background()
	h, err := s.AuditHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	if err := s.AuditEntries(ctx, 0, h.Size, func(e lethe.AuditEntry) error {
		out = append(out, e.Action)
		for k, v := range e.Details {
			if strings.Contains(v, "@") || strings.Contains(v, "fraud ring") || strings.Contains(v, "phone") {
				t.Errorf("audit entry %s holds personal or free text in %s: %q", e.Action, k, v)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRestriction(t *testing.T) {
	stores(t, func(t *testing.T, newStore func(t *testing.T) lethe.Store) {
		store := newStore(t)
		l, _, _ := controlFixture(t, store)
		ctx := context.Background()
		mustRecord(t, l, grant("u-1", "marketing_email"))
		wantReason(t, l, "u-1", "marketing_email", true, lethe.ReasonGranted) // now cached
		wantReason(t, l, "u-1", "order_fulfilment", true, lethe.ReasonLawfulBasis(lethe.BasisContract))
		r := ref(t, l, "u-1")
		for range 2 { // idempotent
			if err := l.Restrict(ctx, []lethe.SubjectRef{r}, consent.RestrictParams{RequestID: "req_1", Actor: "cli"}); err != nil {
				t.Fatal(err)
			}
		}
		// Restricted beats granted, and every basis.
		for _, p := range []string{"marketing_email", "order_fulfilment", "fraud_scoring", "tax_records"} {
			wantReason(t, l, "u-1", p, false, lethe.ReasonRestricted)
		}
		wantReason(t, l, "u-2", "order_fulfilment", true, lethe.ReasonLawfulBasis(lethe.BasisContract))
		st, err := l.State(ctx, "u-1")
		if err != nil || st[0].Reason != lethe.ReasonRestricted || st[0].EventID == nil {
			t.Errorf("state: %+v, %v; want restricted with the consent event still named", st, err)
		}

		err = l.LiftRestriction(ctx, []lethe.SubjectRef{r}, consent.LiftParams{Actor: "cli"})
		if lethe.ErrorCode(err) != lethe.EINVALID || !strings.Contains(err.Error(), "Art. 18(3)") {
			t.Errorf("lift without notice: %v, want EINVALID citing Art. 18(3)", err)
		}
		if err := l.LiftRestriction(ctx, []lethe.SubjectRef{r}, consent.LiftParams{Actor: "cli", NotifyEmail: "not an address"}); lethe.ErrorCode(err) != lethe.EINVALID {
			t.Errorf("lift with a bad address: %v, want EINVALID", err)
		}
		wantReason(t, l, "u-1", "marketing_email", false, lethe.ReasonRestricted)
		if err := l.LiftRestriction(ctx, []lethe.SubjectRef{r}, consent.LiftParams{Actor: "cli", NotifyEmail: "alice@example.org"}); err != nil {
			t.Fatal(err)
		}
		wantReason(t, l, "u-1", "marketing_email", true, lethe.ReasonGranted)
		// Lifting again sends nothing more.
		if err := l.LiftRestriction(ctx, []lethe.SubjectRef{r}, consent.LiftParams{Actor: "cli", NotifyEmail: "alice@example.org"}); err != nil {
			t.Fatal(err)
		}
		msgs, err := store.OutboxList(ctx, false, 0)
		if err != nil || len(msgs) != 1 || msgs[0].Template != mail.TemplateRestrictionLifting || msgs[0].SubjectRef != r {
			t.Fatalf("outbox %+v, %v; want one restriction_lifting notice for the subject", msgs, err)
		}
		rs, err := l.Restrictions(ctx, r)
		if err != nil || rs == nil || rs.Active() || rs.Lift.Notice != msgs[0].ID || rs.RequestID != "req_1" {
			t.Errorf("restriction after lift: %+v, %v; want lifted with notice %s", rs, err, msgs[0].ID)
		}
		// Out of band: the reason is kept with the restriction, its hash in
		// the audit log.
		if err := l.Restrict(ctx, []lethe.SubjectRef{r}, consent.RestrictParams{RequestID: "req_2"}); err != nil {
			t.Fatal(err)
		}
		if err := l.LiftRestriction(ctx, []lethe.SubjectRef{r}, consent.LiftParams{NotifiedOutOfBand: "told by phone on 3 March"}); err != nil {
			t.Fatal(err)
		}
		if rs, _ := l.Restrictions(ctx, r); rs.Active() || rs.Lift.OutOfBand != "told by phone on 3 March" {
			t.Errorf("restriction after out-of-band lift: %+v", rs.Lift)
		}
		got := strings.Join(auditActions(t, store), " ")
		want := "consent.granted subject.restricted mail.queued subject.restriction_lifted subject.restricted subject.restriction_lifted"
		if got != want {
			t.Errorf("audit actions\n%s\nwant\n%s", got, want)
		}
	})
}

func TestLiftWithoutMailer(t *testing.T) {
	f := newFixture(t, openSQLite(t, filepath.Join(t.TempDir(), "lethe.db")), controlConfig(), secrets(t))
	ctx := context.Background()
	r := ref(t, f.ledger, "u-1")
	if err := f.ledger.Restrict(ctx, []lethe.SubjectRef{r}, consent.RestrictParams{}); err != nil {
		t.Fatal(err)
	}
	if err := f.ledger.LiftRestriction(ctx, []lethe.SubjectRef{r}, consent.LiftParams{NotifyEmail: "alice@example.org"}); lethe.ErrorCode(err) != lethe.EUNAVAILABLE {
		t.Errorf("lift by e-mail without an outbox: %v, want EUNAVAILABLE", err)
	}
	if err := f.ledger.LiftRestriction(ctx, []lethe.SubjectRef{r}, consent.LiftParams{NotifyEmail: "a@example.org", NotifiedOutOfBand: "x"}); lethe.ErrorCode(err) != lethe.EINVALID {
		t.Errorf("lift with both: %v, want EINVALID", err)
	}
	wantReason(t, f.ledger, "u-1", "analytics", false, lethe.ReasonRestricted)
}

func TestObjection(t *testing.T) {
	stores(t, func(t *testing.T, newStore func(t *testing.T) lethe.Store) {
		store := newStore(t)
		l, _, _ := controlFixture(t, store)
		ctx := context.Background()
		mustRecord(t, l, grant("u-1", "newsletter", "marketing_email"))
		wantReason(t, l, "u-1", "fraud_scoring", true, lethe.ReasonLawfulBasis(lethe.BasisLegitimateInterests))
		wantReason(t, l, "u-1", "newsletter", true, lethe.ReasonGranted)
		r := ref(t, l, "u-1")

		// Refused where Art. 21 does not apply; nothing recorded.
		err := l.Object(ctx, r, []string{"fraud_scoring", "tax_records", "marketing_email", "nope"}, consent.ObjectParams{})
		if lethe.ErrorCode(err) != lethe.EINVALID || !strings.Contains(err.Error(), "legal_obligation") || !strings.Contains(err.Error(), "withdraw") {
			t.Errorf("objection to a legal-obligation and a consent purpose: %v, want EINVALID naming the basis", err)
		}
		wantReason(t, l, "u-1", "fraud_scoring", true, lethe.ReasonLawfulBasis(lethe.BasisLegitimateInterests))

		if err := l.Object(ctx, r, []string{"fraud_scoring", "census", "postal_offers", "newsletter"}, consent.ObjectParams{RequestID: "req_9", Actor: "cli"}); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{"fraud_scoring", "census", "postal_offers", "newsletter"} {
			wantReason(t, l, "u-1", p, false, lethe.ReasonObjected)
		}
		wantReason(t, l, "u-1", "marketing_email", true, lethe.ReasonGranted)
		wantReason(t, l, "u-2", "fraud_scoring", true, lethe.ReasonLawfulBasis(lethe.BasisLegitimateInterests))

		// Direct marketing: absolute.
		for _, p := range []string{"postal_offers", "newsletter"} {
			if err := l.OverrideObjection(ctx, r, p, "we really want to", "dpo"); lethe.ErrorCode(err) != lethe.EINVALID || !strings.Contains(err.Error(), "21(3)") {
				t.Errorf("override of direct marketing %s: %v, want EINVALID citing Art. 21(3)", p, err)
			}
		}
		if err := l.OverrideObjection(ctx, r, "fraud_scoring", "  ", "dpo"); lethe.ErrorCode(err) != lethe.EINVALID {
			t.Errorf("override without grounds: %v, want EINVALID", err)
		}
		if err := l.OverrideObjection(ctx, ref(t, l, "u-2"), "fraud_scoring", "grounds", "dpo"); lethe.ErrorCode(err) != lethe.ENOTFOUND {
			t.Errorf("override without objection: %v, want ENOTFOUND", err)
		}
		grounds := "an active fraud ring uses this account; Art. 21(1) balancing in DPIA-12"
		if err := l.OverrideObjection(ctx, r, "fraud_scoring", grounds, "dpo"); err != nil {
			t.Fatal(err)
		}
		wantReason(t, l, "u-1", "fraud_scoring", true, lethe.ReasonLawfulBasis(lethe.BasisLegitimateInterests))
		wantReason(t, l, "u-1", "census", false, lethe.ReasonObjected)
		objs, err := l.Objections(ctx, r)
		if err != nil || len(objs) != 4 {
			t.Fatalf("objections: %+v, %v", objs, err)
		}
		for _, o := range objs {
			if o.Purpose == "fraud_scoring" && (o.Override == nil || o.Override.Grounds != grounds || o.Override.Actor != "dpo") {
				t.Errorf("fraud_scoring override %+v, want the grounds kept", o.Override)
			}
		}
		// Restricted beats an overridden objection.
		if err := l.Restrict(ctx, []lethe.SubjectRef{r}, consent.RestrictParams{}); err != nil {
			t.Fatal(err)
		}
		wantReason(t, l, "u-1", "fraud_scoring", false, lethe.ReasonRestricted)
		got := strings.Join(auditActions(t, store), " ")
		want := "consent.granted consent.granted subject.objected subject.objected subject.objected subject.objected subject.objection_overridden subject.restricted"
		if got != want {
			t.Errorf("audit actions\n%s\nwant\n%s", got, want)
		}
	})
}

// TestControlsReachOtherProcesses: a restriction or objection written by
// a second ledger on the same database reaches the first one's cache.
func TestControlsReachOtherProcesses(t *testing.T) {
	sec := secrets(t)
	run := func(t *testing.T, a, b lethe.Store) {
		fa := newFixture(t, a, controlConfig(), sec)
		fb := newFixture(t, b, controlConfig(), sec)
		ctx := context.Background()
		mustRecord(t, fa.ledger, grant("u-1", "marketing_email"))
		wantReason(t, fa.ledger, "u-1", "marketing_email", true, lethe.ReasonGranted)
		wantReason(t, fa.ledger, "u-1", "fraud_scoring", true, lethe.ReasonLawfulBasis(lethe.BasisLegitimateInterests))
		r := ref(t, fb.ledger, "u-1")
		eventually := func(what, purpose string, reason lethe.ConsentReason) {
			t.Helper()
			deadline := time.Now().Add(10 * time.Second)
			for {
				d := check(t, fa.ledger, "u-1", purpose)
				if !d.Allowed && d.Reason == reason {
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("ledger a still answers %+v 10s after another process's %s", d, what)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
		if err := fb.ledger.Object(ctx, r, []string{"fraud_scoring"}, consent.ObjectParams{}); err != nil {
			t.Fatal(err)
		}
		eventually("objection", "fraud_scoring", lethe.ReasonObjected)
		if err := fb.ledger.Restrict(ctx, []lethe.SubjectRef{r}, consent.RestrictParams{}); err != nil {
			t.Fatal(err)
		}
		eventually("restriction", "marketing_email", lethe.ReasonRestricted)
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
