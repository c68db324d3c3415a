package main

import (
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lethe-privacy/lethe/scrub"
)

// TestScrubCommand: the two locks, then a scrub with progress on stderr
// and the report on stdout, audited.
func TestScrubCommand(t *testing.T) {
	c := newCLI(t)
	dir := t.TempDir()
	copyPath := filepath.Join(dir, "copy.db")
	db, err := sql.Open("sqlite", copyPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxIdleConns(0)
	for _, q := range []string{
		`CREATE TABLE users (id integer PRIMARY KEY, email text UNIQUE NOT NULL, name text, plan text)`,
		`INSERT INTO users VALUES (1, 'jane@example.org', 'Jane Roe', 'pro'), (2, 'max@example.org', 'Max Muster', 'free')`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	cfg := filepath.Join(dir, "lethe.yaml")
	yaml := `controller: {name: Shop}
purposes: [{id: orders, lawful_basis: contract}]
datastores:
  copy:
    driver: sqlite
    dsn: ` + copyPath + `
    scrub_allowed: true
    collections:
      users:
        identities: {email: email}
        fields:
          email: {category: contact.email, erase: hmac}
          name: {category: name, scrub: fake.name}
`
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		args    []string
		code    int
		message string
	}{
		{[]string{"scrub", "--config", cfg}, 2, "--datastore"},
		{[]string{"scrub", "--config", cfg, "--datastore", "copy"}, 3, "--confirm copy"},
		{[]string{"scrub", "--config", cfg, "--datastore", "copy", "--confirm", "copy", "--default", "zero"}, 2, "--default takes null or blank"},
		{[]string{"scrub", "--config", cfg, "--datastore", "copy", "--confirm", "copy", "--strict"}, 3, "columns plan are in table users but not in the data map"},
	} {
		code, out, errs := c.run(tc.args...)
		if code != tc.code || !strings.Contains(errs, tc.message) {
			t.Errorf("lethe %s: exit %d, want %d with %q\n%s%s", strings.Join(tc.args, " "), code, tc.code, tc.message, out, errs)
		}
	}
	var n int
	if db.QueryRow(`SELECT COUNT(*) FROM users WHERE email LIKE '%example.org'`).Scan(&n); n != 2 {
		t.Fatalf("a refused scrub changed the copy")
	}

	code, out, errs := c.run("-o", "json", "scrub", "--config", cfg, "--datastore", "copy", "--confirm", "copy", "--progress")
	if code != 0 {
		t.Fatalf("scrub: exit %d\n%s%s", code, out, errs)
	}
	var rep scrub.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("report: %v\n%s", err, out)
	}
	if rep.Rows != 2 || !rep.Compacted {
		t.Errorf("report: %s", out)
	}
	if !strings.Contains(errs, "scrub copy: 2/2 rows (100%)") {
		t.Errorf("no progress on stderr: %q", errs)
	}
	if db.QueryRow(`SELECT COUNT(*) FROM users WHERE email LIKE '%example.org' OR name IN ('Jane Roe', 'Max Muster')`).Scan(&n); n != 0 {
		t.Errorf("%d rows still hold an original", n)
	}
	if db.QueryRow(`SELECT COUNT(*) FROM users WHERE plan IN ('pro', 'free')`).Scan(&n); n != 2 {
		t.Errorf("an undeclared column was changed without --default")
	}
	if strings.Contains(out+errs, "jane@example.org") {
		t.Errorf("the CLI printed an original value")
	}
	c.ok("--config", cfg, "audit", "verify")
}

func TestProgressLine(t *testing.T) {
	got := progressLine("copy", scrub.Progress{Rows: 250_000, Total: 1_000_000, Elapsed: 2 * time.Second})
	want := "scrub copy: 250000/1000000 rows (25%), 125000 rows/s, 6s left"
	if strings.TrimSpace(got) != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
