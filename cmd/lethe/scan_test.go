package main

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// TestScan: the demo shop as seeded is fully declared; a column added
// behind the data map's back is reported, proposed and fails CI.
func TestScan(t *testing.T) {
	c := newCLI(t)
	c.ok("demo", "seed", "--subjects", "60")
	out := c.ok("scan", "--fail-on-undeclared")
	if !strings.Contains(out, "0 undeclared") || !strings.Contains(out, "declared  shop.users.email") {
		t.Fatalf("scan of the declared demo:\n%s", out)
	}

	db, err := sql.Open("sqlite", filepath.Join(c.dataDir, "demo", "shop.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`ALTER TABLE users ADD COLUMN backup_contact TEXT`); err != nil {
		t.Fatal(err)
	}
	var secrets []string
	for i := 1; i <= 60; i++ {
		e := fmt.Sprintf("second.address%d@mailbox.example.net", i)
		secrets = append(secrets, e)
		if _, err := db.Exec(`UPDATE users SET backup_contact = ? WHERE id = ?`, e, i); err != nil {
			t.Fatal(err)
		}
	}

	code, out, errs := c.run("scan", "--fail-on-undeclared", "--propose")
	if code != exitFailed {
		t.Fatalf("scan --fail-on-undeclared with an undeclared column: exit %d, want %d\n%s%s", code, exitFailed, out, errs)
	}
	if !strings.Contains(out, "undeclared  shop.users.backup_contact") || !strings.Contains(out, "backup_contact: {category: contact.email, erase: fake.email}") {
		t.Errorf("scan output lacks the undeclared column or its proposal:\n%s", out)
	}
	c.ok("scan") // without the flag, undeclared data is reported, not failed

	out = c.ok("scan", "--format", "json", "--propose", "--sample", "20")
	var rep struct {
		Undeclared int    `json:"undeclared"`
		Sample     int    `json:"sample"`
		Proposal   string `json:"proposal"`
		Findings   []struct {
			Column   string `json:"column"`
			Status   string `json:"status"`
			Evidence struct{ Matched, Sampled int }
		} `json:"findings"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("scan --format json: %v\n%s", err, out)
	}
	if rep.Undeclared != 1 || rep.Sample != 20 || !strings.Contains(rep.Proposal, "backup_contact") {
		t.Errorf("json report: undeclared %d, sample %d, proposal %q", rep.Undeclared, rep.Sample, rep.Proposal)
	}
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Fatal("scan printed a sampled value")
		}
	}

	for _, args := range [][]string{{"scan", "--format", "xml"}, {"scan", "--sample", "0"}, {"scan", "--min-confidence", "2"}} {
		if code, _, errs := c.run(args...); code != exitUsage {
			t.Errorf("lethe %s: exit %d (%s), want %d", strings.Join(args, " "), code, errs, exitUsage)
		}
	}
	if code, _, errs := c.run("scan", "--datastore", "nope"); code != exitInvalid || !strings.Contains(errs, "not declared") {
		t.Errorf("unknown datastore: exit %d %s", code, errs)
	}
}
