package main

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRetentionOnDemo plans and runs the example's retention rules on the
// sample estate: the plan's counts are what the run removes, and nothing
// past a limit is left.
func TestRetentionOnDemo(t *testing.T) {
	c := newCLI(t)
	c.ok("demo", "seed", "--subjects", "60")
	db, err := sql.Open("sqlite", filepath.Join(c.dataDir, "demo", "shop.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxIdleConns(0)
	count := func(q string) int {
		t.Helper()
		var n int
		if err := db.QueryRow(q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	oldTickets := `SELECT count(*) FROM support_tickets WHERE julianday(created_at) < julianday('now', '-3 years')`
	before := count(oldTickets)
	young := count(`SELECT count(*) FROM support_tickets`) - before

	var plan struct {
		Collections []struct {
			Collection string `json:"collection"`
			Rows       int    `json:"rows"`
		} `json:"collections"`
	}
	if err := json.Unmarshal([]byte(c.ok("-o", "json", "retention", "plan")), &plan); err != nil {
		t.Fatal(err)
	}
	planned := map[string]int{}
	for _, p := range plan.Collections {
		planned[p.Collection] = p.Rows
	}
	if before == 0 || planned["shop.support_tickets"] != before {
		t.Fatalf("plan counts %d old tickets, the table holds %d", planned["shop.support_tickets"], before)
	}

	code, out, errs := c.run("retention", "run", "--batch-size", "50")
	if code != 0 || !strings.Contains(out, "shop.support_tickets") || !strings.Contains(errs, "rows/s") {
		t.Fatalf("run: exit %d\n%s%s", code, out, errs)
	}
	if n := count(oldTickets); n != 0 {
		t.Errorf("%d tickets older than 3 years left", n)
	}
	if n := count(`SELECT count(*) FROM support_tickets`); n != young {
		t.Errorf("%d tickets left, want the %d younger ones", n, young)
	}
	if n := count(`SELECT count(*) FROM analytics_events WHERE julianday(occurred_at) < julianday('now', '-14 months') AND (user_id IS NOT NULL OR user_agent IS NOT NULL)`); n != 0 {
		t.Errorf("%d old analytics events still linked to a person", n)
	}
	if out := c.ok("audit", "verify"); !strings.Contains(out, "ok") {
		t.Errorf("audit verify after the run: %s", out)
	}
}

// TestRetentionWarnsOnce: accounts about to reach their limit get one
// notice in the outbox, however many runs see them, and a notice never
// names an account that is not in the window.
func TestRetentionWarnsOnce(t *testing.T) {
	c := newCLI(t)
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "app.db")
	db, err := sql.Open("sqlite", dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Now().UTC()
	if _, err := db.Exec(`CREATE TABLE accounts (id INTEGER PRIMARY KEY, email TEXT NOT NULL, last_login_at TEXT)`); err != nil {
		t.Fatal(err)
	}
	ages := map[int]time.Time{
		1: now.AddDate(-4, 0, 0),  // past the 3 years: deleted, not warned
		2: now.AddDate(-3, 0, 10), // 10 days before its limit: warned
		3: now.AddDate(-3, 0, 13), // 13 days before: warned
		4: now.AddDate(-3, 0, 20), // 20 days before: not yet
		5: now.AddDate(-1, 0, 0),  // active
	}
	for id, at := range ages {
		if _, err := db.Exec(`INSERT INTO accounts VALUES (?, ?, ?)`, id, fmt.Sprintf("user%d@example.com", id), at.Format("2006-01-02 15:04:05")); err != nil {
			t.Fatal(err)
		}
	}
	cfg := filepath.Join(dir, "lethe.yaml")
	if err := os.WriteFile(cfg, []byte(`
controller: {name: Shop, contact: privacy@example.com}
purposes: [{id: accounts, lawful_basis: contract}]
datastores:
  app:
    driver: sqlite
    dsn: `+dbPath+`
    collections:
      accounts:
        identities: {email: email}
        fields: {email: {category: contact.email}}
        retention:
          column: last_login_at
          max_age: 3y
          warn: {before: 14d, email: email}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if code, out, errs := c.run("--config", cfg, "retention", "run"); code != 0 {
			t.Fatalf("run: exit %d\n%s%s", code, out, errs)
		}
	}
	var msgs []struct {
		Template string `json:"template"`
	}
	if err := json.Unmarshal([]byte(c.ok("--config", cfg, "-o", "json", "outbox", "list")), &msgs); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, m := range msgs {
		if m.Template == "retention_warning" {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d retention notices in the outbox after two runs, want 2 (accounts 2 and 3, once each)", n)
	}
	var left int
	db.QueryRow(`SELECT count(*) FROM accounts`).Scan(&left)
	if left != 4 {
		t.Errorf("%d accounts left, want 4 (only account 1 is past its limit)", left)
	}
}
