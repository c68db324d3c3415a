package storetest

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/uuid"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/audit"
)

// Harness tells the suite how to open stores of one implementation.
type Harness struct {
	// New returns a fresh, empty store on its own database (a temporary
	// file, a schema of its own) and arranges for it to be closed when the
	// test ends. Required.
	New func(t *testing.T) lethe.Store
	// Reopen opens a second, independent store on the same database as s,
	// as another process or API node would, closed when the test ends.
	// Required.
	Reopen func(t *testing.T, s lethe.Store) lethe.Store
	// DB returns a database/sql handle on s's database that bypasses the
	// store, for the tamper tests and for checking what is really in the
	// tables. The suite only sends SQL without parameters that both engines
	// accept. Required.
	DB func(t *testing.T, s lethe.Store) *sql.DB
	// AppendOnly names the store's own append-only tables besides
	// consent_events, audit_entries and audit_checkpoints, each with a SET
	// clause for an UPDATE that its triggers must refuse (PostgreSQL keeps
	// the Merkle tree hashes in audit_tree_hashes; SQLite in the entries).
	AppendOnly map[string]string
}

// Run runs the whole suite, each case on a fresh store.
func Run(t *testing.T, h Harness) {
	if h.New == nil || h.Reopen == nil || h.DB == nil {
		t.Fatal("storetest: Harness.New, Reopen and DB are required")
	}
	cases := []struct {
		name string
		fn   func(t *testing.T, h Harness)
	}{
		{"Ping", testPing},
		{"ConsentProjection", testConsentProjection},
		{"ConsentSameInstantTieBreak", testConsentTieBreak},
		{"ConsentSameStateTwice", testConsentSameStateTwice},
		{"ConsentBatchAtomic", testConsentBatchAtomic},
		{"ConsentInvalid", testConsentInvalid},
		{"ConsentHistory", testConsentHistory},
		{"ConsentEventGet", testConsentEventGet},
		{"AuditAppend", testAuditAppend},
		{"AuditEntriesRanges", testAuditEntriesRanges},
		{"AuditTreeHashes", testAuditTreeHashes},
		{"AuditCheckpoints", testAuditCheckpoints},
		{"SubjectKeyCreate", testSubjectKeyCreate},
		{"SubjectKeyConcurrentCreate", testSubjectKeyConcurrentCreate},
		{"SubjectKeyShred", testSubjectKeyShred},
		{"SubjectKeyLatest", testSubjectKeyLatest},
		{"ConsentAppendNewKey", testConsentAppendNewKey},
		{"ConsentAppendNewKeyRace", testConsentAppendNewKeyRace},
		{"APIKeys", testAPIKeys},
		{"AppendOnly", testAppendOnly},
		{"ConcurrentWriters", testConcurrentWriters},
		{"ConcurrentConflicts", testConcurrentConflicts},
		{"ChangeFeed", testChangeFeed},
		{"Restriction", testRestriction},
		{"Objection", testObjection},
		{"ControlChangeFeed", testControlChangeFeed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.fn(t, h)
		})
	}
}

// ---- helpers ---------------------------------------------------------------

func subject(name string) lethe.SubjectRef { return lethe.SubjectRef(sha256.Sum256([]byte(name))) }

// base is a fixed instant, microsecond precision, so that stored times
// compare equal after the round trip.
var base = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func event(t *testing.T, ref lethe.SubjectRef, purpose string, granted bool, at time.Time) lethe.ConsentEvent {
	t.Helper()
	id, err := uuid.NewV7()
	if err != nil {
		t.Fatal(err)
	}
	return lethe.ConsentEvent{
		ID: id, SubjectRef: ref, Purpose: purpose, Granted: granted, PolicyVersion: "2026-03",
		Mechanism: "signup_form_v3", Jurisdiction: lethe.GDPR, Source: "api:test", RecordedAt: at,
		Evidence: []byte("sealed:" + id.String()),
	}
}

func consentRecord(e lethe.ConsentEvent) lethe.AuditRecord {
	sum := sha256.Sum256(e.Evidence)
	action := "consent.granted"
	if !e.Granted {
		action = "consent.withdrawn"
	}
	return lethe.AuditRecord{
		Actor: e.Source, Action: action, SubjectRef: e.SubjectRef, Object: e.ID.String(), PayloadHash: sum[:],
		Details: map[string]string{"purpose": e.Purpose, "policy_version": e.PolicyVersion},
	}
}

func records(evs ...lethe.ConsentEvent) []lethe.AuditRecord {
	out := make([]lethe.AuditRecord, len(evs))
	for i, e := range evs {
		out[i] = consentRecord(e)
	}
	return out
}

func appendConsent(t *testing.T, s lethe.Store, evs ...lethe.ConsentEvent) []lethe.AuditEntry {
	t.Helper()
	entries, err := s.ConsentAppend(context.Background(), evs, records(evs...), nil)
	if err != nil {
		t.Fatalf("ConsentAppend: %v", err)
	}
	return entries
}

// wantCode fails unless err is a *lethe.Error with the given code.
func wantCode(t *testing.T, err error, code lethe.Code) {
	t.Helper()
	var le *lethe.Error
	if !errors.As(err, &le) {
		t.Fatalf("got error %v (%T), want a *lethe.Error with code %s", err, err, code)
	}
	if le.Code != code {
		t.Fatalf("got code %s (%v), want %s", le.Code, err, code)
	}
}

func head(t *testing.T, s lethe.Store) lethe.AuditHead {
	t.Helper()
	h, err := s.AuditHead(context.Background())
	if err != nil {
		t.Fatalf("AuditHead: %v", err)
	}
	return h
}

func allEntries(t *testing.T, s lethe.Store) []lethe.AuditEntry {
	t.Helper()
	var out []lethe.AuditEntry
	if err := s.AuditEntries(context.Background(), 0, head(t, s).Size, func(e lethe.AuditEntry) error {
		out = append(out, e)
		return nil
	}); err != nil {
		t.Fatalf("AuditEntries: %v", err)
	}
	return out
}

func count(t *testing.T, db *sql.DB, query string) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(context.Background(), query).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// checkChain verifies what a reader of the log relies on: contiguous
// sequence numbers from 0, each entry's PrevHash equal to the previous
// entry's Hash, and each Hash the leaf hash of the entry as stored.
func checkChain(t *testing.T, entries []lethe.AuditEntry) {
	t.Helper()
	var prev [32]byte
	for i, e := range entries {
		if e.Seq != uint64(i) {
			t.Fatalf("entry %d has seq %d", i, e.Seq)
		}
		if e.PrevHash != prev {
			t.Fatalf("entry %d: PrevHash does not match the hash of entry %d", i, i-1)
		}
		if got := audit.LeafHash(e); got != e.Hash {
			t.Fatalf("entry %d: stored hash is not the leaf hash of the stored entry", i)
		}
		prev = e.Hash
	}
}

