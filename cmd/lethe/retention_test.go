package main

import (
	"database/sql"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
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
