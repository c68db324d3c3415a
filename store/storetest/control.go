package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/lethe-privacy/lethe"
)

func controlRecord(action string, ref lethe.SubjectRef) lethe.AuditRecord {
	return lethe.AuditRecord{Actor: "cli", Action: action, SubjectRef: ref, Details: map[string]string{"request_id": "req_1"}}
}

func actions(t *testing.T, s lethe.Store) []string {
	t.Helper()
	var out []string
	for _, e := range allEntries(t, s) {
		out = append(out, e.Action)
	}
	return out
}

func testRestriction(t *testing.T, h Harness) {
	s := h.New(t)
	ctx := context.Background()
	alice, bob := subject("alice"), subject("bob")
	c, err := s.SubjectControls(ctx, alice)
	if err != nil || c.Restriction != nil || len(c.Objections) != 0 || c.Restricted() {
		t.Fatalf("controls of an unknown subject: %+v, %v; want none", c, err)
	}
	rs := []lethe.SubjectRestriction{
		{SubjectRef: alice, RequestID: "req_1", Actor: "cli", RestrictedAt: base},
		{SubjectRef: bob, RequestID: "req_1", Actor: "cli", RestrictedAt: base},
	}
	recs := []lethe.AuditRecord{controlRecord("subject.restricted", alice), controlRecord("subject.restricted", bob)}
	if n, err := s.RestrictionAdd(ctx, rs, recs); err != nil || n != 2 {
		t.Fatalf("RestrictionAdd: %d, %v; want 2 restricted", n, err)
	}
	// Again, later: nothing changes, nothing is audited twice.
	rs[0].RestrictedAt, rs[1].RestrictedAt = base.Add(time.Hour), base.Add(time.Hour)
	if n, err := s.RestrictionAdd(ctx, rs, recs); err != nil || n != 0 {
		t.Fatalf("RestrictionAdd again: %d, %v; want 0", n, err)
	}
	if got := head(t, s).Size; got != 2 {
		t.Errorf("audit size %d after a repeated restriction, want 2", got)
	}
	c, err = s.SubjectControls(ctx, alice)
	if err != nil || !c.Restricted() || !c.Restriction.RestrictedAt.Equal(base) || c.Restriction.RequestID != "req_1" || c.Restriction.Actor != "cli" {
		t.Fatalf("controls after restricting: %+v, %v", c.Restriction, err)
	}

	if _, err := s.RestrictionLift(ctx, []lethe.SubjectRef{alice}, lethe.RestrictionLift{LiftedAt: base.Add(2 * time.Hour), Actor: "cli"},
		[]lethe.AuditRecord{controlRecord("subject.restriction_lifted", alice)}); lethe.ErrorCode(err) != lethe.EINVALID {
		t.Errorf("lift without a notice: %v, want EINVALID", err)
	}
	lift := lethe.RestrictionLift{LiftedAt: base.Add(2 * time.Hour), RequestID: "req_2", Actor: "cli", Notice: "mail_1"}
	unknown := subject("carol")
	n, err := s.RestrictionLift(ctx, []lethe.SubjectRef{alice, unknown}, lift,
		[]lethe.AuditRecord{controlRecord("subject.restriction_lifted", alice), controlRecord("subject.restriction_lifted", unknown)})
	if err != nil || n != 1 {
		t.Fatalf("RestrictionLift: %d, %v; want 1 lifted", n, err)
	}
	c, err = s.SubjectControls(ctx, alice)
	if err != nil || c.Restricted() || c.Restriction.Lift == nil || *c.Restriction.Lift != lift {
		t.Fatalf("controls after lifting: %+v, %v; want lift %+v", c.Restriction, err, lift)
	}
	if c, _ := s.SubjectControls(ctx, bob); !c.Restricted() {
		t.Error("lifting alice's restriction lifted bob's")
	}
	if n, _ := s.RestrictionLift(ctx, []lethe.SubjectRef{alice}, lift, []lethe.AuditRecord{controlRecord("subject.restriction_lifted", alice)}); n != 0 {
		t.Errorf("lifting twice lifted %d", n)
	}
	// Restricted again after the lift: the lift is forgotten.
	if n, err := s.RestrictionAdd(ctx, rs[:1], recs[:1]); err != nil || n != 1 {
		t.Fatalf("restrict again after lift: %d, %v; want 1", n, err)
	}
	if c, _ := s.SubjectControls(ctx, alice); !c.Restricted() || c.Restriction.Lift != nil || !c.Restriction.RestrictedAt.Equal(base.Add(time.Hour)) {
		t.Errorf("restricted again: %+v", c.Restriction)
	}
	want := []string{"subject.restricted", "subject.restricted", "subject.restriction_lifted", "subject.restricted"}
	if got := actions(t, s); !equalStrings(got, want) {
		t.Errorf("audit actions %v, want %v", got, want)
	}
	checkChain(t, allEntries(t, s))

	if _, err := s.RestrictionAdd(ctx, rs, recs[:1]); lethe.ErrorCode(err) != lethe.EINVALID {
		t.Errorf("records not matching restrictions: %v, want EINVALID", err)
	}
	if _, err := s.RestrictionAdd(ctx, []lethe.SubjectRestriction{{Actor: "cli", RestrictedAt: base}}, recs[:1]); lethe.ErrorCode(err) != lethe.EINVALID {
		t.Errorf("restriction without subject: %v, want EINVALID", err)
	}
	// The table holds the reference and nothing that names the person.
	db := h.DB(t, s)
	if got := count(t, db, `SELECT COUNT(*) FROM subject_restrictions`); got != 2 {
		t.Errorf("%d restriction rows, want 2 (one per subject, kept after a lift)", got)
	}
}

