package sqlite_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/store/sqlite"
	"github.com/lethe-privacy/lethe/store/storetest"
)

func open(t testing.TB, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), sqlite.Options{Path: path})
	if err != nil {
		t.Fatalf("open sqlite store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestStore(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		New: func(t *testing.T) lethe.Store {
			return open(t, filepath.Join(t.TempDir(), "lethe.db"))
		},
		Reopen: func(t *testing.T, s lethe.Store) lethe.Store {
			var path string
			if err := s.(*sqlite.Store).DB().QueryRow(`SELECT file FROM pragma_database_list WHERE name = 'main'`).Scan(&path); err != nil {
				t.Fatal(err)
			}
			return open(t, path)
		},
		DB: func(t *testing.T, s lethe.Store) *sql.DB { return s.(*sqlite.Store).DB() },
	})
}

func TestFileMode(t *testing.T) {
	dir := t.TempDir()
	s := open(t, filepath.Join(dir, "data", "lethe.db"))
	ctx := context.Background()
	if _, err := s.AuditAppend(ctx, []lethe.AuditRecord{{Actor: "test", Action: "test.wrote"}}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"lethe.db", "lethe.db-wal", "lethe.db-shm"} {
		fi, err := os.Stat(filepath.Join(dir, "data", name))
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			t.Errorf("%s has mode %v, want no group or other access", name, perm)
		}
	}
}

func TestOptionsInvalid(t *testing.T) {
	for _, c := range []struct {
		name string
		opts sqlite.Options
	}{
		{"no path", sqlite.Options{}},
		{"bad synchronous", sqlite.Options{Path: filepath.Join(t.TempDir(), "x.db"), Synchronous: "OFF"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := sqlite.Open(context.Background(), c.opts)
			if lethe.ErrorCode(err) != lethe.EINVALID {
				t.Fatalf("Open = %v, want EINVALID", err)
			}
		})
	}
}

// TestPragmas checks the settings the writer connection must have.
func TestPragmas(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "lethe.db"))
	db := s.DB()
	for _, c := range []struct {
		pragma string
		want   string
	}{
		{"journal_mode", "wal"},
		{"foreign_keys", "1"},
		{"secure_delete", "1"},
		{"synchronous", "1"}, // NORMAL
		{"busy_timeout", "5000"},
	} {
		var got string
		if err := db.QueryRow("PRAGMA " + c.pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("PRAGMA %s = %s, want %s", c.pragma, got, c.want)
		}
	}
}

// TestShredLeavesNoMaterial looks for the key bytes in the files on disk
// after a shred: secure_delete and the WAL truncation must leave none.
func TestShredLeavesNoMaterial(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "lethe.db")
	s := open(t, path)
	ctx := context.Background()
	ref := lethe.SubjectRef(sha256.Sum256([]byte("shred-me")))
	material := []byte("UNMISTAKABLE-KEY-MATERIAL-0123456789")
	if _, err := s.SubjectKeyCreate(ctx, lethe.SubjectKey{SubjectRef: ref, Wrapped: material}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB().Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		t.Fatal(err)
	}
	if !filesContain(t, dir, material) {
		t.Fatal("key material not found on disk before the shred: the test would prove nothing")
	}
	if _, err := s.SubjectKeyShred(ctx, ref, time.Now().Add(time.Second), lethe.AuditRecord{Actor: "test", Action: "subject.key_shredded", SubjectRef: ref}); err != nil {
		t.Fatal(err)
	}
	if filesContain(t, dir, material) {
		t.Fatal("key material still on disk after the shred")
	}
}

func filesContain(t *testing.T, dir string, needle []byte) bool {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if contains(b, needle) {
			return true
		}
	}
	return false
}

func contains(b, needle []byte) bool {
	for i := 0; i+len(needle) <= len(b); i++ {
		if string(b[i:i+len(needle)]) == string(needle) {
			return true
		}
	}
	return false
}

