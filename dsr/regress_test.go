package dsr_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/config"
	"github.com/lethe-privacy/lethe/connector"
	"github.com/lethe-privacy/lethe/dsr"
	"github.com/lethe-privacy/lethe/mask"
)

// sqliteFiles creates SQLite files with their statements and sets the
// environment variable named by each key to its path.
func sqliteFiles(t *testing.T, files map[string][]string) map[string]string {
	t.Helper()
	paths := map[string]string{}
	for env, stmts := range files {
		path := filepath.Join(t.TempDir(), env+".db")
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
		t.Setenv(env, path)
		paths[env] = path
	}
	return paths
}

func engineFor(t *testing.T, yaml string, shred func(context.Context, []lethe.Identity) (int, error)) *dsr.Engine {
	t.Helper()
	cfg, err := config.Parse([]byte("controller: {name: X}\npurposes: [{id: p, lawful_basis: contract}]\n"+yaml), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	set := connector.NewSet(cfg.Datastores, connector.Options{})
	t.Cleanup(func() { set.Close() })
	key := make([]byte, 32)
	eng, err := dsr.New(dsr.Options{Config: cfg, Connectors: set, TempDir: t.TempDir(), Shred: shred,
		Masks: func(s string) (lethe.Mask, error) { return mask.Parse(s, key) }})
	if err != nil {
		t.Fatal(err)
	}
	return eng
}

func count(t *testing.T, path, query string) int {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(query).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// A datastore that fails must leave the rows through which its own rows
// are found: the retry then finishes the job instead of calling it done.
func TestRetryAfterAFailedDatastoreFindsItsRows(t *testing.T) {
	paths := sqliteFiles(t, map[string][]string{
		"SHOP":      {`CREATE TABLE users (id integer PRIMARY KEY, email text)`, `INSERT INTO users VALUES (42, 'jane@example.com')`},
		"ANALYTICS": {`CREATE TABLE events (id integer PRIMARY KEY, user_id integer, ip text)`, `INSERT INTO events VALUES (1, 42, '198.51.100.7')`},
	})
	yaml := `datastores:
  shop:
    driver: sqlite
    dsn: ${SHOP}
    collections:
      users: {identities: {email: email}, fields: {email: {category: contact.email}}}
  analytics:
    driver: sqlite
    dsn: ${ANALYTICS}
    collections:
      events: {references: {user_id: shop.users.id}, fields: {ip: {category: network.ip}}}
`
	shredded := 0
	shred := func(context.Context, []lethe.Identity) (int, error) { shredded++; return 1, nil }
	ids := []lethe.Identity{{Type: lethe.IdentityEmail, Value: "jane@example.com"}}

	t.Setenv("ANALYTICS", filepath.Join(t.TempDir(), "missing.db"))
	first, err := engineFor(t, yaml, shred).Erase(context.Background(), dsr.EraseParams{RequestID: "r1", Identities: ids})
	if err != nil {
		t.Fatal(err)
	}
	if first.Status != dsr.StatusPartiallyCompleted || shredded != 0 {
		t.Fatalf("first run: %s, %d shreds", first.Status, shredded)
	}
	if n := count(t, paths["SHOP"], `SELECT count(*) FROM users`); n != 1 {
		t.Fatalf("users erased while analytics still holds rows found through them")
	}
	if s := step(first, "shop", "users"); s.Status != dsr.StepFailed || s.Error == "" {
		t.Errorf("users step %+v, want failed with the reason", s)
	}

	t.Setenv("ANALYTICS", paths["ANALYTICS"])
	second, err := engineFor(t, yaml, shred).Erase(context.Background(), dsr.EraseParams{RequestID: "r2", Identities: ids})
	if err != nil {
		t.Fatal(err)
	}
	if second.Status != dsr.StatusCompleted || !second.Verification.Passed || shredded != 1 {
		t.Fatalf("retry: %s, verified %v, %d shreds", second.Status, second.Verification.Passed, shredded)
	}
	if n := count(t, paths["ANALYTICS"], `SELECT count(*) FROM events`) + count(t, paths["SHOP"], `SELECT count(*) FROM users`); n != 0 {
		t.Errorf("%d rows of the subject remain after the retry", n)
	}
}

// Verification looks at identity columns too, and at anonymised rows by
// their keys even when the column the request matched by was masked.
func TestVerificationSeesUnmaskedIdentityColumns(t *testing.T) {
	sqliteFiles(t, map[string][]string{"DB": {
		`CREATE TABLE profiles (id integer PRIMARY KEY, email text, name text)`,
		`INSERT INTO profiles VALUES (1, 'jane@example.com', 'Jane Roe')`,
	}})
	yaml := `datastores:
  db:
    driver: sqlite
    dsn: ${DB}
    collections:
      profiles:
        identities: {email: email}
        erase: anonymise
        fields: {name: {category: name, erase: fake.name}}
`
	cert, err := engineFor(t, yaml, nil).Erase(context.Background(), dsr.EraseParams{RequestID: "r", Identities: []lethe.Identity{{Type: lethe.IdentityEmail, Value: "jane@example.com"}}})
	if err != nil {
		t.Fatal(err)
	}
	if cert.Verification.Passed || cert.Status == dsr.StatusCompleted || cert.KeysShredded != 0 {
		t.Fatalf("the e-mail is left in profiles.email, yet: %s, verified %v", cert.Status, cert.Verification.Passed)
	}
	if r := cert.Verification.Residual; len(r) != 1 || len(r[0].Fields) != 1 || r[0].Fields[0] != "email" {
		t.Errorf("residual %+v, want profiles.email", r)
	}
}

func TestVerificationRereadsRowsWhoseMatchColumnWasMasked(t *testing.T) {
	paths := sqliteFiles(t, map[string][]string{"DB": {
		`CREATE TABLE profiles (id integer PRIMARY KEY, email text, bio text)`,
		`INSERT INTO profiles VALUES (1, 'jane@example.com', 'jane@example.com writes here')`,
	}})
	yaml := `datastores:
  db:
    driver: sqlite
    dsn: ${DB}
    collections:
      profiles:
        identities: {email: email}
        erase: anonymise
        fields: {email: {category: contact.email, erase: hmac}, bio: {category: free_text, erase: blank}}
`
	cert, err := engineFor(t, yaml, nil).Erase(context.Background(), dsr.EraseParams{RequestID: "r", Identities: []lethe.Identity{{Type: lethe.IdentityEmail, Value: "jane@example.com"}}})
	if err != nil {
		t.Fatal(err)
	}
	if cert.Verification.Checked != 1 || !cert.Verification.Passed {
		t.Errorf("verification checked %d rows (want the anonymised row, by key), passed %v", cert.Verification.Checked, cert.Verification.Passed)
	}
	if n := count(t, paths["DB"], `SELECT count(*) FROM profiles WHERE email = 'jane@example.com' OR bio <> ''`); n != 0 {
		t.Errorf("the row was not anonymised")
	}
}

// A fake that happens to equal another of the subject's originals is what
// the mask wrote, not data left behind.
func TestVerificationAcceptsFakesEqualToAnotherOriginal(t *testing.T) {
	key := make([]byte, 32)
	m, err := mask.Parse("fake.city", key)
	if err != nil {
		t.Fatal(err)
	}
	// Find a city whose fake is another real city of the same subject.
	var a, b string
	for _, city := range []string{"Verona", "Turin", "Naples", "Lyon", "Porto", "Ghent", "Graz", "Split", "Cork", "Bergen", "Malmo", "Tartu", "Brno", "Pecs", "Kaunas", "Nice", "Bonn", "Basel", "Delft", "Aarhus"} {
		out, _ := m.Apply(city)
		if out.(string) != city {
			a, b = city, out.(string)
			break
		}
	}
	sqliteFiles(t, map[string][]string{"DB": {
		`CREATE TABLE addresses (id integer PRIMARY KEY, user_id integer, city text)`,
		`INSERT INTO addresses VALUES (1, 7, '` + a + `'), (2, 7, '` + b + `')`,
	}})
	yaml := `datastores:
  db:
    driver: sqlite
    dsn: ${DB}
    collections:
      addresses:
        identities: {user_id: user_id}
        erase: anonymise
        fields: {city: {category: contact.address, erase: fake.city}}
`
	cert, err := engineFor(t, yaml, nil).Erase(context.Background(), dsr.EraseParams{RequestID: "r", Identities: []lethe.Identity{{Type: lethe.IdentityUserID, Value: "7"}}})
	if err != nil {
		t.Fatal(err)
	}
	if !cert.Verification.Passed || cert.Status != dsr.StatusCompleted {
		t.Errorf("fake(%s) = %s, the subject's other city: verification %+v", a, b, cert.Verification)
	}
}

func TestEraseWarnsWhenNothingMatched(t *testing.T) {
	sqliteFiles(t, map[string][]string{"DB": {`CREATE TABLE users (id integer PRIMARY KEY, email text)`, `INSERT INTO users VALUES (1, 'Jane@Example.com')`}})
	yaml := `datastores:
  db:
    driver: sqlite
    dsn: ${DB}
    collections:
      users: {identities: {email: email}, fields: {email: {category: contact.email}}}
`
	cert, err := engineFor(t, yaml, nil).Erase(context.Background(), dsr.EraseParams{RequestID: "r", Identities: []lethe.Identity{{Type: lethe.IdentityEmail, Value: "someone@example.com"}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(cert.Warnings) == 0 {
		t.Errorf("an erasure that matched nothing carries no warning: %+v", cert)
	}
}