func testObjection(t *testing.T, h Harness) {
	s := h.New(t)
	ctx := context.Background()
	alice := subject("alice")
	objs := []lethe.SubjectObjection{
		{SubjectRef: alice, Purpose: "profiling", RequestID: "req_1", Actor: "cli", ObjectedAt: base},
		{SubjectRef: alice, Purpose: "newsletter", RequestID: "req_1", Actor: "cli", ObjectedAt: base},
	}
	recs := []lethe.AuditRecord{controlRecord("subject.objected", alice), controlRecord("subject.objected", alice)}
	if n, err := s.ObjectionAdd(ctx, objs, recs); err != nil || n != 2 {
		t.Fatalf("ObjectionAdd: %d, %v; want 2", n, err)
	}
	if err := s.ObjectionOverride(ctx, alice, "other", lethe.ObjectionOverride{Grounds: "g", Actor: "cli", OverriddenAt: base}, controlRecord("subject.objection_overridden", alice)); lethe.ErrorCode(err) != lethe.ENOTFOUND {
		t.Errorf("override without objection: %v, want ENOTFOUND", err)
	}
	if err := s.ObjectionOverride(ctx, alice, "profiling", lethe.ObjectionOverride{Actor: "cli", OverriddenAt: base}, controlRecord("subject.objection_overridden", alice)); lethe.ErrorCode(err) != lethe.EINVALID {
		t.Errorf("override without grounds: %v, want EINVALID", err)
	}
	ov := lethe.ObjectionOverride{Grounds: "fraud prevention outweighs", Actor: "dpo", OverriddenAt: base.Add(time.Hour)}
	if err := s.ObjectionOverride(ctx, alice, "profiling", ov, controlRecord("subject.objection_overridden", alice)); err != nil {
		t.Fatal(err)
	}
	// Objecting again keeps the objection and its override.
	objs[0].ObjectedAt = base.Add(2 * time.Hour)
	if n, err := s.ObjectionAdd(ctx, objs, recs); err != nil || n != 0 {
		t.Fatalf("ObjectionAdd again: %d, %v; want 0", n, err)
	}
	c, err := s.SubjectControls(ctx, alice)
	if err != nil || len(c.Objections) != 2 {
		t.Fatalf("controls: %+v, %v", c, err)
	}
	if c.Objections[0].Purpose != "newsletter" || !c.Objections[0].Active() {
		t.Errorf("objections not sorted by purpose or newsletter overridden: %+v", c.Objections)
	}
	p, ok := c.Objection("profiling")
	if !ok || p.Active() || *p.Override != ov || !p.ObjectedAt.Equal(base) || p.RequestID != "req_1" {
		t.Errorf("profiling objection %+v (override %+v), want overridden by %+v, objected at %v", p, p.Override, ov, base)
	}
	want := []string{"subject.objected", "subject.objected", "subject.objection_overridden"}
	if got := actions(t, s); !equalStrings(got, want) {
		t.Errorf("audit actions %v, want %v", got, want)
	}
	if _, err := s.ObjectionAdd(ctx, []lethe.SubjectObjection{{SubjectRef: alice, Actor: "cli", ObjectedAt: base}}, recs[:1]); lethe.ErrorCode(err) != lethe.EINVALID {
		t.Errorf("objection without purpose: %v, want EINVALID", err)
	}
}

func testControlChangeFeed(t *testing.T, h Harness) {
	s := h.New(t)
	feed, ok := s.(lethe.ChangeFeed)
	if !ok {
		t.Skip("store does not implement lethe.ChangeFeed")
	}
	other := h.Reopen(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	changes, err := feed.SubjectChanges(ctx)
	if err != nil {
		t.Fatal(err)
	}
	await := func(what string, ref lethe.SubjectRef) {
		t.Helper()
		deadline := time.After(20 * time.Second)
		for {
			select {
			case got := <-changes:
				if got == ref || got.IsZero() {
					return
				}
			case <-deadline:
				t.Fatalf("%s: no change delivered", what)
			}
		}
	}
	ref := subject("watched")
	if _, err := other.RestrictionAdd(ctx, []lethe.SubjectRestriction{{SubjectRef: ref, Actor: "cli", RestrictedAt: base}},
		[]lethe.AuditRecord{controlRecord("subject.restricted", ref)}); err != nil {
		t.Fatal(err)
	}
	await("restriction by another store", ref)
	if _, err := other.ObjectionAdd(ctx, []lethe.SubjectObjection{{SubjectRef: ref, Purpose: "profiling", Actor: "cli", ObjectedAt: base}},
		[]lethe.AuditRecord{controlRecord("subject.objected", ref)}); err != nil {
		t.Fatal(err)
	}
	await("objection by another store", ref)
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
