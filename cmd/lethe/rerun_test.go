package main

import (
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lethe-privacy/lethe/dsr"
)

// TestRerunAfterRestore: a file copy of the demo shop taken before an
// erasure is restored, and `lethe rerun` erases the subject from it again.
func TestRerunAfterRestore(t *testing.T) {
	c := newCLI(t)
	c.ok("demo", "seed", "--subjects", "20")
	shop := filepath.Join(c.dataDir, "demo", "shop.db")
	db, err := sql.Open("sqlite", shop)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxIdleConns(0)
	var (
		email string
		users int
	)
	if err := db.QueryRow(`SELECT email, (SELECT count(*) FROM users) FROM users WHERE id = 1`).Scan(&email, &users); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		t.Fatal(err)
	}
	backup, err := os.ReadFile(shop)
	if err != nil {
		t.Fatal(err)
	}
	backupTime := time.Now().UTC().Add(-time.Second)

	if code, out, errs := c.run("erase", "--email", email); code != 0 {
		t.Fatalf("erase: exit %d\n%s%s", code, out, errs)
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		os.Remove(shop + suffix)
	}
	if err := os.WriteFile(shop, backup, 0o600); err != nil {
		t.Fatal(err)
	}
	var n int
	if db.QueryRow(`SELECT count(*) FROM users WHERE id = 1`).Scan(&n); n != 1 {
		t.Fatalf("the restore did not bring user 1 back")
	}

	if code, _, errs := c.run("rerun", "--datastore", "shop", "--since", "yesterday"); code != 2 && code != 3 || !strings.Contains(errs, "--since") {
		t.Errorf("a bad --since: exit %d %s", code, errs)
	}
	out := c.ok("-o", "json", "rerun", "--datastore", "shop", "--since", backupTime.Format(time.RFC3339))
	var rep dsr.RerunReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("rerun output: %v\n%s", err, out)
	}
	if rep.Subjects != 1 || rep.Status != dsr.StatusCompleted || rep.Verification == nil || !rep.Verification.Passed {
		t.Errorf("rerun report: %s", out)
	}
	if db.QueryRow(`SELECT count(*) FROM users WHERE id = 1 OR lower(email) = lower(?)`, email).Scan(&n); n != 0 {
		t.Errorf("user 1 is back after the rerun")
	}
	if db.QueryRow(`SELECT count(*) FROM users`).Scan(&n); n != users-1 {
		t.Errorf("%d users left, want the other %d", n, users-1)
	}
	if strings.Contains(out, email) {
		t.Errorf("the CLI printed the subject's e-mail")
	}
	c.ok("audit", "verify")
}
