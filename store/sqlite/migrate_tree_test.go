package sqlite_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/store/sqlite"
)

// Migration 00022 moves the Merkle tree hashes of a log written before it
// into the entries, hash for hash, and drops the head row; rolled back, it
// restores both tables as they were.
func TestMigrationTreeIntoEntries(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "lethe.db")
	s := open(t, path)
	const n = 37
	for i := range n {
		if _, err := s.AuditAppend(ctx, []lethe.AuditRecord{{Actor: "test", Action: "thing.done", Object: fmt.Sprint(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	all := make([]int64, tlog.StoredHashCount(n))
	for i := range all {
		all[i] = int64(i)
	}
	want, err := s.AuditTreeHashes(ctx, all)
	if err != nil {
		t.Fatal(err)
	}
	wantHead, err := s.AuditHead(ctx)
	if err != nil || wantHead.Size != n {
		t.Fatalf("head %+v, %v", wantHead, err)
	}

	// Down: the tables of before, filled from the entries.
	if err := s.MigrateDownTo(ctx, 21); err != nil {
		t.Fatalf("migrate down: %v", err)
	}
	db := s.DB()
	var rows, size int64
	if err := db.QueryRow(`SELECT count(*) FROM audit_tree_hashes`).Scan(&rows); err != nil || rows != int64(len(all)) {
		t.Fatalf("audit_tree_hashes after down: %d rows, %v; want %d", rows, err, len(all))
	}
	var last []byte
	if err := db.QueryRow(`SELECT size, last_hash FROM audit_head`).Scan(&size, &last); err != nil || size != n || string(last) != string(wantHead.LastHash[:]) {
		t.Fatalf("audit_head after down: size %d, %v", size, err)
	}
	for _, idx := range []int64{0, 5, int64(len(all) - 1)} {
		var h []byte
		if err := db.QueryRow(`SELECT hash FROM audit_tree_hashes WHERE idx = ?`, idx).Scan(&h); err != nil || string(h) != string(want[idx][:]) {
			t.Fatalf("tree hash %d after down differs: %v", idx, err)
		}
	}
	s.Close()

	// Up again, as an upgrade finds it.
	s = open(t, path)
	got, err := s.AuditTreeHashes(ctx, all)
	if err != nil {
		t.Fatalf("tree hashes after the migration: %v", err)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("tree hash %d changed in the migration", i)
		}
	}
	if h, err := s.AuditHead(ctx); err != nil || h != wantHead {
		t.Fatalf("head after the migration: %+v, %v; want %+v", h, err, wantHead)
	}
	for _, table := range []string{"audit_tree_hashes", "audit_head"} {
		var c int
		if err := s.DB().QueryRow(`SELECT count(*) FROM sqlite_master WHERE name = ?`, table).Scan(&c); err != nil || c != 0 {
			t.Errorf("%s still exists after the migration", table)
		}
	}
	if _, err := s.DB().Exec(`UPDATE audit_entries SET tree_hashes = x''`); err == nil {
		t.Error("audit_entries accepts an UPDATE after the migration: its triggers are gone")
	}
	// And the log goes on from where it was.
	entries, err := s.AuditAppend(ctx, []lethe.AuditRecord{{Actor: "test", Action: "thing.done", Object: "after"}})
	if err != nil || entries[0].Seq != n || entries[0].PrevHash != wantHead.LastHash {
		t.Fatalf("append after the migration: %+v, %v", entries, err)
	}
}

// Hashes missing before the migration stay missing (for audit verify to
// report), and a head row that disagrees with the log stops it: dropping
// the row would hide the disagreement.
func TestMigrationTreeKeepsEvidence(t *testing.T) {
	ctx := context.Background()
	setup := func(t *testing.T) (*sqlite.Store, string) {
		path := filepath.Join(t.TempDir(), "lethe.db")
		s := open(t, path)
		for i := range 8 {
			if _, err := s.AuditAppend(ctx, []lethe.AuditRecord{{Actor: "test", Action: "thing.done", Object: fmt.Sprint(i)}}); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.MigrateDownTo(ctx, 21); err != nil {
			t.Fatal(err)
		}
		for _, q := range []string{`DROP TRIGGER audit_tree_hashes_no_delete`} {
			if _, err := s.DB().Exec(q); err != nil {
				t.Fatal(err)
			}
		}
		return s, path
	}
	t.Run("missing hash", func(t *testing.T) {
		s, path := setup(t)
		// Leaf 5 stored its leaf hash and the level-1 node over 4 and 5.
		gone := tlog.StoredHashIndex(1, 2)
		if _, err := s.DB().Exec(`DELETE FROM audit_tree_hashes WHERE idx = ?`, gone); err != nil {
			t.Fatal(err)
		}
		s.Close()
		s = open(t, path)
		if _, err := s.AuditTreeHashes(ctx, []int64{gone}); lethe.ErrorCode(err) != lethe.ENOTFOUND {
			t.Fatalf("deleted hash after the migration: %v, want ENOTFOUND", err)
		}
		if _, err := s.AuditTreeHashes(ctx, []int64{tlog.StoredHashIndex(0, 5)}); err != nil {
			t.Fatalf("leaf 5's own hash: %v", err)
		}
	})
	t.Run("head moved", func(t *testing.T) {
		s, path := setup(t)
		if _, err := s.DB().Exec(`UPDATE audit_head SET size = 7`); err != nil {
			t.Fatal(err)
		}
		s.Close()
		_, err := sqlite.Open(ctx, sqlite.Options{Path: path, BusyTimeout: time.Second})
		if err == nil || !strings.Contains(err.Error(), "does not match its last entry") {
			t.Fatalf("open over a moved head: %v, want the migration refused", err)
		}
	})
}

// The background checkpointer copies the log into the database file and,
// once the log is long, catches up under the write lock so that the next
// write starts the log over: a steady stream of appends does not grow it
// without end.
func TestCheckpointerRestartsTheLog(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "lethe.db")
	s := open(t, path)
	s.StopCheckpointer() // this test runs its rounds itself
	var pageSize int64
	if err := s.DB().QueryRow(`PRAGMA page_size`).Scan(&pageSize); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB().Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		t.Fatal(err)
	}
	// With nothing checkpointing, the log only grows: its size says how
	// many pages it holds.
	for i := 0; ; i++ {
		if _, err := s.AuditAppend(ctx, []lethe.AuditRecord{{Actor: "test", Action: "thing.done", Object: fmt.Sprint(i)}}); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(path + "-wal")
		if err != nil {
			t.Fatal(err)
		}
		if (fi.Size()-32)/(pageSize+24) > 1200 {
			break
		}
	}
	// A log started over has new salts in its header (bytes 16-23).
	salt := func() string {
		t.Helper()
		f, err := os.Open(path + "-wal")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		b := make([]byte, 8)
		if _, err := f.ReadAt(b, 16); err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	appendOne := func() {
		t.Helper()
		if _, err := s.AuditAppend(ctx, []lethe.AuditRecord{{Actor: "test", Action: "thing.done", Object: "next"}}); err != nil {
			t.Fatal(err)
		}
	}
	before := salt()
	appendOne()
	if salt() != before {
		t.Fatal("the log started over without a checkpoint: the test cannot tell")
	}
	if err := s.CheckpointOnce(); err != nil {
		t.Fatal(err)
	}
	appendOne()
	if salt() == before {
		t.Fatal("the write after a checkpoint round did not start the log over")
	}
}

// A background checkpoint that keeps failing (a disk error, say) shows in
// Ping, and so in /readyz: the log would otherwise grow to the writer's
// backstop without a word.
func TestPingReportsFailingCheckpoints(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "lethe.db"))
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("ping of a healthy store: %v", err)
	}
	s.BreakCheckpoints()
	// Rounds run every 50ms when there were commits, every second
	// otherwise; 20 failures in a row make Ping fail.
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; ; i++ {
		if _, err := s.AuditAppend(ctx, []lethe.AuditRecord{{Actor: "test", Action: "thing.done", Object: fmt.Sprint(i)}}); err != nil {
			t.Fatal(err)
		}
		err := s.Ping(ctx)
		if err != nil {
			if lethe.ErrorCode(err) != lethe.EUNAVAILABLE || !strings.Contains(err.Error(), "checkpoint") {
				t.Fatalf("ping with failing checkpoints: %v, want EUNAVAILABLE naming the checkpoint", err)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("ping still answers ok after 30s of failing checkpoints")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