// merkleRoot computes the RFC 6962 tree hash of leaf hashes directly,
// independently of the stored tree hashes.
func merkleRoot(leaves []tlog.Hash) tlog.Hash {
	if len(leaves) == 1 {
		return leaves[0]
	}
	k := 1
	for k*2 < len(leaves) {
		k *= 2
	}
	return tlog.NodeHash(merkleRoot(leaves[:k]), merkleRoot(leaves[k:]))
}

func storeHashReader(s lethe.Store) tlog.HashReader {
	return tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
		hs, err := s.AuditTreeHashes(context.Background(), indexes)
		if err != nil {
			return nil, err
		}
		out := make([]tlog.Hash, len(hs))
		for i, h := range hs {
			out[i] = h
		}
		return out, nil
	})
}

// checkTree verifies that the stored tree hashes give, for every size up to
// the head, the root computed directly from the entries' leaf hashes.
func checkTree(t *testing.T, s lethe.Store, entries []lethe.AuditEntry, sizes ...int) {
	t.Helper()
	leaves := make([]tlog.Hash, len(entries))
	for i, e := range entries {
		leaves[i] = e.Hash
	}
	r := storeHashReader(s)
	for _, n := range sizes {
		got, err := tlog.TreeHash(int64(n), r)
		if err != nil {
			t.Fatalf("tree hash of size %d from stored hashes: %v", n, err)
		}
		if want := merkleRoot(leaves[:n]); got != want {
			t.Fatalf("tree hash of size %d from stored hashes does not match the root of the leaves", n)
		}
	}
}

// ---- consent ---------------------------------------------------------------

