package retention_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/lethe-privacy/lethe/config"
	"github.com/lethe-privacy/lethe/connector"
	"github.com/lethe-privacy/lethe/retention"
)

// Sessions older than 30 days are deleted, in batches.
func Example() {
	dir, _ := os.MkdirTemp("", "retention-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "app.db")
	db, _ := sql.Open("sqlite", path)
	defer db.Close()
	db.Exec(`CREATE TABLE sessions (id INTEGER PRIMARY KEY, user_id INTEGER, created_at TEXT NOT NULL)`)
	for i, age := range []int{400, 45, 31, 29, 1} { // days
		db.Exec(`INSERT INTO sessions VALUES (?, ?, ?)`, i+1, 7, now.AddDate(0, 0, -age).Format("2006-01-02 15:04:05"))
	}

	cfg, err := config.Parse([]byte(`
controller: {name: Example Shop GmbH}
purposes: [{id: accounts, lawful_basis: contract}]
datastores:
  app:
    driver: sqlite
    dsn: `+path+`
    collections:
      users: {identities: {user_id: id}}
      sessions:
        references: {user_id: users.id}
        retention: {column: created_at, max_age: 30d}
`), "lethe.yaml")
	if err != nil {
		fmt.Println(err)
		return
	}
	set := connector.NewSet(cfg.Datastores, connector.Options{})
	defer set.Close()
	eng, _ := retention.New(retention.Options{Config: cfg, Connectors: set, BatchSize: 2, Clock: fixedClock{}})

	plan, _ := eng.Plan(context.Background(), nil)
	for _, c := range plan.Collections {
		fmt.Printf("plan: %s: %d rows to %s, oldest %s\n", c.Collection, c.Rows, c.Action, c.Oldest.Format(time.DateOnly))
	}
	run, _ := eng.Run(context.Background(), retention.RunParams{})
	for _, c := range run.Collections {
		fmt.Printf("run: %s: %d rows in %d batches\n", c.Collection, c.Done, c.Batches)
	}
	var left int
	db.QueryRow(`SELECT count(*) FROM sessions`).Scan(&left)
	fmt.Println("sessions left:", left)
	// Output:
	// plan: app.sessions: 3 rows to delete, oldest 2025-10-28
	// run: app.sessions: 3 rows in 2 batches
	// sessions left: 2
}
