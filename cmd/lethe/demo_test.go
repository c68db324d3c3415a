package main

import (
	"database/sql"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

func TestDemoSeed(t *testing.T) {
	c := newCLI(t)
	out := c.ok("demo", "seed", "--subjects", "30", "--seed", "5")
	for _, want := range []string{"Seeded 30 subjects (seed 5)", "order_items", "siobhan.o'brien@example.com", "no account", "examples/lethe.yaml"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	path := filepath.Join(c.dataDir, "demo", "shop.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var users int
	if err := db.QueryRow("SELECT count(*) FROM users").Scan(&users); err != nil || users != 27 {
		t.Fatalf("users in %s = %d, %v; want 27", path, users, err)
	}

	code, _, errs := c.run("demo", "seed", "--subjects", "30")
	if code != exitInvalid || !strings.Contains(errs, "--reset") || strings.Count(strings.TrimSpace(errs), "\n") > 0 {
		t.Errorf("seed over existing rows: exit %d, %q; want exit 3 on one line naming --reset", code, errs)
	}
	code, _, errs = c.run("demo", "seed", "--subjects", "0")
	if code != exitUsage {
		t.Errorf("--subjects 0: exit %d, %q; want 2", code, errs)
	}

	var res struct {
		Subjects int
		Rows     int64
		Tables   []struct {
			Table string
			Rows  int64
		}
	}
	if err := json.Unmarshal([]byte(c.ok("-o", "json", "demo", "seed", "--subjects", "40", "--reset")), &res); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow("SELECT count(*) FROM users").Scan(&users); err != nil || users != 36 || res.Subjects != 40 || len(res.Tables) != 9 {
		t.Errorf("after --reset: %d users, result %+v", users, res)
	}
}
