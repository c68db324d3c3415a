package postgres_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/internal/testenv"
	"github.com/lethe-privacy/lethe/store/postgres"
	"github.com/lethe-privacy/lethe/store/storetest"
)

func open(t testing.TB, url string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), postgres.Options{URL: url})
	if err != nil {
		t.Fatalf("open postgres store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestStore(t *testing.T) {
	var urls sync.Map // *postgres.Store -> URL, for Reopen
	storetest.Run(t, storetest.Harness{
		AppendOnly: map[string]string{"audit_tree_hashes": "hash = hash"},
		New: func(t *testing.T) lethe.Store {
			url := testenv.PostgresSchema(t)
			s := open(t, url)
			urls.Store(s, url)
			return s
		},
		Reopen: func(t *testing.T, s lethe.Store) lethe.Store {
			url, ok := urls.Load(s)
			if !ok {
				t.Fatal("Reopen: store not opened by this harness")
			}
			return open(t, url.(string))
		},
		DB: func(t *testing.T, s lethe.Store) *sql.DB {
			db := stdlib.OpenDBFromPool(s.(*postgres.Store).Pool())
			t.Cleanup(func() { db.Close() })
			return db
		},
	})
}

// TestSchemaIsolation checks that the store keeps to the search_path's
// schema: its tables and goose's version table are there, not in public.
func TestSchemaIsolation(t *testing.T) {
	url := testenv.PostgresSchema(t)
	s := open(t, url)
	ctx := context.Background()
	var schema string
	if err := s.Pool().QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(schema, "lethe_test_") {
		t.Fatalf("current schema %q, want the test's schema", schema)
	}
	for _, table := range []string{"consent_events", "consent_state", "audit_entries", "audit_tree_hashes", "audit_head",
		"audit_checkpoints", "subject_keys", "subject_shreds", "api_keys", "goose_db_version"} {
		var n int
		if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = $1 AND tablename = $2`, schema, table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("table %s not found in schema %s", table, schema)
		}
	}
	// A second Open on the same schema finds nothing to migrate.
	open(t, url)
}

func TestOpenErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		url  string
		code lethe.Code
	}{
		{"no url", "", lethe.EINVALID},
		{"not a url", "postgres://user:secret@host:notaport/db", lethe.EINVALID},
		{"unreachable", "postgres://user:secret@127.0.0.1:1/db?connect_timeout=2", lethe.EUNAVAILABLE},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := postgres.Open(context.Background(), postgres.Options{URL: c.url})
			if got := lethe.ErrorCode(err); got != c.code {
				t.Fatalf("Open = %v (code %s), want %s", err, got, c.code)
			}
			if err != nil && strings.Contains(err.Error(), "secret") {
				t.Fatalf("error reveals the password: %v", err)
			}
		})
	}
}

// TestConsentAppendAcrossNodes: two nodes take turns appending. Each one
// sends its appends in one round trip with the audit head its last append
// left, which the other node's appends make stale: the database refuses
// the stale head (nothing is written) and the append goes through the
// ordinary way. Nothing is lost, and the log stays one chain.
func TestConsentAppendAcrossNodes(t *testing.T) {
	url := testenv.PostgresSchema(t)
	a, b := open(t, url), open(t, url)
	ctx := context.Background()
	const n = 40
	for i := range n {
		s := a
		if i%3 == 2 {
			s = b
		}
		ref := lethe.SubjectRef(sha256.Sum256([]byte{byte(i)}))
		id := uuid.Must(uuid.NewV7())
		e := lethe.ConsentEvent{ID: id, SubjectRef: ref, Purpose: "p", Granted: true, PolicyVersion: "v1", Mechanism: "test",
			Jurisdiction: lethe.GDPR, Source: "test", RecordedAt: time.Now().UTC().Truncate(time.Microsecond)}
		entries, err := s.ConsentAppend(ctx, []lethe.ConsentEvent{e}, []lethe.AuditRecord{{Actor: "test", Action: "consent.granted", SubjectRef: ref, Object: id.String()}}, nil)
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		if len(entries) != 1 || entries[0].Seq != uint64(i) {
			t.Fatalf("append %d got entries %+v, want seq %d", i, entries, i)
		}
	}
	var prev [32]byte
	if err := a.AuditEntries(ctx, 0, n, func(e lethe.AuditEntry) error {
		if e.PrevHash != prev {
			t.Fatalf("entry %d does not chain to entry %d", e.Seq, e.Seq-1)
		}
		prev = e.Hash
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if h, err := b.AuditHead(ctx); err != nil || h.Size != n || h.LastHash != prev {
		t.Fatalf("head = %+v, %v; want size %d ending in the last entry", h, err, n)
	}
	// The database itself refuses a head that is not the current one.
	_, err := a.Pool().Exec(ctx, `DO $$ BEGIN PERFORM lethe_lock_audit_head(3, '\x00'::bytea); END $$`)
	if err == nil || !strings.Contains(err.Error(), "40001") {
		t.Fatalf("locking a stale head: %v, want serialization_failure (40001)", err)
	}
}

func TestRawInsertBaseline(t *testing.T) {
	s := open(t, testenv.PostgresSchema(t))
	d, err := s.RawInsertBaseline(context.Background(), 10, 3)
	if err != nil {
		t.Fatal(err)
	}
	if d <= 0 {
		t.Fatalf("RawInsertBaseline took %v", d)
	}
	var n int
	if err := s.Pool().QueryRow(context.Background(), `SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename = 'lethe_bench_raw'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("scratch table left behind (%d, %v)", n, err)
	}
}

func BenchmarkConsentAppend(b *testing.B) {
	s := open(b, testenv.PostgresSchema(b))
	ctx := context.Background()
	ref := lethe.SubjectRef(sha256.Sum256([]byte("bench")))
	evidence := make([]byte, 160)
	for i := 0; b.Loop(); i++ {
		id, _ := uuid.NewV7()
		e := lethe.ConsentEvent{ID: id, SubjectRef: ref, Purpose: "marketing_email", Granted: i%2 == 0, PolicyVersion: "2026-03",
			Mechanism: "signup_form", Jurisdiction: lethe.GDPR, Source: "bench", RecordedAt: time.Now().UTC().Truncate(time.Microsecond), Evidence: evidence}
		sum := sha256.Sum256(evidence)
		rec := lethe.AuditRecord{Actor: "bench", Action: "consent.granted", SubjectRef: ref, Object: id.String(), PayloadHash: sum[:],
			Details: map[string]string{"purpose": e.Purpose, "policy_version": e.PolicyVersion}}
		if _, err := s.ConsentAppend(ctx, []lethe.ConsentEvent{e}, []lethe.AuditRecord{rec}, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRawInsert(b *testing.B) {
	s := open(b, testenv.PostgresSchema(b))
	b.ResetTimer()
	d, err := s.RawInsertBaseline(context.Background(), b.N, 1)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(d.Nanoseconds())/float64(b.N), "ns/insert")
}
