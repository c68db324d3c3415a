package datamap_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lethe-privacy/lethe/config"
	"github.com/lethe-privacy/lethe/connector"
	"github.com/lethe-privacy/lethe/datamap"
	"github.com/lethe-privacy/lethe/mask"
)

// TestCheckScrubStrategies: on a datastore marked scrub_allowed, the check
// tells what lethe scrub would refuse (a strategy that does not fit, a
// unique column whose strategy repeats values), before a scrub is tried.
func TestCheckScrubStrategies(t *testing.T) {
	path := filepath.Join(t.TempDir(), "copy.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(shopSchema); err != nil {
		t.Fatal(err)
	}
	db.Close()
	t.Setenv("COPY_DSN", path)
	cfg, err := config.Parse([]byte(`
controller: {name: Shop}
purposes: [{id: orders, lawful_basis: contract}]
datastores:
  copy:
    driver: sqlite
    dsn: ${COPY_DSN}
    scrub_allowed: true
    collections:
      users:
        identities: {user_id: id, email: email}
        fields:
          email: {category: contact.email, erase: hmac, scrub: fake.city}
          name:  {category: name, scrub: "null"}
          age:   {category: age, scrub: "fixed:0"}
        ignore: [notes]
`), "lethe.yaml")
	if err != nil {
		t.Fatal(err)
	}
	set := connector.NewSet(cfg.Datastores, connector.Options{})
	defer set.Close()
	key := make([]byte, 32)
	rep, err := datamap.Check(context.Background(), cfg, set, datamap.Options{
		Strategy: func(name string) (datamap.Strategy, error) { return mask.Parse(name, key) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if f := find(rep, "scrub_not_unique", "users", "email"); f == nil || f.Severity != datamap.SeverityError || !strings.Contains(f.Message, "fake.city") {
		t.Errorf("unique email with scrub: fake.city: %+v in %v", f, rep.Findings)
	}
	if f := find(rep, "scrub_strategy", "users", "name"); f == nil || f.Severity != datamap.SeverityError || !strings.Contains(f.Message, "NOT NULL") {
		t.Errorf("NOT NULL name with scrub: null: %+v in %v", f, rep.Findings)
	}
	if f := find(rep, "scrub_strategy", "users", "age"); f != nil {
		t.Errorf("fixed:0 fits an integer column: %+v", f)
	}
	if rep.OK() || rep.Errors != 2 {
		t.Errorf("%d errors, want 2: %v", rep.Errors, rep.Findings)
	}
}
