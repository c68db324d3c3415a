package datamap_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/lethe-privacy/lethe/config"
	"github.com/lethe-privacy/lethe/connector"
	"github.com/lethe-privacy/lethe/datamap"
	"github.com/lethe-privacy/lethe/mask"
)

// check runs the data map check over one SQLite datastore built from the
// statements, with the collections' YAML.
func check(t *testing.T, stmts []string, collections string, strict bool) *datamap.Report {
	t.Helper()
	path := filepath.Join(t.TempDir(), "shop.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	db.Close()
	t.Setenv("SHOP_DSN", path)
	cfg, err := config.Parse([]byte(`
controller: {name: Shop}
purposes: [{id: orders, lawful_basis: contract}]
datastores:
  shop:
    driver: sqlite
    dsn: ${SHOP_DSN}
    collections:
`+collections), "lethe.yaml")
	if err != nil {
		t.Fatal(err)
	}
	set := connector.NewSet(cfg.Datastores, connector.Options{})
	defer set.Close()
	key := make([]byte, 32)
	rep, err := datamap.Check(context.Background(), cfg, set, datamap.Options{
		Strict:   strict,
		Strategy: func(name string) (datamap.Strategy, error) { return mask.Parse(name, key) },
	})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func find(rep *datamap.Report, kind, collection, column string) *datamap.Finding {
	for i, f := range rep.Findings {
		if f.Kind == kind && f.Collection == collection && f.Column == column {
			return &rep.Findings[i]
		}
	}
	return nil
}

const shopSchema = `CREATE TABLE users (id integer PRIMARY KEY, email text UNIQUE NOT NULL, name text NOT NULL, age integer, notes text)`

func TestCheckFindsWhatDoesNotFit(t *testing.T) {
	rep := check(t, []string{
		shopSchema,
		`CREATE TABLE orders (id integer PRIMARY KEY, user_id integer, total integer)`,
	}, `
      users:
        identities: {user_id: id, email: email}
        erase: anonymise
        fields:
          email: {category: contact.email, erase: fake.name}
          name: {category: name, erase: "null"}
          age: {category: age, erase: fake.email}
          phone: {category: contact.phone}
        ignore: [notes]
      orders:
        references: {user_id: users.id}
        fields: {total: {category: purchases}}
      invoices:
        references: {user_id: users.id}
        fields: {address: {category: contact.address}}
`, false)
	cases := []struct {
		kind, collection, column string
		severity                 datamap.Severity
		message                  string
	}{
		{"missing_table", "invoices", "", datamap.SeverityError, "does not exist"},
		{"missing_column", "users", "phone", datamap.SeverityError, "does not exist"},
		{"strategy", "users", "name", datamap.SeverityError, "NOT NULL"},
		{"strategy", "users", "age", datamap.SeverityError, "fake.email"},
		{"not_unique", "users", "email", datamap.SeverityWarning, "unique"},
		{"unindexed", "orders", "user_id", datamap.SeverityWarning, "scans the whole table"},
	}
	for _, c := range cases {
		f := find(rep, c.kind, c.collection, c.column)
		if f == nil {
			t.Errorf("no %s finding for %s.%s in %v", c.kind, c.collection, c.column, rep.Findings)
			continue
		}
		if f.Severity != c.severity || !strings.Contains(f.Message, c.message) {
			t.Errorf("%s.%s: %s %q, want %s containing %q", c.collection, c.column, f.Severity, f.Message, c.severity, c.message)
		}
	}
	if rep.OK() || rep.Errors != 4 {
		t.Errorf("%d errors, want 4: %v", rep.Errors, rep.Findings)
	}
	if find(rep, "drift", "users", "notes") != nil {
		t.Errorf("an ignored column is reported as drift")
	}
}

func TestCheckDriftIsAWarningUnlessStrict(t *testing.T) {
	schema := []string{shopSchema, `CREATE INDEX users_name ON users (name)`}
	collections := `
      users:
        identities: {user_id: id, email: email}
        fields:
          email: {category: contact.email}
          name: {category: name}
        ignore: [age]
`
	rep := check(t, schema, collections, false)
	f := find(rep, "drift", "users", "notes")
	if f == nil || f.Severity != datamap.SeverityWarning || !rep.OK() {
		t.Fatalf("drift: %+v, report ok %v: %v", f, rep.OK(), rep.Findings)
	}
	rep = check(t, schema, collections, true)
	if f := find(rep, "drift", "users", "notes"); f == nil || f.Severity != datamap.SeverityError || rep.OK() {
		t.Errorf("--strict drift: %+v, report ok %v", f, rep.OK())
	}
}

func TestCheckUnreachableDatastoreIsAFindingWithoutTheDSN(t *testing.T) {
	t.Setenv("SHOP_DSN", "/nonexistent/secret-path/shop.db")
	cfg, err := config.Parse([]byte(`
controller: {name: Shop}
purposes: [{id: orders, lawful_basis: contract}]
datastores:
  shop:
    driver: sqlite
    dsn: ${SHOP_DSN}
    collections:
      users: {identities: {email: email}, fields: {email: {category: contact.email}}}
`), "lethe.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rep, err := datamap.Check(context.Background(), cfg, connector.NewSet(cfg.Datastores, connector.Options{}), datamap.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := find(rep, "unreachable", "", "")
	if f == nil || f.Severity != datamap.SeverityError || len(rep.Checked) != 0 {
		t.Fatalf("unreachable datastore: %v", rep.Findings)
	}
	if strings.Contains(f.Message, "secret-path") {
		t.Errorf("the finding shows the DSN: %s", f.Message)
	}
}
