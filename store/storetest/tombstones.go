package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lethe-privacy/lethe"
)

// RunTombstones runs the TombstoneStore cases; only h.New is used.
func RunTombstones(t *testing.T, h Harness) {
	t.Run("TombstoneAddIdempotentAudited", func(t *testing.T) { testTombstoneAdd(t, h) })
	t.Run("TombstoneListSince", func(t *testing.T) { testTombstoneList(t, h) })
	t.Run("TombstoneLookup", func(t *testing.T) { testTombstoneLookup(t, h) })
	t.Run("TombstoneInvalid", func(t *testing.T) { testTombstoneInvalid(t, h) })
}

var tombT0 = time.Date(2026, 12, 2, 10, 0, 0, 123456000, time.UTC)

func tombstones(req string, at time.Time, names ...string) []lethe.Tombstone {
	var out []lethe.Tombstone
	for _, n := range names {
		out = append(out, lethe.Tombstone{SubjectRef: subject(n), IdentityType: lethe.IdentityEmail, RequestID: req, ErasedAt: at})
	}
	return out
}

func tombAudit(req string) lethe.AuditRecord {
	return lethe.AuditRecord{Actor: "system", Action: "subject.tombstoned", Object: req}
}

func listTombstones(t *testing.T, s lethe.Store, since time.Time) []lethe.Tombstone {
	t.Helper()
	var out []lethe.Tombstone
	if err := s.TombstoneList(context.Background(), since, func(ts lethe.Tombstone) error { out = append(out, ts); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func testTombstoneAdd(t *testing.T, h Harness) {
	s := h.New(t)
	ctx := context.Background()
	batch := tombstones("req_1", tombT0, "jane-email", "jane-id")
	batch[1].IdentityType = lethe.IdentityUserID
	n, err := s.TombstoneAdd(ctx, batch, tombAudit("req_1"))
	if err != nil || n != 2 {
		t.Fatalf("add: %d, %v; want 2 new", n, err)
	}
	if head(t, s).Size != 1 {
		t.Errorf("audit size %d after one add, want 1 entry", head(t, s).Size)
	}
	entries := allEntries(t, s)
	if entries[0].Action != "subject.tombstoned" || entries[0].Object != "req_1" {
		t.Errorf("audit entry %+v", entries[0].AuditRecord)
	}
	// The same request run again, later: nothing new, the first time kept.
	again := tombstones("req_1", tombT0.Add(time.Hour), "jane-email", "jane-id")
	again[1].IdentityType = lethe.IdentityUserID
	if n, err := s.TombstoneAdd(ctx, again, tombAudit("req_1")); err != nil || n != 0 {
		t.Errorf("add again: %d, %v; want 0 new", n, err)
	}
	got := listTombstones(t, s, time.Time{})
	lethe.SortTombstones(batch)
	if diff := cmp.Diff(batch, got); diff != "" {
		t.Errorf("stored tombstones (-want +got):\n%s", diff)
	}
	// Another request for the same subject is a tombstone of its own.
	if n, err := s.TombstoneAdd(ctx, tombstones("req_2", tombT0.Add(time.Minute), "jane-email"), tombAudit("req_2")); err != nil || n != 1 {
		t.Errorf("add for another request: %d, %v; want 1 new", n, err)
	}
	if n, err := s.TombstoneAdd(ctx, nil, tombAudit("req_3")); err != nil || n != 0 {
		t.Errorf("add nothing: %d, %v", n, err)
	}
}

func testTombstoneList(t *testing.T, h Harness) {
	s := h.New(t)
	ctx := context.Background()
	for i, name := range []string{"a", "b", "c"} {
		if _, err := s.TombstoneAdd(ctx, tombstones("req_"+name, tombT0.Add(time.Duration(i)*time.Hour), name), tombAudit("req_"+name)); err != nil {
			t.Fatal(err)
		}
	}
	reqs := func(ts []lethe.Tombstone) []string {
		var out []string
		for _, x := range ts {
			out = append(out, x.RequestID)
		}
		return out
	}
	if got := reqs(listTombstones(t, s, time.Time{})); !cmp.Equal(got, []string{"req_a", "req_b", "req_c"}) {
		t.Errorf("list all: %v", got)
	}
	// since is inclusive, to the microsecond.
	if got := reqs(listTombstones(t, s, tombT0.Add(time.Hour))); !cmp.Equal(got, []string{"req_b", "req_c"}) {
		t.Errorf("list since the second: %v", got)
	}
	if got := reqs(listTombstones(t, s, tombT0.Add(time.Hour+time.Microsecond))); !cmp.Equal(got, []string{"req_c"}) {
		t.Errorf("list since just after the second: %v", got)
	}
	stop := errors.New("stop")
	calls := 0
	err := s.TombstoneList(ctx, time.Time{}, func(lethe.Tombstone) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("fn's error: %v after %d calls, want it returned after 1", err, calls)
	}
}

func testTombstoneLookup(t *testing.T, h Harness) {
	s := h.New(t)
	ctx := context.Background()
	if _, err := s.TombstoneAdd(ctx, tombstones("req_1", tombT0, "x", "y"), tombAudit("req_1")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TombstoneAdd(ctx, tombstones("req_2", tombT0.Add(time.Second), "x"), tombAudit("req_2")); err != nil {
		t.Fatal(err)
	}
	// More references than one statement's batch on SQLite.
	refs := []lethe.SubjectRef{subject("x"), subject("never")}
	for i := range 1200 {
		refs = append(refs, subject(string(rune('A'+i%26))+string(rune(i))))
	}
	got, err := s.TombstoneLookup(ctx, refs)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].RequestID != "req_1" || got[1].RequestID != "req_2" || got[0].SubjectRef != subject("x") {
		t.Errorf("lookup x: %+v, want its two tombstones oldest first", got)
	}
	if got, err := s.TombstoneLookup(ctx, nil); err != nil || len(got) != 0 {
		t.Errorf("lookup nothing: %v, %v", got, err)
	}
}

func testTombstoneInvalid(t *testing.T, h Harness) {
	s := h.New(t)
	ctx := context.Background()
	bad := []lethe.Tombstone{
		{IdentityType: lethe.IdentityEmail, RequestID: "r", ErasedAt: tombT0},
		{SubjectRef: subject("a"), RequestID: "r", ErasedAt: tombT0},
		{SubjectRef: subject("a"), IdentityType: lethe.IdentityEmail, ErasedAt: tombT0},
		{SubjectRef: subject("a"), IdentityType: lethe.IdentityEmail, RequestID: "r"},
	}
	for _, b := range bad {
		_, err := s.TombstoneAdd(ctx, append(tombstones("r", tombT0, "ok"), b), tombAudit("r"))
		wantCode(t, err, lethe.EINVALID)
	}
	if head(t, s).Size != 0 || len(listTombstones(t, s, time.Time{})) != 0 {
		t.Errorf("a refused batch wrote something")
	}
}
