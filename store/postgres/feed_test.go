package postgres

import (
	"context"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/internal/testenv"
)

// TestSubjectChangesReconnect kills the listening connection: the feed
// must say "drop everything" once it listens again, and then deliver
// changes as before.
func TestSubjectChangesReconnect(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := Open(ctx, Options{URL: testenv.PostgresSchema(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	changes, err := s.SubjectChanges(ctx)
	if err != nil {
		t.Fatal(err)
	}
	next := func(what string) lethe.SubjectRef {
		t.Helper()
		select {
		case ref, ok := <-changes:
			if !ok {
				t.Fatalf("%s: feed closed", what)
			}
			return ref
		case <-time.After(20 * time.Second): // turns a hang into a failure
			t.Fatalf("%s: nothing delivered", what)
		}
		return lethe.SubjectRef{}
	}

	var killed int
	if err := s.pool.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
 WHERE datname = current_database() AND query = $1`, "LISTEN "+`"`+s.channel+`"`).Scan(&killed); err != nil {
		t.Fatal(err)
	}
	if killed != 1 {
		t.Fatalf("terminated %d listening connections, want 1", killed)
	}
	if ref := next("after reconnect"); !ref.IsZero() {
		t.Fatalf("first delivery after reconnect = %s, want the zero ref (drop everything)", ref)
	}

	ref := lethe.SubjectRef(sha256.Sum256([]byte("after-reconnect")))
	id, _ := uuid.NewV7()
	e := lethe.ConsentEvent{ID: id, SubjectRef: ref, Purpose: "p", Granted: true, PolicyVersion: "v", Mechanism: "m",
		Jurisdiction: lethe.GDPR, Source: "test", RecordedAt: time.Now()}
	if _, err := s.ConsentAppend(ctx, []lethe.ConsentEvent{e}, []lethe.AuditRecord{{Actor: "test", Action: "consent.granted", SubjectRef: ref}}, nil); err != nil {
		t.Fatal(err)
	}
	if got := next("change after reconnect"); got != ref {
		t.Fatalf("delivered %s, want the changed subject", got)
	}
}

// TestSubjectKeyChanges: the key feed skips consent appends and delivers
// key shreds; the full feed delivers both.
func TestSubjectKeyChanges(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := Open(ctx, Options{URL: testenv.PostgresSchema(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	all, err := s.SubjectChanges(ctx)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := s.SubjectKeyChanges(ctx)
	if err != nil {
		t.Fatal(err)
	}
	consented, shredded := lethe.SubjectRef(sha256.Sum256([]byte("consented"))), lethe.SubjectRef(sha256.Sum256([]byte("shredded")))
	id, _ := uuid.NewV7()
	e := lethe.ConsentEvent{ID: id, SubjectRef: consented, Purpose: "p", Granted: true, PolicyVersion: "v", Mechanism: "m",
		Jurisdiction: lethe.GDPR, Source: "test", RecordedAt: time.Now()}
	if _, err := s.ConsentAppend(ctx, []lethe.ConsentEvent{e}, []lethe.AuditRecord{{Actor: "test", Action: "consent.granted", SubjectRef: consented}}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SubjectKeyCreate(ctx, lethe.SubjectKey{SubjectRef: shredded, Wrapped: []byte("k")}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SubjectKeyShred(ctx, shredded, time.Now().Add(time.Hour), lethe.AuditRecord{Actor: "test", Action: "subject.key_shredded", SubjectRef: shredded}); err != nil {
		t.Fatal(err)
	}
	next := func(ch <-chan lethe.SubjectRef, what string) lethe.SubjectRef {
		t.Helper()
		select {
		case ref := <-ch:
			return ref
		case <-time.After(20 * time.Second):
			t.Fatalf("%s: nothing delivered", what)
		}
		return lethe.SubjectRef{}
	}
	if got := next(all, "all changes"); got != consented {
		t.Fatalf("all changes: first delivered %s, want the consenting subject", got)
	}
	if got := next(all, "all changes"); got != shredded {
		t.Fatalf("all changes: second delivered %s, want the shredded subject", got)
	}
	// Notifications arrive in commit order: the shred comes after the
	// append, so the first key change proves the append was skipped.
	if got := next(keys, "key changes"); got != shredded {
		t.Fatalf("key changes: delivered %s, want the shredded subject (and not the consent append)", got)
	}
}