func testPing(t *testing.T, h Harness) {
	s := h.New(t)
	if err := s.Ping(context.Background()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

func testConsentProjection(t *testing.T, h Harness) {
	s := h.New(t)
	ctx := context.Background()
	alice, bob := subject("alice"), subject("bob")

	grant := event(t, alice, "marketing_email", true, base)
	entries := appendConsent(t, s, grant)
	if len(entries) != 1 || entries[0].Seq != 0 || entries[0].Object != grant.ID.String() || entries[0].SubjectRef != alice {
		t.Fatalf("ConsentAppend returned entries %+v, want one entry at seq 0 for the event", entries)
	}
	withdraw := event(t, alice, "marketing_email", false, base.Add(time.Hour))
	appendConsent(t, s, withdraw)
	// An event recorded earlier (a late-arriving import) is kept but does
	// not move the state back.
	older := event(t, alice, "marketing_email", true, base.Add(-time.Hour))
	appendConsent(t, s, older)
	// Several purposes in one call.
	appendConsent(t, s,
		event(t, alice, "analytics", true, base.Add(2*time.Hour)),
		event(t, alice, "ads", false, base.Add(2*time.Hour)),
	)
	appendConsent(t, s, event(t, bob, "marketing_email", true, base))

	got, err := s.ConsentStateList(ctx, alice)
	if err != nil {
		t.Fatalf("ConsentStateList: %v", err)
	}
	purposes := make([]string, len(got))
	for i, st := range got {
		purposes[i] = st.Purpose
	}
	if diff := cmp.Diff([]string{"ads", "analytics", "marketing_email"}, purposes); diff != "" {
		t.Fatalf("state purposes (-want +got):\n%s", diff)
	}
	want := lethe.ConsentState{SubjectRef: alice, Purpose: "marketing_email", Granted: false, PolicyVersion: "2026-03", EventID: withdraw.ID, RecordedAt: withdraw.RecordedAt}
	if diff := cmp.Diff(want, got[2]); diff != "" {
		t.Fatalf("marketing_email state (-want +got):\n%s", diff)
	}
	if !got[1].Granted || got[0].Granted {
		t.Fatalf("analytics granted=%v ads granted=%v, want true and false", got[1].Granted, got[0].Granted)
	}

	none, err := s.ConsentStateList(ctx, subject("nobody"))
	if err != nil || len(none) != 0 {
		t.Fatalf("ConsentStateList(unknown subject) = %v, %v; want empty, nil", none, err)
	}
	if h := head(t, s); h.Size != 6 {
		t.Fatalf("audit head size %d after 6 audited events, want 6", h.Size)
	}
}

func testConsentTieBreak(t *testing.T, h Harness) {
	s := h.New(t)
	ref := subject("tie")
	first := event(t, ref, "p", true, base)
	second := event(t, ref, "p", false, base) // same instant, greater UUIDv7
	if !(string(second.ID[:]) > string(first.ID[:])) {
		t.Fatal("UUIDv7 ids are not increasing")
	}
	// Append the newer one first: the older must not replace it.
	appendConsent(t, s, second)
	appendConsent(t, s, first)
	got, err := s.ConsentStateList(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].EventID != second.ID {
		t.Fatalf("state %+v, want the event with the greater id at the same instant", got)
	}
}

// Several events for one (subject, purpose) in one call, in either order,
// and from concurrent callers whose appends may share a transaction: the
// state is the newest, every event is kept.
func testConsentSameStateTwice(t *testing.T, h Harness) {
	s := h.New(t)
	ctx := context.Background()
	for _, reversed := range []bool{false, true} {
		ref := subject(fmt.Sprint("twice-", reversed))
		older := event(t, ref, "p", true, base)
		newer := event(t, ref, "p", false, base.Add(time.Minute))
		evs := []lethe.ConsentEvent{older, newer}
		if reversed {
			evs = []lethe.ConsentEvent{newer, older}
		}
		appendConsent(t, s, evs...)
		got, err := s.ConsentStateList(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].EventID != newer.ID || got[0].Granted {
			t.Fatalf("reversed=%v: state %+v, want the newer withdrawal", reversed, got)
		}
	}
	ref := subject("twice-concurrent")
	const writers = 16
	evs := make([]lethe.ConsentEvent, writers)
	for i := range evs {
		evs[i] = event(t, ref, "p", i%2 == 0, base.Add(time.Duration(i)*time.Second))
	}
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for i := range evs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = s.ConsentAppend(ctx, evs[i:i+1], records(evs[i]), nil)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
	got, err := s.ConsentStateList(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].EventID != evs[writers-1].ID {
		t.Fatalf("state %+v after concurrent appends, want the newest event %s", got, evs[writers-1].ID)
	}
	hist, err := s.ConsentHistory(ctx, ref, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != writers {
		t.Fatalf("%d events in the history, want %d", len(hist), writers)
	}
}

func testConsentBatchAtomic(t *testing.T, h Harness) {
	s := h.New(t)
	ctx := context.Background()
	db := h.DB(t, s)
	ref := subject("atomic")
	existing := event(t, ref, "marketing_email", true, base)
	appendConsent(t, s, existing)
	before := head(t, s)

	fresh := event(t, ref, "analytics", true, base.Add(time.Minute))
	dup := event(t, ref, "ads", true, base.Add(time.Minute))
	dup.ID = existing.ID // collides with a stored event
	_, err := s.ConsentAppend(ctx, []lethe.ConsentEvent{fresh, dup}, records(fresh, dup), nil)
	wantCode(t, err, lethe.ECONFLICT)

	if _, err := s.ConsentEventGet(ctx, fresh.ID); lethe.ErrorCode(err) != lethe.ENOTFOUND {
		t.Fatalf("event of a failed batch is readable (err %v): the batch was not atomic", err)
	}
	states, err := s.ConsentStateList(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if len(states) != 1 || states[0].Purpose != "marketing_email" {
		t.Fatalf("states after failed batch: %+v, want only marketing_email", states)
	}
	if after := head(t, s); after != before {
		t.Fatalf("audit head moved from %d to %d by a failed batch", before.Size, after.Size)
	}
	if n := count(t, db, "SELECT count(*) FROM consent_events"); n != 1 {
		t.Fatalf("%d consent events stored, want 1", n)
	}
	if n := count(t, db, "SELECT count(*) FROM audit_entries"); n != 1 {
		t.Fatalf("%d audit entries stored, want 1", n)
	}
}

func testConsentInvalid(t *testing.T, h Harness) {
	s := h.New(t)
	ok := event(t, subject("x"), "p", true, base)
	noRef, noPurpose, noID := ok, ok, ok
	noRef.SubjectRef = lethe.SubjectRef{}
	noPurpose.Purpose = ""
	noID.ID = uuid.Nil
	for _, c := range []struct {
		name string
		e    lethe.ConsentEvent
	}{{"zero subject", noRef}, {"no purpose", noPurpose}, {"no id", noID}} {
		t.Run(c.name, func(t *testing.T) {
			_, err := s.ConsentAppend(context.Background(), []lethe.ConsentEvent{ok, c.e}, nil, nil)
			wantCode(t, err, lethe.EINVALID)
		})
	}
	if hist, err := s.ConsentHistory(context.Background(), ok.SubjectRef, ""); err != nil || len(hist) != 0 {
		t.Fatalf("history after invalid appends: %d events, %v; want none", len(hist), err)
	}
}

func testConsentHistory(t *testing.T, h Harness) {
	s := h.New(t)
	ctx := context.Background()
	ref := subject("history")
	e3 := event(t, ref, "marketing_email", false, base.Add(3*time.Minute))
	e1 := event(t, ref, "marketing_email", true, base.Add(1*time.Minute))
	e2 := event(t, ref, "analytics", true, base.Add(2*time.Minute))
	appendConsent(t, s, e3)
	appendConsent(t, s, e1, e2)
	appendConsent(t, s, event(t, subject("other"), "marketing_email", true, base))

	ids := func(evs []lethe.ConsentEvent) []uuid.UUID {
		out := make([]uuid.UUID, len(evs))
		for i, e := range evs {
			out[i] = e.ID
		}
		return out
	}
	for _, c := range []struct {
		name    string
		purpose string
		want    []uuid.UUID
	}{
		{"every purpose oldest first", "", []uuid.UUID{e1.ID, e2.ID, e3.ID}},
		{"one purpose", "marketing_email", []uuid.UUID{e1.ID, e3.ID}},
		{"purpose without events", "ads", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := s.ConsentHistory(ctx, ref, c.purpose)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(c.want, ids(got), cmpopts.EquateEmpty()); diff != "" {
				t.Fatalf("history ids (-want +got):\n%s", diff)
			}
		})
	}
	got, err := s.ConsentHistory(ctx, ref, "")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]lethe.ConsentEvent{e1, e2, e3}, got); diff != "" {
		t.Fatalf("history events (-want +got):\n%s", diff)
	}
}

func testConsentEventGet(t *testing.T, h Harness) {
	s := h.New(t)
	ctx := context.Background()
	e := event(t, subject("get"), "marketing_email", true, base.Add(123456*time.Microsecond))
	e.Jurisdiction = lethe.CCPA
	noEvidence := event(t, subject("get"), "analytics", false, base)
	noEvidence.Evidence = nil
	appendConsent(t, s, e, noEvidence)

	for _, want := range []lethe.ConsentEvent{e, noEvidence} {
		got, err := s.ConsentEventGet(ctx, want.ID)
		if err != nil {
			t.Fatalf("ConsentEventGet: %v", err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("event round trip (-want +got):\n%s", diff)
		}
	}
	missing, _ := uuid.NewV7()
	_, err := s.ConsentEventGet(ctx, missing)
	wantCode(t, err, lethe.ENOTFOUND)
}

// ---- audit -----------------------------------------------------------------

func testAuditAppend(t *testing.T, h Harness) {
	s := h.New(t)
	ctx := context.Background()
	if got := head(t, s); got != (lethe.AuditHead{}) {
		t.Fatalf("head of an empty log = %+v, want zero", got)
	}
	if entries, err := s.AuditAppend(ctx, nil); err != nil || len(entries) != 0 {
		t.Fatalf("AuditAppend(nil) = %v, %v; want nothing", entries, err)
	}
	recs := []lethe.AuditRecord{
		{Actor: "cli", Action: "config.loaded", Object: "sha256:abc", Details: map[string]string{"purposes": "3"}},
		{Actor: "api:ops", Action: "subject.exported", SubjectRef: subject("a"), PayloadHash: []byte{1, 2, 3}},
		{Actor: "system", Action: "retention.ran"},
	}
	first, err := s.AuditAppend(ctx, recs)
	if err != nil {
		t.Fatalf("AuditAppend: %v", err)
	}
	second, err := s.AuditAppend(ctx, recs[:1])
	if err != nil {
		t.Fatalf("AuditAppend: %v", err)
	}
	if len(first) != 3 || len(second) != 1 || second[0].Seq != 3 || second[0].PrevHash != first[2].Hash {
		t.Fatalf("second append does not continue the first: %+v", second)
	}
	for i, e := range first {
		if diff := cmp.Diff(recs[i], e.AuditRecord); diff != "" {
			t.Fatalf("entry %d record (-want +got):\n%s", i, diff)
		}
	}
	if got := head(t, s); got.Size != 4 || got.LastHash != second[0].Hash {
		t.Fatalf("head = size %d, want 4 with the last entry's hash", got.Size)
	}
	stored := allEntries(t, s)
	if diff := cmp.Diff(append(first, second...), stored); diff != "" {
		t.Fatalf("stored entries differ from returned ones (-returned +stored):\n%s", diff)
	}
	checkChain(t, stored)
}

func appendN(t *testing.T, s lethe.Store, n, batch int) {
	t.Helper()
	for done := 0; done < n; {
		k := min(batch, n-done)
		recs := make([]lethe.AuditRecord, k)
		for i := range recs {
			recs[i] = lethe.AuditRecord{Actor: "system", Action: "test.appended", Object: fmt.Sprint(done + i)}
		}
		if _, err := s.AuditAppend(context.Background(), recs); err != nil {
			t.Fatalf("AuditAppend: %v", err)
		}
		done += k
	}
}

func testAuditEntriesRanges(t *testing.T, h Harness) {
	s := h.New(t)
	ctx := context.Background()
	const total = 1100 // more than one page of any sensible page size
	appendN(t, s, total, 300)

	for _, c := range []struct {
		name             string
		from, to         uint64
		wantFrom, wantTo uint64
	}{
		{"everything", 0, total, 0, total},
		{"inner range", 5, 10, 5, 10},
		{"range past the end", 1000, 5000, 1000, total},
		{"open end", 1090, ^uint64(0), 1090, total},
		{"empty range", 7, 7, 0, 0},
		{"inverted range", 10, 5, 0, 0},
		{"beyond the log", 2000, 3000, 0, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			var seqs []uint64
			err := s.AuditEntries(ctx, c.from, c.to, func(e lethe.AuditEntry) error {
				if e.Object != fmt.Sprint(e.Seq) {
					return fmt.Errorf("entry %d holds object %q", e.Seq, e.Object)
				}
				seqs = append(seqs, e.Seq)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			var want []uint64
			for i := c.wantFrom; i < c.wantTo; i++ {
				want = append(want, i)
			}
			if diff := cmp.Diff(want, seqs); diff != "" {
				t.Fatalf("seqs (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("callback error stops the walk", func(t *testing.T) {
		stop := errors.New("stop")
		n := 0
		err := s.AuditEntries(ctx, 0, total, func(lethe.AuditEntry) error {
			n++
			if n == 600 {
				return stop
			}
			return nil
		})
		if !errors.Is(err, stop) || n != 600 {
			t.Fatalf("err %v after %d calls, want the callback's error after 600", err, n)
		}
	})
	t.Run("callback may use the store", func(t *testing.T) {
		err := s.AuditEntries(ctx, 0, total, func(e lethe.AuditEntry) error {
			if e.Seq%100 != 0 {
				return nil
			}
			_, err := s.AuditHead(ctx)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

func testAuditTreeHashes(t *testing.T, h Harness) {
	s := h.New(t)
	ctx := context.Background()
	// Odd batch sizes cross subtree boundaries inside and between appends.
	for _, k := range []int{1, 2, 5, 1, 8, 3, 17} {
		appendN(t, s, k, k)
	}
	entries := allEntries(t, s)
	if len(entries) != 37 {
		t.Fatalf("%d entries, want 37", len(entries))
	}
	checkChain(t, entries)
	sizes := make([]int, len(entries))
	for i := range sizes {
		sizes[i] = i + 1
	}
	checkTree(t, s, entries, sizes...)

	// Leaf hashes are stored at their tlog index.
	idx := make([]int64, len(entries))
	for i := range entries {
		idx[i] = tlog.StoredHashIndex(0, int64(i))
	}
	got, err := s.AuditTreeHashes(ctx, idx)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range entries {
		if got[i] != e.Hash {
			t.Fatalf("stored leaf hash %d differs from the entry's hash", i)
		}
	}
	// Order of the answer follows the order asked.
	rev := slices.Clone(idx[:5])
	slices.Reverse(rev)
	back, err := s.AuditTreeHashes(ctx, rev)
	if err != nil {
		t.Fatal(err)
	}
	if back[0] != entries[4].Hash || back[4] != entries[0].Hash {
		t.Fatal("AuditTreeHashes does not answer in the order asked")
	}
	_, err = s.AuditTreeHashes(ctx, []int64{idx[0], tlog.StoredHashIndex(0, 1000)})
	wantCode(t, err, lethe.ENOTFOUND)
}

func testAuditCheckpoints(t *testing.T, h Harness) {
	s := h.New(t)
	ctx := context.Background()
	cp := func(size uint64, root byte, at time.Time) lethe.AuditCheckpoint {
		return lethe.AuditCheckpoint{Size: size, Root: [32]byte{root}, CreatedAt: at, Note: []byte(fmt.Sprintf("lethe\n%d\nroot%d\n", size, root))}
	}
	three := cp(3, 1, base.Add(time.Minute))
	one := cp(1, 2, base)
	if err := s.AuditCheckpointAdd(ctx, three); err != nil {
		t.Fatalf("AuditCheckpointAdd: %v", err)
	}
	if err := s.AuditCheckpointAdd(ctx, one); err != nil {
		t.Fatalf("AuditCheckpointAdd: %v", err)
	}
	again := three
	again.Note = []byte("re-signed")
	if err := s.AuditCheckpointAdd(ctx, again); err != nil {
		t.Fatalf("adding the same checkpoint again: %v, want nil", err)
	}
	wantCode(t, s.AuditCheckpointAdd(ctx, cp(3, 9, base)), lethe.ECONFLICT)

	got, err := s.AuditCheckpointGet(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(three, got); diff != "" {
		t.Fatalf("checkpoint (-want +got):\n%s", diff)
	}
	_, err = s.AuditCheckpointGet(ctx, 2)
	wantCode(t, err, lethe.ENOTFOUND)
	list, err := s.AuditCheckpointList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]lethe.AuditCheckpoint{one, three}, list); diff != "" {
		t.Fatalf("checkpoint list (-want +got):\n%s", diff)
	}
}

// ---- subject keys ----------------------------------------------------------

func testSubjectKeyCreate(t *testing.T, h Harness) {
	s := h.New(t)
	ctx := context.Background()
	ref := subject("keys")
	_, err := s.SubjectKeyActive(ctx, ref)
	wantCode(t, err, lethe.ENOTFOUND)
	_, err = s.SubjectKeyGet(ctx, ref, 1)
	wantCode(t, err, lethe.ENOTFOUND)
	_, err = s.SubjectKeyCreate(ctx, lethe.SubjectKey{SubjectRef: ref})
	wantCode(t, err, lethe.EINVALID)

	k, err := s.SubjectKeyCreate(ctx, lethe.SubjectKey{SubjectRef: ref, Wrapped: []byte("wrapped-1"), CreatedAt: base})
	if err != nil {
		t.Fatalf("SubjectKeyCreate: %v", err)
	}
	want := lethe.SubjectKey{SubjectRef: ref, Generation: 1, Wrapped: []byte("wrapped-1"), CreatedAt: base}
	if diff := cmp.Diff(want, k); diff != "" {
		t.Fatalf("created key (-want +got):\n%s", diff)
	}
	// A second create returns the active key, not the new material.
	k2, err := s.SubjectKeyCreate(ctx, lethe.SubjectKey{SubjectRef: ref, Wrapped: []byte("wrapped-other")})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, k2); diff != "" {
		t.Fatalf("second create (-want +got):\n%s", diff)
	}
	for name, get := range map[string]func() (lethe.SubjectKey, error){
		"active": func() (lethe.SubjectKey, error) { return s.SubjectKeyActive(ctx, ref) },
		"get":    func() (lethe.SubjectKey, error) { return s.SubjectKeyGet(ctx, ref, 1) },
	} {
		got, err := get()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("%s (-want +got):\n%s", name, diff)
		}
	}
}

func testSubjectKeyConcurrentCreate(t *testing.T, h Harness) {
	s := h.New(t)
	other := h.Reopen(t, s) // a second process racing the first
	ctx := context.Background()
	ref := subject("race")
	const n = 12
	got := make([]lethe.SubjectKey, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := s
			if i%2 == 1 {
				st = other
			}
			got[i], errs[i] = st.SubjectKeyCreate(ctx, lethe.SubjectKey{SubjectRef: ref, Wrapped: []byte(fmt.Sprintf("material-%d", i))})
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("creator %d: %v", i, errs[i])
		}
		if got[i].Generation != 1 || string(got[i].Wrapped) != string(got[0].Wrapped) {
			t.Fatalf("creator %d got generation %d %q, creator 0 got %d %q: concurrent creators disagree",
				i, got[i].Generation, got[i].Wrapped, got[0].Generation, got[0].Wrapped)
		}
	}
	if n := count(t, h.DB(t, s), "SELECT count(*) FROM subject_keys"); n != 1 {
		t.Fatalf("%d keys stored for one subject, want 1", n)
	}
}

func testSubjectKeyShred(t *testing.T, h Harness) {
	s := h.New(t)
	ctx := context.Background()
	db := h.DB(t, s)
	ref, late := subject("erased"), subject("late")
	if _, err := s.SubjectKeyCreate(ctx, lethe.SubjectKey{SubjectRef: ref, Wrapped: []byte("secret-material-1"), CreatedAt: base}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SubjectKeyCreate(ctx, lethe.SubjectKey{SubjectRef: late, Wrapped: []byte("late-material"), CreatedAt: base.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	rec := lethe.AuditRecord{Actor: "system", Action: "subject.key_shredded", SubjectRef: ref}
	before := head(t, s).Size

	n, err := s.SubjectKeyShred(ctx, ref, base.Add(time.Minute), rec)
	if err != nil || n != 1 {
		t.Fatalf("SubjectKeyShred = %d, %v; want 1, nil", n, err)
	}
	_, err = s.SubjectKeyActive(ctx, ref)
	wantCode(t, err, lethe.ENOTFOUND)
	k, err := s.SubjectKeyGet(ctx, ref, 1)
	if err != nil {
		t.Fatalf("SubjectKeyGet of a shredded key: %v", err)
	}
	if k.Wrapped != nil || k.ShreddedAt == nil || k.Generation != 1 {
		t.Fatalf("shredded key = %+v, want Wrapped nil and ShreddedAt set", k)
	}
	if n := count(t, db, "SELECT count(*) FROM subject_keys WHERE wrapped IS NOT NULL"); n != 1 {
		t.Fatalf("%d keys with material left in the table, want 1 (only the unshredded subject's)", n)
	}

	n, err = s.SubjectKeyShred(ctx, ref, base.Add(time.Minute), rec)
	if err != nil || n != 0 {
		t.Fatalf("second SubjectKeyShred = %d, %v; want 0, nil", n, err)
	}
	// Keys created after the cut-off survive.
	n, err = s.SubjectKeyShred(ctx, late, base, lethe.AuditRecord{Actor: "system", Action: "subject.key_shredded", SubjectRef: late})
	if err != nil || n != 0 {
		t.Fatalf("shred with a cut-off before the key = %d, %v; want 0, nil", n, err)
	}
	if _, err := s.SubjectKeyActive(ctx, late); err != nil {
		t.Fatalf("key created after the cut-off is gone: %v", err)
	}
	if got := head(t, s).Size; got != before+3 {
		t.Fatalf("audit grew by %d over three shreds, want 3", got-before)
	}

	// New data for the same subject gets a new generation.
	k2, err := s.SubjectKeyCreate(ctx, lethe.SubjectKey{SubjectRef: ref, Wrapped: []byte("secret-material-2")})
	if err != nil {
		t.Fatal(err)
	}
	if k2.Generation != 2 || string(k2.Wrapped) != "secret-material-2" {
		t.Fatalf("key after shred = generation %d %q, want generation 2 with the new material", k2.Generation, k2.Wrapped)
	}
	if active, err := s.SubjectKeyActive(ctx, ref); err != nil || active.Generation != 2 {
		t.Fatalf("active key after re-create = %+v, %v; want generation 2", active, err)
	}
	if old, err := s.SubjectKeyGet(ctx, ref, 1); err != nil || old.Wrapped != nil {
		t.Fatalf("generation 1 after re-create = %+v, %v; want still shredded", old, err)
	}

	shreds, err := s.SubjectShredList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(shreds) != 1 || shreds[0].SubjectRef != ref || shreds[0].ShreddedAt.IsZero() {
		t.Fatalf("shred list = %+v, want one record for the shredded subject", shreds)
	}
	if _, err := s.SubjectKeyShred(ctx, ref, time.Now().Add(time.Hour), rec); err != nil {
		t.Fatal(err)
	}
	shreds, err = s.SubjectShredList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(shreds) != 2 || shreds[1].ShreddedAt.Before(shreds[0].ShreddedAt) {
		t.Fatalf("shred list = %+v, want two records, oldest first", shreds)
	}
}

func testSubjectKeyLatest(t *testing.T, h Harness) {
	s := h.New(t)
	ctx := context.Background()
	ref := subject("latest")
	_, err := s.SubjectKeyLatest(ctx, ref)
	wantCode(t, err, lethe.ENOTFOUND)
	if _, err := s.SubjectKeyCreate(ctx, lethe.SubjectKey{SubjectRef: ref, Wrapped: []byte("material-1"), CreatedAt: base}); err != nil {
		t.Fatal(err)
	}
	k, err := s.SubjectKeyLatest(ctx, ref)
	if err != nil || k.Generation != 1 || string(k.Wrapped) != "material-1" || k.ShreddedAt != nil {
		t.Fatalf("latest key = %+v, %v; want active generation 1", k, err)
	}
	if _, err := s.SubjectKeyShred(ctx, ref, base.Add(time.Minute), lethe.AuditRecord{Actor: "system", Action: "subject.key_shredded", SubjectRef: ref}); err != nil {
		t.Fatal(err)
	}
	k, err = s.SubjectKeyLatest(ctx, ref)
	if err != nil || k.Generation != 1 || k.Wrapped != nil || k.ShreddedAt == nil {
		t.Fatalf("latest key after shred = %+v, %v; want generation 1, shredded", k, err)
	}
	if _, err := s.SubjectKeyCreate(ctx, lethe.SubjectKey{SubjectRef: ref, Wrapped: []byte("material-2")}); err != nil {
		t.Fatal(err)
	}
	k, err = s.SubjectKeyLatest(ctx, ref)
	if err != nil || k.Generation != 2 || string(k.Wrapped) != "material-2" {
		t.Fatalf("latest key after re-create = %+v, %v; want active generation 2", k, err)
	}
	if _, err := s.SubjectKeyLatest(ctx, subject("someone else")); lethe.ErrorCode(err) != lethe.ENOTFOUND {
		t.Fatalf("latest key of a subject without keys: %v, want ENOTFOUND", err)
	}
}

// testConsentAppendNewKey: a new subject's key is stored with its first
// events, in the same transaction, and an append whose key cannot be
// stored writes nothing at all.
func testConsentAppendNewKey(t *testing.T, h Harness) {
	s := h.New(t)
	ctx := context.Background()
	db := h.DB(t, s)
	ref := subject("newcomer")
	newKey := func(gen uint32, material string) *lethe.SubjectKey {
		return &lethe.SubjectKey{SubjectRef: ref, Generation: gen, Wrapped: []byte(material), CreatedAt: base}
	}
	e1 := event(t, ref, "marketing", true, base)
	entries, err := s.ConsentAppend(ctx, []lethe.ConsentEvent{e1}, records(e1), newKey(1, "material-1"))
	if err != nil {
		t.Fatalf("ConsentAppend with a new key: %v", err)
	}
	if len(entries) != 1 || entries[0].Object != e1.ID.String() {
		t.Fatalf("entries = %+v, want the event's audit entry", entries)
	}
	want := lethe.SubjectKey{SubjectRef: ref, Generation: 1, Wrapped: []byte("material-1"), CreatedAt: base}
	k, err := s.SubjectKeyActive(ctx, ref)
	if err != nil {
		t.Fatalf("active key after the append: %v", err)
	}
	if diff := cmp.Diff(want, k); diff != "" {
		t.Fatalf("stored key (-want +got):\n%s", diff)
	}

	// Refused, with nothing written: the subject has an active key, the
	// generation exists, or the generation is not the next one.
	nothingWritten := func(name string, evs []lethe.ConsentEvent, key *lethe.SubjectKey, code lethe.Code) {
		t.Helper()
		events, states, keys := count(t, db, "SELECT count(*) FROM consent_events"), count(t, db, "SELECT count(*) FROM consent_state"), count(t, db, "SELECT count(*) FROM subject_keys")
		size := head(t, s).Size
		_, err := s.ConsentAppend(ctx, evs, records(evs...), key)
		if lethe.ErrorCode(err) != code {
			t.Fatalf("%s: ConsentAppend = %v, want %s", name, err, code)
		}
		if n := count(t, db, "SELECT count(*) FROM consent_events"); n != events {
			t.Fatalf("%s: %d events stored, want %d", name, n, events)
		}
		if n := count(t, db, "SELECT count(*) FROM consent_state"); n != states {
			t.Fatalf("%s: %d states stored, want %d", name, n, states)
		}
		if n := count(t, db, "SELECT count(*) FROM subject_keys"); n != keys {
			t.Fatalf("%s: %d keys stored, want %d", name, n, keys)
		}
		if got := head(t, s).Size; got != size {
			t.Fatalf("%s: audit grew from %d to %d", name, size, got)
		}
	}
	e2 := event(t, ref, "analytics", true, base.Add(time.Second))
	nothingWritten("active key exists", []lethe.ConsentEvent{e2}, newKey(2, "material-2"), lethe.ECONFLICT)
	nothingWritten("generation exists", []lethe.ConsentEvent{e2}, newKey(1, "material-x"), lethe.ECONFLICT)
	nothingWritten("other subject's events", []lethe.ConsentEvent{event(t, subject("other"), "p", true, base)}, newKey(2, "m"), lethe.EINVALID)
	nothingWritten("no material", []lethe.ConsentEvent{e2}, newKey(2, ""), lethe.EINVALID)
	nothingWritten("no generation", []lethe.ConsentEvent{e2}, newKey(0, "m"), lethe.EINVALID)

	if _, err := s.SubjectKeyShred(ctx, ref, base.Add(time.Minute), lethe.AuditRecord{Actor: "system", Action: "subject.key_shredded", SubjectRef: ref}); err != nil {
		t.Fatal(err)
	}
	nothingWritten("skips a generation", []lethe.ConsentEvent{e2}, newKey(3, "material-3"), lethe.ECONFLICT)
	nothingWritten("shredded generation", []lethe.ConsentEvent{e2}, newKey(1, "material-x"), lethe.ECONFLICT)
	if _, err := s.ConsentAppend(ctx, []lethe.ConsentEvent{e2}, records(e2), newKey(2, "material-2")); err != nil {
		t.Fatalf("ConsentAppend with the next generation after a shred: %v", err)
	}
	k, err = s.SubjectKeyActive(ctx, ref)
	if err != nil || k.Generation != 2 || string(k.Wrapped) != "material-2" {
		t.Fatalf("active key = %+v, %v; want generation 2", k, err)
	}
	hist, err := s.ConsentHistory(ctx, ref, "")
	if err != nil || len(hist) != 2 {
		t.Fatalf("history = %d events, %v; want 2", len(hist), err)
	}
	entries = allEntries(t, s)
	checkChain(t, entries)
	checkTree(t, s, entries, len(entries))
}

// testConsentAppendNewKeyRace: concurrent first appends for one subject,
// on two stores over the same database and among appends of other
// subjects, each with a key of its own. One key wins; the appends that
// lost write nothing, and the others are not disturbed.
func testConsentAppendNewKeyRace(t *testing.T, h Harness) {
	s := h.New(t)
	other := h.Reopen(t, s)
	ctx := context.Background()
	ref := subject("contested")
	const n = 12
	errs := make([]error, n)
	fillerErrs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(2)
		st := s
		if i%2 == 1 {
			st = other
		}
		go func() {
			defer wg.Done()
			e := event(t, ref, "p", true, base)
			key := &lethe.SubjectKey{SubjectRef: ref, Generation: 1, Wrapped: []byte(fmt.Sprint("material-", i))}
			_, errs[i] = st.ConsentAppend(ctx, []lethe.ConsentEvent{e}, records(e), key)
		}()
		go func() {
			defer wg.Done()
			e := event(t, subject(fmt.Sprint("bystander-", i)), "p", true, base)
			_, fillerErrs[i] = st.ConsentAppend(ctx, []lethe.ConsentEvent{e}, records(e), nil)
		}()
	}
	wg.Wait()
	won := -1
	for i, err := range errs {
		switch {
		case err == nil && won >= 0:
			t.Fatalf("appends %d and %d both stored a first key", won, i)
		case err == nil:
			won = i
		case lethe.ErrorCode(err) != lethe.ECONFLICT:
			t.Fatalf("append %d: %v, want nil or ECONFLICT", i, err)
		}
	}
	if won < 0 {
		t.Fatal("no append stored its key")
	}
	for i, err := range fillerErrs {
		if err != nil {
			t.Fatalf("bystander append %d: %v", i, err)
		}
	}
	k, err := s.SubjectKeyActive(ctx, ref)
	if err != nil || string(k.Wrapped) != fmt.Sprint("material-", won) {
		t.Fatalf("active key = %q, %v; want the winner's material-%d", k.Wrapped, err, won)
	}
	db := h.DB(t, s)
	if c := count(t, db, "SELECT count(*) FROM subject_keys"); c != 1 {
		t.Fatalf("%d keys stored, want 1", c)
	}
	if c := count(t, db, "SELECT count(*) FROM consent_events"); c != n+1 {
		t.Fatalf("%d events stored, want %d (the winner's and the bystanders')", c, n+1)
	}
	entries := allEntries(t, s)
	if len(entries) != n+1 {
		t.Fatalf("%d audit entries, want %d", len(entries), n+1)
	}
	checkChain(t, entries)
	checkTree(t, s, entries, len(entries))
}

// ---- API keys --------------------------------------------------------------

func testAPIKeys(t *testing.T, h Harness) {
	s := h.New(t)
	ctx := context.Background()
	rec := func(action, id string) lethe.AuditRecord {
		return lethe.AuditRecord{Actor: "cli", Action: action, Object: id}
	}
	k1 := lethe.APIKey{ID: "k_1", Name: "shop backend", Scopes: []lethe.Scope{lethe.ScopeConsentRead, lethe.ScopeConsentWrite},
		Hash: []byte("sha256-of-secret-1"), CreatedAt: base}
	k0 := lethe.APIKey{ID: "k_0", Name: "older", Scopes: []lethe.Scope{lethe.ScopeAdmin}, Hash: []byte("h0"), CreatedAt: base.Add(-time.Hour)}
	for _, k := range []lethe.APIKey{k1, k0} {
		if err := s.APIKeyCreate(ctx, k, rec("apikey.created", k.ID)); err != nil {
			t.Fatalf("APIKeyCreate: %v", err)
		}
	}
	sizeAfterCreate := head(t, s).Size
	if sizeAfterCreate != 2 {
		t.Fatalf("audit size %d after two key creations, want 2", sizeAfterCreate)
	}
	dup := k1
	dup.Name = "impostor"
	wantCode(t, s.APIKeyCreate(ctx, dup, rec("apikey.created", dup.ID)), lethe.ECONFLICT)
	if got := head(t, s).Size; got != sizeAfterCreate {
		t.Fatal("a refused key creation was audited")
	}

	got, err := s.APIKeyGet(ctx, "k_1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(k1, got); diff != "" {
		t.Fatalf("APIKeyGet (-want +got):\n%s", diff)
	}
	_, err = s.APIKeyGet(ctx, "k_missing")
	wantCode(t, err, lethe.ENOTFOUND)

	list, err := s.APIKeyList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]lethe.APIKey{k0, k1}, list); diff != "" {
		t.Fatalf("APIKeyList (-want +got):\n%s", diff)
	}

	at := base.Add(24 * time.Hour)
	if err := s.APIKeyRevoke(ctx, "k_1", at, rec("apikey.revoked", "k_1")); err != nil {
		t.Fatalf("APIKeyRevoke: %v", err)
	}
	if err := s.APIKeyRevoke(ctx, "k_1", at.Add(time.Hour), rec("apikey.revoked", "k_1")); err != nil {
		t.Fatalf("second APIKeyRevoke: %v, want nil", err)
	}
	got, err = s.APIKeyGet(ctx, "k_1")
	if err != nil {
		t.Fatal(err)
	}
	if got.RevokedAt == nil || !got.RevokedAt.Equal(at) {
		t.Fatalf("RevokedAt = %v, want the first revocation time %v", got.RevokedAt, at)
	}
	wantCode(t, s.APIKeyRevoke(ctx, "k_missing", at, rec("apikey.revoked", "k_missing")), lethe.ENOTFOUND)
	if got := head(t, s).Size; got != sizeAfterCreate+1 {
		t.Fatalf("audit size %d, want %d: one revocation audited", got, sizeAfterCreate+1)
	}
	entries := allEntries(t, s)
	if last := entries[len(entries)-1]; last.Action != "apikey.revoked" || last.Object != "k_1" {
		t.Fatalf("last audit entry = %s %s, want apikey.revoked k_1", last.Action, last.Object)
	}
}

// ---- append-only -----------------------------------------------------------

func testAppendOnly(t *testing.T, h Harness) {
	s := h.New(t)
	ctx := context.Background()
	db := h.DB(t, s)
	appendConsent(t, s, event(t, subject("ao"), "marketing_email", true, base))
	appendN(t, s, 2, 2)
	if err := s.AuditCheckpointAdd(ctx, lethe.AuditCheckpoint{Size: 3, Root: [32]byte{7}, CreatedAt: base, Note: []byte("note")}); err != nil {
		t.Fatal(err)
	}
	tables := []struct {
		table, set string
	}{
		{"consent_events", "purpose = 'tampered'"},
		{"audit_entries", "actor = 'tampered'"},
		{"audit_checkpoints", "created_at = created_at"},
	}
	for table, set := range h.AppendOnly {
		tables = append(tables, struct{ table, set string }{table, set})
	}
	for _, c := range tables {
		t.Run(c.table, func(t *testing.T) {
			rows := count(t, db, "SELECT count(*) FROM "+c.table)
			if rows == 0 {
				t.Fatalf("%s is empty: the test would prove nothing", c.table)
			}
			if _, err := db.ExecContext(ctx, "UPDATE "+c.table+" SET "+c.set); err == nil {
				t.Fatalf("UPDATE %s succeeded, want it refused", c.table)
			}
			if _, err := db.ExecContext(ctx, "DELETE FROM "+c.table); err == nil {
				t.Fatalf("DELETE FROM %s succeeded, want it refused", c.table)
			}
			if got := count(t, db, "SELECT count(*) FROM "+c.table); got != rows {
				t.Fatalf("%s has %d rows after refused changes, want %d", c.table, got, rows)
			}
		})
	}
	if n := count(t, db, "SELECT count(*) FROM consent_events WHERE purpose = 'tampered'"); n != 0 {
		t.Fatal("a consent event was rewritten")
	}
	checkChain(t, allEntries(t, s))
}

// ---- concurrency -----------------------------------------------------------

func testConcurrentWriters(t *testing.T, h Harness) {
	s := h.New(t)
	ctx := context.Background()
	writers, perWriter := 16, 500
	if testing.Short() {
		perWriter = 50
	}
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	ids := make([][]uuid.UUID, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ref := subject(fmt.Sprint("writer-", w))
			for i := range perWriter {
				id, err := uuid.NewV7()
				if err != nil {
					errs <- err
					return
				}
				e := lethe.ConsentEvent{ID: id, SubjectRef: ref, Purpose: fmt.Sprint("p", i%3), Granted: i%2 == 0,
					PolicyVersion: "v1", Mechanism: "bench", Jurisdiction: lethe.GDPR, Source: "test",
					RecordedAt: base.Add(time.Duration(i) * time.Microsecond)}
				if _, err := s.ConsentAppend(ctx, []lethe.ConsentEvent{e}, records(e), nil); err != nil {
					errs <- fmt.Errorf("writer %d event %d: %w", w, i, err)
					return
				}
				ids[w] = append(ids[w], id)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	total := writers * perWriter
	if got := head(t, s).Size; got != uint64(total) {
		t.Fatalf("audit head size %d, want %d", got, total)
	}
	entries := allEntries(t, s)
	if len(entries) != total {
		t.Fatalf("%d audit entries, want %d", len(entries), total)
	}
	checkChain(t, entries)
	checkTree(t, s, entries, 1, total/3, total-1, total)
	audited := make(map[string]bool, total)
	for _, e := range entries {
		audited[e.Object] = true
	}
	for w := range writers {
		ref := subject(fmt.Sprint("writer-", w))
		hist, err := s.ConsentHistory(ctx, ref, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(hist) != perWriter {
			t.Fatalf("writer %d: %d events stored, want %d", w, len(hist), perWriter)
		}
		for _, id := range ids[w] {
			if !audited[id.String()] {
				t.Fatalf("writer %d: event %s has no audit entry", w, id)
			}
		}
		states, err := s.ConsentStateList(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		// The last event of each purpose wins: events i = perWriter-3..-1.
		for _, st := range states {
			var i int
			fmt.Sscanf(st.Purpose, "p%d", &i)
			last := perWriter - 1 - ((perWriter - 1 - i) % 3)
			if st.EventID != ids[w][last] {
				t.Fatalf("writer %d purpose %s: state holds another event than the latest", w, st.Purpose)
			}
		}
	}
}

// testConcurrentConflicts mixes failing appends (a duplicate event id)
// into concurrent successful ones: each failure must take back exactly its
// own writes, whatever the store does to run writes together.
func testConcurrentConflicts(t *testing.T, h Harness) {
	s := h.New(t)
	ctx := context.Background()
	first := event(t, subject("dup"), "p", true, base)
	appendConsent(t, s, first)
	const writers, perWriter = 8, 40
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		ok, wrong int
		failures  []error
	)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				e := event(t, subject(fmt.Sprint("c-", w)), fmt.Sprint("p", i), true, base)
				fail := i%4 == 0
				evs := []lethe.ConsentEvent{e}
				if fail {
					dup := first
					dup.Purpose = fmt.Sprint("never-", w, "-", i)
					evs = append(evs, dup)
				}
				_, err := s.ConsentAppend(ctx, evs, records(evs...), nil)
				mu.Lock()
				switch {
				case fail && lethe.ErrorCode(err) == lethe.ECONFLICT:
				case !fail && err == nil:
					ok++
				default:
					wrong++
					failures = append(failures, err)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if wrong > 0 {
		t.Fatalf("%d appends had the wrong outcome, first: %v", wrong, failures[0])
	}
	db := h.DB(t, s)
	if n := count(t, db, "SELECT count(*) FROM consent_events"); n != ok+1 {
		t.Fatalf("%d consent events stored, want %d", n, ok+1)
	}
	if n := count(t, db, "SELECT count(*) FROM consent_state"); n != ok+1 {
		t.Fatalf("%d consent states stored, want %d", n, ok+1)
	}
	if got := head(t, s).Size; got != uint64(ok+1) {
		t.Fatalf("audit head size %d, want %d", got, ok+1)
	}
	entries := allEntries(t, s)
	checkChain(t, entries)
	checkTree(t, s, entries, len(entries))
}

// ---- change feed -----------------------------------------------------------

func testChangeFeed(t *testing.T, h Harness) {
	s := h.New(t)
	feed, ok := s.(lethe.ChangeFeed)
	if !ok {
		t.Skip("store does not implement lethe.ChangeFeed")
	}
	// Open the second store before subscribing, so that nothing it does
	// while opening can be mistaken for the change under test.
	other := h.Reopen(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	changes, err := feed.SubjectChanges(ctx)
	if err != nil {
		cancel()
		t.Fatalf("SubjectChanges: %v", err)
	}
	// await waits for a change that covers ref (the ref itself, or "drop
	// everything"). The deadline only turns a hang into a failure.
	await := func(what string, ref lethe.SubjectRef) {
		t.Helper()
		deadline := time.After(20 * time.Second)
		for {
			select {
			case got, ok := <-changes:
				if !ok {
					t.Fatalf("%s: change feed closed", what)
				}
				if got == ref || got.IsZero() {
					return
				}
			case <-deadline:
				t.Fatalf("%s: no change delivered", what)
			}
		}
	}
	drain := func() {
		for {
			select {
			case <-changes:
			default:
				return
			}
		}
	}

	ref := subject("watched")
	appendConsent(t, other, event(t, ref, "marketing_email", true, base))
	await("consent append by another store", ref)

	if _, err := other.SubjectKeyCreate(ctx, lethe.SubjectKey{SubjectRef: ref, Wrapped: []byte("k")}); err != nil {
		t.Fatal(err)
	}
	drain()
	if _, err := other.SubjectKeyShred(ctx, ref, time.Now().Add(time.Hour), lethe.AuditRecord{Actor: "system", Action: "subject.key_shredded", SubjectRef: ref}); err != nil {
		t.Fatal(err)
	}
	await("key shred by another store", ref)

	if err := other.APIKeyCreate(ctx, lethe.APIKey{ID: "k_feed", Name: "feed", Scopes: []lethe.Scope{lethe.ScopeAdmin}, Hash: []byte("h")},
		lethe.AuditRecord{Actor: "cli", Action: "apikey.created", Object: "k_feed"}); err != nil {
		t.Fatal(err)
	}
	drain()
	if err := other.APIKeyRevoke(ctx, "k_feed", time.Now(), lethe.AuditRecord{Actor: "cli", Action: "apikey.revoked", Object: "k_feed"}); err != nil {
		t.Fatal(err)
	}
	// An API key is not a subject: revocation means "drop everything".
	await("api key revoke by another store", lethe.SubjectRef{})

	cancel()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case _, ok := <-changes:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatal("change feed not closed after its context ended")
		}
	}
}
