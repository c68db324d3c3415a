package scrub_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"

	_ "modernc.org/sqlite"

	"github.com/lethe-privacy/lethe/config"
	"github.com/lethe-privacy/lethe/connector"
	"github.com/lethe-privacy/lethe/mask"
	"github.com/lethe-privacy/lethe/scrub"
)

// A copy of the shop's database is scrubbed before testers get it: the
// e-mail column is masked with hmac in both tables, so orders still join
// their customers, and the customer's name gets a fake one.
func Example() {
	dir, _ := os.MkdirTemp("", "scrub-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "copy.db")
	db, _ := sql.Open("sqlite", path)
	defer db.Close()
	for _, q := range []string{
		`CREATE TABLE customers (id integer PRIMARY KEY, email text UNIQUE NOT NULL, name text)`,
		`CREATE TABLE orders (id integer PRIMARY KEY, customer_email text NOT NULL, total integer)`,
		`INSERT INTO customers VALUES (1, 'jane@example.org', 'Jane Roe'), (2, 'max@example.org', 'Max Muster')`,
		`INSERT INTO orders VALUES (10, 'jane@example.org', 420), (11, 'jane@example.org', 99), (12, 'max@example.org', 15)`,
	} {
		if _, err := db.Exec(q); err != nil {
			panic(err)
		}
	}

	cfg, err := config.Parse([]byte(`
controller: {name: Example Shop GmbH}
purposes: [{id: orders, lawful_basis: contract}]
datastores:
  copy:
    driver: sqlite
    dsn: `+path+`
    scrub_allowed: true     # a copy: never set this on production
    collections:
      customers:
        identities: {email: email}
        fields:
          email: {category: contact.email, erase: hmac}
          name:  {category: name, erase: null, scrub: fake.name}
      orders:
        references: {customer_email: customers.email}
        ignore: [total]
`), "lethe.yaml")
	if err != nil {
		panic(err)
	}
	set := connector.NewSet(cfg.Datastores, connector.Options{})
	defer set.Close()
	key := []byte("the scrub key: derive it from your secrets") // lethe scrub derives it from Lethe's
	eng, err := scrub.New(scrub.Options{
		Config: cfg, Connectors: set,
		Strategy: func(name string) (scrub.Strategy, error) { return mask.Parse(name, key) },
	})
	if err != nil {
		panic(err)
	}
	rep, err := eng.Run(context.Background(), scrub.Params{Datastore: "copy", Confirm: "copy", Strict: true})
	if err != nil {
		panic(err)
	}
	fmt.Println("rows scrubbed:", rep.Rows, "compacted:", rep.Compacted)
	for _, c := range rep.Collections {
		for _, col := range c.Columns {
			fmt.Printf("%s.%s: %s (%s)\n", c.Collection, col.Column, col.Strategy, col.Source)
		}
	}
	var originals, joined int
	db.QueryRow(`SELECT COUNT(*) FROM customers WHERE email LIKE '%example.org' OR name = 'Jane Roe'`).Scan(&originals)
	db.QueryRow(`SELECT COUNT(*) FROM orders o JOIN customers c ON c.email = o.customer_email`).Scan(&joined)
	fmt.Println("originals left:", originals, "orders still joined:", joined)
	// Output:
	// rows scrubbed: 5 compacted: true
	// customers.email: hmac (field)
	// customers.name: fake.name (field)
	// orders.customer_email: hmac (reference)
	// originals left: 0 orders still joined: 3
}
