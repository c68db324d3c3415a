package sqlite_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
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

// TestSubjectKeysOneBTree: a new subject's key costs one b-tree insert
// (migration 00011 dropped the partial unique index); the suite's
// concurrent-creator tests show one active key per subject still holds.
func TestSubjectKeysOneBTree(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "lethe.db"))
	var n int
	if err := s.DB().QueryRow(`SELECT count(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'subject_keys' AND sql IS NOT NULL`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("subject_keys has %d secondary indexes (%v), want 0", n, err)
	}
}

func TestWriterCache(t *testing.T) {
	for _, c := range []struct {
		mib  int
		want int
	}{{0, -64 * 1024}, {8, -8 * 1024}} {
		s, err := sqlite.Open(context.Background(), sqlite.Options{Path: filepath.Join(t.TempDir(), "lethe.db"), WriterCacheMiB: c.mib})
		if err != nil {
			t.Fatal(err)
		}
		var got int
		if err := s.DB().QueryRow(`PRAGMA cache_size`).Scan(&got); err != nil || got != c.want {
			t.Errorf("WriterCacheMiB %d: writer cache_size = %d, %v; want %d (KiB)", c.mib, got, err, c.want)
		}
		s.Close()
	}
}

func TestOptionsInvalid(t *testing.T) {
	for _, c := range []struct {
		name string
		opts sqlite.Options
	}{
		{"no path", sqlite.Options{}},
		{"bad synchronous", sqlite.Options{Path: filepath.Join(t.TempDir(), "x.db"), Synchronous: "OFF"}},
		{"negative writer cache", sqlite.Options{Path: filepath.Join(t.TempDir(), "x.db"), WriterCacheMiB: -1}},
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
		{"synchronous", "2"}, // FULL: an acknowledged consent survives a power loss
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
	normal, err := sqlite.Open(context.Background(), sqlite.Options{Path: filepath.Join(t.TempDir(), "lethe.db"), Synchronous: "normal"})
	if err != nil {
		t.Fatal(err)
	}
	defer normal.Close()
	var got string
	if err := normal.DB().QueryRow("PRAGMA synchronous").Scan(&got); err != nil {
		t.Fatal(err)
	}
	if got != "1" {
		t.Errorf("with Synchronous normal, PRAGMA synchronous = %s, want 1 (NORMAL)", got)
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

// Shreds while the background checkpointer runs: SQLite lets one
// checkpoint run at a time and fails a second at once, so a shred's
// truncation of the log that met a background round left the key's
// material in the -wal file (3% of shreds, before the two took turns).
func TestShredsLeaveNoMaterialWhileCheckpointing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "lethe.db")
	s := open(t, path)
	ctx := context.Background()
	for i := range 120 {
		ref := lethe.SubjectRef(sha256.Sum256([]byte(fmt.Sprint("shred-", i))))
		material := []byte(fmt.Sprintf("UNMISTAKABLE-KEY-MATERIAL-%05d", i))
		for j := range 3 {
			if _, err := s.AuditAppend(ctx, []lethe.AuditRecord{{Actor: "test", Action: "thing.done", Object: fmt.Sprint(i, j)}}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.SubjectKeyCreate(ctx, lethe.SubjectKey{SubjectRef: ref, Wrapped: material}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(i%5) * 5 * time.Millisecond) // land on a background round now and then
		if _, err := s.SubjectKeyShred(ctx, ref, time.Now().Add(time.Second), lethe.AuditRecord{Actor: "test", Action: "subject.key_shredded", SubjectRef: ref}); err != nil {
			t.Fatal(err)
		}
		if wal, err := os.ReadFile(path + "-wal"); err == nil && contains(wal, material) {
			t.Fatalf("shred %d: the key's material is still in the -wal file", i)
		}
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
// per op, as the consent ledger does, from one goroutine: for a returning
// subject (one of 100), and for a new subject (its data key is stored in
// the same transaction). Besides time, it reports the pages written to the
// write-ahead log per append (wal-frames/op), which does not depend on the
// machine's load; compare BenchmarkRawInsert.
func BenchmarkConsentAppend(b *testing.B) {
	for _, kind := range []string{"returning_subject", "new_subject"} {
		b.Run(kind, func(b *testing.B) {
			s, path := benchStore(b)
			frames := walFrames(b, s, path)
			for i := 0; b.Loop(); i++ {
				consentAppendOne(b, s, kind, i)
			}
			frames(b.N)
		})
	}
}

// BenchmarkConsentAppendParallel is BenchmarkConsentAppend from 4 x
// GOMAXPROCS goroutines, as an API server under load would call it:
// concurrent appends share commits.
func BenchmarkConsentAppendParallel(b *testing.B) {
	for _, kind := range []string{"returning_subject", "new_subject"} {
		b.Run(kind, func(b *testing.B) {
			s, path := benchStore(b)
			frames := walFrames(b, s, path)
			var next atomic.Int64
			b.SetParallelism(4)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					consentAppendOne(b, s, kind, int(next.Add(1)))
				}
			})
			frames(b.N)
		})
	}
}

// benchStore is a store that already holds 1,000 subjects.
func benchStore(b *testing.B) (*sqlite.Store, string) {
	path := filepath.Join(b.TempDir(), "lethe.db")
	s := open(b, path)
	for i := range 1000 {
		consentAppendOne(b, s, "warm", i)
	}
	return s, path
}

func consentAppendOne(b *testing.B, s *sqlite.Store, kind string, i int) {
	ref := lethe.SubjectRef(sha256.Sum256([]byte(fmt.Sprint(kind, "-", i))))
	if kind == "returning_subject" {
		ref = lethe.SubjectRef(sha256.Sum256([]byte(fmt.Sprint("warm-", i%100))))
	}
	evidence := make([]byte, 160)
	_, _ = rand.Read(evidence)
	id, _ := uuid.NewV7()
	e := lethe.ConsentEvent{ID: id, SubjectRef: ref, Purpose: "marketing_email", Granted: i%2 == 0, PolicyVersion: "2026-03",
		Mechanism: "signup_form", Jurisdiction: lethe.GDPR, Source: "bench", RecordedAt: time.Now().UTC().Truncate(time.Microsecond), Evidence: evidence}
	sum := sha256.Sum256(evidence)
	rec := lethe.AuditRecord{Actor: "bench", Action: "consent.granted", SubjectRef: ref, Object: id.String(), PayloadHash: sum[:],
		Details: map[string]string{"purpose": e.Purpose, "policy_version": e.PolicyVersion}}
	var key *lethe.SubjectKey
	if kind != "returning_subject" {
		key = &lethe.SubjectKey{SubjectRef: ref, Generation: 1, Wrapped: evidence[:61]}
	}
	if _, err := s.ConsentAppend(context.Background(), []lethe.ConsentEvent{e}, []lethe.AuditRecord{rec}, key); err != nil {
		b.Error(err)
	}
}

// BenchmarkRawInsert is the baseline: one consent_events-shaped row per
// transaction into a table of its own (see RawInsertBaseline).
func BenchmarkRawInsert(b *testing.B) {
	s, path := benchStore(b)
	frames := walFrames(b, s, path)
	b.ResetTimer()
	d, err := s.RawInsertBaseline(context.Background(), b.N, 1)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(d.Nanoseconds())/float64(b.N), "ns/insert")
	frames(b.N)
}

// walFrames empties the write-ahead log and turns automatic checkpoints
// off, so that the log only grows; the function it returns reports the
// frames (pages) written per op since, as wal-frames/op.
func walFrames(b *testing.B, s *sqlite.Store, path string) func(ops int) {
	b.Helper()
	// The log only grows while nothing checkpoints it: its size then
	// counts the pages written.
	s.StopCheckpointer()
	db := s.DB()
	var pageSize int64
	if err := db.QueryRow(`PRAGMA page_size`).Scan(&pageSize); err != nil {
		b.Fatal(err)
	}
	if _, err := db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		b.Fatal(err)
	}
	if _, err := db.Exec(`PRAGMA wal_autocheckpoint = 0`); err != nil {
		b.Fatal(err)
	}
	return func(ops int) {
		b.Helper()
		fi, err := os.Stat(path + "-wal")
		if err != nil {
			b.Fatal(err)
		}
		const walHeader, frameHeader = 32, 24
		frames := float64(max(fi.Size()-walHeader, 0)) / float64(pageSize+frameHeader)
		b.ReportMetric(frames/float64(max(ops, 1)), "wal-frames/op")
		_, _ = db.Exec(`PRAGMA wal_autocheckpoint = 1000`)
	}
}

// A migration numbered below the newest applied one, arriving later (as
// features land in parallel), is applied rather than refused.
func TestMigrationOutOfOrder(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "lethe.db")
	s, err := sqlite.Open(ctx, sqlite.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`DROP TABLE subject_objections`, `DROP TABLE subject_restrictions`, `DELETE FROM goose_db_version WHERE version_id = 14`} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	s, err = sqlite.Open(ctx, sqlite.Options{Path: path})
	if err != nil {
		t.Fatalf("reopen with migration 14 missing: %v", err)
	}
	defer s.Close()
	if _, err := s.SubjectControls(ctx, lethe.SubjectRef{1}); err != nil {
		t.Errorf("migration 14's tables after the reopen: %v", err)
	}
}