// TestCloseWithWritesInFlight closes the store while writers are busy:
// every write must return (committed or EUNAVAILABLE), none may hang, and
// writes after Close fail with EUNAVAILABLE.
func TestCloseWithWritesInFlight(t *testing.T) {
	s, err := sqlite.Open(context.Background(), sqlite.Options{Path: filepath.Join(t.TempDir(), "lethe.db")})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 8*50)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				_, err := s.AuditAppend(ctx, []lethe.AuditRecord{{Actor: "test", Action: "test.wrote"}})
				errs <- err
			}
		}()
	}
	time.Sleep(5 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil && lethe.ErrorCode(err) != lethe.EUNAVAILABLE {
			t.Fatalf("write during Close: %v, want nil or EUNAVAILABLE", err)
		}
	}
	_, err = s.AuditAppend(ctx, []lethe.AuditRecord{{Actor: "test", Action: "test.wrote"}})
	if lethe.ErrorCode(err) != lethe.EUNAVAILABLE {
		t.Fatalf("write after Close: %v, want EUNAVAILABLE", err)
	}
}

func TestRawInsertBaseline(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "lethe.db"))
	d, err := s.RawInsertBaseline(context.Background(), 10, 3)
	if err != nil {
		t.Fatal(err)
	}
	if d <= 0 {
		t.Fatalf("RawInsertBaseline took %v", d)
	}
	var n int
	if err := s.DB().QueryRow(`SELECT count(*) FROM sqlite_master WHERE name = 'lethe_bench_raw'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("scratch table left behind (%d, %v)", n, err)
	}
}

// BenchmarkConsentAppend appends one consent event with its audit record
// per op, as the consent ledger does, from one goroutine.
func BenchmarkConsentAppend(b *testing.B) {
	s := open(b, filepath.Join(b.TempDir(), "lethe.db"))
	ref := lethe.SubjectRef(sha256.Sum256([]byte("bench")))
	for i := 0; b.Loop(); i++ {
		consentAppendOne(b, s, ref, i)
	}
}

// BenchmarkConsentAppendParallel is BenchmarkConsentAppend from
// GOMAXPROCS*8 goroutines, as an API server under load would call it:
// concurrent appends share commits.
func BenchmarkConsentAppendParallel(b *testing.B) {
	s := open(b, filepath.Join(b.TempDir(), "lethe.db"))
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		var seed [8]byte
		_, _ = rand.Read(seed[:])
		ref := lethe.SubjectRef(sha256.Sum256(seed[:]))
		for i := 0; pb.Next(); i++ {
			consentAppendOne(b, s, ref, i)
		}
	})
}

func consentAppendOne(b *testing.B, s *sqlite.Store, ref lethe.SubjectRef, i int) {
	evidence := make([]byte, 160)
	id, _ := uuid.NewV7()
	e := lethe.ConsentEvent{ID: id, SubjectRef: ref, Purpose: "marketing_email", Granted: i%2 == 0, PolicyVersion: "2026-03",
		Mechanism: "signup_form", Jurisdiction: lethe.GDPR, Source: "bench", RecordedAt: time.Now().UTC().Truncate(time.Microsecond), Evidence: evidence}
	sum := sha256.Sum256(evidence)
	rec := lethe.AuditRecord{Actor: "bench", Action: "consent.granted", SubjectRef: ref, Object: id.String(), PayloadHash: sum[:],
		Details: map[string]string{"purpose": e.Purpose, "policy_version": e.PolicyVersion}}
	if _, err := s.ConsentAppend(context.Background(), []lethe.ConsentEvent{e}, []lethe.AuditRecord{rec}, nil); err != nil {
		b.Error(err)
	}
}

func BenchmarkRawInsert(b *testing.B) {
	s := open(b, filepath.Join(b.TempDir(), "lethe.db"))
	b.ResetTimer()
	d, err := s.RawInsertBaseline(context.Background(), b.N, 1)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(d.Nanoseconds())/float64(b.N), "ns/insert")
}
