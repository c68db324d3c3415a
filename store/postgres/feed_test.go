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
